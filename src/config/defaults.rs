//! Kong's defaults for the implemented fields: the one place they are written. The parser fills
//! absent fields from here and the JSON Schema shows them (through `#[serde(default = ...)]`).
//! Fields whose Kong default is null use their type's empty value and need no function.

use super::types::{
    AuthMethod, HttpMethod, IdpCheckFailure, LoginAction, LoginRedirectMode, LoginToken, ParamType,
    ResponseMode, SameSite,
};

/// All nine methods: Kong enables every credential type unless told otherwise. The flows skip
/// the ones this filter does not implement ([`AuthMethod::is_supported`]).
pub(super) fn auth_methods() -> Vec<AuthMethod> {
    AuthMethod::ALL.to_vec()
}

pub(super) fn password_param_type() -> Vec<ParamType> {
    ParamType::GRANT_LOCATIONS.to_vec()
}

pub(super) fn scopes() -> Vec<String> {
    vec!["openid".to_string()]
}

pub(super) fn session_cookie_name() -> String {
    "session".to_string()
}

pub(super) fn session_cookie_path() -> String {
    "/".to_string()
}

pub(super) fn session_cookie_same_site() -> SameSite {
    SameSite::Lax
}

pub(super) fn session_cookie_http_only() -> bool {
    true
}

/// Seconds.
pub(super) fn session_rolling_timeout() -> u64 {
    3600
}

/// Seconds.
pub(super) fn session_absolute_timeout() -> u64 {
    86400
}

/// Seconds.
pub(super) fn session_idling_timeout() -> u64 {
    900
}

/// Ours: a provider that cannot answer does not refuse sessions at once.
pub(super) fn session_idp_check_failure() -> IdpCheckFailure {
    IdpCheckFailure::Grace
}

/// Seconds (ours): five minutes, long enough to ride out a provider restart.
pub(super) fn session_idp_check_grace() -> u64 {
    300
}

pub(super) fn session_audience() -> String {
    "default".to_string()
}

/// Kong's JSON schema lists `DELETE, POST` (its Lua schema `POST, DELETE`); the order means nothing.
pub(super) fn logout_methods() -> Vec<HttpMethod> {
    vec![HttpMethod::Delete, HttpMethod::Post]
}

pub(super) fn logout_revoke_access_token() -> bool {
    true
}

pub(super) fn logout_revoke_refresh_token() -> bool {
    true
}

pub(super) fn revocation_token_param_name() -> String {
    "token".to_string()
}

/// Seconds.
pub(super) fn rediscovery_lifetime() -> u64 {
    30
}

/// Milliseconds.
pub(super) fn timeout() -> u64 {
    10000
}

pub(super) fn refresh_tokens() -> bool {
    true
}

pub(super) fn verify_signature() -> bool {
    true
}

pub(super) fn verify_claims() -> bool {
    true
}

pub(super) fn upstream_access_token_header() -> Option<String> {
    Some("authorization:bearer".to_string())
}

pub(super) fn unauthorized_error_message() -> String {
    "Unauthorized".to_string()
}

pub(super) fn forbidden_error_message() -> String {
    "Forbidden".to_string()
}

pub(super) fn expose_error_code() -> bool {
    true
}

pub(super) fn response_mode() -> ResponseMode {
    ResponseMode::Query
}

pub(super) fn verify_nonce() -> bool {
    true
}

pub(super) fn login_action() -> LoginAction {
    LoginAction::Upstream
}

pub(super) fn login_tokens() -> Vec<LoginToken> {
    vec![LoginToken::IdToken]
}

pub(super) fn login_redirect_mode() -> LoginRedirectMode {
    LoginRedirectMode::Fragment
}

pub(super) fn authorization_cookie_name() -> String {
    "authorization".to_string()
}

pub(super) fn authorization_cookie_path() -> String {
    "/".to_string()
}

/// Kong sends no `SameSite` on the authorization cookie, so browsers apply their own default.
pub(super) fn authorization_cookie_same_site() -> SameSite {
    SameSite::Default
}

pub(super) fn authorization_cookie_http_only() -> bool {
    true
}

/// Seconds.
pub(super) fn authorization_rolling_timeout() -> u64 {
    600
}

pub(super) fn audience_claim() -> Vec<String> {
    vec!["aud".to_string()]
}

pub(super) fn scopes_claim() -> Vec<String> {
    vec!["scope".to_string()]
}

pub(super) fn groups_claim() -> Vec<String> {
    vec!["groups".to_string()]
}

pub(super) fn roles_claim() -> Vec<String> {
    vec!["roles".to_string()]
}

/// Kong's default leaves `cookie` out: it needs `bearer_token_cookie_name`.
pub(super) fn bearer_token_param_type() -> Vec<ParamType> {
    ParamType::GRANT_LOCATIONS.to_vec()
}

pub(super) fn introspection_hint() -> String {
    "access_token".to_string()
}

pub(super) fn introspection_check_active() -> bool {
    true
}

pub(super) fn introspection_token_param_name() -> String {
    "token".to_string()
}

pub(super) fn cache_tokens() -> bool {
    true
}

pub(super) fn cache_introspection() -> bool {
    true
}

pub(super) fn cache_user_info() -> bool {
    true
}

/// Seconds.
pub(super) fn cache_ttl() -> u64 {
    3600
}
