//! Provider discovery and signing keys, sans-IO.
//!
//! The adapter fetches; this module decides where to fetch from ([`discovery_url`]), reads what
//! came back ([`ProviderMetadata`], [`Jwks`]), picks the key for a token ([`Jwks::select`]) and
//! says when a forced JWKS refetch is allowed ([`JwksRefetchGate`]). When discovery lacks the
//! revocation or introspection endpoint a setting needs, RFC 8414 metadata can supply it
//! ([`oauth_metadata_url`], [`merge_endpoints`]).
//! Parsing is tolerant where the IdP is merely unusual (unknown members, keys we cannot use)
//! and strict where trust is at stake (which key verifies which algorithm).

mod algorithm;
mod jwks;
mod metadata;
mod oauth_metadata;
mod refetch;

pub use algorithm::Algorithm;
pub use jwks::{Jwk, Jwks, KeyError, PublicKey, SkipReason, SkippedKey, MAX_KEYS};
pub use metadata::ProviderMetadata;
pub use oauth_metadata::{merge_endpoints, oauth_metadata_url, EndpointGaps, OptionalEndpoint};
pub use refetch::JwksRefetchGate;

/// The path OpenID Connect Discovery 1.0 puts under an issuer.
const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
/// RFC 8414's path, which Kong also accepts as an already complete discovery URL.
const OAUTH_AUTHORIZATION_SERVER: &str = "/.well-known/oauth-authorization-server";

/// Documents larger than this are refused before parsing: a discovery document or JWKS is a
/// few kilobytes, and a huge answer is a misconfigured or hostile endpoint.
pub const MAX_DOCUMENT_LEN: usize = 1024 * 1024;

/// Why a discovery document or JWKS could not be used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("the {what} is {len} bytes, more than the {max} bytes accepted")]
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("the {what} is not valid JSON: {detail}")]
    InvalidJson { what: &'static str, detail: String },
    #[error("the {what} is not a JSON object")]
    NotAnObject { what: &'static str },
    #[error("the discovery document has no \"issuer\" (a non-empty string is required)")]
    MissingIssuer,
    #[error("the JWKS has no \"keys\" array")]
    MissingKeys,
    /// RFC 8414 section 3.3: metadata must name the issuer it was fetched for.
    #[error("the metadata names issuer {found:?}, not {expected:?}")]
    IssuerMismatch { expected: String, found: String },
}

/// The URL of the discovery document for a configured `issuer`, by Kong's rule: an issuer that
/// already ends in a well-known discovery path is used as is, anything else gets
/// `/.well-known/openid-configuration` appended (without doubling a trailing slash).
pub fn discovery_url(issuer: &str) -> String {
    let issuer = issuer.trim();
    if issuer.ends_with(OPENID_CONFIGURATION) || issuer.ends_with(OAUTH_AUTHORIZATION_SERVER) {
        return issuer.to_string();
    }
    let base = issuer.strip_suffix('/').unwrap_or(issuer);
    format!("{base}{OPENID_CONFIGURATION}")
}

/// Parses `bytes` as a JSON object, with the size limit and error texts shared by both
/// document kinds.
fn parse_object(
    bytes: &[u8],
    what: &'static str,
) -> Result<serde_json::Map<String, serde_json::Value>, DiscoveryError> {
    if bytes.len() > MAX_DOCUMENT_LEN {
        return Err(DiscoveryError::TooLarge {
            what,
            len: bytes.len(),
            max: MAX_DOCUMENT_LEN,
        });
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| DiscoveryError::InvalidJson {
            what,
            detail: e.to_string(),
        })?;
    match value {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(DiscoveryError::NotAnObject { what }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_gets_the_openid_configuration_path() {
        assert_eq!(
            discovery_url("https://idp.example.com"),
            "https://idp.example.com/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("http://127.0.0.1:3000/realms/demo"),
            "http://127.0.0.1:3000/realms/demo/.well-known/openid-configuration"
        );
    }

    #[test]
    fn trailing_slash_is_not_doubled() {
        assert_eq!(
            discovery_url("https://idp.example.com/realms/demo/"),
            "https://idp.example.com/realms/demo/.well-known/openid-configuration"
        );
    }

    #[test]
    fn discovery_urls_are_kept() {
        for url in [
            "https://idp.example.com/.well-known/openid-configuration",
            "https://idp.example.com/tenant/.well-known/oauth-authorization-server",
        ] {
            assert_eq!(discovery_url(url), url);
        }
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        assert_eq!(
            discovery_url(" https://idp.example.com/ \n"),
            "https://idp.example.com/.well-known/openid-configuration"
        );
    }

    #[test]
    fn oversized_and_non_object_documents_are_errors() {
        let big = vec![b' '; MAX_DOCUMENT_LEN + 1];
        assert!(matches!(
            parse_object(&big, "JWKS"),
            Err(DiscoveryError::TooLarge { .. })
        ));
        assert_eq!(
            parse_object(b"[1,2]", "JWKS"),
            Err(DiscoveryError::NotAnObject { what: "JWKS" })
        );
        let err = parse_object(b"{\"keys\":", "JWKS").unwrap_err();
        assert!(
            err.to_string().starts_with("the JWKS is not valid JSON"),
            "{err}"
        );
    }
}
