//! The provider's discovery document (OpenID Connect Discovery 1.0, RFC 8414).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::{parse_object, DiscoveryError};

const WHAT: &str = "discovery document";

/// What the filter needs from a discovery document.
///
/// Parsing is tolerant: unknown members are ignored, and a known member of the wrong type is
/// treated as absent and named in [`ProviderMetadata::ignored`] so the adapter can log it. Only a
/// missing `issuer` makes the document unusable. Serialises to a compact document (absent and
/// empty members left out) that deserialises back through the same rules, so the adapter can share
/// it between workers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// RFC 7009 endpoint; filled from `token_revocation_endpoint` (an older name some providers
    /// still publish) when `revocation_endpoint` is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed_authorization_request_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub id_token_signing_alg_values_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grant_types_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response_types_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response_modes_supported: Vec<String>,
    /// RFC 9126: the provider only accepts pushed authorization requests.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_pushed_authorization_requests: bool,
    /// RFC 8705 `mtls_endpoint_aliases`: endpoint name to URL, for mutual-TLS clients.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub mtls_endpoint_aliases: BTreeMap<String, String>,
    /// Known members that were present with the wrong type and therefore ignored, for the log.
    #[serde(skip)]
    pub ignored: Vec<String>,
}

impl ProviderMetadata {
    /// Parses a discovery document as served by the provider.
    pub fn parse(bytes: &[u8]) -> Result<ProviderMetadata, DiscoveryError> {
        Self::from_object(parse_object(bytes, WHAT)?)
    }

    fn from_object(doc: Map<String, Value>) -> Result<ProviderMetadata, DiscoveryError> {
        let mut reader = MemberReader {
            doc: &doc,
            ignored: Vec::new(),
        };
        let issuer = reader
            .string("issuer")
            .ok_or(DiscoveryError::MissingIssuer)?;
        let revocation_endpoint = reader
            .string("revocation_endpoint")
            .or_else(|| reader.string("token_revocation_endpoint"));
        let mut metadata = ProviderMetadata {
            issuer,
            authorization_endpoint: reader.string("authorization_endpoint"),
            token_endpoint: reader.string("token_endpoint"),
            userinfo_endpoint: reader.string("userinfo_endpoint"),
            jwks_uri: reader.string("jwks_uri"),
            revocation_endpoint,
            introspection_endpoint: reader.string("introspection_endpoint"),
            end_session_endpoint: reader.string("end_session_endpoint"),
            pushed_authorization_request_endpoint: reader
                .string("pushed_authorization_request_endpoint"),
            token_endpoint_auth_methods_supported: reader
                .strings("token_endpoint_auth_methods_supported"),
            revocation_endpoint_auth_methods_supported: reader
                .strings("revocation_endpoint_auth_methods_supported"),
            introspection_endpoint_auth_methods_supported: reader
                .strings("introspection_endpoint_auth_methods_supported"),
            code_challenge_methods_supported: reader.strings("code_challenge_methods_supported"),
            id_token_signing_alg_values_supported: reader
                .strings("id_token_signing_alg_values_supported"),
            grant_types_supported: reader.strings("grant_types_supported"),
            scopes_supported: reader.strings("scopes_supported"),
            response_types_supported: reader.strings("response_types_supported"),
            response_modes_supported: reader.strings("response_modes_supported"),
            require_pushed_authorization_requests: reader
                .boolean("require_pushed_authorization_requests"),
            mtls_endpoint_aliases: reader.string_map("mtls_endpoint_aliases"),
            ignored: Vec::new(),
        };
        metadata.ignored = reader.ignored;
        Ok(metadata)
    }
}

impl<'de> Deserialize<'de> for ProviderMetadata {
    /// Goes through the same tolerant rules as [`ProviderMetadata::parse`], so a shared copy can
    /// never hold something a fresh parse would not.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Object(doc) => Self::from_object(doc).map_err(serde::de::Error::custom),
            _ => Err(serde::de::Error::custom(DiscoveryError::NotAnObject {
                what: WHAT,
            })),
        }
    }
}

/// Reads typed members, noting the ones present with a type we cannot use.
struct MemberReader<'a> {
    doc: &'a Map<String, Value>,
    ignored: Vec<String>,
}

impl MemberReader<'_> {
    /// A non-empty string member; an empty string is as useless as an absent URL.
    fn string(&mut self, name: &str) -> Option<String> {
        match self.doc.get(name)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::String(_) | Value::Null => None,
            _ => {
                self.ignore(name);
                None
            }
        }
    }

    /// An array of strings; non-string items are dropped (and the member noted).
    fn strings(&mut self, name: &str) -> Vec<String> {
        match self.doc.get(name) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                let strings: Vec<String> = items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_string))
                    .collect();
                if strings.len() != items.len() {
                    self.ignore(name);
                }
                strings
            }
            Some(_) => {
                self.ignore(name);
                Vec::new()
            }
        }
    }

    fn boolean(&mut self, name: &str) -> bool {
        match self.doc.get(name) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.ignore(name);
                false
            }
        }
    }

    fn string_map(&mut self, name: &str) -> BTreeMap<String, String> {
        match self.doc.get(name) {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(members)) => {
                let map: BTreeMap<String, String> = members
                    .iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect();
                if map.len() != members.len() {
                    self.ignore(name);
                }
                map
            }
            Some(_) => {
                self.ignore(name);
                BTreeMap::new()
            }
        }
    }

    fn ignore(&mut self, name: &str) {
        self.ignored.push(name.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The shape `oidc-provider` (the test IdP) serves, trimmed of members the filter ignores.
    const OIDC_PROVIDER_DOC: &str = r#"{
      "authorization_endpoint": "http://127.0.0.1:3000/auth",
      "claims_parameter_supported": false,
      "claims_supported": ["sub", "email", "email_verified", "sid", "auth_time", "iss"],
      "code_challenge_methods_supported": ["S256"],
      "end_session_endpoint": "http://127.0.0.1:3000/session/end",
      "grant_types_supported": ["implicit", "authorization_code", "refresh_token", "password"],
      "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
      "introspection_endpoint": "http://127.0.0.1:3000/token/introspection",
      "issuer": "http://127.0.0.1:3000",
      "jwks_uri": "http://127.0.0.1:3000/jwks",
      "registration_endpoint": "http://127.0.0.1:3000/reg",
      "authorization_response_iss_parameter_supported": true,
      "response_modes_supported": ["form_post", "fragment", "query"],
      "response_types_supported": ["code id_token", "code", "id_token", "none"],
      "revocation_endpoint": "http://127.0.0.1:3000/token/revocation",
      "scopes_supported": ["openid", "offline_access", "email", "profile"],
      "subject_types_supported": ["public"],
      "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_jwt",
        "client_secret_post", "private_key_jwt", "none"],
      "token_endpoint_auth_signing_alg_values_supported": ["HS256", "RS256", "PS256", "ES256"],
      "token_endpoint": "http://127.0.0.1:3000/token",
      "request_object_signing_alg_values_supported": ["HS256", "RS256"],
      "request_parameter_supported": false,
      "request_uri_parameter_supported": true,
      "require_request_uri_registration": true,
      "userinfo_endpoint": "http://127.0.0.1:3000/me",
      "userinfo_signing_alg_values_supported": ["HS256", "RS256"],
      "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
      "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
      "claim_types_supported": ["normal"]
    }"#;

    #[test]
    fn reads_the_test_idp_document() {
        let m = ProviderMetadata::parse(OIDC_PROVIDER_DOC.as_bytes()).unwrap();
        assert_eq!(m.issuer, "http://127.0.0.1:3000");
        assert_eq!(
            m.authorization_endpoint.as_deref(),
            Some("http://127.0.0.1:3000/auth")
        );
        assert_eq!(
            m.token_endpoint.as_deref(),
            Some("http://127.0.0.1:3000/token")
        );
        assert_eq!(
            m.userinfo_endpoint.as_deref(),
            Some("http://127.0.0.1:3000/me")
        );
        assert_eq!(m.jwks_uri.as_deref(), Some("http://127.0.0.1:3000/jwks"));
        assert_eq!(
            m.revocation_endpoint.as_deref(),
            Some("http://127.0.0.1:3000/token/revocation")
        );
        assert_eq!(
            m.introspection_endpoint.as_deref(),
            Some("http://127.0.0.1:3000/token/introspection")
        );
        assert_eq!(
            m.end_session_endpoint.as_deref(),
            Some("http://127.0.0.1:3000/session/end")
        );
        assert_eq!(m.code_challenge_methods_supported, ["S256"]);
        assert_eq!(
            m.token_endpoint_auth_methods_supported,
            [
                "client_secret_basic",
                "client_secret_jwt",
                "client_secret_post",
                "private_key_jwt",
                "none"
            ]
        );
        assert_eq!(
            m.revocation_endpoint_auth_methods_supported,
            ["client_secret_basic", "client_secret_post"]
        );
        assert_eq!(
            m.introspection_endpoint_auth_methods_supported,
            ["client_secret_basic", "none"]
        );
        assert_eq!(
            m.id_token_signing_alg_values_supported,
            ["RS256", "PS256", "ES256", "EdDSA"]
        );
        assert!(m.grant_types_supported.iter().any(|g| g == "password"));
        assert_eq!(m.scopes_supported[0], "openid");
        assert_eq!(
            m.response_modes_supported,
            ["form_post", "fragment", "query"]
        );
        assert!(!m.require_pushed_authorization_requests);
        assert!(m.ignored.is_empty(), "{:?}", m.ignored);
    }

    #[test]
    fn token_revocation_endpoint_is_an_alias_only_when_revocation_endpoint_is_absent() {
        let alias_only =
            br#"{"issuer":"https://idp","token_revocation_endpoint":"https://idp/revoke"}"#;
        let m = ProviderMetadata::parse(alias_only).unwrap();
        assert_eq!(m.revocation_endpoint.as_deref(), Some("https://idp/revoke"));

        let both = br#"{"issuer":"https://idp","token_revocation_endpoint":"https://idp/old",
                        "revocation_endpoint":"https://idp/new"}"#;
        let m = ProviderMetadata::parse(both).unwrap();
        assert_eq!(m.revocation_endpoint.as_deref(), Some("https://idp/new"));
    }

    #[test]
    fn issuer_is_required() {
        for doc in [
            &br#"{"jwks_uri":"https://idp/jwks"}"#[..],
            br#"{"issuer":""}"#,
            br#"{"issuer":42}"#,
        ] {
            assert_eq!(
                ProviderMetadata::parse(doc),
                Err(DiscoveryError::MissingIssuer)
            );
        }
    }

    #[test]
    fn wrongly_typed_members_are_ignored_and_named() {
        let doc = br#"{"issuer":"https://idp","jwks_uri":7,"scopes_supported":"openid",
                       "grant_types_supported":["password",3],"require_pushed_authorization_requests":"yes",
                       "token_endpoint":null,"x-vendor":{"deep":[1,2,3]}}"#;
        let m = ProviderMetadata::parse(doc).unwrap();
        assert_eq!(m.jwks_uri, None);
        assert!(m.scopes_supported.is_empty());
        assert_eq!(m.grant_types_supported, ["password"]);
        assert!(!m.require_pushed_authorization_requests);
        assert_eq!(m.token_endpoint, None);
        assert_eq!(
            m.ignored,
            [
                "jwks_uri",
                "grant_types_supported",
                "scopes_supported",
                "require_pushed_authorization_requests"
            ]
        );
    }

    #[test]
    fn mtls_aliases_and_par_are_read() {
        let doc = br#"{"issuer":"https://idp","require_pushed_authorization_requests":true,
                       "pushed_authorization_request_endpoint":"https://idp/par",
                       "mtls_endpoint_aliases":{"revocation_endpoint":"https://mtls.idp/revoke"}}"#;
        let m = ProviderMetadata::parse(doc).unwrap();
        assert!(m.require_pushed_authorization_requests);
        assert_eq!(
            m.pushed_authorization_request_endpoint.as_deref(),
            Some("https://idp/par")
        );
        assert_eq!(
            m.mtls_endpoint_aliases
                .get("revocation_endpoint")
                .map(String::as_str),
            Some("https://mtls.idp/revoke")
        );
    }

    #[test]
    fn malformed_documents_are_errors() {
        assert!(matches!(
            ProviderMetadata::parse(b"<html>502</html>"),
            Err(DiscoveryError::InvalidJson { .. })
        ));
        assert_eq!(
            ProviderMetadata::parse(b"\"https://idp\""),
            Err(DiscoveryError::NotAnObject { what: WHAT })
        );
    }

    #[test]
    fn serde_round_trip_keeps_everything_used() {
        let m = ProviderMetadata::parse(OIDC_PROVIDER_DOC.as_bytes()).unwrap();
        let shared = serde_json::to_vec(&m).unwrap();
        let back: ProviderMetadata = serde_json::from_slice(&shared).unwrap();
        assert_eq!(back, m);
        // The shared form is itself a valid discovery document.
        assert_eq!(ProviderMetadata::parse(&shared).unwrap(), m);
    }

    #[test]
    fn deserialising_an_invalid_shared_copy_fails_cleanly() {
        assert!(serde_json::from_str::<ProviderMetadata>("[]").is_err());
        assert!(serde_json::from_str::<ProviderMetadata>("{}").is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = ProviderMetadata::parse(&bytes);
        }

        #[test]
        fn parse_never_panics_on_json_like_text(text in r#"\{("[a-z_]{1,40}":(\[("[a-z]*",?)*\]|"[^"]*"|[0-9]+|true|null|\{\}),?){0,8}\}"#) {
            let _ = ProviderMetadata::parse(text.as_bytes());
        }
    }
}
