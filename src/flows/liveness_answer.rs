//! What the identity provider's answer to a session check means (`session_idp_check_interval`,
//! see `session::liveness`): alive, ended there, or no usable answer. Only a clear "this
//! token is inactive" or `invalid_grant` ends a session; anything else (the provider down, a
//! 5xx, a client or configuration error) leaves it to the failure rule.

use crate::flows::introspection;
use crate::step::CallResponse;

/// What the provider said about the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Still alive there.
    Alive,
    /// The provider no longer knows it (inactive token, `invalid_grant`): end it.
    Ended(String),
    /// No usable answer (down, timeout, 5xx, a client or configuration error): never a reason
    /// to end a session.
    Unknown(String),
}

/// An RFC 7662 answer about the session's token.
pub fn introspection_answer(response: &CallResponse) -> Answer {
    match introspection::parse(response) {
        Ok(result) if introspection::is_active(&result) => Answer::Alive,
        Ok(_) => Answer::Ended("the provider introspects the session's token as inactive".into()),
        // Unreachable, 5xx, an unexpected status or body: never a reason to end a session.
        Err(e) => Answer::Unknown(e.to_string()),
    }
}

/// A token endpoint answer to the session's refresh token: only `invalid_grant` (RFC 6749
/// section 5.2: the grant is invalid, expired or revoked) ends the session.
pub fn refresh_answer(response: &CallResponse) -> Answer {
    match response.status {
        None => Answer::Unknown(response.failure_reason()),
        Some(200) => Answer::Alive,
        Some(400) if oauth_error(&response.body).as_deref() == Some("invalid_grant") => {
            Answer::Ended("the provider refused the session's refresh token (invalid_grant)".into())
        }
        Some(status) => Answer::Unknown(format!("the token endpoint answered {status}")),
    }
}

fn oauth_error(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("error")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::harness::fixtures::answer;

    #[test]
    fn only_an_inactive_token_or_invalid_grant_ends_a_session() {
        assert_eq!(
            introspection_answer(&answer(200, r#"{"active":true}"#)),
            Answer::Alive
        );
        assert!(matches!(
            introspection_answer(&answer(200, r#"{"active":false}"#)),
            Answer::Ended(_)
        ));
        for unknown in [
            CallResponse::default(),
            answer(503, "{}"),
            answer(401, r#"{"error":"invalid_client"}"#),
            answer(200, "<html>"),
        ] {
            assert!(matches!(introspection_answer(&unknown), Answer::Unknown(_)));
        }
        assert_eq!(
            refresh_answer(&answer(200, r#"{"access_token":"a"}"#)),
            Answer::Alive
        );
        assert!(matches!(
            refresh_answer(&answer(400, r#"{"error":"invalid_grant"}"#)),
            Answer::Ended(_)
        ));
        for unknown in [
            CallResponse::default(),
            answer(500, r#"{"error":"server_error"}"#),
            answer(400, r#"{"error":"invalid_request"}"#),
            answer(401, r#"{"error":"invalid_client"}"#),
        ] {
            assert!(matches!(refresh_answer(&unknown), Answer::Unknown(_)));
        }
    }
}
