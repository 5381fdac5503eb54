//! Verifying the tokens a login returns, with the policy Kong's fields describe.

use serde_json::{Map, Value};

use crate::flows::provider::Provider;
use crate::flows::settings::Settings;
use crate::flows::tokens::TokenSet;
use crate::token::{self, TokenError, VerifyPolicy};

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

/// Verifies the ID token (signature, `iss`, `aud` = client id, `exp`, `iat`, nonce when given)
/// and the access token when it is a JWT (signature, `iss`, `exp`). HS-signed tokens verify
/// with the client secret when `enable_hs_signatures` is on.
pub fn verify_login(
    settings: &Settings,
    provider: &Provider,
    tokens: &TokenSet,
    nonce: Option<&str>,
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
            audiences: config
                .client_id()
                .map(|id| vec![id.to_string()])
                .unwrap_or_default(),
            nonce: nonce.map(str::to_string),
            require_exp: true,
            ..base.clone()
        };
        let jwt = token::verify_jwt(id_token, &provider.jwks, &policy, now).map_err(|error| {
            LoginVerificationError {
                which: "id token",
                error,
            }
        })?;
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
