//! Former home of the shared-data cache, now [`crate::shared::cache`]: the names code written
//! against it still uses, until that code imports `crate::shared` directly.

pub use crate::shared::cache::*;

use crate::shared::SharedData;

/// The cache's former view of shared data: a value and its version, `None` for CAS 0.
pub trait SharedStore {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)>;
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> bool;
}

impl<T: SharedData + ?Sized> SharedStore for T {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        SharedData::get(self, key).ok().flatten()
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
        SharedData::set(self, key, value, cas.unwrap_or(0))
    }
}

/// The former in-memory store: `cas_zero_if_absent` plays Kong's engine for CAS 0.
#[cfg(test)]
pub mod memory {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use crate::shared::{SharedData, Unavailable};

    #[derive(Default)]
    pub struct MemoryStore {
        entries: RefCell<HashMap<String, (Vec<u8>, u32)>>,
        pub cas_zero_if_absent: bool,
    }

    impl MemoryStore {
        pub fn footprint(&self) -> (usize, usize) {
            let entries = self.entries.borrow();
            let bytes = entries.iter().map(|(k, (v, _))| k.len() + v.len()).sum();
            (entries.len(), bytes)
        }
    }

    impl SharedData for MemoryStore {
        fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, Unavailable> {
            Ok(self.entries.borrow().get(key).cloned())
        }

        fn set(&self, key: &str, value: &[u8], cas: u32) -> bool {
            let mut entries = self.entries.borrow_mut();
            let version = entries.get(key).map_or(0, |(_, v)| *v);
            if cas != 0 && cas != version {
                return false;
            }
            if self.cas_zero_if_absent && cas == 0 && entries.contains_key(key) {
                return false;
            }
            entries.insert(key.to_string(), (value.to_vec(), version.wrapping_add(1)));
            true
        }
    }
}
