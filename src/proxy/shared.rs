//! State shared by every worker through the host's shared data: the provider documents, the
//! JWKS refetch gate, when none is configured the session secret, and the flows' caches and
//! refresh locks.
//!
//! Keys are `openid_connect/<name>.<issuer hash>`: Kong's ngx_wasm_module reads `ns/key` as a
//! key in the shm zone `ns`, so Kong needs `nginx_wasm_shm_kv_openid_connect = 1m` (its default
//! zone `*` cannot be declared from kong.conf). The issuer hash keeps plugin instances with
//! different providers apart. Cache entries live in a fixed set of buckets per kind, with their
//! own expiry, as shared data has neither expiry nor delete (see [`shared_cache`]).

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::types::LogLevel;
use sha2::{Digest, Sha256};

use crate::flows::shared_cache::{self, CacheKind, PutOutcome, SharedStore};
use crate::flows::{Provider, SharedState};
use crate::proxy::host;

/// Minimum seconds between two JWKS refetches caused by unknown key ids.
const JWKS_REFETCH_INTERVAL: u64 = 10;
/// Refresh locks per issuer. A session's lock lives in the slot its key picks; two sessions
/// that share a slot only refresh one after the other.
const REFRESH_LOCK_SLOTS: u8 = 64;
/// The value of a free lock slot.
const FREE_SLOT: &[u8] = b"-";
/// Cache buckets of each kind a worker sweeps per tick.
const SWEPT_PER_TICK: u16 = 16;

/// The shared-data keys of one issuer.
#[derive(Debug, Clone)]
pub struct SharedKeys {
    provider: String,
    jwks_refetch: String,
    session_secret: String,
    fetch_lease: String,
    /// Prefix of the refresh lock slots (`<prefix><n>`).
    refresh_lock: String,
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
            refresh_lock: format!("openid_connect/refresh_lock.{id}."),
        }
    }

    /// The lock slot of a lock key (a hex digest).
    fn refresh_lock_slot(&self, key: &str) -> String {
        let slot = key
            .get(..2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0)
            % REFRESH_LOCK_SLOTS;
        format!("{}{slot}", self.refresh_lock)
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
                host::log(
                    LogLevel::Warn,
                    &format!("openid-connect: shared data unavailable: {status:?}"),
                );
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
                host::log(
                    LogLevel::Warn,
                    &format!("openid-connect: shared provider documents unreadable: {e}"),
                );
                self.cached.as_ref().map(|(_, p)| p.clone())
            }
        }
    }

    /// Shares freshly fetched documents with every worker.
    pub fn publish(&mut self, provider: &Rc<Provider>) {
        let bytes = provider.to_shared();
        if !shared_cache::overwrite(&HostStore, &self.keys.provider, &bytes) {
            host::log(
                LogLevel::Warn,
                "openid-connect: cannot share provider documents (shared data refused the write)",
            );
        }
        self.cached = None;
    }
}

/// Reads a decimal timestamp stored under `key`, with its CAS.
fn read_timestamp(key: &str) -> Result<(u64, Option<u32>), ()> {
    match hostcalls::get_shared_data(key) {
        Ok((bytes, cas)) => {
            let value = bytes
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            Ok((value, cas))
        }
        Err(_) => Err(()),
    }
}

/// Claims a time-based slot: succeeds for one worker when `interval` has passed since the last
/// claim (compare-and-swap, so two workers cannot both win).
fn claim_slot(key: &str, now: u64, interval: u64) -> bool {
    let Ok((last, cas)) = read_timestamp(key) else {
        return false;
    };
    if last != 0 && now.saturating_sub(last) < interval {
        return false;
    }
    hostcalls::set_shared_data(key, Some(now.to_string().as_bytes()), cas.or(Some(0))).is_ok()
}

/// The host's shared data as the cache layout sees it.
struct HostStore;

impl SharedStore for HostStore {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        match hostcalls::get_shared_data(key) {
            Ok((Some(bytes), cas)) => Some((bytes, cas.unwrap_or(0))),
            _ => None,
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
        hostcalls::set_shared_data(key, Some(value), cas).is_ok()
    }
}

/// The [`SharedState`] the flows use.
pub struct HostSharedState {
    keys: SharedKeys,
}

impl HostSharedState {
    /// The sweep cursor is the root's business (see [`clear_expired`]); requests need none.
    pub fn new(keys: SharedKeys, _sweeps: SharedExpiries) -> HostSharedState {
        HostSharedState { keys }
    }
}

impl SharedState for HostSharedState {
    fn claim_jwks_refetch(&self, now: u64) -> bool {
        claim_slot(&self.keys.jwks_refetch, now, JWKS_REFETCH_INTERVAL)
    }

    fn cache_get(&self, kind: CacheKind, key: &str, now: u64) -> Option<Vec<u8>> {
        shared_cache::get(&HostStore, kind, key, now)
    }

    fn cache_put(&self, kind: CacheKind, key: &str, value: &[u8], expires_at: u64) {
        match shared_cache::put(&HostStore, kind, key, value, expires_at, host::now()) {
            PutOutcome::Stored { evicted: 0 } | PutOutcome::Skipped => {}
            PutOutcome::Stored { evicted } => host::log(
                LogLevel::Info,
                &format!(
                    "openid-connect: {} cache full: {evicted} entries pushed out early",
                    kind.name()
                ),
            ),
            PutOutcome::Failed => host::log(
                LogLevel::Warn,
                &format!("openid-connect: cannot cache {}", kind.name()),
            ),
        }
    }

    fn try_lock(&self, key: &str, now: u64, until: u64) -> bool {
        let slot = self.keys.refresh_lock_slot(key);
        let mut read = read_lock_slot(&slot);
        if matches!(read, Ok((None, _))) {
            // Slots are made when the filter is configured; one evicted since is made again
            // (two workers doing so at once could both win: then two refreshes happen).
            let _ = hostcalls::set_shared_data(&slot, Some(FREE_SLOT), None);
            read = read_lock_slot(&slot);
        }
        let Ok((Some(holder), Some(cas))) = read else {
            // No shared data, or no CAS to lock with: work alone.
            return true;
        };
        if holder.is_some_and(|(_, held_until)| held_until > now) {
            return false;
        }
        let claim = format!("{key} {until}");
        hostcalls::set_shared_data(&slot, Some(claim.as_bytes()), Some(cas)).is_ok()
    }

    fn unlock(&self, key: &str) {
        let slot = self.keys.refresh_lock_slot(key);
        if let Ok((Some(Some((holder, _))), Some(cas))) = read_lock_slot(&slot) {
            if holder == key {
                let _ = hostcalls::set_shared_data(&slot, Some(FREE_SLOT), Some(cas));
            }
        }
    }
}

/// A lock slot: `None` when absent, `Some(None)` when free, `Some(Some((holder, until)))`.
type LockSlot = Option<Option<(String, u64)>>;

fn read_lock_slot(slot: &str) -> Result<(LockSlot, Option<u32>), ()> {
    let (bytes, cas) = hostcalls::get_shared_data(slot).map_err(|_| ())?;
    if bytes.is_none() && cas.is_none() {
        return Ok((None, None));
    }
    Ok((Some(parse_lock(bytes.as_deref().unwrap_or_default())), cas))
}

/// `"<holder> <until>"`, or free.
fn parse_lock(value: &[u8]) -> Option<(String, u64)> {
    let text = std::str::from_utf8(value).ok()?;
    let (holder, until) = text.split_once(' ')?;
    Some((holder.to_string(), until.parse().ok()?))
}

/// Makes the refresh lock slots of an issuer, so that locking is a compare-and-swap of an
/// existing entry (the ABI has no "set if absent": two workers creating one slot at once could
/// both believe they hold it). Called when the filter is configured, before requests come.
pub fn prepare_refresh_locks(keys: &SharedKeys) {
    for slot in 0..REFRESH_LOCK_SLOTS {
        let name = format!("{}{slot}", keys.refresh_lock);
        if let Ok((None, None)) = hostcalls::get_shared_data(&name) {
            let _ = hostcalls::set_shared_data(&name, Some(FREE_SLOT), None);
        }
    }
}

/// Where this worker's sweep of the cache buckets goes on from. Shared data has no expiry, so
/// entries nobody asks for again would keep their memory; each tick rewrites a few buckets of
/// each kind without their expired records.
#[derive(Default)]
pub struct ExpiryIndex {
    next: u16,
}

/// Per worker, shared by the root context and its HTTP contexts.
pub type SharedExpiries = Rc<RefCell<ExpiryIndex>>;

/// Sweeps the next buckets of every kind (see [`shared_cache::sweep`]).
pub fn clear_expired(expiries: &SharedExpiries, now: u64) {
    let mut cursor = expiries.borrow_mut();
    for kind in CacheKind::ALL {
        shared_cache::sweep(&HostStore, kind, cursor.next, SWEPT_PER_TICK, now);
    }
    cursor.next = cursor.next.wrapping_add(SWEPT_PER_TICK);
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
    // No randomness: no generated secret (the configuration is then refused), never a guessable one.
    let fresh = host::random_bytes()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_values_and_slots() {
        assert_eq!(parse_lock(b"abc 123"), Some(("abc".to_string(), 123)));
        assert_eq!(parse_lock(FREE_SLOT), None);
        assert_eq!(parse_lock(b"abc x"), None);
        let keys = SharedKeys::for_issuer("http://idp");
        assert_eq!(
            keys.refresh_lock_slot("ff00"),
            format!("{}{}", keys.refresh_lock, 0xff % 64)
        );
        assert_eq!(
            keys.refresh_lock_slot("zz"),
            format!("{}0", keys.refresh_lock)
        );
        assert_eq!(
            keys.refresh_lock_slot(""),
            format!("{}0", keys.refresh_lock)
        );
    }
}
