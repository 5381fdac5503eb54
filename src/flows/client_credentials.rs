//! The `client_credentials` method: a program sends its own client id and secret; the filter
//! exchanges them at the token endpoint (RFC 6749 section 4.4) as that client.

use crate::config::{ClientAuthMethod, ParamType};
use crate::flows::client_auth::{self, Endpoint};
use crate::flows::outbound::{self, CallError};
use crate::flows::password;
use crate::flows::provider::Provider;
use crate::flows::request::IncomingRequest;
use crate::flows::settings::Settings;
use crate::flows::used_credential::UsedCredential;
use crate::http::{basic, form};
use crate::step::OutboundRequest;

const GRANT_TYPE: &str = "client_credentials";

/// A client id and secret found in the request.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
    pub used: UsedCredential,
}

impl std::fmt::Debug for ClientCredentials {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Looks for credentials in `client_credentials_param_type` order: `header` is
/// `Authorization: Basic` with `Grant-Type`/`X-Grant-Type` absent or `client_credentials`;
/// `query` and `body` are `client_id` and `client_secret` (with `grant_type` absent or
/// `client_credentials`). A Basic header without `Grant-Type` fits both this grant and the
/// password grant: Kong then tries the password grant first.
pub fn find_credentials(
    settings: &Settings,
    request: &IncomingRequest,
) -> Option<ClientCredentials> {
    settings
        .config
        .client_credentials_param_type
        .iter()
        .find_map(|location| match location {
            ParamType::Header => {
                let grant_type = request
                    .header("grant-type")
                    .or_else(|| request.header("x-grant-type"));
                if grant_type.is_some_and(|g| g != GRANT_TYPE) {
                    return None;
                }
                let (client_id, client_secret) = basic::parse(request.header("authorization")?)?;
                let used =
                    UsedCredential::headers(&["authorization", "grant-type", "x-grant-type"]);
                Some(ClientCredentials {
                    client_id,
                    client_secret,
                    used,
                })
            }
            ParamType::Query => {
                from_args(&request.query_args()).map(|(client_id, client_secret)| {
                    ClientCredentials {
                        client_id,
                        client_secret,
                        used: UsedCredential::query_args(&[
                            "client_id",
                            "client_secret",
                            "grant_type",
                        ]),
                    }
                })
            }
            ParamType::Body => from_args(&request.body_args()).map(|(client_id, client_secret)| {
                ClientCredentials {
                    client_id,
                    client_secret,
                    used: UsedCredential::body_args(&["client_id", "client_secret", "grant_type"]),
                }
            }),
            ParamType::Cookie => None,
        })
}

fn from_args(args: &[(String, String)]) -> Option<(String, String)> {
    if form::first(args, "grant_type").is_some_and(|g| g != GRANT_TYPE) {
        return None;
    }
    let client_id = form::first(args, "client_id").filter(|c| !c.is_empty())?;
    let client_secret = form::first(args, "client_secret")?;
    Some((client_id.to_string(), client_secret.to_string()))
}

/// Whether credentials might be in the body, so the adapter must read it.
pub fn may_need_body(settings: &Settings, request: &IncomingRequest) -> bool {
    settings
        .config
        .client_credentials_param_type
        .contains(&ParamType::Body)
        && request.has_argument_body()
}

/// `grant_type=client_credentials&scope=...` to the token endpoint, authenticated as the
/// caller's client: `client_secret_post` when that is the configured or discovered method,
/// else `client_secret_basic` (Kong ignores `none` and `private_key_jwt` for this grant).
pub fn token_request(
    settings: &Settings,
    provider: &Provider,
    credentials: &ClientCredentials,
) -> Result<OutboundRequest, CallError> {
    let endpoint = provider
        .token_endpoint(settings)
        .ok_or(CallError::NoEndpoint("token"))?;
    let mut body = vec![("grant_type".to_string(), GRANT_TYPE.to_string())];
    password::add_scope_and_audience(settings, &mut body);
    let mut headers = Vec::new();
    let method = client_auth::choose(
        settings,
        Endpoint::Token,
        &provider.metadata.token_endpoint_auth_methods_supported,
    );
    if method == ClientAuthMethod::ClientSecretPost {
        body.push(("client_id".to_string(), credentials.client_id.clone()));
        body.push((
            "client_secret".to_string(),
            credentials.client_secret.clone(),
        ));
    } else {
        headers.push((
            "authorization".to_string(),
            basic::client_authorization(&credentials.client_id, &credentials.client_secret),
        ));
    }
    outbound::form_post(settings, endpoint, headers, &body)
}
