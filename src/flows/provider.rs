//! The identity provider's documents (discovery metadata and JWKS) and the endpoint rules that
//! combine them with the configuration.

use serde::{Deserialize, Serialize};

use crate::discovery::{Jwks, ProviderMetadata};
use crate::flows::settings::Settings;

/// What discovery produced, shared between workers by the adapter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provider {
    pub metadata: ProviderMetadata,
    pub jwks: Jwks,
    /// When the documents were fetched (epoch seconds).
    pub fetched_at: u64,
}

impl Provider {
    /// Config field first, then discovery (Kong's override rule).
    pub fn token_endpoint<'a>(&'a self, settings: &'a Settings) -> Option<&'a str> {
        settings.config.token_endpoint.as_deref().or(self.metadata.token_endpoint.as_deref())
    }

    /// Config `revocation_endpoint`, then the discovered `revocation_endpoint` (the parser
    /// already falls back to `token_revocation_endpoint`).
    pub fn revocation_endpoint<'a>(&'a self, settings: &'a Settings) -> Option<&'a str> {
        settings.config.revocation_endpoint.as_deref().or(self.metadata.revocation_endpoint.as_deref())
    }

    pub fn end_session_endpoint<'a>(&'a self, settings: &'a Settings) -> Option<&'a str> {
        settings.config.end_session_endpoint.as_deref().or(self.metadata.end_session_endpoint.as_deref())
    }

    /// The JWKS URL: config `jwks_endpoint`, then the discovered `jwks_uri`.
    pub fn jwks_endpoint<'a>(settings: &'a Settings, metadata: &'a ProviderMetadata) -> Option<&'a str> {
        settings.config.jwks_endpoint.as_deref().or(metadata.jwks_uri.as_deref())
    }

    /// Issuers a token may come from: `issuers_allowed`, else the discovered issuer.
    pub fn issuers_allowed(&self, settings: &Settings) -> Vec<String> {
        if settings.config.issuers_allowed.is_empty() {
            vec![self.metadata.issuer.clone()]
        } else {
            settings.config.issuers_allowed.clone()
        }
    }

    /// Whether the documents are older than `rediscovery_lifetime`.
    pub fn is_stale(&self, settings: &Settings, now: u64) -> bool {
        now.saturating_sub(self.fetched_at) >= settings.config.rediscovery_lifetime.max(1)
    }
}
