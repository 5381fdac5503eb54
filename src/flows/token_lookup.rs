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
) -> Result<OutboundRequest, String> {
    match kind {
        LookupKind::Introspection => {
            introspection::request(settings, provider, token).map_err(|e| e.to_string())
        }
        LookupKind::Userinfo => {
            userinfo::request(settings, provider, token).map_err(|e| e.to_string())
        }
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
) -> Result<Map<String, Value>, String> {
    let (answer, expires_at) = match kind {
        LookupKind::Introspection => {
            let result = introspection::parse(response).map_err(|e| e.to_string())?;
            let expires_at = introspection::cache_expiry(settings, &result, now);
            if !introspection::is_cacheable(&result) {
                return Ok(result);
            }
            (result, expires_at)
        }
        LookupKind::Userinfo => {
            let claims = userinfo::parse(response).map_err(|e| e.to_string())?;
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
