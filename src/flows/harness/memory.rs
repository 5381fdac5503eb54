//! Shared data as the adapter keeps it in the host: the production caches and refresh locks
//! (`crate::shared`) over an in-memory map, and a JWKS refetch limit that counts.

use std::cell::Cell;
use std::rc::Rc;

use crate::flows::SharedState;
use crate::shared::cache::{self, CacheKind};
use crate::shared::memory::MemoryData;
use crate::shared::{lock, NodeShared, SharedKeys};
use crate::token::testkeys::ISSUER;

/// Shared data as the adapter keeps it: the production protocol (bounded caches, refresh
/// locks) over an in-memory map with the hosts' CAS semantics, and a JWKS refetch limit that
/// counts the claims and grants only the first.
pub(crate) struct MemoryShared {
    pub(crate) store: Rc<MemoryData>,
    node: NodeShared<Rc<MemoryData>>,
    /// How many JWKS refetches were asked for; only the first is granted.
    pub(crate) refetches: Cell<u32>,
}

impl Default for MemoryShared {
    fn default() -> MemoryShared {
        let store = Rc::new(MemoryData::default());
        let node = NodeShared::new(store.clone(), SharedKeys::for_issuer(ISSUER), || 0)
            .with_random(MemoryData::distinct_random);
        MemoryShared {
            store,
            node,
            refetches: Cell::new(0),
        }
    }
}

impl SharedState for MemoryShared {
    fn claim_jwks_refetch(&self, _now: u64) -> bool {
        self.refetches.set(self.refetches.get() + 1);
        self.refetches.get() == 1
    }

    fn cache_get(&self, kind: CacheKind, key: &str, now: u64) -> Option<Vec<u8>> {
        self.node.cache_get(kind, key, now)
    }

    fn cache_put(&self, kind: CacheKind, key: &str, value: &[u8], expires_at: u64) {
        self.node.cache_put(kind, key, value, expires_at);
    }

    fn marks_generation(&self) -> Option<crate::shared::state::MarksGeneration> {
        self.node.marks_generation()
    }

    fn try_lock(&self, key: &str, now: u64, until: u64) -> bool {
        self.node.try_lock(key, now, until)
    }

    fn unlock(&self, key: &str) {
        self.node.unlock(key);
    }
}

impl MemoryShared {
    /// The entries of `kind` stored now.
    pub(crate) fn count(&self, kind: CacheKind) -> usize {
        cache::entry_count(self.node.data(), kind)
    }

    /// The refresh locks held now (name, lease end).
    pub(crate) fn locks_held(&self) -> Vec<(String, u64)> {
        lock::held(self.node.data(), &SharedKeys::for_issuer(ISSUER))
    }

    /// Every held lock's lease never ends (a stuck holder).
    pub(crate) fn hold_locks_forever(&self) {
        lock::extend_held(self.node.data(), &SharedKeys::for_issuer(ISSUER), u64::MAX);
    }
}
