//! The callback: the browser coming back from the identity provider with an authorization
//! response, checked against the login state the authorization cookie holds (Kong's order:
//! code, state, state match, issuer, client).

use crate::flows::request::IncomingRequest;
use crate::http::form;

/// The arguments an authorization response carries; stripped before a request is proxied.
pub const RESPONSE_ARGUMENTS: &[&str] = &["code", "state", "session_state", "iss", "response"];

/// The authorization response arguments of a request: the form body of a POST (`form_post`),
/// then the query for what the body lacks, as Kong merges them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackArgs {
    args: Vec<(String, String)>,
    /// Whether any came from a form body (then the body is what must be stripped).
    pub from_body: bool,
}

impl CallbackArgs {
    pub fn of(request: &IncomingRequest) -> CallbackArgs {
        let mut args = Vec::new();
        let mut from_body = false;
        if request.method.eq_ignore_ascii_case("POST")
            && form::is_form_content_type(request.header("content-type").unwrap_or_default())
        {
            args = request.body_args();
            from_body = args
                .iter()
                .any(|(name, _)| RESPONSE_ARGUMENTS.contains(&name.as_str()));
        }
        args.extend(request.query_args());
        CallbackArgs { args, from_body }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        form::first(&self.args, name).filter(|v| !v.is_empty())
    }

    /// Whether this looks like the identity provider's answer to an authorization request (a
    /// `state` with a `code` or an `error`): such a request is finished here one way or the
    /// other and never sent to the identity provider again, so no redirect loop can start.
    pub fn is_authorization_response(&self) -> bool {
        self.get("state").is_some() && (self.get("code").is_some() || self.get("error").is_some())
    }

    /// Whether any part of an authorization response is here (`code`, `error` or `state`).
    /// While a login runs (the authorization cookie is valid) such a request is answered, never
    /// sent back to the provider: a provider that keeps answering an error without a `state`
    /// would otherwise bounce the browser forever.
    pub fn has_response_part(&self) -> bool {
        ["code", "error", "state"]
            .iter()
            .any(|name| self.get(name).is_some())
    }
}

/// Why a callback was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("the identity provider answered {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        error: String,
        description: Option<String>,
    },
    #[error("authorization code not present")]
    NoCode,
    #[error("authorization state not present")]
    NoState,
    #[error(
        "invalid authorization state (it is not the one this browser's authorization cookie holds)"
    )]
    StateMismatch,
    #[error("issuer mismatch: the response names {0}")]
    IssuerMismatch(String),
    #[error("client mismatch: the response names client {0}")]
    ClientMismatch(String),
}

/// Checks the response against the expected `state`, the provider's issuer and the client id;
/// returns the authorization code.
pub fn verify<'a>(
    args: &'a CallbackArgs,
    expected_state: &str,
    issuer: &str,
    client_id: Option<&str>,
) -> Result<&'a str, CallbackError> {
    let Some(code) = args.get("code") else {
        return Err(match args.get("error") {
            Some(error) => CallbackError::Refused {
                error: error.to_string(),
                description: args.get("error_description").map(str::to_string),
            },
            None => CallbackError::NoCode,
        });
    };
    let state = args.get("state").ok_or(CallbackError::NoState)?;
    if !constant_time_eq(state.as_bytes(), expected_state.as_bytes()) {
        return Err(CallbackError::StateMismatch);
    }
    // RFC 9207: a provider that names itself must be the one we sent the browser to.
    if let Some(iss) = args.get("iss") {
        if iss != issuer {
            return Err(CallbackError::IssuerMismatch(iss.to_string()));
        }
    }
    if let Some(client) = args.get("client_id") {
        if Some(client) != client_id {
            return Err(CallbackError::ClientMismatch(client.to_string()));
        }
    }
    Ok(code)
}

/// Compares secrets without an early exit that would tell an attacker how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> CallbackArgs {
        CallbackArgs::of(&IncomingRequest {
            method: "GET".into(),
            path: path.into(),
            ..Default::default()
        })
    }

    #[test]
    fn verifies_in_kongs_order() {
        let ok = get("/cb?code=c1&state=s1&iss=http%3A%2F%2Fidp&session_state=x");
        assert_eq!(verify(&ok, "s1", "http://idp", Some("kong")), Ok("c1"));
        assert!(ok.is_authorization_response() && !ok.from_body);
        assert_eq!(
            verify(&get("/cb?state=s1"), "s1", "i", None),
            Err(CallbackError::NoCode)
        );
        assert_eq!(
            verify(&get("/cb?code=c"), "s1", "i", None),
            Err(CallbackError::NoState)
        );
        assert_eq!(
            verify(&get("/cb?code=c&state=s2"), "s1", "i", None),
            Err(CallbackError::StateMismatch)
        );
        assert_eq!(
            verify(&get("/cb?code=c&state=s"), "s1", "i", None),
            Err(CallbackError::StateMismatch)
        );
        assert_eq!(
            verify(
                &get("/cb?code=c&state=s1&iss=http://evil"),
                "s1",
                "http://idp",
                None
            ),
            Err(CallbackError::IssuerMismatch("http://evil".into()))
        );
        assert_eq!(
            verify(
                &get("/cb?code=c&state=s1&client_id=other"),
                "s1",
                "i",
                Some("kong")
            ),
            Err(CallbackError::ClientMismatch("other".into()))
        );
    }

    #[test]
    fn provider_errors_are_named() {
        let denied = get("/cb?error=access_denied&error_description=User+said+no&state=s1");
        assert!(denied.is_authorization_response());
        let error = verify(&denied, "s1", "i", None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the identity provider answered access_denied (User said no)"
        );
        assert!(!get("/page?x=1").is_authorization_response());
        assert!(!get("/page?code=c").is_authorization_response());
        assert!(!get("/page?state=&code=c").is_authorization_response());
        assert!(get("/page?error=server_error").has_response_part());
        assert!(get("/page?code=c").has_response_part());
        assert!(!get("/page?x=1&state=").has_response_part());
    }

    #[test]
    fn form_post_reads_the_body_first() {
        let request = IncomingRequest {
            method: "POST".into(),
            path: "/cb?state=from-query&extra=1".into(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: Some(b"code=c2&state=from-body".to_vec()),
            ..Default::default()
        };
        let args = CallbackArgs::of(&request);
        assert!(args.from_body);
        assert_eq!(verify(&args, "from-body", "i", None), Ok("c2"));
        assert_eq!(args.get("extra"), Some("1"));
    }
}
