//! The flow environment every in-memory flow test runs in: a clock, a random source and a
//! shared-data implementation of the test's choosing.

use std::cell::Cell;

use crate::flows::{Env, SharedState};

/// Runs `f` with an [`Env`] at `now` over `shared`. The random source gives distinct bytes on
/// every draw of the test thread, as a real one does (two logins must never share a session
/// id, and state, nonce and PKCE verifier must differ).
pub(crate) fn with_env<T>(now: u64, shared: &dyn SharedState, f: impl FnOnce(&mut Env) -> T) -> T {
    thread_local!(static COUNTER: Cell<u8> = const { Cell::new(0) });
    let mut random = || {
        let next = COUNTER.with(|c| {
            c.set(c.get().wrapping_add(1));
            c.get()
        });
        Some([next; 32])
    };
    let mut env = Env {
        now,
        random: &mut random,
        shared,
    };
    f(&mut env)
}
