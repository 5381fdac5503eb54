//! Token endpoint answers and the session data Kong keeps for them.

use serde_json::{Map, Value};

use crate::session::{Session, SessionPayload};
use crate::step::CallResponse;

/// The token endpoint's JSON answer, kept whole (Kong stores the full response in the session).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSet {
    fields: Map<String, Value>,
}

/// Why a token endpoint answer could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenEndpointError {
    #[error("the token endpoint could not be reached ({0})")]
    Unreachable(String),
    #[error("the token endpoint refused the request: {status} {error}")]
    Refused { status: u16, error: String },
    #[error("the token endpoint answered {0} without usable tokens")]
    Invalid(String),
}

impl TokenEndpointError {
    /// Whether the identity provider itself failed (as opposed to refusing the credentials).
    pub fn is_provider_failure(&self) -> bool {
        match self {
            TokenEndpointError::Unreachable(_) | TokenEndpointError::Invalid(_) => true,
            TokenEndpointError::Refused { status, .. } => *status >= 500,
        }
    }
}

impl TokenSet {
    /// Reads a token endpoint answer: 200 with a JSON object holding `access_token`.
    pub fn from_response(response: &CallResponse) -> Result<TokenSet, TokenEndpointError> {
        let Some(status) = response.status else {
            return Err(TokenEndpointError::Unreachable(response.failure_reason()));
        };
        let body: Option<Map<String, Value>> = serde_json::from_slice(&response.body).ok();
        if status != 200 {
            let error = body
                .as_ref()
                .and_then(|b| b.get("error"))
                .and_then(Value::as_str)
                .unwrap_or("no error code")
                .to_string();
            return Err(TokenEndpointError::Refused { status, error });
        }
        let fields = body.ok_or_else(|| {
            TokenEndpointError::Invalid("a body that is not a JSON object".into())
        })?;
        if fields
            .get("access_token")
            .is_none_or(|t| t.as_str().is_none_or(|s| s.is_empty()))
        {
            return Err(TokenEndpointError::Invalid("no access_token".into()));
        }
        Ok(TokenSet { fields })
    }

    /// Tokens as stored in a session or the shared cache.
    pub fn from_session_value(tokens: &Value) -> Option<TokenSet> {
        TokenSet::from_fields(tokens.as_object()?.clone())
    }

    /// Tokens as a session payload keeps them ([`SessionPayload::tokens`]), taken over
    /// without a copy; None without a string `access_token`.
    ///
    /// [`SessionPayload::tokens`]: crate::session::SessionPayload::tokens
    pub fn from_fields(fields: Map<String, Value>) -> Option<TokenSet> {
        fields.get("access_token")?.as_str()?;
        Some(TokenSet { fields })
    }

    fn text(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn access_token(&self) -> &str {
        self.text("access_token").unwrap_or_default()
    }

    pub fn id_token(&self) -> Option<&str> {
        self.text("id_token")
    }

    pub fn refresh_token(&self) -> Option<&str> {
        self.text("refresh_token")
    }

    /// `expires_in` seconds, when given as a number or a numeric string.
    pub fn expires_in(&self) -> Option<u64> {
        match self.fields.get("expires_in")? {
            Value::Number(n) => n
                .as_u64()
                .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// After a refresh grant: the identity provider may omit the refresh and ID tokens, in which
    /// case the old ones are kept (Kong does the same).
    pub fn merged_after_refresh(mut self, previous: &TokenSet) -> TokenSet {
        for name in ["refresh_token", "id_token"] {
            if self.text(name).is_none() {
                if let Some(old) = previous.fields.get(name) {
                    self.fields.insert(name.to_string(), old.clone());
                }
            }
        }
        self
    }

    pub fn to_value(&self) -> Value {
        Value::Object(self.fields.clone())
    }

    /// The tokens a session keeps for `audience`, and the rest of its payload (copied once
    /// from the session's data); None when it keeps no usable tokens.
    pub fn from_session(session: &Session, audience: &str) -> Option<(TokenSet, SessionPayload)> {
        let mut payload = SessionPayload::read(session, audience)?;
        let tokens = TokenSet::from_fields(std::mem::take(&mut payload.tokens))?;
        Some((tokens, payload))
    }

    /// The token endpoint's answer as the session keeps it.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }
}

/// When the access token expires: `expires_in` from now, else never known (0).
pub fn expiry(tokens: &TokenSet, now: u64) -> u64 {
    tokens
        .expires_in()
        .map(|seconds| now.saturating_add(seconds))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::harness::fixtures::answer;
    use serde_json::json;

    #[test]
    fn reads_token_answers() {
        let set = TokenSet::from_response(&answer(200,
            r#"{"access_token":"at","refresh_token":"rt","id_token":"it","expires_in":300,"token_type":"Bearer"}"#,
        ))
        .unwrap();
        assert_eq!(
            (set.access_token(), set.refresh_token(), set.id_token()),
            ("at", Some("rt"), Some("it"))
        );
        assert_eq!(expiry(&set, 1000), 1300);
        assert_eq!(TokenSet::from_fields(set.fields().clone()), Some(set));
        assert_eq!(
            TokenSet::from_session_value(&json!({"id_token": "i"})),
            None
        );
    }

    #[test]
    fn classifies_failures() {
        let refused =
            TokenSet::from_response(&answer(400, r#"{"error":"invalid_grant"}"#)).unwrap_err();
        assert_eq!(
            refused,
            TokenEndpointError::Refused {
                status: 400,
                error: "invalid_grant".into()
            }
        );
        assert!(!refused.is_provider_failure());
        assert!(TokenSet::from_response(&answer(503, ""))
            .unwrap_err()
            .is_provider_failure());
        assert!(TokenSet::from_response(&CallResponse::default())
            .unwrap_err()
            .is_provider_failure());
        assert!(TokenSet::from_response(&answer(200, r#"{"token_type":"Bearer"}"#)).is_err());
        assert!(TokenSet::from_response(&answer(200, "<html>")).is_err());
    }

    #[test]
    fn refresh_keeps_tokens_the_provider_omitted() {
        let old = TokenSet::from_response(&answer(
            200,
            r#"{"access_token":"a1","refresh_token":"r1","id_token":"i1"}"#,
        ))
        .unwrap();
        let new =
            TokenSet::from_response(&answer(200, r#"{"access_token":"a2","expires_in":"60"}"#))
                .unwrap();
        let merged = new.merged_after_refresh(&old);
        assert_eq!(
            (
                merged.access_token(),
                merged.refresh_token(),
                merged.id_token()
            ),
            ("a2", Some("r1"), Some("i1"))
        );
        assert_eq!(merged.expires_in(), Some(60));
    }
}
