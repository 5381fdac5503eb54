//! The authorization request: the redirect that sends the browser to the identity provider, with
//! a fresh `state` (ties the callback to this browser), `nonce` (ties the ID token to this login)
//! and, when PKCE is on, an S256 `code_challenge` (ties the code to this filter).

use sha2::{Digest, Sha256};

use crate::flows::provider::Provider;
use crate::flows::settings::Settings;
use crate::http::url;
use crate::session::base64url;

/// The random values of one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSecrets {
    pub state: String,
    pub nonce: String,
    pub code_verifier: Option<String>,
}

impl LoginSecrets {
    /// `state` and `nonce` from 18 random bytes each (Kong's length), the PKCE verifier from 32
    /// (43 characters, RFC 7636's minimum is 43) when PKCE is on. `None` when the host gave no
    /// randomness (guessable values would defeat their purpose).
    pub fn generate(
        random: &mut dyn FnMut() -> Option<[u8; 32]>,
        pkce: bool,
    ) -> Option<LoginSecrets> {
        let mut text = |bytes: usize| {
            let random = random()?;
            Some(base64url::encode(random.get(..bytes).unwrap_or(&random)))
        };
        let state = text(18)?;
        let nonce = text(18)?;
        let code_verifier = if pkce { Some(text(32)?) } else { None };
        Some(LoginSecrets {
            state,
            nonce,
            code_verifier,
        })
    }
}

/// Whether the login uses PKCE: `require_proof_key_for_code_exchange`, else whether discovery
/// advertises `code_challenge_methods_supported` (Kong's rule).
pub fn uses_pkce(settings: &Settings, provider: &Provider) -> bool {
    settings
        .config
        .require_proof_key_for_code_exchange
        .unwrap_or(
            !provider
                .metadata
                .code_challenge_methods_supported
                .is_empty(),
        )
}

/// RFC 7636 S256: base64url(SHA-256(verifier)).
pub fn s256_challenge(verifier: &str) -> String {
    base64url::encode(&Sha256::digest(verifier.as_bytes()))
}

/// Why no authorization request could be made (a configuration or discovery problem).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationRequestError {
    #[error("authorization endpoint was not specified (neither configured nor discovered)")]
    NoEndpoint,
    #[error("client id was not specified (client_id)")]
    NoClientId,
}

/// The URL the browser is sent to.
pub fn authorization_url(
    settings: &Settings,
    provider: &Provider,
    redirect_uri: &str,
    secrets: &LoginSecrets,
) -> Result<String, AuthorizationRequestError> {
    let config = &settings.config;
    let endpoint = config
        .authorization_endpoint
        .as_deref()
        .or(provider.metadata.authorization_endpoint.as_deref())
        .ok_or(AuthorizationRequestError::NoEndpoint)?;
    let client_id = config
        .client_id()
        .ok_or(AuthorizationRequestError::NoClientId)?;
    let scope = config.scopes.join(" ");
    let audience = config.audience.join(" ");
    let challenge = secrets.code_verifier.as_deref().map(s256_challenge);
    let mut args: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
    ];
    if !scope.is_empty() {
        args.push(("scope", &scope));
    }
    args.push(("state", &secrets.state));
    args.push(("nonce", &secrets.nonce));
    if let Some(challenge) = challenge.as_deref() {
        args.push(("code_challenge", challenge));
        args.push(("code_challenge_method", "S256"));
    }
    // Kong always sends the configured mode, `query` included.
    args.push(("response_mode", config.response_mode.as_str()));
    if !audience.is_empty() {
        args.push(("audience", &audience));
    }
    Ok(url::append_query(endpoint, &args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn secrets_are_fresh_and_sized_like_kongs() {
        let mut counter = 0u8;
        let mut random = || {
            counter += 1;
            Some([counter; 32])
        };
        let secrets = LoginSecrets::generate(&mut random, true).unwrap();
        assert_eq!((secrets.state.len(), secrets.nonce.len()), (24, 24));
        assert_ne!(secrets.state, secrets.nonce);
        assert_eq!(secrets.code_verifier.as_deref().map(str::len), Some(43));
        assert_eq!(
            LoginSecrets::generate(&mut random, false)
                .unwrap()
                .code_verifier,
            None
        );
        assert_eq!(LoginSecrets::generate(&mut || None, true), None);
    }
}
