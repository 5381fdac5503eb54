//! Shared data as the adapter keeps it in the host: the caches' buckets in a host-like store,
//! the refresh locks with their leases, and the JWKS refetch limit (one per shared state).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use crate::flows::shared_cache::memory::MemoryStore;
use crate::flows::shared_cache::{self, CacheKind};
use crate::flows::SharedState;

#[derive(Default)]
pub(crate) struct MemoryShared {
    pub(crate) store: MemoryStore,
    pub(crate) locks: RefCell<HashMap<String, u64>>,
    /// How many JWKS refetches were asked for; only the first is granted.
    pub(crate) refetches: Cell<u32>,
}

impl SharedState for MemoryShared {
    fn claim_jwks_refetch(&self, _now: u64) -> bool {
        self.refetches.set(self.refetches.get() + 1);
        self.refetches.get() == 1
    }

    fn cache_get(&self, kind: CacheKind, key: &str, now: u64) -> Option<Vec<u8>> {
        shared_cache::get(&self.store, kind, key, now)
    }

    fn cache_put(&self, kind: CacheKind, key: &str, value: &[u8], expires_at: u64) {
        shared_cache::put(&self.store, kind, key, value, expires_at, 0);
    }

    fn try_lock(&self, key: &str, now: u64, until: u64) -> bool {
        let mut locks = self.locks.borrow_mut();
        if locks.get(key).is_some_and(|held_until| *held_until > now) {
            return false;
        }
        locks.insert(key.to_string(), until);
        true
    }

    fn unlock(&self, key: &str) {
        self.locks.borrow_mut().remove(key);
    }
}

impl MemoryShared {
    /// The entries of `kind` stored now.
    pub(crate) fn count(&self, kind: CacheKind) -> usize {
        shared_cache::entry_count(&self.store, kind)
    }
}
