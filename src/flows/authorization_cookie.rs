//! The `authorization` cookie: what the filter remembers between sending the browser to the
//! identity provider and the browser coming back. It is a lua-resty-session v4 cookie like the
//! session (same secret, same format, so Kong and this filter can read each other's), with its
//! own name and attributes, no idling or absolute timeout, and `authorization_rolling_timeout`
//! as its lifetime.

use serde_json::{json, Map, Value};

use crate::config::{self, Config};
use crate::flows::request::IncomingRequest;
use crate::http::cookies;
use crate::session::{SameSite, Session, SessionCodec, SessionError, SessionSettings};

/// The audience the data is kept under: the library's default, which is what Kong uses for it.
const AUDIENCE: &str = "default";

/// What a started login needs at its callback (Kong's authorization cookie data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAuthorization {
    /// The URL that started the login (scheme, host, port and path; no query).
    pub uri: String,
    /// The query of that request, kept when `preserve_query_args` is on.
    pub uri_args: Option<String>,
    pub state: String,
    pub nonce: String,
    /// The PKCE verifier, when the authorization request carried a challenge.
    pub code_verifier: Option<String>,
}

impl PendingAuthorization {
    /// The JSON Kong stores (`client` is the 1-based index of the configured client).
    pub fn to_value(&self) -> Value {
        let mut data = json!({
            "uri": self.uri,
            "client": 1,
            "state": self.state,
            "nonce": self.nonce,
        });
        if let Some(fields) = data.as_object_mut() {
            if let Some(verifier) = &self.code_verifier {
                fields.insert("code_verifier".into(), Value::String(verifier.clone()));
            }
            if let Some(args) = &self.uri_args {
                fields.insert("uri_args".into(), Value::String(args.clone()));
            }
        }
        data
    }

    /// Reads the stored data; `None` without a `state` (Kong then starts over).
    pub fn from_value(data: &Value) -> Option<PendingAuthorization> {
        let fields: &Map<String, Value> = data.as_object()?;
        let text = |name: &str| {
            fields
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Some(PendingAuthorization {
            state: text("state")?,
            uri: text("uri").unwrap_or_default(),
            uri_args: text("uri_args"),
            nonce: text("nonce").unwrap_or_default(),
            code_verifier: text("code_verifier"),
        })
    }
}

/// Why the cookie a request carried could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CookieProblem {
    #[error("{0}")]
    Unreadable(SessionError),
    #[error("it holds no login state")]
    NoState,
}

/// The two codecs of the authorization cookie: `Secure` or not, by Kong's rule
/// (`authorization_cookie_secure`, else whether the request came over https).
pub struct AuthorizationCookies {
    plain: SessionCodec,
    secure: SessionCodec,
    secure_setting: Option<bool>,
    name: String,
    /// `name` and its chunks, built once (see [`Self::is_sent`]).
    names: Vec<String>,
}

impl AuthorizationCookies {
    pub fn new(config: &Config, secret: &[u8]) -> AuthorizationCookies {
        AuthorizationCookies {
            plain: SessionCodec::new(settings(config, false), secret),
            secure: SessionCodec::new(settings(config, true), secret),
            secure_setting: config.authorization_cookie_secure,
            name: config.authorization_cookie_name.clone(),
            names: cookies::chunk_names(&config.authorization_cookie_name),
        }
    }

    /// The cookie name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cookie name and its chunks' (`authorization2` .. `authorization9`).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn codec(&self, scheme: &str) -> &SessionCodec {
        if self
            .secure_setting
            .unwrap_or(scheme.eq_ignore_ascii_case("https"))
        {
            &self.secure
        } else {
            &self.plain
        }
    }

    /// Whether the request carries the cookie (or one of its chunks).
    pub fn is_sent(&self, request: &IncomingRequest) -> bool {
        request.has_any_cookie(&self.names)
    }

    /// The login state the request's cookie holds (checked for age, MAC and encryption).
    pub fn open(
        &self,
        request: &IncomingRequest,
        now: u64,
    ) -> Result<(Session, PendingAuthorization), CookieProblem> {
        let codec = self.codec(&request.scheme);
        let session = codec
            .open(&request.cookie_headers(), now)
            .map_err(CookieProblem::Unreadable)?;
        let pending = session
            .data(AUDIENCE)
            .and_then(PendingAuthorization::from_value)
            .ok_or(CookieProblem::NoState)?;
        Ok((session, pending))
    }

    /// Set-Cookie values for a new cookie holding `pending`. `previous` is the cookie the
    /// request carried, if any: saving over it keeps its creation time, as Kong's does.
    pub fn save(
        &self,
        scheme: &str,
        previous: Option<Session>,
        pending: &PendingAuthorization,
        now: u64,
        sid: [u8; 32],
    ) -> Result<Vec<String>, SessionError> {
        let codec = self.codec(scheme);
        let mut session = previous.unwrap_or_else(|| codec.start(now));
        session.set(AUDIENCE, pending.to_value(), None);
        codec.save(&mut session, now, sid)
    }

    /// Set-Cookie values that make the browser drop the cookie.
    pub fn clear(&self, scheme: &str, session: Option<&Session>) -> Vec<String> {
        self.codec(scheme).clear(session)
    }
}

fn settings(config: &Config, secure: bool) -> SessionSettings {
    SessionSettings {
        cookie_name: config.authorization_cookie_name.clone(),
        path: config.authorization_cookie_path.clone(),
        domain: config.authorization_cookie_domain.clone(),
        same_site: match config.authorization_cookie_same_site {
            config::SameSite::Default => SameSite::Default,
            config::SameSite::Lax => SameSite::Lax,
            config::SameSite::None => SameSite::None,
            config::SameSite::Strict => SameSite::Strict,
        },
        http_only: config.authorization_cookie_http_only,
        secure,
        // Kong opens this cookie with both turned off: only the rolling timeout bounds a login.
        idling_timeout: 0,
        absolute_timeout: 0,
        rolling_timeout: config.authorization_rolling_timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: Value) -> Config {
        let mut base = json!({"issuer": "http://idp.test", "session_secret": "s"});
        if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
            base.extend(extra);
        }
        Config::parse(base.to_string().as_bytes()).unwrap()
    }

    fn pending() -> PendingAuthorization {
        PendingAuthorization {
            uri: "http://app.test/page".into(),
            uri_args: Some("a=1".into()),
            state: "st".into(),
            nonce: "no".into(),
            code_verifier: Some("cv".into()),
        }
    }

    fn request_with(cookie: &str) -> IncomingRequest {
        IncomingRequest {
            scheme: "http".into(),
            headers: vec![("cookie".into(), cookie.into())],
            ..Default::default()
        }
    }

    #[test]
    fn round_trips_the_login_state_with_kongs_attributes() {
        let cookies = AuthorizationCookies::new(&config(json!({})), b"secret");
        let set = cookies
            .save("http", None, &pending(), 1000, [7; 32])
            .unwrap();
        assert_eq!(set.len(), 1);
        assert!(set[0].starts_with("authorization="), "{}", set[0]);
        assert!(
            set[0].ends_with("; Path=/; HttpOnly"),
            "no SameSite by default: {}",
            set[0]
        );
        let request = request_with(set[0].split(';').next().unwrap());
        assert!(cookies.is_sent(&request));
        let (_, opened) = cookies.open(&request, 1000 + 600).unwrap();
        assert_eq!(opened, pending());
        assert_eq!(
            cookies.open(&request, 1000 + 601).unwrap_err(),
            CookieProblem::Unreadable(SessionError::RollingTimeout),
            "older than authorization_rolling_timeout"
        );
        let other_secret = AuthorizationCookies::new(&config(json!({})), b"other");
        assert!(matches!(
            other_secret.open(&request, 1000),
            Err(CookieProblem::Unreadable(SessionError::InvalidMac))
        ));
    }

    #[test]
    fn attributes_follow_the_authorization_cookie_fields() {
        let config = config(json!({
            "authorization_cookie_name": "authz", "authorization_cookie_path": "/app",
            "authorization_cookie_same_site": "Lax", "authorization_cookie_secure": true,
            "authorization_cookie_http_only": false,
        }));
        let cookies = AuthorizationCookies::new(&config, b"secret");
        let set = cookies
            .save("http", None, &pending(), 1000, [7; 32])
            .unwrap();
        assert!(set[0].starts_with("authz="));
        assert!(
            set[0].ends_with("; Path=/app; SameSite=Lax; Secure"),
            "{}",
            set[0]
        );
        let cleared = cookies.clear("http", None);
        assert_eq!(cleared, ["authz=; Path=/app; SameSite=Lax; Secure; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0"]);
        let https_default = AuthorizationCookies::new(&super::tests::config(json!({})), b"secret");
        assert!(https_default
            .save("https", None, &pending(), 1, [1; 32])
            .unwrap()[0]
            .contains("; Secure"));
    }

    #[test]
    fn data_without_state_is_not_a_login() {
        assert_eq!(PendingAuthorization::from_value(&json!({"uri": "x"})), None);
        assert_eq!(PendingAuthorization::from_value(&json!("text")), None);
        let minimal = PendingAuthorization::from_value(&json!({"state": "s"})).unwrap();
        assert_eq!((minimal.nonce.as_str(), minimal.code_verifier), ("", None));
        assert_eq!(
            PendingAuthorization::from_value(&pending().to_value()),
            Some(pending())
        );
    }
}
