//! Exchanging the authorization code at the token endpoint (RFC 6749 section 4.1.3, with the
//! PKCE verifier of RFC 7636), authenticated like every token request of the filter.

use crate::flows::client_auth::{self, Endpoint};
use crate::flows::outbound::{self, CallError};
use crate::flows::provider::Provider;
use crate::flows::settings::Settings;
use crate::step::OutboundRequest;

/// `grant_type=authorization_code&code&redirect_uri[&code_verifier]` with client authentication.
/// `redirect_uri` must be the one the authorization request carried.
pub fn token_request(
    settings: &Settings,
    provider: &Provider,
    code: &str,
    redirect_uri: &str,
    code_verifier: Option<&str>,
) -> Result<OutboundRequest, CallError> {
    let endpoint = provider
        .token_endpoint(settings)
        .ok_or(CallError::NoEndpoint("token"))?;
    let mut body = vec![
        ("grant_type".to_string(), "authorization_code".to_string()),
        ("code".to_string(), code.to_string()),
        ("redirect_uri".to_string(), redirect_uri.to_string()),
    ];
    if let Some(verifier) = code_verifier {
        body.push(("code_verifier".to_string(), verifier.to_string()));
    }
    let method = client_auth::choose(
        settings,
        Endpoint::Token,
        &provider.metadata.token_endpoint_auth_methods_supported,
    );
    let mut headers = Vec::new();
    client_auth::apply(settings, &method, &mut headers, &mut body);
    outbound::form_post(settings, endpoint, headers, &body)
}
