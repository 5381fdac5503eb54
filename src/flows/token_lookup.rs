//! Asking the provider about an access token, through the shared cache: introspection
//! (RFC 7662) and userinfo. Used to authenticate opaque tokens (the `introspection` and
//! `userinfo` methods), to check requirements of opaque tokens, and for the upstream headers
//! that carry the answers.

use serde_json::{Map, Value};

use crate::flows::provider::Provider;
use crate::flows::settings::Settings;
use crate::flows::SharedState;
use crate::flows::{introspection, userinfo};
use crate::shared::cache::{self as shared_cache, CacheKind};
use crate::step::{CallResponse, OutboundRequest};
use crate::token;

/// Why the provider gave no usable answer (or could not be asked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Introspection(#[from] introspection::IntrospectionError),
    #[error(transparent)]
    Userinfo(#[from] userinfo::UserinfoError),
}

/// Which question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupKind {
    Introspection,
    Userinfo,
}

impl LookupKind {
    fn cache_kind(self) -> CacheKind {
        match self {
            LookupKind::Introspection => CacheKind::Introspection,
            LookupKind::Userinfo => CacheKind::Userinfo,
        }
    }

    fn caches(self, settings: &Settings) -> bool {
        match self {
            LookupKind::Introspection => settings.config.cache_introspection,
            LookupKind::Userinfo => settings.config.cache_user_info,
        }
    }

    fn key(self, settings: &Settings, provider: &Provider, token: &str) -> String {
        match self {
            LookupKind::Introspection => introspection::cache_key(settings, provider, token),
            LookupKind::Userinfo => userinfo::cache_key(provider, token),
        }
    }
}

/// A cached answer, when caching is on and one is there.
pub fn cached(
    settings: &Settings,
    shared: &dyn SharedState,
    provider: &Provider,
    kind: LookupKind,
    token: &str,
    now: u64,
) -> Option<Map<String, Value>> {
    if !kind.caches(settings) || crate::flows::token_cache::is_revoked(shared, token, now) {
        return None;
    }
    let bytes = shared.cache_get(kind.cache_kind(), &kind.key(settings, provider, token), now)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(answer)) => Some(answer),
        _ => None,
    }
}

/// The request that asks.
pub fn request(
    settings: &Settings,
    provider: &Provider,
    kind: LookupKind,
    token: &str,
) -> Result<OutboundRequest, LookupError> {
    match kind {
        LookupKind::Introspection => Ok(introspection::request(settings, provider, token)?),
        LookupKind::Userinfo => Ok(userinfo::request(settings, provider, token)?),
    }
}

/// Reads the provider's answer and caches it: introspection results until `cache_ttl` or
/// their `exp`; userinfo answers until `cache_ttl` or the token's own `exp` when it is a JWT.
pub fn answer(
    settings: &Settings,
    shared: &dyn SharedState,
    provider: &Provider,
    kind: LookupKind,
    token: &str,
    response: &CallResponse,
    now: u64,
) -> Result<Map<String, Value>, LookupError> {
    let (answer, expires_at) = match kind {
        LookupKind::Introspection => {
            let result = introspection::parse(response)?;
            let expires_at = introspection::cache_expiry(settings, &result, now);
            if !introspection::is_cacheable(&result) {
                return Ok(result);
            }
            (result, expires_at)
        }
        LookupKind::Userinfo => {
            let claims = userinfo::parse(response)?;
            let token_exp = token::decode_unverified(token)
                .ok()
                .and_then(|(_, claims)| claims.get("exp").and_then(Value::as_u64));
            (
                claims,
                shared_cache::expiry(now, settings.config.cache_ttl, token_exp),
            )
        }
    };
    if kind.caches(settings) && expires_at > now {
        let bytes = Value::Object(answer.clone()).to_string().into_bytes();
        shared.cache_put(
            kind.cache_kind(),
            &kind.key(settings, provider, token),
            &bytes,
            expires_at,
        );
    }
    Ok(answer)
}
