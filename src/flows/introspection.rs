//! The `introspection` method (RFC 7662): asking the provider whether a token is active, and
//! the cache of its answers.

use serde_json::{Map, Value};

use crate::flows::client_auth::{self, Endpoint};
use crate::flows::outbound;
use crate::flows::provider::Provider;
use crate::flows::settings::Settings;
use crate::shared::cache as shared_cache;
use crate::step::{CallResponse, OutboundRequest};

/// Why an introspection gave no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntrospectionError {
    #[error("introspection endpoint was not specified (set introspection_endpoint, or use a provider that publishes one)")]
    NoEndpoint,
    #[error("invalid introspection endpoint: {0}")]
    BadEndpoint(outbound::CallError),
    #[error("the introspection endpoint could not be reached ({0})")]
    Unreachable(String),
    #[error("the introspection endpoint answered {0}")]
    Status(u16),
    #[error("the introspection endpoint answered with something other than a JSON object")]
    NotJson,
}

/// The introspection endpoint: `introspection_endpoint`, else the discovered one.
pub fn endpoint<'a>(settings: &'a Settings, provider: &'a Provider) -> Option<&'a str> {
    settings
        .config
        .introspection_endpoint
        .as_deref()
        .or(provider.metadata.introspection_endpoint.as_deref())
}

/// `POST token=<token>&token_type_hint=<introspection_hint>` with the client's authentication
/// (`introspection_endpoint_auth_method`, then `client_auth`, then Basic with the secret).
pub fn request(
    settings: &Settings,
    provider: &Provider,
    token: &str,
) -> Result<OutboundRequest, IntrospectionError> {
    request_with_hint(
        settings,
        provider,
        token,
        &settings.config.introspection_hint,
    )
}

/// The same request with another `token_type_hint` (empty: none), for the session check at
/// the provider, which asks about the session's refresh token.
pub fn request_with_hint(
    settings: &Settings,
    provider: &Provider,
    token: &str,
    hint: &str,
) -> Result<OutboundRequest, IntrospectionError> {
    let config = &settings.config;
    let url = endpoint(settings, provider).ok_or(IntrospectionError::NoEndpoint)?;
    let mut body = vec![(
        config.introspection_token_param_name.clone(),
        token.to_string(),
    )];
    if !hint.is_empty() {
        body.push(("token_type_hint".to_string(), hint.to_string()));
    }
    let method = client_auth::choose(settings, Endpoint::Introspection, &[]);
    let mut headers = Vec::new();
    client_auth::apply(settings, &method, &mut headers, &mut body);
    outbound::form_post(settings, url, headers, &body).map_err(IntrospectionError::BadEndpoint)
}

/// The introspection result: a 200 answer with a JSON object.
pub fn parse(response: &CallResponse) -> Result<Map<String, Value>, IntrospectionError> {
    match response.status {
        None => Err(IntrospectionError::Unreachable(response.failure_reason())),
        Some(200) => match serde_json::from_slice(&response.body) {
            Ok(Value::Object(result)) => Ok(result),
            _ => Err(IntrospectionError::NotJson),
        },
        Some(status) => Err(IntrospectionError::Status(status)),
    }
}

/// Whether the result says `"active": true` (RFC 7662 section 2.2).
pub fn is_active(result: &Map<String, Value>) -> bool {
    result.get("active").and_then(Value::as_bool) == Some(true)
}

/// Whether a result may go to the shared cache: only an active token's. An inactive answer is
/// what any made-up token gets, so caching it would let a client fill the cache with one
/// entry per random token it sends; the next request with such a token asks again (the
/// provider answers an unknown token cheaply, and no entry outlives the request).
pub fn is_cacheable(result: &Map<String, Value>) -> bool {
    is_active(result)
}

/// The `exp` of a result, when it is a number.
pub fn exp(result: &Map<String, Value>) -> Option<u64> {
    let exp = result.get("exp")?;
    exp.as_u64()
        .or_else(|| exp.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
}

/// The cache key: the endpoint and the token, hashed (Kong keys its cache the same way).
pub fn cache_key(settings: &Settings, provider: &Provider, token: &str) -> String {
    let endpoint = endpoint(settings, provider).unwrap_or(provider.metadata.issuer.as_str());
    shared_cache::digest(&[endpoint, "#introspection=", token])
}

/// Until when a result is cached: `cache_ttl`, and never after the token's `exp`.
pub fn cache_expiry(settings: &Settings, result: &Map<String, Value>, now: u64) -> u64 {
    shared_cache::expiry(now, settings.config.cache_ttl, exp(result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::harness::fixtures::answer;
    use serde_json::json;

    #[test]
    fn reads_results() {
        let result = parse(&answer(200, r#"{"active":true,"exp":1700,"scope":"a b"}"#)).unwrap();
        assert!(is_active(&result));
        assert_eq!(exp(&result), Some(1700));
        assert!(!is_active(
            &parse(&answer(200, r#"{"active":false}"#)).unwrap()
        ));
        assert!(!is_active(
            &parse(&answer(200, r#"{"active":"true"}"#)).unwrap()
        ));
        assert_eq!(
            parse(&answer(401, "")),
            Err(IntrospectionError::Status(401))
        );
        assert_eq!(parse(&answer(200, "[1]")), Err(IntrospectionError::NotJson));
        assert!(matches!(
            parse(&CallResponse::default()),
            Err(IntrospectionError::Unreachable(_))
        ));
        assert_eq!(
            exp(&json!({"exp": 12.5}).as_object().unwrap().clone()),
            Some(12)
        );
    }
}
