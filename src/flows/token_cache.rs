//! The token cache (`cache_tokens`): token-endpoint answers of the password, client
//! credentials and refresh token grants, shared by every worker, so that a client that sends
//! the same credentials with every request does not cost a token request each time.
//!
//! The key follows Kong's: SHA-256 of `<issuer>#grant_type=<grant>&<credential>[&<credential>]`,
//! then `&<cache_tokens_salt>` when set and `&<scopes>` with `token_cache_key_include_scope`.
//! Entries expire with the access token (`expires_in`), else after `cache_ttl`.

use crate::flows::settings::Settings;
use crate::flows::tokens::TokenSet;
use crate::flows::verified_tokens::TokenDigest;
use crate::flows::SharedState;
use crate::shared::cache::{self as shared_cache, CacheKind};

/// The cache key of a grant's credentials. Unlike Kong, each credential is form-encoded
/// before it is joined, so that `&` in a user name or password cannot make two different
/// credential pairs (`a&b` + `c`, `a` + `b&c`) share an entry.
pub fn key(settings: &Settings, issuer: &str, grant_type: &str, credentials: &[&str]) -> String {
    let config = &settings.config;
    let mut text = format!("{issuer}#grant_type={grant_type}");
    for credential in credentials {
        text.push('&');
        text.extend(form_urlencoded::byte_serialize(credential.as_bytes()));
    }
    if let Some(salt) = config.cache_tokens_salt.as_deref() {
        text.push('&');
        text.push_str(salt);
    }
    if config.token_cache_key_include_scope {
        text.push('&');
        text.push_str(&config.scopes.join(" "));
    }
    shared_cache::digest(&[&text])
}

/// The cached form of a token answer.
pub fn encode(tokens: &TokenSet) -> Vec<u8> {
    tokens.to_value().to_string().into_bytes()
}

/// A cached token answer, if it still reads as one.
pub fn decode(bytes: &[u8]) -> Option<TokenSet> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    TokenSet::from_session_value(&value)
}

/// The key of the mark a logout leaves on an access token it revoked.
pub fn revoked_key(access_token: &str) -> String {
    revoked_key_of(&TokenDigest::of(access_token))
}

/// The same from the token's digest, which a bearer request has already computed for its
/// memory of verified tokens: the token is hashed once per request.
pub fn revoked_key_of(token: &TokenDigest) -> String {
    shared_cache::digest_bytes(&[b"revoked#", token.as_bytes()])
}

/// Marks tokens a logout revokes until `expires_at` (the access token's expiry when the
/// session knows it), so that the caches never hand them out again (a client that logs in
/// again with the same credentials gets fresh tokens, not the revoked ones) and no session
/// holding them forwards them (finding 13.9). The refresh token is marked too, so that no copy
/// of the session refreshes with it.
pub fn mark_revoked(shared: &dyn SharedState, tokens: &TokenSet, expires_at: u64) {
    for token in std::iter::once(tokens.access_token()).chain(tokens.refresh_token()) {
        shared.cache_put(CacheKind::Revoked, &revoked_key(token), b"1", expires_at);
    }
}

/// Whether a logout on this node revoked the access or the refresh token of this set.
pub fn any_revoked(shared: &dyn SharedState, tokens: &TokenSet, now: u64) -> bool {
    std::iter::once(tokens.access_token())
        .chain(tokens.refresh_token())
        .any(|token| is_revoked(shared, token, now))
}

/// Whether a logout revoked this access token.
pub fn is_revoked(shared: &dyn SharedState, access_token: &str, now: u64) -> bool {
    is_revoked_digest(shared, &TokenDigest::of(access_token), now)
}

/// [`is_revoked`] from the token's digest.
pub fn is_revoked_digest(shared: &dyn SharedState, token: &TokenDigest, now: u64) -> bool {
    shared
        .cache_get(CacheKind::Revoked, &revoked_key_of(token), now)
        .is_some()
}

/// Until when an answer is cached: its `expires_in`, else `cache_ttl`.
pub fn expiry(settings: &Settings, tokens: &TokenSet, now: u64) -> u64 {
    match tokens.expires_in() {
        Some(seconds) => now.saturating_add(seconds),
        None => shared_cache::expiry(now, settings.config.cache_ttl, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::json;

    fn settings(extra: serde_json::Value) -> Settings {
        let mut config = json!({"issuer": "http://127.0.0.1:3000", "session_secret": "s"});
        if let (Some(base), serde_json::Value::Object(extra)) = (config.as_object_mut(), extra) {
            base.extend(extra);
        }
        Settings::new(Config::parse(config.to_string().as_bytes()).unwrap(), b"s").unwrap()
    }

    #[test]
    fn keys_follow_kongs_recipe() {
        let plain = settings(json!({}));
        let expected = shared_cache::digest(&["http://idp#grant_type=password&john&doe"]);
        assert_eq!(
            key(&plain, "http://idp", "password", &["john", "doe"]),
            expected
        );
        let salted = settings(json!({"cache_tokens_salt": "pepper"}));
        let expected = shared_cache::digest(&["http://idp#grant_type=password&john&doe&pepper"]);
        assert_eq!(
            key(&salted, "http://idp", "password", &["john", "doe"]),
            expected
        );
        let scoped =
            settings(json!({"token_cache_key_include_scope": true, "scopes": ["openid", "email"]}));
        let expected =
            shared_cache::digest(&["http://idp#grant_type=password&john&doe&openid email"]);
        assert_eq!(
            key(&scoped, "http://idp", "password", &["john", "doe"]),
            expected
        );
        // `&` inside a credential cannot make two users share an entry.
        assert_ne!(
            key(&plain, "i", "password", &["a&b", "c"]),
            key(&plain, "i", "password", &["a", "b&c"])
        );
        assert_ne!(
            key(&plain, "i", "password", &["john", "doe"]),
            key(&plain, "i", "client_credentials", &["john", "doe"])
        );
        assert_ne!(
            key(&plain, "i", "password", &["john", "doe"]),
            key(&plain, "j", "password", &["john", "doe"])
        );
    }

    #[test]
    fn answers_round_trip_and_expire_with_the_token() {
        let s = settings(json!({"cache_ttl": 60}));
        let with_expiry =
            TokenSet::from_session_value(&json!({"access_token": "a", "expires_in": 300})).unwrap();
        assert_eq!(decode(&encode(&with_expiry)), Some(with_expiry.clone()));
        assert_eq!(expiry(&s, &with_expiry, 1000), 1300);
        let without = TokenSet::from_session_value(&json!({"access_token": "a"})).unwrap();
        assert_eq!(expiry(&s, &without, 1000), 1060);
        assert_eq!(decode(b"{}"), None);
        assert_eq!(decode(b"junk"), None);
    }
}
