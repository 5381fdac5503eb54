//! The `userinfo` method: a token is accepted when the provider's userinfo endpoint answers
//! 200 to it; the answer (the user's claims) is cached and can go upstream.

use serde_json::{Map, Value};

use crate::flows::outbound;
use crate::flows::provider::Provider;
use crate::flows::settings::Settings;
use crate::shared::cache as shared_cache;
use crate::step::{CallResponse, OutboundRequest};

/// Why the userinfo endpoint did not accept a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserinfoError {
    #[error("userinfo endpoint was not specified (set userinfo_endpoint, or use a provider that publishes one)")]
    NoEndpoint,
    #[error("invalid userinfo endpoint: {0}")]
    BadEndpoint(outbound::CallError),
    #[error("the userinfo endpoint could not be reached ({0})")]
    Unreachable(String),
    #[error("the userinfo endpoint answered {0}")]
    Status(u16),
    #[error("the userinfo endpoint answered with something other than a JSON object")]
    NotJson,
}

/// The userinfo endpoint: `userinfo_endpoint`, else the discovered one.
pub fn endpoint<'a>(settings: &'a Settings, provider: &'a Provider) -> Option<&'a str> {
    settings
        .config
        .userinfo_endpoint
        .as_deref()
        .or(provider.metadata.userinfo_endpoint.as_deref())
}

/// `GET <userinfo endpoint>` with `Authorization: Bearer <token>`.
pub fn request(
    settings: &Settings,
    provider: &Provider,
    token: &str,
) -> Result<OutboundRequest, UserinfoError> {
    let url = endpoint(settings, provider).ok_or(UserinfoError::NoEndpoint)?;
    let mut request = outbound::get(settings, url).map_err(UserinfoError::BadEndpoint)?;
    request
        .headers
        .push(("authorization".to_string(), format!("Bearer {token}")));
    Ok(request)
}

/// The user's claims: a 200 answer with a JSON object.
pub fn parse(response: &CallResponse) -> Result<Map<String, Value>, UserinfoError> {
    match response.status {
        None => Err(UserinfoError::Unreachable(response.failure_reason())),
        Some(200) => match serde_json::from_slice(&response.body) {
            Ok(Value::Object(claims)) => Ok(claims),
            _ => Err(UserinfoError::NotJson),
        },
        Some(status) => Err(UserinfoError::Status(status)),
    }
}

/// The cache key: the issuer and the token, hashed.
pub fn cache_key(provider: &Provider, token: &str) -> String {
    shared_cache::digest(&[provider.metadata.issuer.as_str(), "#userinfo=", token])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_200_json_object_is_an_answer() {
        let ok = CallResponse {
            status: Some(200),
            headers: vec![],
            body: br#"{"sub":"u"}"#.to_vec(),
        };
        assert_eq!(parse(&ok).unwrap()["sub"], "u");
        let refused = CallResponse {
            status: Some(401),
            headers: vec![],
            body: b"{}".to_vec(),
        };
        assert_eq!(parse(&refused), Err(UserinfoError::Status(401)));
        let html = CallResponse {
            status: Some(200),
            headers: vec![],
            body: b"<html>".to_vec(),
        };
        assert_eq!(parse(&html), Err(UserinfoError::NotJson));
    }
}
