//! The flows end to end in memory, one file per method or concern, all on the one harness
//! (`crate::flows::harness`): a scripted identity provider answers each call with real signed
//! tokens, so every branch of the request state machine is exercised without a host.

mod bearer;
mod client_credentials;
mod ended_sessions;
mod introspection;
mod logout;
mod password;
mod refresh_param;
mod scopes;
mod session;
mod session_liveness;
mod session_refresh;
mod token_cache;
mod userinfo;
