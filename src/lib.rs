//! Kong-compatible OpenID Connect relying party, as a proxy-wasm HTTP filter.
//!
//! The OIDC logic is a sans-IO core (`config`, `discovery`, `token`, `session`, `flows`,
//! `logout`, `http`, `shared`) that takes inputs and returns decisions ([`step::Step`]); `proxy` is the
//! thin proxy-wasm adapter that carries those decisions out. Only `proxy` talks to the host.

pub mod config;
pub mod discovery;
pub mod flows;
// Entry points of the fuzz targets (fuzz/) and their corpus replay; not part of the filter.
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod logout;
pub mod proxy;
pub mod request_gate;
pub mod session;
pub mod shared;
pub mod step;
pub mod token;

proxy_wasm::main! {{
    proxy::register();
}}
