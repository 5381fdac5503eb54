//! The one harness every in-memory flow test uses (`#[cfg(test)]` only): a scripted identity
//! provider with real signed tokens ([`fixtures`]), a request run through the state machine
//! with its calls answered by hand ([`run`]), shared data as the adapter keeps it
//! ([`memory`]), and readers and assertions for what the flow answered ([`inspect`]).
//!
//! A new flow test starts with `use crate::flows::harness::*;`. Add a helper here, not in the
//! test file, when a second test file would need it.

pub(crate) mod env;
pub(crate) mod fixtures;
pub(crate) mod inspect;
pub(crate) mod memory;
pub(crate) mod run;

pub(crate) use env::with_env;
pub(crate) use fixtures::*;
pub(crate) use inspect::*;
pub(crate) use memory::MemoryShared;
pub(crate) use run::Run;

// What flow tests name besides the harness.
pub(crate) use crate::discovery::Algorithm;
pub(crate) use crate::flows::{Env, Event, IncomingRequest, Provider, RequestFlow, Settings};
pub(crate) use crate::http::basic;
pub(crate) use crate::shared::cache::CacheKind;
pub(crate) use crate::step::{CallResponse, LocalResponse, Step};
pub(crate) use crate::token::testkeys::{self, Signer, ISSUER, NOW};
pub(crate) use serde_json::{json, Value};
pub(crate) use std::rc::Rc;
