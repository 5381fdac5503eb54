//! The shared-data keys of one issuer: `openid_connect/<name>.<issuer hash>`. The hash keeps
//! plugin instances with different providers apart; the caches' keys are per kind instead
//! (see [`cache`](super::cache)), their entries being named by digests of what they hold.

use sha2::{Digest, Sha256};

/// The shared-data keys of one issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedKeys {
    /// The provider documents (see `flows::provider_cache`).
    pub provider: String,
    /// The JWKS refetch gate (see [`gate`](super::gate)).
    pub jwks_refetch: String,
    /// The session secret generated when none is configured (see [`secret`](super::secret)).
    pub session_secret: String,
    /// The lease of the worker refreshing the provider documents.
    pub fetch_lease: String,
    /// Prefix of the refresh lock slots (`<prefix><n>`, see [`lock`](super::lock)).
    pub refresh_lock: String,
    /// The endpoints last announced missing (see `flows::provider_fetch::announce`).
    pub endpoint_gaps: String,
}

impl SharedKeys {
    pub fn for_issuer(issuer: &str) -> SharedKeys {
        let digest = Sha256::digest(issuer.as_bytes());
        let id: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        SharedKeys {
            provider: format!("openid_connect/provider.{id}"),
            jwks_refetch: format!("openid_connect/jwks_refetch.{id}"),
            session_secret: format!("openid_connect/session_secret.{id}"),
            fetch_lease: format!("openid_connect/fetch_lease.{id}"),
            refresh_lock: format!("openid_connect/refresh_lock.{id}."),
            endpoint_gaps: format!("openid_connect/endpoint_gaps.{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_get_their_own_keys_in_the_openid_connect_zone() {
        let a = SharedKeys::for_issuer("http://idp-a");
        let b = SharedKeys::for_issuer("http://idp-b");
        assert_ne!(a.provider, b.provider);
        assert_eq!(a, SharedKeys::for_issuer("http://idp-a"));
        for key in [
            &a.provider,
            &a.jwks_refetch,
            &a.session_secret,
            &a.fetch_lease,
        ] {
            assert!(key.starts_with("openid_connect/"), "{key}");
        }
    }
}
