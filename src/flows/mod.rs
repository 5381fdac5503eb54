//! The authentication flows: one request's journey from its headers to a decision.
//!
//! [`RequestFlow`] follows Kong's order: open the session, check for a logout, then try the
//! credentials of each enabled method (session; a bearer token; a refresh token; password and
//! client credentials; the authorization code flow), and refuse with 401 when none works.
//! Each step that needs the identity provider returns [`Step::Call`](crate::step::Step) and
//! continues in [`RequestFlow::on_call_response`].

pub mod authorization_code;
pub mod authorization_cookie;
pub mod backchannel;
pub mod bearer;
pub mod body_limit;
pub mod client_auth;
pub mod client_credentials;
mod engine;
pub mod grants;
pub mod introspection;
pub mod liveness_answer;
pub mod outbound;
pub mod password;
pub mod provider;
pub mod provider_cache;
pub mod provider_fetch;
pub mod provider_refresh;
pub mod refresh_param;
pub mod request;
pub mod required_claims;
pub mod responses;
pub mod revocation;
pub mod settings;
pub mod token_cache;
pub mod token_lookup;
pub mod tokens;
pub mod upstream;
pub mod used_credential;
pub mod userinfo;
pub mod verified_tokens;
pub mod verify;

pub use crate::shared::SharedState;
pub use crate::step::Note;
pub use engine::{Env, Event, RequestFlow};
pub use provider::Provider;
pub use request::IncomingRequest;
pub use settings::{Settings, SettingsError};
#[cfg(test)]
mod backchannel_tests;
#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
pub(crate) mod harness;
#[cfg(test)]
mod tests;
