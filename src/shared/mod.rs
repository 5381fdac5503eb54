//! The host's shared data as the core uses it: every worker of a node reads and writes the same
//! keys, with a compare-and-swap version (CAS) and neither expiry nor delete (proxy-wasm ABI
//! 0.2.1). The adapter implements [`SharedData`] with two hostcalls; everything written there
//! (what is kept, under which key, in which format, and how concurrent writers agree) is
//! decided here, so the core's tests run the production protocol over [`memory::MemoryData`].
//!
//! Keys are `openid_connect/<name>...`: Kong's ngx_wasm_module reads `ns/key` as a key in the
//! shm zone `ns`, so Kong needs `nginx_wasm_shm_kv_openid_connect = 1m` (its default zone `*`
//! cannot be declared from kong.conf).
//!
//! - [`keys`]: the keys of one issuer (provider documents, gates, the generated secret).
//! - [`cache`]: bounded caches in fixed buckets with their own expiry; [`sweep`] frees expired
//!   records in the background.
//! - [`gate`]: a time-based claim (the JWKS refetch rate limit, the document refresh lease).
//! - [`lock`]: the refresh locks of sessions.
//! - [`secret`]: the session secret generated when none is configured.
//! - [`state`]: the flows' view of all this ([`SharedState`]) and its production
//!   implementation ([`NodeShared`]).

pub mod cache;
pub mod gate;
pub mod keys;
pub mod lock;
#[cfg(test)]
pub mod memory;
pub mod secret;
pub mod state;
pub mod sweep;

pub use keys::SharedKeys;
pub use state::{NodeShared, SharedState};

/// The host's shared data could not be asked (a host error, logged by the adapter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

/// The host's key-value store shared by every worker.
///
/// CAS semantics, as the hosts implement them (see ../shared/reference/hosts.md):
/// - every successful write gives the key a new non-zero version, which [`get`](Self::get)
///   returns;
/// - a non-zero `cas` writes only if the key's version is still `cas` (Envoy and our gateway
///   also accept it when the key is absent; Kong's engine then refuses);
/// - `cas` 0 has two meanings: "no check" in Envoy and our gateway, "only if the key is
///   absent" in Kong's engine. Code that must work on both writes with the version it just
///   read (0 when absent), which means the same thing everywhere (see [`overwrite`]).
pub trait SharedData {
    /// The value at `key` and its version; `Ok(None)` when the key is absent.
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, Unavailable>;

    /// Writes `value` at `key` if `cas` allows it (see the trait); `true` when written.
    fn set(&self, key: &str, value: &[u8], cas: u32) -> bool;
}

impl<T: SharedData + ?Sized> SharedData for &T {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, Unavailable> {
        (**self).get(key)
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> bool {
        (**self).set(key, value, cas)
    }
}

impl<T: SharedData + ?Sized> SharedData for std::rc::Rc<T> {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u32)>, Unavailable> {
        (**self).get(key)
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> bool {
        (**self).set(key, value, cas)
    }
}

/// Compare-and-swap rounds a write tries before giving up (another worker kept winning).
pub const WRITE_ATTEMPTS: usize = 4;

/// The value at `key`, treating a host error like an absent key (for readers that have
/// nothing better to do in either case).
pub fn read(data: &dyn SharedData, key: &str) -> Option<(Vec<u8>, u32)> {
    data.get(key).ok().flatten()
}

/// Replaces the value at `key` whatever the host means by CAS 0: writes with the version just
/// read (0 when absent), and reads again when another worker wrote in between.
pub fn overwrite(data: &dyn SharedData, key: &str, value: &[u8]) -> bool {
    (0..WRITE_ATTEMPTS).any(|_| {
        let version = read(data, key).map_or(0, |(_, cas)| cas);
        data.set(key, value, version)
    })
}

#[cfg(test)]
mod tests {
    use super::memory::{Host, MemoryData};
    use super::*;

    #[test]
    fn overwrite_works_with_both_meanings_of_cas_zero() {
        for host in Host::ALL {
            let data = MemoryData::new(host);
            assert!(overwrite(&data, "k", b"one"), "{host:?}");
            assert!(overwrite(&data, "k", b"two"), "{host:?}");
            assert_eq!(read(&data, "k").map(|(v, _)| v), Some(b"two".to_vec()));
            // A plain write without a version is what Kong refuses once the key exists.
            assert_eq!(data.set("k", b"three", 0), host == Host::Envoy, "{host:?}");
        }
    }

    #[test]
    fn a_stale_version_is_refused_on_both_hosts() {
        for host in Host::ALL {
            let data = MemoryData::new(host);
            assert!(data.set("k", b"a", 0));
            let (_, first) = read(&data, "k").unwrap();
            assert!(data.set("k", b"b", first));
            assert!(!data.set("k", b"c", first), "{host:?}");
            assert_eq!(read(&data, "k").map(|(v, _)| v), Some(b"b".to_vec()));
        }
    }
}
