//! The `refresh_token` method: a refresh token sent with the request (in the argument or
//! header `refresh_token_param_name`) is exchanged at the token endpoint for fresh tokens.

use crate::config::ParamType;
use crate::flows::request::IncomingRequest;
use crate::flows::settings::Settings;
use crate::flows::used_credential::UsedCredential;
use crate::http::form;

/// Looks for the refresh token in `refresh_token_param_type` order: the header named
/// `refresh_token_param_name` (a `Bearer ` prefix is dropped, as Kong does), the query
/// argument, the form or JSON body argument. Nothing without `refresh_token_param_name`.
pub fn find_refresh_token(
    settings: &Settings,
    request: &IncomingRequest,
) -> Option<(String, UsedCredential)> {
    let name = settings.config.refresh_token_param_name.as_deref()?;
    settings
        .config
        .refresh_token_param_type
        .iter()
        .find_map(|location| {
            let (value, used) = match location {
                ParamType::Header => {
                    let value = request.header(name)?.trim();
                    let value = match value.get(..7) {
                        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => {
                            value.get(7..).unwrap_or_default().trim()
                        }
                        _ => value,
                    };
                    (value.to_string(), UsedCredential::headers(&[name]))
                }
                ParamType::Query => (
                    form::first(&request.query_args(), name)?.to_string(),
                    UsedCredential::query_args(&[name]),
                ),
                ParamType::Body => (
                    form::first(&request.body_args(), name)?.to_string(),
                    UsedCredential::body_args(&[name]),
                ),
                ParamType::Cookie => return None,
            };
            (!value.is_empty()).then_some((value, used))
        })
}

/// Whether the refresh token might be in the body, so the adapter must read it.
pub fn may_need_body(settings: &Settings, request: &IncomingRequest) -> bool {
    settings.config.refresh_token_param_name.is_some()
        && settings
            .config
            .refresh_token_param_type
            .contains(&ParamType::Body)
        && request.has_argument_body()
}
