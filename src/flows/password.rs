//! The password grant: finding the user's credentials in the request (Kong's argument lookup)
//! and the token request that exchanges them.

use crate::config::ParamType;
use crate::flows::client_auth::{self, Endpoint};
use crate::flows::outbound::{self, CallError};
use crate::flows::provider::Provider;
use crate::flows::request::IncomingRequest;
use crate::flows::settings::Settings;
use crate::http::{basic, form};
use crate::step::OutboundRequest;

/// A user name and password found in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordCredentials {
    pub username: String,
    pub password: String,
}

/// Looks for credentials in `password_param_type` order: `header` is `Authorization: Basic`
/// (only when `Grant-Type`/`X-Grant-Type` is absent or `password`); `query` and `body` are the
/// `username` and `password` arguments (with `grant_type` absent or `password`).
pub fn find_credentials(
    settings: &Settings,
    request: &IncomingRequest,
) -> Option<PasswordCredentials> {
    settings
        .config
        .password_param_type
        .iter()
        .find_map(|location| match location {
            ParamType::Header => {
                let grant_type = request
                    .header("grant-type")
                    .or_else(|| request.header("x-grant-type"));
                if grant_type.is_some_and(|g| g != "password") {
                    return None;
                }
                let (username, password) = basic::parse(request.header("authorization")?)?;
                Some(PasswordCredentials { username, password })
            }
            ParamType::Query => from_args(&request.query_args()),
            ParamType::Body => from_args(&request.body_args()),
            ParamType::Cookie => None,
        })
}

fn from_args(args: &[(String, String)]) -> Option<PasswordCredentials> {
    if form::first(args, "grant_type").is_some_and(|g| g != "password") {
        return None;
    }
    let username = form::first(args, "username").filter(|u| !u.is_empty())?;
    let password = form::first(args, "password")?;
    Some(PasswordCredentials {
        username: username.to_string(),
        password: password.to_string(),
    })
}

/// Whether the password grant might find credentials in the body, so the adapter must read it.
pub fn may_need_body(settings: &Settings, request: &IncomingRequest) -> bool {
    settings
        .config
        .password_param_type
        .contains(&ParamType::Body)
        && request.has_argument_body()
}

/// `grant_type=password&username&password&scope=...` to the token endpoint, with client auth.
pub fn token_request(
    settings: &Settings,
    provider: &Provider,
    credentials: &PasswordCredentials,
) -> Result<OutboundRequest, CallError> {
    let mut body = vec![
        ("grant_type".to_string(), "password".to_string()),
        ("username".to_string(), credentials.username.clone()),
        ("password".to_string(), credentials.password.clone()),
    ];
    add_scope_and_audience(settings, &mut body);
    token_endpoint_request(settings, provider, body)
}

/// `grant_type=refresh_token&refresh_token=...` to the token endpoint, with client auth.
pub fn refresh_request(
    settings: &Settings,
    provider: &Provider,
    refresh_token: &str,
) -> Result<OutboundRequest, CallError> {
    let body = vec![
        ("grant_type".to_string(), "refresh_token".to_string()),
        ("refresh_token".to_string(), refresh_token.to_string()),
    ];
    token_endpoint_request(settings, provider, body)
}

pub(crate) fn add_scope_and_audience(settings: &Settings, body: &mut Vec<(String, String)>) {
    if !settings.config.scopes.is_empty() {
        body.push(("scope".into(), settings.config.scopes.join(" ")));
    }
    for audience in &settings.config.audience {
        body.push(("audience".into(), audience.clone()));
    }
}

fn token_endpoint_request(
    settings: &Settings,
    provider: &Provider,
    mut body: Vec<(String, String)>,
) -> Result<OutboundRequest, CallError> {
    let endpoint = provider
        .token_endpoint(settings)
        .ok_or(CallError::NoEndpoint("token"))?;
    let method = client_auth::choose(
        settings,
        Endpoint::Token,
        &provider.metadata.token_endpoint_auth_methods_supported,
    );
    let mut headers = Vec::new();
    client_auth::apply(settings, &method, &mut headers, &mut body);
    outbound::form_post(settings, endpoint, headers, &body)
}
