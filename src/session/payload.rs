//! What Kong's openid-connect plugin keeps under the session audience, typed: the one place
//! that knows its field names.
//!
//! Kong stores `{"client":1,"tokens":{...},"expires":<epoch>,"auth_method":"password"}`; we add
//! `login_id` (see [`super::ended`]). Fields we do not know (a newer Kong's) are kept in
//! [`SessionPayload::other`] and written back when the session is saved again, so a refresh
//! here does not drop them. Serialising goes through a `serde_json` map, whose keys are sorted,
//! and the codec writes it the way lua-cjson does; the bytes are those of the JSON object we
//! wrote before this type existed.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::config::AuthMethod;

use super::state::Session;

/// The session data of one audience.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionPayload {
    /// Kong's index (from 1) of the client that logged in; the filter has one client.
    #[serde(default = "first_client")]
    pub client: u64,
    /// The token endpoint's answer, whole, as Kong keeps it.
    pub tokens: Map<String, Value>,
    /// When the access token expires (epoch seconds); 0: not known, never refreshed.
    #[serde(default, deserialize_with = "epoch_seconds")]
    pub expires: u64,
    /// The method that logged in; absent (or one this version does not know): `session`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "known_method"
    )]
    pub auth_method: Option<AuthMethod>,
    /// Names the login across refreshes ([`super::ended`]); absent in sessions Kong made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_id: Option<String>,
    /// Fields this version does not read, kept as they came.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

fn first_client() -> u64 {
    1
}

/// Lua numbers are doubles: an expiry written by Kong may carry a fraction. Anything that is
/// not a non-negative number is "not known", as it always was.
fn epoch_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let value = Value::deserialize(deserializer)?;
    Ok(match value {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .unwrap_or(0),
        _ => 0,
    })
}

fn known_method<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<AuthMethod>, D::Error> {
    let value = Value::deserialize(deserializer)?;
    Ok(value.as_str().and_then(AuthMethod::from_kong))
}

impl SessionPayload {
    /// A new login's payload.
    pub fn new(
        tokens: Map<String, Value>,
        expires: u64,
        auth_method: AuthMethod,
        login_id: Option<String>,
    ) -> SessionPayload {
        SessionPayload {
            client: first_client(),
            tokens,
            expires,
            auth_method: Some(auth_method),
            login_id,
            other: Map::new(),
        }
    }

    /// The payload stored for `audience`; None when there is none or it is not Kong's shape
    /// (no `tokens` object). Copies the data once: the caller owns the tokens.
    pub fn read(session: &Session, audience: &str) -> Option<SessionPayload> {
        SessionPayload::deserialize(session.data(audience)?).ok()
    }

    /// The method that logged in (Kong's default for a session that does not say: `session`).
    pub fn method(&self) -> AuthMethod {
        self.auth_method.unwrap_or(AuthMethod::Session)
    }

    /// The same login with new tokens (after a refresh): every other field is kept.
    pub fn with_tokens(self, tokens: Map<String, Value>, expires: u64) -> SessionPayload {
        SessionPayload {
            tokens,
            expires,
            ..self
        }
    }

    /// Stores the payload under `audience`, replacing what was there.
    pub fn store(&self, session: &mut Session, audience: &str, subject: Option<String>) {
        session.set(audience, self.to_value(), subject);
    }

    /// The JSON object the session keeps.
    pub fn to_value(&self) -> Value {
        // Maps, strings and integers only: serialising cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Reads on every request that need one field, borrowed from the session's data: no copy of
/// the tokens. They follow the field names of [`SessionPayload`] (a test checks they agree).
impl SessionPayload {
    /// The ID token of the payload stored for `audience` (absent, empty or not a string: None).
    pub fn id_token_of<'a>(session: &'a Session, audience: &str) -> Option<&'a str> {
        let tokens = session.data(audience)?.get("tokens")?;
        tokens
            .get("id_token")?
            .as_str()
            .filter(|token| !token.is_empty())
    }

    /// The login id of the payload stored for `audience` (absent, empty or not a string: None).
    pub fn login_id_of<'a>(session: &'a Session, audience: &str) -> Option<&'a str> {
        session
            .data(audience)?
            .get("login_id")?
            .as_str()
            .filter(|id| !id.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::session::plaintext::write_value;

    fn session_with(data: Value) -> Session {
        let mut session = Session::new(100);
        session.set("default", data, Some("john".into()));
        session
    }

    fn cjson(value: &Value) -> String {
        let mut out = String::new();
        write_value(&mut out, value);
        out
    }

    #[test]
    fn writes_the_bytes_kong_and_the_filter_always_wrote() {
        let tokens = json!({"access_token": "a/b", "id_token": "i", "expires_in": 300});
        let payload = SessionPayload::new(
            tokens.as_object().cloned().unwrap(),
            1_700_000_300,
            AuthMethod::Password,
            Some("00ff".into()),
        );
        assert_eq!(
            cjson(&payload.to_value()),
            r#"{"auth_method":"password","client":1,"expires":1700000300,"login_id":"00ff","tokens":{"access_token":"a\/b","expires_in":300,"id_token":"i"}}"#
        );
        let without_login = SessionPayload {
            login_id: None,
            ..payload
        };
        assert!(!cjson(&without_login.to_value()).contains("login_id"));
    }

    #[test]
    fn reads_kongs_payload_and_keeps_what_it_does_not_know() {
        let kong = json!({
            "client": 1, "tokens": {"access_token": "at", "refresh_token": "rt"},
            "expires": 1_700_000_300, "auth_method": "authorization_code",
            "a_newer_kong_field": {"x": [1, 2]},
        });
        let session = session_with(kong.clone());
        let payload = SessionPayload::read(&session, "default").unwrap();
        assert_eq!(payload.expires, 1_700_000_300);
        assert_eq!(payload.method(), AuthMethod::AuthorizationCode);
        assert_eq!(payload.login_id, None);
        assert_eq!(payload.to_value(), kong);
        // A refresh replaces the tokens and the expiry only.
        let refreshed = payload.with_tokens(Map::new(), 5);
        assert_eq!(refreshed.other["a_newer_kong_field"], json!({"x": [1, 2]}));
        assert_eq!(refreshed.method(), AuthMethod::AuthorizationCode);
    }

    #[test]
    fn lenient_where_lua_and_older_versions_differ() {
        let read = |data: Value| SessionPayload::read(&session_with(data), "default");
        // Lua numbers are doubles.
        let fractional = read(json!({"tokens": {}, "expires": 1_700_000_300.5})).unwrap();
        assert_eq!(fractional.expires, 1_700_000_300);
        let odd = read(json!({"tokens": {}, "expires": "soon", "auth_method": "magic"})).unwrap();
        assert_eq!((odd.expires, odd.auth_method), (0, None));
        assert_eq!(odd.method(), AuthMethod::Session);
        assert_eq!(odd.client, 1);
        // Not Kong's shape: no session payload.
        assert_eq!(read(json!({"expires": 5})), None);
        assert_eq!(read(json!({"tokens": "at"})), None);
        assert_eq!(read(json!([1])), None);
        assert_eq!(
            SessionPayload::read(&session_with(json!({})), "other"),
            None
        );
    }

    #[test]
    fn borrowed_reads_follow_the_typed_fields() {
        let payload = SessionPayload::new(
            json!({"access_token": "at", "id_token": "it"})
                .as_object()
                .cloned()
                .unwrap(),
            0,
            AuthMethod::Session,
            Some("login-1".into()),
        );
        let mut session = Session::new(1);
        payload.store(&mut session, "default", None);
        assert_eq!(SessionPayload::id_token_of(&session, "default"), Some("it"));
        assert_eq!(
            SessionPayload::login_id_of(&session, "default"),
            Some("login-1")
        );
        assert_eq!(SessionPayload::id_token_of(&session, "other"), None);
        let empty = session_with(json!({"tokens": {"id_token": ""}, "login_id": 7}));
        assert_eq!(SessionPayload::id_token_of(&empty, "default"), None);
        assert_eq!(SessionPayload::login_id_of(&empty, "default"), None);
    }
}
