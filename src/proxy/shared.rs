//! State shared by every worker through the host's shared data: the provider documents, the
//! JWKS refetch gate and, when none is configured, the session secret.
//!
//! Keys are `openid_connect/<name>.<issuer hash>`: Kong's ngx_wasm_module reads `ns/key` as a
//! key in the shm zone `ns`, so Kong needs `nginx_wasm_shm_kv_openid_connect = 1m` (its default
//! zone `*` cannot be declared from kong.conf). The issuer hash keeps plugin instances with
//! different providers apart.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::types::LogLevel;
use sha2::{Digest, Sha256};

use crate::flows::{Provider, SharedState};
use crate::proxy::host;

/// Minimum seconds between two JWKS refetches caused by unknown key ids.
const JWKS_REFETCH_INTERVAL: u64 = 10;

/// The shared-data keys of one issuer.
#[derive(Debug, Clone)]
pub struct SharedKeys {
    provider: String,
    jwks_refetch: String,
    session_secret: String,
    fetch_lease: String,
}

impl SharedKeys {
    pub fn for_issuer(issuer: &str) -> SharedKeys {
        let digest = Sha256::digest(issuer.as_bytes());
        let id: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        SharedKeys {
            provider: format!("openid_connect/provider.{id}"),
            jwks_refetch: format!("openid_connect/jwks_refetch.{id}"),
            session_secret: format!("openid_connect/session_secret.{id}"),
            fetch_lease: format!("openid_connect/fetch_lease.{id}"),
        }
    }
}

/// The provider documents as this worker last read them, re-parsed only when the shared copy
/// changed (its CAS differs), so a request costs one shared-data read, not a JWKS parse.
pub struct ProviderCache {
    keys: SharedKeys,
    cached: Option<(u32, Rc<Provider>)>,
}

impl ProviderCache {
    pub fn new(keys: SharedKeys) -> ProviderCache {
        ProviderCache { keys, cached: None }
    }

    pub fn current(&mut self) -> Option<Rc<Provider>> {
        let (bytes, cas) = match hostcalls::get_shared_data(&self.keys.provider) {
            Ok((Some(bytes), Some(cas))) => (bytes, cas),
            Ok(_) => return self.cached.as_ref().map(|(_, p)| p.clone()),
            Err(status) => {
                host::log(LogLevel::Warn, &format!("openid-connect: shared data unavailable: {status:?}"));
                return self.cached.as_ref().map(|(_, p)| p.clone());
            }
        };
        if let Some((cached_cas, provider)) = &self.cached {
            if *cached_cas == cas {
                return Some(provider.clone());
            }
        }
        match Provider::from_shared(&bytes) {
            Ok(provider) => {
                let provider = Rc::new(provider);
                self.cached = Some((cas, provider.clone()));
                Some(provider)
            }
            Err(e) => {
                host::log(LogLevel::Warn, &format!("openid-connect: shared provider documents unreadable: {e}"));
                self.cached.as_ref().map(|(_, p)| p.clone())
            }
        }
    }

    /// Shares freshly fetched documents with every worker.
    pub fn publish(&mut self, provider: &Rc<Provider>) {
        let bytes = provider.to_shared();
        if let Err(status) = hostcalls::set_shared_data(&self.keys.provider, Some(&bytes), None) {
            host::log(LogLevel::Warn, &format!("openid-connect: cannot share provider documents: {status:?}"));
        }
        self.cached = None;
    }
}

/// Reads a decimal timestamp stored under `key`, with its CAS.
fn read_timestamp(key: &str) -> Result<(u64, Option<u32>), ()> {
    match hostcalls::get_shared_data(key) {
        Ok((bytes, cas)) => {
            let value = bytes.and_then(|b| String::from_utf8(b).ok()).and_then(|s| s.parse().ok()).unwrap_or(0);
            Ok((value, cas))
        }
        Err(_) => Err(()),
    }
}

/// Claims a time-based slot: succeeds for one worker when `interval` has passed since the last
/// claim (compare-and-swap, so two workers cannot both win).
fn claim_slot(key: &str, now: u64, interval: u64) -> bool {
    let Ok((last, cas)) = read_timestamp(key) else { return false };
    if last != 0 && now.saturating_sub(last) < interval {
        return false;
    }
    hostcalls::set_shared_data(key, Some(now.to_string().as_bytes()), cas.or(Some(0))).is_ok()
}

/// The [`SharedState`] the flows use.
pub struct HostSharedState {
    keys: SharedKeys,
}

impl HostSharedState {
    pub fn new(keys: SharedKeys) -> HostSharedState {
        HostSharedState { keys }
    }
}

impl SharedState for HostSharedState {
    fn claim_jwks_refetch(&self, now: u64) -> bool {
        claim_slot(&self.keys.jwks_refetch, now, JWKS_REFETCH_INTERVAL)
    }
}

/// The lease that lets one worker's root context refresh the documents at a time.
pub fn claim_fetch_lease(keys: &SharedKeys, now: u64, lease_seconds: u64) -> bool {
    claim_slot(&keys.fetch_lease, now, lease_seconds)
}

/// The session secret when none is configured: Kong generates a random one per issuer; here
/// it is generated once and kept in shared data so every worker encrypts with the same key.
/// It dies with the process, so sessions do not survive a restart (the README says so).
pub fn generated_session_secret(keys: &SharedKeys) -> Option<Vec<u8>> {
    if let Ok((Some(existing), _)) = hostcalls::get_shared_data(&keys.session_secret) {
        if existing.len() == 32 {
            return Some(existing);
        }
    }
    let fresh = host::random_bytes();
    // The ABI has no atomic set-if-absent: two workers configuring at the same instant may both
    // write. Each reads back what is stored, and the root context re-reads it on every tick
    // (see `current_session_secret`), so all workers converge on the last write.
    let _ = hostcalls::set_shared_data(&keys.session_secret, Some(&fresh), None);
    match hostcalls::get_shared_data(&keys.session_secret) {
        Ok((Some(stored), _)) if stored.len() == 32 => Some(stored),
        _ => None,
    }
}

/// The generated secret as stored now (None when none was generated).
pub fn current_session_secret(keys: &SharedKeys) -> Option<Vec<u8>> {
    match hostcalls::get_shared_data(&keys.session_secret) {
        Ok((Some(stored), _)) if stored.len() == 32 => Some(stored),
        _ => None,
    }
}

/// Shared, per-root access to the provider cache for every HTTP context of that root.
pub type SharedProviderCache = Rc<RefCell<ProviderCache>>;
