//! Verifying the tokens a login returns, with the policy Kong's fields describe.

use serde_json::{Map, Value};

use crate::discovery::Algorithm;
use crate::flows::provider::Provider;
use crate::flows::settings::Settings;
use crate::flows::tokens::TokenSet;
use crate::token::{self, IdTokenRules, TokenError, VerifyPolicy};

/// Claims of the verified tokens of a login.
#[derive(Debug, Clone, Default)]
pub struct VerifiedLogin {
    pub id_token_claims: Option<Map<String, Value>>,
    pub access_token_claims: Option<Map<String, Value>>,
}

impl VerifiedLogin {
    /// The session subject: the ID token's `sub`, else the access token's (Kong's credential claim).
    pub fn subject(&self) -> Option<String> {
        [&self.id_token_claims, &self.access_token_claims]
            .into_iter()
            .flatten()
            .find_map(|claims| {
                claims
                    .get("sub")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
    }
}

/// Which token failed, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{which} verification failed: {error}")]
pub struct LoginVerificationError {
    pub which: &'static str,
    pub error: TokenError,
}

impl LoginVerificationError {
    /// A key the JWKS does not have: worth one refetch of the JWKS.
    pub fn is_unknown_key(&self) -> bool {
        self.error.is_key_miss()
    }
}

/// Verifies the ID token (OpenID Connect Core 3.1.3.7 rule by rule, see
/// [`token::verify_id_token`]; nonce when one was sent) and the access token when it is a JWT
/// (signature, `iss`, `exp`). HS-signed tokens verify with the client secret when
/// `enable_hs_signatures` is on.
pub fn verify_login(
    settings: &Settings,
    provider: &Provider,
    tokens: &TokenSet,
    nonce: Option<&str>,
    now: u64,
) -> Result<VerifiedLogin, LoginVerificationError> {
    verify_tokens(settings, provider, tokens, nonce, None, now)
}

/// Verifies the tokens a refresh returned: as at login, and an ID token in the answer must
/// describe the same authentication as the session's original one (Core 12.2: same `iss`,
/// `sub`, `aud`, `azp`, `auth_time`). `original_id_token` comes from the filter's own
/// encrypted session, so its claims are read without a second verification.
pub fn verify_refresh(
    settings: &Settings,
    provider: &Provider,
    tokens: &TokenSet,
    original_id_token: Option<&str>,
    now: u64,
) -> Result<VerifiedLogin, LoginVerificationError> {
    let original = original_id_token.and_then(|t| token::decode_unverified(t).ok().map(|(_, c)| c));
    if tokens.id_token().is_some() && original_id_token.is_some() && original.is_none() {
        return Err(LoginVerificationError {
            which: "id token",
            error: TokenError::Malformed("the session's original ID token is unreadable".into()),
        });
    }
    verify_tokens(settings, provider, tokens, None, original, now)
}

/// The ID token rules of this client: its id, the audiences it asks for as trusted, the
/// algorithms discovery says the provider signs ID tokens with.
fn id_token_rules(
    settings: &Settings,
    provider: &Provider,
    tokens: &TokenSet,
    original: Option<Map<String, Value>>,
) -> IdTokenRules {
    let config = &settings.config;
    IdTokenRules {
        client_id: config.client_id().unwrap_or_default().to_string(),
        trusted_audiences: config
            .client_id
            .iter()
            .chain(config.audience.iter())
            .cloned()
            .collect(),
        algorithms: provider
            .metadata
            .id_token_signing_alg_values_supported
            .iter()
            .filter_map(|name| Algorithm::from_name(name))
            .collect(),
        // Kong's `max_age` is not implemented (the configuration refuses it), so no
        // authorization request asks for it and `auth_time` is only type-checked.
        max_age: None,
        access_token: Some(tokens.access_token().to_string()),
        original,
    }
}

fn verify_tokens(
    settings: &Settings,
    provider: &Provider,
    tokens: &TokenSet,
    nonce: Option<&str>,
    original: Option<Map<String, Value>>,
    now: u64,
) -> Result<VerifiedLogin, LoginVerificationError> {
    let config = &settings.config;
    let base = VerifyPolicy {
        issuers_allowed: provider.issuers_allowed(settings),
        audiences: Vec::new(),
        leeway: config.leeway,
        verify_signature: config.verify_signature,
        verify_claims: config.verify_claims,
        enable_hs_signatures: config.enable_hs_signatures,
        hs_secret: config
            .client_secret()
            .map(|secret| secret.as_bytes().to_vec()),
        nonce: None,
        require_exp: false,
    };
    let mut verified = VerifiedLogin::default();
    if let Some(id_token) = tokens.id_token() {
        let policy = VerifyPolicy {
            nonce: nonce.map(str::to_string),
            require_exp: true,
            ..base.clone()
        };
        let rules = id_token_rules(settings, provider, tokens, original);
        let jwt = token::verify_id_token(id_token, &provider.jwks, &policy, &rules, now).map_err(
            |error| LoginVerificationError {
                which: "id token",
                error,
            },
        )?;
        verified.id_token_claims = Some(jwt.claims);
    }
    let access_token = tokens.access_token();
    if token::looks_like_jwt(access_token) {
        // `audience_required` is an authorization requirement, checked with the others (403).
        let policy = VerifyPolicy {
            audiences: Vec::new(),
            ..base
        };
        let jwt =
            token::verify_jwt(access_token, &provider.jwks, &policy, now).map_err(|error| {
                LoginVerificationError {
                    which: "access token",
                    error,
                }
            })?;
        verified.access_token_claims = Some(jwt.claims);
    }
    Ok(verified)
}

/// OpenID Connect Core 5.3.2: a userinfo answer describes the user of the ID token only if its
/// `sub` is exactly the ID token's; otherwise its values "MUST NOT be used". Without an ID
/// token (a bearer access token) there is nothing to compare with. The ID token was verified
/// at login or comes from the filter's own encrypted session, so it is read without a second
/// verification.
pub fn userinfo_subject_matches(tokens: &TokenSet, userinfo: &Map<String, Value>) -> bool {
    let Some(id_token) = tokens.id_token() else {
        return true;
    };
    let id_subject = token::decode_unverified(id_token)
        .ok()
        .and_then(|(_, claims)| {
            claims
                .get("sub")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    match (id_subject, userinfo.get("sub").and_then(Value::as_str)) {
        (Some(expected), Some(sub)) => expected == sub,
        _ => false,
    }
}
