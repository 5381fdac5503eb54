//! RFC 8414 fallback: the OAuth 2.0 Authorization Server Metadata document as a second source
//! for the revocation and introspection endpoints.
//!
//! Some providers (django-oauth-toolkit among them) publish `revocation_endpoint` and
//! `introspection_endpoint` only in `/.well-known/oauth-authorization-server`, not in their
//! OpenID discovery document. When the configuration needs one of them and discovery lacks it,
//! the adapter fetches that document too; this module says where ([`oauth_metadata_url`]) and
//! merges what it may take from it ([`merge_endpoints`]) into the discovery document, so the
//! merged document is what gets parsed, cached and shared, exactly like a plain discovery one.

use serde_json::{Map, Value};

use super::{parse_object, DiscoveryError, OAUTH_AUTHORIZATION_SERVER};

const WHAT: &str = "OAuth 2.0 authorization server metadata";

/// An endpoint the filter can do without but that a setting may need, and which RFC 8414
/// metadata may supply when discovery does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OptionalEndpoint {
    /// RFC 7009 token revocation, used by `logout_revoke`.
    Revocation,
    /// RFC 7662 token introspection, used by the `introspection` auth method.
    Introspection,
}

impl OptionalEndpoint {
    /// The metadata member that holds the URL.
    pub fn member(self) -> &'static str {
        match self {
            OptionalEndpoint::Revocation => "revocation_endpoint",
            OptionalEndpoint::Introspection => "introspection_endpoint",
        }
    }

    /// An older name some providers still publish (read only when `member` is absent).
    fn alias(self) -> Option<&'static str> {
        match self {
            OptionalEndpoint::Revocation => Some("token_revocation_endpoint"),
            OptionalEndpoint::Introspection => None,
        }
    }

    /// The member listing the client authentication methods the endpoint accepts: it
    /// describes the endpoint, so it comes from the same document.
    fn auth_methods_member(self) -> &'static str {
        match self {
            OptionalEndpoint::Revocation => "revocation_endpoint_auth_methods_supported",
            OptionalEndpoint::Introspection => "introspection_endpoint_auth_methods_supported",
        }
    }

    /// The URL in `doc`, if it publishes one (a non-empty string).
    fn url_in(self, doc: &Map<String, Value>) -> Option<&str> {
        let non_empty = |name: &str| {
            doc.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        non_empty(self.member()).or_else(|| self.alias().and_then(non_empty))
    }
}

/// What a fetch of the provider's documents left missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointGaps {
    /// Needed by a setting, in no document and not configured.
    pub missing: Vec<OptionalEndpoint>,
    /// What asking RFC 8414 metadata came to, for the log (None when it was not asked).
    pub oauth_metadata: Option<String>,
}

/// RFC 8414 section 3.1: the well-known segment goes between the host and the issuer's path
/// (`https://idp/tenant` -> `https://idp/.well-known/oauth-authorization-server/tenant`), a
/// terminating `/` of the path removed first. None when `issuer` is not an `http(s)` URL
/// without query or fragment, as RFC 8414 requires of an issuer.
pub fn oauth_metadata_url(issuer: &str) -> Option<String> {
    let (scheme, rest) = issuer.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")) {
        return None;
    }
    if rest.contains(['?', '#']) {
        return None;
    }
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return None;
    }
    let path = path.strip_suffix('/').unwrap_or(path);
    Some(format!(
        "{scheme}://{authority}{OAUTH_AUTHORIZATION_SERVER}{path}"
    ))
}

/// Takes from the RFC 8414 document `oauth` the `wanted` endpoints that the discovery
/// document `discovery` lacks (and, with each, its authentication methods unless discovery
/// lists them), and nothing else. Returns the merged discovery document and the endpoints it
/// gained. The RFC 8414 document's `issuer` must be the discovery document's (RFC 8414
/// section 3.3), else nothing is taken: a document of another issuer cannot name our
/// endpoints.
pub fn merge_endpoints(
    discovery: &[u8],
    oauth: &[u8],
    wanted: &[OptionalEndpoint],
) -> Result<(Vec<u8>, Vec<OptionalEndpoint>), DiscoveryError> {
    let mut doc = parse_object(discovery, "discovery document")?;
    let oauth = parse_object(oauth, WHAT)?;
    let issuer = doc
        .get("issuer")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(DiscoveryError::MissingIssuer)?;
    let found = oauth.get("issuer").and_then(Value::as_str).unwrap_or("");
    if found != issuer {
        return Err(DiscoveryError::IssuerMismatch {
            expected: issuer.to_string(),
            found: found.to_string(),
        });
    }
    let mut gained = Vec::new();
    for &endpoint in wanted {
        if endpoint.url_in(&doc).is_some() {
            continue;
        }
        let Some(url) = endpoint.url_in(&oauth) else {
            continue;
        };
        doc.insert(
            endpoint.member().to_string(),
            Value::String(url.to_string()),
        );
        let methods = endpoint.auth_methods_member();
        if !doc.contains_key(methods) {
            if let Some(list) = oauth.get(methods) {
                doc.insert(methods.to_string(), list.clone());
            }
        }
        gained.push(endpoint);
    }
    // Serialising a map of JSON values cannot fail; the empty fallback is never reached.
    let merged = serde_json::to_vec(&Value::Object(doc)).unwrap_or_default();
    Ok((merged, gained))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::ProviderMetadata;

    const DISCOVERY: &[u8] = br#"{"issuer":"https://idp.example.com/o","token_endpoint":"https://idp.example.com/o/token/"}"#;

    /// What django-oauth-toolkit serves at the RFC 8414 path.
    const OAUTH: &[u8] = br#"{"issuer":"https://idp.example.com/o",
        "token_endpoint":"https://evil.example/token",
        "revocation_endpoint":"https://idp.example.com/o/revoke_token/",
        "introspection_endpoint":"https://idp.example.com/o/introspect/",
        "revocation_endpoint_auth_methods_supported":["client_secret_post","client_secret_basic"],
        "introspection_endpoint_auth_methods_supported":["client_secret_basic"]}"#;

    const BOTH: &[OptionalEndpoint] = &[
        OptionalEndpoint::Revocation,
        OptionalEndpoint::Introspection,
    ];

    #[test]
    fn the_well_known_segment_goes_between_host_and_path() {
        assert_eq!(
            oauth_metadata_url("https://idp.example.com").as_deref(),
            Some("https://idp.example.com/.well-known/oauth-authorization-server")
        );
        assert_eq!(
            oauth_metadata_url("https://idp.example.com/").as_deref(),
            Some("https://idp.example.com/.well-known/oauth-authorization-server")
        );
        assert_eq!(
            oauth_metadata_url("http://127.0.0.1:8000/o/").as_deref(),
            Some("http://127.0.0.1:8000/.well-known/oauth-authorization-server/o")
        );
        assert_eq!(
            oauth_metadata_url("https://idp.example.com/realms/a/b").as_deref(),
            Some("https://idp.example.com/.well-known/oauth-authorization-server/realms/a/b")
        );
    }

    #[test]
    fn issuers_that_are_not_plain_http_urls_have_no_metadata_url() {
        for issuer in [
            "",
            "idp.example.com",
            "ftp://idp",
            "https://",
            "https://idp?x=1",
            "https://idp/#f",
        ] {
            assert_eq!(oauth_metadata_url(issuer), None, "{issuer}");
        }
    }

    #[test]
    fn only_the_wanted_endpoints_and_their_auth_methods_are_taken() {
        let (merged, gained) = merge_endpoints(DISCOVERY, OAUTH, BOTH).unwrap();
        assert_eq!(gained, BOTH);
        let m = ProviderMetadata::parse(&merged).unwrap();
        assert_eq!(
            m.revocation_endpoint.as_deref(),
            Some("https://idp.example.com/o/revoke_token/")
        );
        assert_eq!(
            m.introspection_endpoint.as_deref(),
            Some("https://idp.example.com/o/introspect/")
        );
        assert_eq!(
            m.revocation_endpoint_auth_methods_supported,
            ["client_secret_post", "client_secret_basic"]
        );
        assert_eq!(
            m.introspection_endpoint_auth_methods_supported,
            ["client_secret_basic"]
        );
        // Discovery's own members win: the token endpoint is not replaced.
        assert_eq!(
            m.token_endpoint.as_deref(),
            Some("https://idp.example.com/o/token/")
        );

        let (merged, gained) =
            merge_endpoints(DISCOVERY, OAUTH, &[OptionalEndpoint::Revocation]).unwrap();
        assert_eq!(gained, [OptionalEndpoint::Revocation]);
        let m = ProviderMetadata::parse(&merged).unwrap();
        assert!(m.revocation_endpoint.is_some());
        assert_eq!(m.introspection_endpoint, None, "not wanted, not taken");
    }

    #[test]
    fn an_endpoint_discovery_has_is_kept() {
        let discovery = br#"{"issuer":"https://idp.example.com/o","revocation_endpoint":"https://idp.example.com/o/own",
            "revocation_endpoint_auth_methods_supported":["client_secret_basic"]}"#;
        let (merged, gained) = merge_endpoints(discovery, OAUTH, BOTH).unwrap();
        assert_eq!(gained, [OptionalEndpoint::Introspection]);
        let m = ProviderMetadata::parse(&merged).unwrap();
        assert_eq!(
            m.revocation_endpoint.as_deref(),
            Some("https://idp.example.com/o/own")
        );
        assert_eq!(
            m.revocation_endpoint_auth_methods_supported,
            ["client_secret_basic"]
        );
    }

    #[test]
    fn the_older_revocation_name_is_read_from_either_document() {
        let oauth = br#"{"issuer":"https://idp.example.com/o","token_revocation_endpoint":"https://idp.example.com/o/r"}"#;
        let (merged, gained) = merge_endpoints(DISCOVERY, oauth, BOTH).unwrap();
        assert_eq!(gained, [OptionalEndpoint::Revocation]);
        let m = ProviderMetadata::parse(&merged).unwrap();
        assert_eq!(
            m.revocation_endpoint.as_deref(),
            Some("https://idp.example.com/o/r")
        );

        let discovery = br#"{"issuer":"https://idp.example.com/o","token_revocation_endpoint":"https://idp.example.com/o/d"}"#;
        let (_, gained) =
            merge_endpoints(discovery, OAUTH, &[OptionalEndpoint::Revocation]).unwrap();
        assert!(
            gained.is_empty(),
            "discovery already has it under the older name"
        );
    }

    #[test]
    fn a_document_of_another_issuer_gives_nothing() {
        for oauth in [
            &br#"{"issuer":"https://evil.example","revocation_endpoint":"https://evil.example/r"}"#[..],
            br#"{"issuer":"https://idp.example.com/o/","revocation_endpoint":"https://idp.example.com/r"}"#,
            br#"{"revocation_endpoint":"https://idp.example.com/r"}"#,
            br#"{"issuer":7,"revocation_endpoint":"https://idp.example.com/r"}"#,
        ] {
            let err = merge_endpoints(DISCOVERY, oauth, BOTH).unwrap_err();
            assert!(matches!(err, DiscoveryError::IssuerMismatch { .. }), "{err}");
        }
    }

    #[test]
    fn unusable_documents_are_errors() {
        assert!(matches!(
            merge_endpoints(DISCOVERY, b"<html>404</html>", BOTH),
            Err(DiscoveryError::InvalidJson { .. })
        ));
        assert!(matches!(
            merge_endpoints(DISCOVERY, b"[]", BOTH),
            Err(DiscoveryError::NotAnObject { .. })
        ));
        assert_eq!(
            merge_endpoints(br#"{"jwks_uri":"x"}"#, OAUTH, BOTH),
            Err(DiscoveryError::MissingIssuer)
        );
    }

    #[test]
    fn a_document_without_the_endpoints_gains_nothing() {
        let oauth = br#"{"issuer":"https://idp.example.com/o","revocation_endpoint":"","introspection_endpoint":null}"#;
        let (merged, gained) = merge_endpoints(DISCOVERY, oauth, BOTH).unwrap();
        assert!(gained.is_empty());
        let m = ProviderMetadata::parse(&merged).unwrap();
        assert_eq!(m.revocation_endpoint, None);
    }
}
