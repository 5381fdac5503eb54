//! HTTP plumbing shared by the proxy and filters' calls.

pub(crate) mod body;
pub(crate) mod client;
