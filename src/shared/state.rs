//! What the flows keep in shared data, as they ask for it ([`SharedState`]), and the
//! production implementation over the host's store ([`NodeShared`]).

use std::cell::RefCell;

use super::cache::{self, CacheKind, PutOutcome};
use super::{gate, lock, SharedData, SharedKeys};
use crate::step::Note;

/// Minimum seconds between two JWKS refetches caused by unknown key ids.
pub const JWKS_REFETCH_INTERVAL: u64 = 10;

/// State shared by every worker.
///
/// The cache and lock methods have defaults for a host without shared data: nothing is
/// cached and every lock is granted, so each request works alone (correct, only slower).
pub trait SharedState {
    /// Claims the right to refetch the JWKS after a token named an unknown key. Rate-limited
    /// across workers, so random `kid`s cannot make the filter hammer the identity provider.
    fn claim_jwks_refetch(&self, now: u64) -> bool;

    /// The value stored under `key` (a hex digest) by [`cache_put`](Self::cache_put), unless it
    /// expired by `now`.
    fn cache_get(&self, _kind: CacheKind, _key: &str, _now: u64) -> Option<Vec<u8>> {
        None
    }

    /// Stores `value` under `key` until `expires_at` (epoch seconds), for every worker.
    fn cache_put(&self, _kind: CacheKind, _key: &str, _value: &[u8], _expires_at: u64) {}

    /// Takes the lock `key` until `until` (epoch seconds) unless another holder's lease is
    /// still running; `true` when this caller holds it now.
    fn try_lock(&self, _key: &str, _now: u64, _until: u64) -> bool {
        true
    }

    /// Gives the lock `key` back (only if it is still this key's).
    fn unlock(&self, _key: &str) {}
}

/// The shared state of one issuer's workers over a host's store: the JWKS refetch gate, the
/// bounded caches and the refresh locks. What a write could not do is noted for the log.
pub struct NodeShared<D> {
    data: D,
    keys: SharedKeys,
    /// Seconds since the epoch, for a cache write to drop what expired (the flows' calls
    /// name only the new record's expiry).
    clock: fn() -> u64,
    notes: RefCell<Vec<Note>>,
}

impl<D: SharedData> NodeShared<D> {
    pub fn new(data: D, keys: SharedKeys, clock: fn() -> u64) -> NodeShared<D> {
        NodeShared {
            data,
            keys,
            clock,
            notes: RefCell::default(),
        }
    }

    /// The store underneath.
    pub fn data(&self) -> &D {
        &self.data
    }

    /// Log lines about the caches since the last call.
    pub fn take_notes(&self) -> Vec<Note> {
        std::mem::take(&mut *self.notes.borrow_mut())
    }
}

impl<D: SharedData> SharedState for NodeShared<D> {
    fn claim_jwks_refetch(&self, now: u64) -> bool {
        gate::claim(
            &self.data,
            &self.keys.jwks_refetch,
            now,
            JWKS_REFETCH_INTERVAL,
        )
    }

    fn cache_get(&self, kind: CacheKind, key: &str, now: u64) -> Option<Vec<u8>> {
        cache::get(&self.data, kind, key, now)
    }

    fn cache_put(&self, kind: CacheKind, key: &str, value: &[u8], expires_at: u64) {
        let note = match cache::put(&self.data, kind, key, value, expires_at, (self.clock)()) {
            PutOutcome::Stored { evicted: 0 } | PutOutcome::Skipped => return,
            PutOutcome::Stored { evicted } => Note::Info(format!(
                "{} cache full: {evicted} entries pushed out early",
                kind.name()
            )),
            PutOutcome::Failed => Note::Warn(format!("cannot cache {}", kind.name())),
        };
        self.notes.borrow_mut().push(note);
    }

    fn try_lock(&self, key: &str, now: u64, until: u64) -> bool {
        lock::try_lock(&self.data, &self.keys, key, now, until)
    }

    fn unlock(&self, key: &str) {
        lock::unlock(&self.data, &self.keys, key)
    }
}
