//! How the filter authenticates itself to the identity provider's endpoints (reference section
//! 1, "Token-endpoint method selection").

use crate::config::ClientAuthMethod;
use crate::flows::settings::Settings;
use crate::http::{basic, form};

/// Which endpoint a request goes to; each has its own `*_endpoint_auth_method` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    Revocation,
    Introspection,
}

/// Chooses the method: the endpoint's own field, then `client_auth`; for the token endpoint the
/// discovered `token_endpoint_auth_methods_supported` by preference (basic > post > none); else
/// `client_secret_basic` when a secret is configured, and `none` for a public client.
pub fn choose(settings: &Settings, endpoint: Endpoint, discovered: &[String]) -> ClientAuthMethod {
    let config = &settings.config;
    let explicit = match endpoint {
        Endpoint::Token => config.token_endpoint_auth_method,
        Endpoint::Revocation => config.revocation_endpoint_auth_method,
        Endpoint::Introspection => config.introspection_endpoint_auth_method,
    };
    if let Some(method) = explicit.or_else(|| config.client_auth.first().cloned()) {
        return method;
    }
    let has_secret = config.client_secret().is_some();
    if endpoint == Endpoint::Token && !discovered.is_empty() {
        let preference = [
            ("client_secret_basic", ClientAuthMethod::ClientSecretBasic),
            ("client_secret_post", ClientAuthMethod::ClientSecretPost),
            ("none", ClientAuthMethod::None),
        ];
        for (name, method) in preference {
            let usable = method == ClientAuthMethod::None || has_secret;
            if usable && discovered.iter().any(|d| d == name) {
                return method;
            }
        }
    }
    if has_secret {
        ClientAuthMethod::ClientSecretBasic
    } else {
        ClientAuthMethod::None
    }
}

/// Adds the client's credentials to a form request: a Basic header, or body parameters.
pub fn apply(
    settings: &Settings,
    method: &ClientAuthMethod,
    headers: &mut Vec<(String, String)>,
    body: &mut Vec<(String, String)>,
) {
    let client_id = settings.config.client_id().unwrap_or_default();
    let secret = settings.config.client_secret().unwrap_or_default();
    match method {
        ClientAuthMethod::ClientSecretBasic => {
            headers.push((
                "authorization".into(),
                basic::client_authorization(client_id, secret),
            ));
        }
        ClientAuthMethod::ClientSecretPost => {
            body.push(("client_id".into(), client_id.into()));
            body.push(("client_secret".into(), secret.into()));
        }
        _ => {
            if !client_id.is_empty() {
                body.push(("client_id".into(), client_id.into()));
            }
        }
    }
}

/// Encodes form pairs as the request body.
pub fn encode_body(body: &[(String, String)]) -> Vec<u8> {
    form::encode(body.iter().map(|(n, v)| (n.as_str(), v.as_str()))).into_bytes()
}
