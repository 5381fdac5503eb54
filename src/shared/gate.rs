//! A time-based claim shared by the workers: the key holds the decimal epoch second of the
//! last claim, and a claim succeeds for one worker once `interval` has passed (a
//! compare-and-swap with the version read, so two workers cannot both win).
//!
//! Used to rate-limit JWKS refetches caused by unknown key ids (random `kid`s must not make
//! the filter hammer the identity provider) and as the lease of the worker refreshing the
//! provider documents.

use super::SharedData;

/// Claims `key` at `now` unless a claim younger than `interval` seconds holds it. A host
/// error claims nothing (the caller then goes on without the refetch or the refresh).
pub fn claim(data: &dyn SharedData, key: &str, now: u64, interval: u64) -> bool {
    let Ok(stored) = data.get(key) else {
        return false;
    };
    let (last, cas) = match stored {
        Some((bytes, cas)) => (parse(&bytes), cas),
        None => (0, 0),
    };
    if last != 0 && now.saturating_sub(last) < interval {
        return false;
    }
    data.set(key, now.to_string().as_bytes(), cas)
}

/// The stored second; anything unreadable counts as never claimed.
fn parse(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::memory::{Host, MemoryData};

    #[test]
    fn one_claim_per_interval_on_both_hosts() {
        for host in Host::ALL {
            let data = MemoryData::new(host);
            assert!(claim(&data, "gate", 100, 10), "{host:?}");
            assert!(!claim(&data, "gate", 100, 10), "{host:?}");
            assert!(!claim(&data, "gate", 109, 10), "{host:?}");
            assert!(claim(&data, "gate", 110, 10), "{host:?}");
            assert!(!claim(&data, "gate", 111, 10), "{host:?}");
        }
    }

    #[test]
    fn a_damaged_value_is_claimed_and_a_host_error_is_not() {
        let data = MemoryData::default();
        assert!(data.set("gate", b"garbage", 0));
        assert!(claim(&data, "gate", 100, 10));
        data.unavailable.set(true);
        assert!(!claim(&data, "gate", 500, 10));
    }

    /// Two workers that read the same version: only the first write lands.
    #[test]
    fn a_racing_claim_loses_the_compare_and_swap() {
        for host in Host::ALL {
            let data = MemoryData::new(host);
            assert!(claim(&data, "gate", 100, 10));
            let (_, seen) = data.get("gate").unwrap().unwrap();
            assert!(claim(&data, "gate", 200, 10));
            assert!(!data.set("gate", b"200", seen), "{host:?}");
        }
    }
}
