//! Token revocation (RFC 7009) at logout: one form POST per token, client authentication as
//! for the token endpoint's sibling fields, and a verdict that never stops the logout.

use crate::flows::client_auth::{self, Endpoint};
use crate::flows::outbound;
use crate::flows::provider::Provider;
use crate::flows::settings::Settings;
use crate::flows::tokens::failure_reason;
use crate::step::{CallResponse, OutboundRequest};

/// One token to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub token: String,
    /// `refresh_token` or `access_token`.
    pub hint: &'static str,
}

/// `POST <revocation endpoint>` with `token=<t>&token_type_hint=<hint>` (the parameter name is
/// `revocation_token_param_name`).
pub fn revocation_request(
    settings: &Settings,
    provider: &Provider,
    revocation: &Revocation,
) -> Result<OutboundRequest, String> {
    let endpoint = provider
        .revocation_endpoint(settings)
        .ok_or("revocation endpoint was not specified")?;
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

/// What a revocation call came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationOutcome {
    Revoked,
    /// A 302: Kong follows it once with GET.
    Redirected(String),
    Failed(String),
}

/// 200 and 204 are success; a 302 with a Location is followed once; anything else failed.
pub fn revocation_outcome(response: &CallResponse) -> RevocationOutcome {
    match response.status {
        Some(200) | Some(204) => RevocationOutcome::Revoked,
        Some(302) => match response.header("location") {
            Some(location) => RevocationOutcome::Redirected(location.to_string()),
            None => RevocationOutcome::Failed(
                "invalid status code received from the token revocation endpoint (302)".into(),
            ),
        },
        Some(status) => RevocationOutcome::Failed(format!(
            "invalid status code received from the token revocation endpoint ({status})"
        )),
        None => RevocationOutcome::Failed(format!(
            "the token revocation endpoint could not be reached ({})",
            failure_reason(response)
        )),
    }
}
