//! The RFC 7009 revocation call of a logout: one form POST per token, with client
//! authentication chosen as for the token endpoint's sibling fields.

use crate::flows::client_auth::{self, Endpoint};
use crate::flows::outbound::{self, CallError};
use crate::flows::provider::Provider;
use crate::flows::settings::Settings;
use crate::logout::Revocation;
use crate::step::OutboundRequest;

/// `POST <revocation endpoint>` with `token=<t>&token_type_hint=<hint>` (the parameter name is
/// `revocation_token_param_name`).
pub fn revocation_request(
    settings: &Settings,
    provider: &Provider,
    revocation: &Revocation,
) -> Result<OutboundRequest, CallError> {
    let endpoint = provider
        .revocation_endpoint(settings)
        .ok_or(CallError::NoEndpoint("revocation"))?;
    let mut body = vec![
        (
            settings.config.revocation_token_param_name.clone(),
            revocation.token.clone(),
        ),
        ("token_type_hint".to_string(), revocation.hint.to_string()),
    ];
    let method = client_auth::choose(
        settings,
        Endpoint::Revocation,
        &provider.metadata.revocation_endpoint_auth_methods_supported,
    );
    let mut headers = Vec::new();
    client_auth::apply(settings, &method, &mut headers, &mut body);
    outbound::form_post(settings, endpoint, headers, &body)
}
