//! HTTP plumbing shared by the proxy and filters' calls.

pub mod body;
pub mod client;
