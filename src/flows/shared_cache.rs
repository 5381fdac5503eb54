//! What the flows keep in the host's shared data, where every worker sees it: introspection
//! results, userinfo answers, token-endpoint answers and refreshed session tokens.
//!
//! The proxy-wasm ABI (0.2.1) has no expiry for shared data, so each value carries its own:
//! [`seal`] prefixes it with the second it stops being valid and [`unseal`] refuses it after
//! that. Keys are hex SHA-256 digests of what identifies an entry (a token, a grant's
//! credentials), never the secret itself.

use sha2::{Digest, Sha256};

/// The kinds of shared entries; the adapter names a key `openid_connect/<kind>.<digest>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheKind {
    /// RFC 7662 introspection results (`cache_introspection`).
    Introspection,
    /// Userinfo answers (`cache_user_info`).
    Userinfo,
    /// Token endpoint answers of the password, client credentials and refresh token grants
    /// (`cache_tokens`).
    Tokens,
    /// The tokens a session's refresh produced, for the other requests of that session that
    /// arrived with the old ones.
    Refreshed,
    /// Access tokens revoked at logout: never served from the token or introspection caches.
    Revoked,
}

impl CacheKind {
    pub fn name(self) -> &'static str {
        match self {
            CacheKind::Introspection => "introspection",
            CacheKind::Userinfo => "userinfo",
            CacheKind::Tokens => "tokens",
            CacheKind::Refreshed => "refreshed",
            CacheKind::Revoked => "revoked",
        }
    }
}

/// Bytes of the expiry prefix.
const EXPIRY_BYTES: usize = 8;

/// `value` prefixed with its expiry (seconds since the epoch, big-endian).
pub fn seal(value: &[u8], expires_at: u64) -> Vec<u8> {
    let mut sealed = Vec::with_capacity(EXPIRY_BYTES + value.len());
    sealed.extend_from_slice(&expires_at.to_be_bytes());
    sealed.extend_from_slice(value);
    sealed
}

/// The expiry of a sealed value, if it is one.
pub fn expiry_of(sealed: &[u8]) -> Option<u64> {
    let prefix: [u8; EXPIRY_BYTES] = sealed.get(..EXPIRY_BYTES)?.try_into().ok()?;
    Some(u64::from_be_bytes(prefix))
}

/// The value of a sealed entry that is still valid at `now` (valid strictly before its expiry).
pub fn unseal(sealed: &[u8], now: u64) -> Option<&[u8]> {
    let expires_at = expiry_of(sealed)?;
    if now >= expires_at {
        return None;
    }
    sealed.get(EXPIRY_BYTES..)
}

/// The hex SHA-256 of the parts written one after the other.
pub fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// When an entry about a token stops being used: `cache_ttl` seconds from now (0: no limit),
/// and never after the token itself expires (`token_exp`, when known).
pub fn expiry(now: u64, cache_ttl: u64, token_exp: Option<u64>) -> u64 {
    let by_ttl = if cache_ttl == 0 {
        u64::MAX
    } else {
        now.saturating_add(cache_ttl)
    };
    match token_exp {
        Some(exp) => by_ttl.min(exp),
        None => by_ttl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_expire() {
        let sealed = seal(b"value", 100);
        assert_eq!(expiry_of(&sealed), Some(100));
        assert_eq!(unseal(&sealed, 99), Some(&b"value"[..]));
        assert_eq!(unseal(&sealed, 100), None);
        assert_eq!(unseal(b"short", 0), None);
        assert_eq!(unseal(&[], 0), None);
        assert_eq!(unseal(&seal(b"", 10), 5), Some(&b""[..]));
    }

    #[test]
    fn digests_are_hex_sha256() {
        assert_eq!(digest(&["a", "bc"]), digest(&["abc"]));
        assert_eq!(
            digest(&[""]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn expiry_is_the_earlier_of_ttl_and_token() {
        assert_eq!(expiry(1000, 60, None), 1060);
        assert_eq!(expiry(1000, 60, Some(1030)), 1030);
        assert_eq!(expiry(1000, 60, Some(5000)), 1060);
        assert_eq!(expiry(1000, 0, Some(5000)), 5000);
        assert_eq!(expiry(1000, 0, None), u64::MAX);
    }
}
