//! The host's shared data for the core: [`SharedData`] over the two hostcalls. What is kept
//! there, under which keys and how workers agree, is the core's (see `crate::shared`).

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::hostcalls;

use crate::flows::provider_cache::ProviderCache;
use crate::shared::{NodeShared, SharedData, Unavailable};

/// The host's shared data.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct HostData;

impl SharedData for HostData {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, Unavailable> {
        match hostcalls::get_shared_data(key) {
            Ok((None, None)) => Ok(None),
            // An empty value may come back without bytes; a stored value always has a CAS.
            Ok((bytes, cas)) => Ok(Some((bytes.unwrap_or_default(), cas.unwrap_or(0)))),
            Err(_) => Err(Unavailable),
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> bool {
        hostcalls::set_shared_data(key, Some(value), Some(cas)).is_ok()
    }
}

/// The flows' shared state on this host.
pub(super) type HostSharedState = NodeShared<HostData>;

/// Shared, per-root access to the provider documents for every HTTP context of that root.
pub(super) type SharedProviderCache = Rc<RefCell<ProviderCache>>;
