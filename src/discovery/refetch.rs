//! Rate limit for forced JWKS refetches.
//!
//! A token whose `kid` is not in the cached JWKS may mean the provider rotated its keys, so the
//! adapter refetches once. Without a limit, anyone could send tokens with random `kid`s and make
//! every request hit the provider; the gate allows one forced refetch per interval.

use serde::{Deserialize, Serialize};

/// Remembers when the last forced refetch was allowed. Times are in seconds (any monotonic or
/// wall clock, as long as one gate always gets the same clock). Serialisable so the adapter can
/// keep it in shared data and apply one limit across workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwksRefetchGate {
    min_interval: u64,
    last_allowed: Option<u64>,
}

impl JwksRefetchGate {
    /// The interval used by [`JwksRefetchGate::default`]: a rotated key is picked up within
    /// seconds, while random `kid`s cost the provider at most one request per interval.
    pub const DEFAULT_MIN_INTERVAL: u64 = 10;

    pub fn new(min_interval_secs: u64) -> JwksRefetchGate {
        JwksRefetchGate {
            min_interval: min_interval_secs,
            last_allowed: None,
        }
    }

    /// Whether a forced refetch may start at `now`; when it may, `now` is remembered as the
    /// last one. A clock that went backwards re-arms the gate rather than closing it for good.
    pub fn allow(&mut self, now: u64) -> bool {
        let allowed = match self.last_allowed {
            None => true,
            Some(last) if now < last => true,
            Some(last) => now - last >= self.min_interval,
        };
        if allowed {
            self.last_allowed = Some(now);
        }
        allowed
    }

    /// When the last forced refetch was allowed, if ever.
    pub fn last_allowed(&self) -> Option<u64> {
        self.last_allowed
    }
}

impl Default for JwksRefetchGate {
    fn default() -> Self {
        JwksRefetchGate::new(Self::DEFAULT_MIN_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_refetch_is_allowed_then_limited_per_interval() {
        let mut gate = JwksRefetchGate::default();
        assert!(gate.allow(1_000));
        assert!(!gate.allow(1_000));
        assert!(!gate.allow(1_009));
        assert!(gate.allow(1_010));
        assert!(!gate.allow(1_015));
        assert_eq!(gate.last_allowed(), Some(1_010));
    }

    #[test]
    fn a_storm_of_unknown_kids_allows_one_refetch_per_interval() {
        let mut gate = JwksRefetchGate::new(10);
        let allowed = (0..100u64).filter(|t| gate.allow(5_000 + t)).count();
        assert_eq!(allowed, 10);
    }

    #[test]
    fn clock_going_backwards_rearms_the_gate() {
        let mut gate = JwksRefetchGate::new(10);
        assert!(gate.allow(500));
        assert!(gate.allow(100));
        assert!(!gate.allow(105));
    }

    #[test]
    fn survives_sharing_between_workers() {
        let mut gate = JwksRefetchGate::new(30);
        assert!(gate.allow(7));
        let shared = serde_json::to_vec(&gate).unwrap();
        let mut other: JwksRefetchGate = serde_json::from_slice(&shared).unwrap();
        assert!(!other.allow(20));
        assert!(other.allow(37));
    }
}
