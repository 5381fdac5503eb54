//! The `bearer` method: finding an access token in the request (Kong's search order) and
//! verifying it as a JWT against the provider's keys and the configured claims policy.
//!
//! The token's `alg` is only trusted when the key fits it ([`crate::token::verify_jwt`]):
//! `none` is never accepted, and HS256/384/512 are verified with the client secret, never with a
//! key of the JWKS, and only with `enable_hs_signatures`.

use crate::config::ParamType;
use crate::flows::provider::Provider;
use crate::flows::request::IncomingRequest;
use crate::flows::settings::Settings;
use crate::flows::token_cache;
use crate::flows::used_credential::UsedCredential;
use crate::flows::verified_tokens::TokenDigest;
use crate::flows::SharedState;
use crate::http::{cookies, form};
use crate::token::{self, TokenError, VerifiedJwt, VerifyPolicy};
use serde_json::Value;
use std::rc::Rc;

/// The argument name of a token in the query or the body.
const ACCESS_TOKEN_ARG: &str = "access_token";
/// The headers that carry a raw token, after `Authorization: Bearer` (Kong reads
/// `access_token` and `x_access_token`, which nginx spells with hyphens).
const TOKEN_HEADERS: [&str; 2] = ["access-token", "x-access-token"];

/// A bearer token and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerToken {
    pub token: String,
    pub used: UsedCredential,
}

/// Looks for a token in `bearer_token_param_type` order: `header` (`Authorization: Bearer`,
/// then `access-token`, then `x-access-token`), `cookie` (`bearer_token_cookie_name`), `query`
/// and `body` (`access_token`, in a form or JSON body).
pub fn find_token(settings: &Settings, request: &IncomingRequest) -> Option<BearerToken> {
    let config = &settings.config;
    config
        .bearer_token_param_type
        .iter()
        .find_map(|location| match location {
            ParamType::Header => from_headers(request),
            ParamType::Cookie => {
                let name = config.bearer_token_cookie_name.as_deref()?;
                let cookie_headers = request.cookie_headers();
                let value = cookies::find(&cookie_headers, name).filter(|v| !v.is_empty())?;
                Some(BearerToken {
                    token: value.to_string(),
                    used: UsedCredential::cookie(name),
                })
            }
            ParamType::Query => form::first(&request.query_args(), ACCESS_TOKEN_ARG)
                .filter(|t| !t.is_empty())
                .map(|t| BearerToken {
                    token: t.to_string(),
                    used: UsedCredential::query_args(&[ACCESS_TOKEN_ARG]),
                }),
            ParamType::Body => form::first(&request.body_args(), ACCESS_TOKEN_ARG)
                .filter(|t| !t.is_empty())
                .map(|t| BearerToken {
                    token: t.to_string(),
                    used: UsedCredential::body_args(&[ACCESS_TOKEN_ARG]),
                }),
        })
}

fn from_headers(request: &IncomingRequest) -> Option<BearerToken> {
    let bearer = request
        .header_values("authorization")
        .into_iter()
        .find_map(|value| {
            let (scheme, token) = value.trim().split_once(|c: char| c.is_ascii_whitespace())?;
            let token = token.trim();
            (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
        });
    if let Some(token) = bearer {
        return Some(BearerToken {
            token,
            used: UsedCredential::headers(&["authorization"]),
        });
    }
    TOKEN_HEADERS.iter().find_map(|name| {
        let value = request.header(name)?.trim();
        (!value.is_empty()).then(|| BearerToken {
            token: value.to_string(),
            used: UsedCredential::headers(&[name]),
        })
    })
}

/// Whether a token may be in the body, so the adapter must read it first.
pub fn may_need_body(settings: &Settings, request: &IncomingRequest) -> bool {
    settings
        .config
        .bearer_token_param_type
        .contains(&ParamType::Body)
        && request.has_argument_body()
}

/// The policy bearer JWTs are verified with: signature (HS only with `enable_hs_signatures`
/// and the client secret), `iss` in `issuers_allowed` (else the discovered issuer), `exp`,
/// `nbf` and `iat` with `leeway`. Audience, scopes, groups and roles are authorization
/// requirements, checked afterwards (403, as Kong answers).
pub fn policy(settings: &Settings, provider: &Provider) -> VerifyPolicy {
    let config = &settings.config;
    VerifyPolicy {
        issuers_allowed: provider.issuers_allowed(settings),
        audiences: Vec::new(),
        leeway: config.leeway,
        verify_signature: config.verify_signature,
        verify_claims: config.verify_claims,
        enable_hs_signatures: config.enable_hs_signatures,
        hs_secret: config.client_secret().map(|s| s.as_bytes().to_vec()),
        nonce: None,
        require_exp: false,
    }
}

/// Why a bearer token was not accepted as a JWT.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BearerError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the bearer token was revoked at logout")]
    Revoked,
}

impl BearerError {
    /// A key the JWKS does not have: worth one refetch of the JWKS.
    pub fn is_key_miss(&self) -> bool {
        matches!(self, BearerError::Token(e) if e.is_key_miss())
    }
}

/// Verifies a bearer token that looks like a JWT, and refuses one a logout on this node revoked.
///
/// The signature is checked once per worker and token: a token whose signature verified with
/// these keys is remembered until its `exp` ([`crate::flows::verified_tokens`]), and later
/// requests with it only parse it and check its claims against `now` (a hash instead of an RSA
/// or ECDSA verification).
pub fn verify(
    settings: &Settings,
    provider: &Rc<Provider>,
    shared: &dyn SharedState,
    token: &str,
    now: u64,
) -> Result<VerifiedJwt, BearerError> {
    let policy = policy(settings, provider);
    let memo = &settings.verified_tokens;
    let digest = TokenDigest::of(token);
    let jwt = if policy.verify_signature && memo.contains(provider, &digest, now) {
        let claims_only = VerifyPolicy {
            verify_signature: false,
            ..policy
        };
        token::verify_jwt(token, &provider.jwks, &claims_only, now)?
    } else {
        let jwt = token::verify_jwt(token, &provider.jwks, &policy, now)?;
        if policy.verify_signature {
            if let Some(exp) = jwt.claims.get("exp").and_then(Value::as_u64) {
                memo.remember(provider, digest, exp, now);
            }
        }
        jwt
    };
    // Read before the mark (see `MarksGeneration`); a remembered token found not revoked at
    // this generation is still not revoked.
    let generation = shared.marks_generation();
    let unmarked = generation.is_some_and(|g| memo.unmarked_at(&digest, &g));
    if !unmarked {
        if token_cache::is_revoked_digest(shared, &digest, now) {
            return Err(BearerError::Revoked);
        }
        if let Some(generation) = generation {
            memo.set_unmarked_at(&digest, generation);
        }
    }
    Ok(jwt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::discovery::Algorithm;
    use crate::flows::tokens::TokenSet;
    use crate::shared::cache::CacheKind;
    use crate::token::testkeys::{self, Signer, ISSUER, NOW};
    use serde_json::json;

    fn settings(extra: serde_json::Value) -> Settings {
        let mut config = json!({"issuer": "http://127.0.0.1:3000", "session_secret": "s"});
        if let (Some(base), serde_json::Value::Object(extra)) = (config.as_object_mut(), extra) {
            base.extend(extra);
        }
        Settings::new(Config::parse(config.to_string().as_bytes()).unwrap(), b"s").unwrap()
    }

    fn request(path: &str, headers: &[(&str, &str)], body: Option<&str>) -> IncomingRequest {
        let mut headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        if let Some(body) = body {
            headers.push((
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
            headers.push(("content-length".into(), body.len().to_string()));
        }
        IncomingRequest {
            http10: false,
            method: "POST".into(),
            scheme: "http".into(),
            authority: "api.test".into(),
            path: path.into(),
            headers,
            body: body.map(|b| b.as_bytes().to_vec()),
        }
    }

    fn found(settings: &Settings, request: &IncomingRequest) -> Option<(String, UsedCredential)> {
        find_token(settings, request).map(|b| (b.token, b.used))
    }

    #[test]
    fn header_order_is_authorization_then_access_token_then_x_access_token() {
        let settings = settings(json!({}));
        let all = request(
            "/",
            &[
                ("access-token", "a"),
                ("x-access-token", "x"),
                ("authorization", "Basic abc"),
                ("authorization", "bearer  t1 "),
            ],
            None,
        );
        assert_eq!(
            found(&settings, &all),
            Some(("t1".into(), UsedCredential::headers(&["authorization"])))
        );
        let no_bearer = request(
            "/",
            &[
                ("authorization", "Basic abc"),
                ("x-access-token", "x"),
                ("access-token", "a"),
            ],
            None,
        );
        assert_eq!(
            found(&settings, &no_bearer),
            Some(("a".into(), UsedCredential::headers(&["access-token"])))
        );
        let only_x = request("/", &[("x-access-token", "x")], None);
        assert_eq!(found(&settings, &only_x).unwrap().0, "x");
        assert_eq!(
            found(
                &settings,
                &request("/", &[("authorization", "Bearer")], None)
            ),
            None
        );
    }

    #[test]
    fn locations_follow_bearer_token_param_type() {
        let settings = settings(
            json!({"bearer_token_param_type": ["query", "cookie", "body", "header"], "bearer_token_cookie_name": "at"}),
        );
        let req = request(
            "/?access_token=q",
            &[("authorization", "Bearer h"), ("cookie", "x=1; AT=c")],
            Some("access_token=b"),
        );
        assert_eq!(
            found(&settings, &req),
            Some(("q".into(), UsedCredential::query_args(&["access_token"])))
        );
        let req = request(
            "/",
            &[("authorization", "Bearer h"), ("cookie", "x=1; AT=c")],
            Some("access_token=b"),
        );
        assert_eq!(
            found(&settings, &req),
            Some(("c".into(), UsedCredential::cookie("at")))
        );
        let req = request(
            "/",
            &[("authorization", "Bearer h")],
            Some("access_token=b"),
        );
        assert_eq!(
            found(&settings, &req),
            Some(("b".into(), UsedCredential::body_args(&["access_token"])))
        );
        assert!(may_need_body(&settings, &req));

        // The default has no cookie: a token there is not looked at.
        let default = super::tests::settings(json!({}));
        assert_eq!(
            found(&default, &request("/", &[("cookie", "at=c")], None)),
            None
        );
        let header_only = super::tests::settings(json!({"bearer_token_param_type": ["header"]}));
        assert_eq!(
            found(&header_only, &request("/?access_token=q", &[], None)),
            None
        );
        assert!(!may_need_body(&header_only, &req));
    }
    /// Shared data holding only what these tests write: the revocation marks.
    #[derive(Default)]
    struct Marks(std::cell::RefCell<std::collections::HashMap<String, u64>>);

    impl SharedState for Marks {
        fn claim_jwks_refetch(&self, _now: u64) -> bool {
            false
        }
        fn cache_get(&self, _kind: CacheKind, key: &str, now: u64) -> Option<Vec<u8>> {
            let until = *self.0.borrow().get(key)?;
            (now < until).then(|| b"1".to_vec())
        }
        fn cache_put(&self, _kind: CacheKind, key: &str, _value: &[u8], expires_at: u64) {
            self.0.borrow_mut().insert(key.to_string(), expires_at);
        }
    }

    fn provider_with(key: &rsa::RsaPrivateKey) -> Rc<Provider> {
        let metadata = json!({"issuer": ISSUER, "token_endpoint": format!("{ISSUER}/token"), "jwks_uri": format!("{ISSUER}/jwks")});
        let jwks = testkeys::jwks_json(&[testkeys::rsa_jwk(key, "rsa1")]);
        Rc::new(
            Provider::from_documents(metadata.to_string().as_bytes(), Some(&jwks), NOW).unwrap(),
        )
    }

    fn signed_token() -> String {
        testkeys::token(
            Algorithm::RS256,
            Some("rsa1"),
            &json!({"iss": ISSUER, "sub": "john", "iat": NOW - 5, "exp": NOW + 300}),
            &Signer::Rsa(testkeys::rsa_key()),
        )
    }

    fn bearer_settings() -> Settings {
        settings(json!({"issuer": ISSUER}))
    }

    #[test]
    fn a_token_seen_again_skips_only_the_signature() {
        let settings = bearer_settings();
        let provider = provider_with(testkeys::rsa_key());
        let shared = Marks::default();
        let token = signed_token();
        let first = verify(&settings, &provider, &shared, &token, NOW).unwrap();
        assert_eq!(settings.verified_tokens.hits(), 0);
        let again = verify(&settings, &provider, &shared, &token, NOW + 1).unwrap();
        assert_eq!(settings.verified_tokens.hits(), 1);
        assert_eq!(again.claims, first.claims);

        // The claims are still checked with the current time: expired is expired.
        let late = NOW + 300 + settings.config.leeway + 1;
        assert!(matches!(
            verify(&settings, &provider, &shared, &token, late),
            Err(BearerError::Token(TokenError::Expired { .. }))
        ));

        // Another signature over the same header and claims is not the remembered token.
        let (signed, _) = token.rsplit_once('.').unwrap();
        let forged = format!("{signed}.{}", testkeys::b64(&[7u8; 256]));
        assert_eq!(
            verify(&settings, &provider, &shared, &forged, NOW + 2).unwrap_err(),
            BearerError::Token(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_remembered_token_is_refused_once_a_logout_revoked_it() {
        let settings = bearer_settings();
        let provider = provider_with(testkeys::rsa_key());
        let shared = Marks::default();
        let token = signed_token();
        verify(&settings, &provider, &shared, &token, NOW).unwrap();
        let tokens = TokenSet::from_session_value(&json!({ "access_token": token })).unwrap();
        token_cache::mark_revoked(&shared, &tokens, NOW + 300);
        assert_eq!(
            verify(&settings, &provider, &shared, &token, NOW + 1).unwrap_err(),
            BearerError::Revoked
        );
    }

    #[test]
    fn a_remembered_token_does_not_outlive_its_key() {
        let settings = bearer_settings();
        let shared = Marks::default();
        let token = signed_token();
        verify(
            &settings,
            &provider_with(testkeys::rsa_key()),
            &shared,
            &token,
            NOW,
        )
        .unwrap();
        // The provider replaced the key behind `rsa1`: the token no longer verifies.
        let rotated = provider_with(testkeys::other_rsa_key());
        assert_eq!(
            verify(&settings, &rotated, &shared, &token, NOW + 1).unwrap_err(),
            BearerError::Token(TokenError::BadSignature)
        );
    }
}
