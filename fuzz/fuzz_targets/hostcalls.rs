//! Fuzz target: a guest calling the gateway's hostcalls with arbitrary pointers, lengths and
//! values; see `gateway/src/vm/fuzzing.rs` for the input format and what is checked.
//!
//! The gateway is a binary crate, so its modules are compiled here from its sources. The list
//! below mirrors the `mod` lines of `gateway/src/main.rs` (add a line when it gains a module);
//! the glob import makes the gateway's `crate::...` paths resolve.
#![no_main]
#![allow(dead_code, unused_imports)]

// rustfmt::skip keeps `rustfmt` on this file from reformatting the gateway's sources.
#[rustfmt::skip]
#[path = "../../gateway/src"]
mod gateway_src {
    pub mod abi;
    pub mod admin;
    pub mod config;
    pub mod dispatch;
    pub mod engine;
    pub mod gateway;
    pub mod http;
    pub mod log;
    pub mod metrics;
    pub mod proxy;
    pub mod redact;
    pub mod routing;
    pub mod shared;
    pub mod uri;
    pub mod vm;
}
use gateway_src::*;

libfuzzer_sys::fuzz_target!(|data: &[u8]| vm::fuzzing::hostcalls(data));
