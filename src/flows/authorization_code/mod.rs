//! The authorization code flow: browser login at the identity provider (Kong's
//! `authorization_code` auth method, reference section 1).
//!
//! A request without credentials is redirected to the authorization endpoint with a fresh
//! `state`, `nonce` and PKCE challenge, kept in the `authorization` cookie
//! ([`authorization_cookie`](crate::flows::authorization_cookie)). The
//! browser comes back with an authorization response ([`callback`]); the code is exchanged
//! ([`exchange`]), the ID token verified with the nonce, a session made, and the login ends as
//! `login_action` says ([`finish`]). The steps that need the request state machine live in
//! `flows::engine::code_flow`.

pub mod callback;
pub mod exchange;
pub mod finish;
pub mod location;
pub mod request;

pub use crate::flows::authorization_cookie::{AuthorizationCookies, PendingAuthorization};
pub use callback::{CallbackArgs, CallbackError};
pub use finish::CodeLogin;
pub use request::LoginSecrets;

use crate::config::AuthMethod;
use crate::flows::request::IncomingRequest;
use crate::flows::settings::Settings;
use crate::http::form;

/// Whether the flow may need the body: a form POST can be a `form_post` authorization response.
pub fn may_need_body(settings: &Settings, request: &IncomingRequest) -> bool {
    settings.config.enabled(AuthMethod::AuthorizationCode)
        && request.method.eq_ignore_ascii_case("POST")
        && request.has_argument_body()
        && form::is_form_content_type(request.header("content-type").unwrap_or_default())
}

#[cfg(test)]
mod flow_tests;
