//! The proxy-wasm adapter: the only code that talks to the host. It reads what the host
//! gives (configuration, headers, bodies, call answers, shared data), hands it to the core, and
//! carries out the core's decisions. No OIDC logic lives here.
//!
//! The SDK's trait helpers `unwrap()` host statuses and non-UTF-8 header values; a panic would
//! abort the VM and every request of the worker, so this module calls `hostcalls` directly and
//! turns every host error into a logged, fail-closed outcome.

mod call_order;
mod dispatch;
mod host;
mod http_context;
mod metrics;
mod root;
mod shared;

/// Registers the root context factory (called from `_initialize`).
pub fn register() {
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
    proxy_wasm::set_root_context(|context_id| Box::new(root::OidcRoot::new(context_id)));
}
