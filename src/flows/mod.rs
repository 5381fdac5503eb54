//! The authentication flows: one request's journey from its headers to a decision.
//!
//! [`RequestFlow`] follows Kong's order: open the session, check for a logout, then try the
//! credentials of each enabled method (session, then password), and refuse with 401 when none
//! works. Each step that needs the identity provider returns [`Step::Call`](crate::step::Step)
//! and continues in [`RequestFlow::on_call_response`].

pub mod authorization_code;
pub mod client_auth;
mod engine;
pub mod outbound;
pub mod password;
pub mod provider;
pub mod provider_fetch;
pub mod request;
pub mod responses;
pub mod settings;
pub mod tokens;
pub mod upstream;
pub mod verify;

pub use engine::{Env, Event, Note, RequestFlow, SharedState};
pub use provider::Provider;
pub use request::IncomingRequest;
pub use settings::{Settings, SettingsError};
#[cfg(test)]
mod tests;
#[cfg(test)]
mod fuzz_tests;
