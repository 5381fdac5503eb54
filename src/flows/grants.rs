//! The token-endpoint grants a request's own credentials lead to: password, client
//! credentials and refresh token (Kong's `token_endpoint_args`).

use crate::config::AuthMethod;
use crate::flows::client_credentials::{self, ClientCredentials};
use crate::flows::outbound::CallError;
use crate::flows::password::{self, PasswordCredentials};
use crate::flows::provider::Provider;
use crate::flows::settings::Settings;
use crate::flows::token_cache;
use crate::flows::used_credential::UsedCredential;
use crate::step::OutboundRequest;

/// One grant to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Password(PasswordCredentials),
    ClientCredentials(ClientCredentials),
    /// A refresh token the client sent, and where it was.
    RefreshToken {
        refresh_token: String,
        used: UsedCredential,
    },
}

impl Grant {
    /// The auth method this grant is (kept in the session, compared with `disable_session`).
    pub fn method(&self) -> AuthMethod {
        match self {
            Grant::Password(_) => AuthMethod::Password,
            Grant::ClientCredentials(_) => AuthMethod::ClientCredentials,
            Grant::RefreshToken { .. } => AuthMethod::RefreshToken,
        }
    }

    /// The token request.
    pub fn request(
        &self,
        settings: &Settings,
        provider: &Provider,
    ) -> Result<OutboundRequest, CallError> {
        match self {
            Grant::Password(credentials) => {
                password::token_request(settings, provider, credentials)
            }
            Grant::ClientCredentials(credentials) => {
                client_credentials::token_request(settings, provider, credentials)
            }
            Grant::RefreshToken { refresh_token, .. } => {
                password::refresh_request(settings, provider, refresh_token)
            }
        }
    }

    /// The token cache key, when `cache_tokens` is on.
    pub fn cache_key(&self, settings: &Settings, provider: &Provider) -> Option<String> {
        if !settings.config.cache_tokens {
            return None;
        }
        let issuer = provider.metadata.issuer.as_str();
        Some(match self {
            Grant::Password(c) => {
                token_cache::key(settings, issuer, "password", &[&c.username, &c.password])
            }
            Grant::ClientCredentials(c) => token_cache::key(
                settings,
                issuer,
                "client_credentials",
                &[&c.client_id, &c.client_secret],
            ),
            Grant::RefreshToken { refresh_token, .. } => {
                token_cache::key(settings, issuer, "refresh_token", &[refresh_token])
            }
        })
    }

    /// Where the credential was, for `hide_credentials`; `None` keeps the filter's general rule
    /// for password credentials (the Basic header and the credential query arguments).
    pub fn used_credential(&self) -> Option<&UsedCredential> {
        match self {
            Grant::Password(_) => None,
            Grant::ClientCredentials(c) => Some(&c.used),
            Grant::RefreshToken { used, .. } => Some(used),
        }
    }
}
