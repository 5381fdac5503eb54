//! Shared data in memory with the hosts' CAS semantics, so the core's tests run the
//! production protocol (locks, caches, gates) as each host would.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use super::{SharedData, Unavailable};

/// Whose CAS semantics the map follows (see [`SharedData`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// Envoy and our gateway: CAS 0 is "no check", an absent key accepts any CAS.
    Envoy,
    /// Kong's engine: the CAS must be the key's version, 0 when absent.
    Kong,
}

impl Host {
    pub const ALL: [Host; 2] = [Host::Envoy, Host::Kong];
}

/// Keys with their value and version; nothing is ever deleted, as on the hosts.
pub struct MemoryData {
    host: Host,
    entries: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    last_version: Cell<u32>,
    /// While set, every call fails as a host error would.
    pub unavailable: Cell<bool>,
}

impl Default for MemoryData {
    fn default() -> MemoryData {
        MemoryData::new(Host::Envoy)
    }
}

impl MemoryData {
    pub fn new(host: Host) -> MemoryData {
        MemoryData {
            host,
            entries: RefCell::default(),
            last_version: Cell::new(0),
            unavailable: Cell::new(false),
        }
    }

    /// Bytes that differ on every call, as the host's randomness does (for
    /// `NodeShared::with_random`).
    pub fn distinct_random() -> Option<[u8; 32]> {
        static DRAWN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let mut bytes = [0u8; 32];
        let drawn = DRAWN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bytes[..8].copy_from_slice(&drawn.to_be_bytes());
        Some(bytes)
    }

    /// Drops a key as Kong's shm does when it evicts one to make room.
    pub fn forget(&self, key: &str) {
        self.entries.borrow_mut().remove(key);
    }

    /// Keys ever written (shared data cannot delete one) and the bytes of keys and values.
    pub fn footprint(&self) -> (usize, usize) {
        let entries = self.entries.borrow();
        let bytes = entries.iter().map(|(k, (v, _))| k.len() + v.len()).sum();
        (entries.len(), bytes)
    }
}

impl SharedData for MemoryData {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, Unavailable> {
        if self.unavailable.get() {
            return Err(Unavailable);
        }
        Ok(self.entries.borrow().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> bool {
        if self.unavailable.get() {
            return false;
        }
        let mut entries = self.entries.borrow_mut();
        let current = entries.get(key).map(|(_, version)| *version);
        let allowed = match (self.host, current) {
            (Host::Envoy, None) => true,
            (Host::Envoy, Some(version)) => cas == 0 || cas == version,
            (Host::Kong, current) => cas == current.unwrap_or(0),
        };
        if !allowed {
            return false;
        }
        // Versions are never 0 (0 is what an absent key's CAS reads as).
        let mut next = self.last_version.get().wrapping_add(1);
        if next == 0 {
            next = 1;
        }
        self.last_version.set(next);
        entries.insert(key.to_string(), (value.to_vec(), next));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_key_takes_any_version_in_envoy_only_zero_in_kong() {
        let envoy = MemoryData::new(Host::Envoy);
        assert!(envoy.set("k", b"v", 7));
        let kong = MemoryData::new(Host::Kong);
        assert!(!kong.set("k", b"v", 7));
        assert!(kong.set("k", b"v", 0));
        assert!(!kong.set("k", b"w", 0));
    }

    #[test]
    fn an_unavailable_store_refuses_everything() {
        let data = MemoryData::default();
        data.unavailable.set(true);
        assert_eq!(data.get("k"), Err(Unavailable));
        assert!(!data.set("k", b"v", 0));
    }
}
