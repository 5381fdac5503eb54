//! The identity provider's documents (discovery metadata and JWKS) and the endpoint rules that
//! combine them with the configuration.

use serde_json::{json, Value};

use crate::config::Config;
use crate::discovery::{DiscoveryError, EndpointGaps, Jwks, ProviderMetadata};

/// Why the provider's documents could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("discovery document rejected: {0}")]
    Metadata(DiscoveryError),
    #[error("JWKS rejected: {0}")]
    Jwks(DiscoveryError),
    /// A document could not be kept as a JSON value, or the shared copy could not be read.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// What discovery produced. Workers share the documents as the IdP sent them (see
/// [`Provider::to_shared`]) and each parses them once.
#[derive(Debug, Clone)]
pub struct Provider {
    pub metadata: ProviderMetadata,
    pub jwks: Jwks,
    /// When the documents were fetched (epoch seconds).
    pub fetched_at: u64,
    /// The documents as received, for sharing.
    pub metadata_document: Value,
    pub jwks_document: Value,
    /// Endpoints a setting needs that the fetch found in no document, on documents this worker
    /// fetched (None on a copy read from shared data: only the fetcher reports them).
    pub endpoint_gaps: Option<EndpointGaps>,
}

impl Provider {
    /// Parses the documents as the IdP sent them.
    pub fn from_documents(
        metadata: &[u8],
        jwks: Option<&[u8]>,
        fetched_at: u64,
    ) -> Result<Provider, DocumentError> {
        let parsed_metadata = ProviderMetadata::parse(metadata).map_err(DocumentError::Metadata)?;
        let metadata_document = serde_json::from_slice(metadata)?;
        let (parsed_jwks, jwks_document) = match jwks {
            Some(bytes) => (
                Jwks::parse(bytes).map_err(DocumentError::Jwks)?,
                serde_json::from_slice(bytes)?,
            ),
            None => (Jwks::default(), json!({"keys": []})),
        };
        Ok(Provider {
            metadata: parsed_metadata,
            jwks: parsed_jwks,
            fetched_at,
            metadata_document,
            jwks_document,
            endpoint_gaps: None,
        })
    }

    /// Replaces the keys after a refetch.
    pub fn with_jwks(&self, jwks_bytes: &[u8], fetched_at: u64) -> Result<Provider, DocumentError> {
        let jwks = Jwks::parse(jwks_bytes).map_err(DocumentError::Jwks)?;
        let jwks_document = serde_json::from_slice(jwks_bytes)?;
        Ok(Provider {
            jwks,
            jwks_document,
            fetched_at,
            ..self.clone()
        })
    }

    /// The form kept in the host's shared data.
    pub fn to_shared(&self) -> Vec<u8> {
        json!({
            "fetched_at": self.fetched_at,
            "metadata": self.metadata_document,
            "jwks": self.jwks_document,
        })
        .to_string()
        .into_bytes()
    }

    pub fn from_shared(bytes: &[u8]) -> Result<Provider, DocumentError> {
        let shared: Value = serde_json::from_slice(bytes)?;
        let fetched_at = shared
            .get("fetched_at")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let metadata = serde_json::to_vec(shared.get("metadata").unwrap_or(&Value::Null))?;
        let jwks = serde_json::to_vec(shared.get("jwks").unwrap_or(&Value::Null))?;
        Provider::from_documents(&metadata, Some(&jwks), fetched_at)
    }

    /// Config field first, then discovery (Kong's override rule).
    pub fn token_endpoint<'a>(&'a self, settings: &'a impl AsRef<Config>) -> Option<&'a str> {
        settings
            .as_ref()
            .token_endpoint
            .as_deref()
            .or(self.metadata.token_endpoint.as_deref())
    }

    /// Config `revocation_endpoint`, then the discovered `revocation_endpoint` (the parser
    /// already falls back to `token_revocation_endpoint`).
    pub fn revocation_endpoint<'a>(&'a self, settings: &'a impl AsRef<Config>) -> Option<&'a str> {
        settings
            .as_ref()
            .revocation_endpoint
            .as_deref()
            .or(self.metadata.revocation_endpoint.as_deref())
    }

    pub fn end_session_endpoint<'a>(&'a self, settings: &'a impl AsRef<Config>) -> Option<&'a str> {
        settings
            .as_ref()
            .end_session_endpoint
            .as_deref()
            .or(self.metadata.end_session_endpoint.as_deref())
    }

    /// The JWKS URL: config `jwks_endpoint`, then the discovered `jwks_uri`.
    pub fn jwks_endpoint<'a>(
        settings: &'a impl AsRef<Config>,
        metadata: &'a ProviderMetadata,
    ) -> Option<&'a str> {
        settings
            .as_ref()
            .jwks_endpoint
            .as_deref()
            .or(metadata.jwks_uri.as_deref())
    }

    /// Issuers a token may come from: `issuers_allowed`, else the discovered issuer.
    pub fn issuers_allowed(&self, settings: &impl AsRef<Config>) -> Vec<String> {
        if settings.as_ref().issuers_allowed.is_empty() {
            vec![self.metadata.issuer.clone()]
        } else {
            settings.as_ref().issuers_allowed.clone()
        }
    }

    /// Whether the documents are older than `rediscovery_lifetime`.
    pub fn is_stale(&self, settings: &impl AsRef<Config>, now: u64) -> bool {
        now.saturating_sub(self.fetched_at) >= settings.as_ref().rediscovery_lifetime.max(1)
    }
}
