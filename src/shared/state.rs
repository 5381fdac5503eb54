//! What the flows keep in shared data, as they ask for it ([`SharedState`]), and the
//! production implementation over the host's store ([`NodeShared`]).

use std::cell::RefCell;

use sha2::{Digest, Sha256};

use super::cache::{self, CacheKind, PutOutcome};
use super::{gate, lock, read, SharedData, SharedKeys, WRITE_ATTEMPTS};
use crate::step::Note;

/// Minimum seconds between two JWKS refetches caused by unknown key ids.
pub const JWKS_REFETCH_INTERVAL: u64 = 10;

/// A value of the marks generation: 16 bytes that no earlier generation had.
///
/// Why it exists: every session request must be refused if a logout ended its session or
/// revoked its tokens, which took a digest and a shared-data read per mark on every request.
/// Marks are only ever added (or expire, which only lets more through), so a worker that found
/// a session unmarked at generation G may skip the reads while the generation is still G. The
/// writer stores the mark first and then moves the generation; a reader reads the generation
/// first and then the marks. So a reader that sees the new generation sees the mark, and one
/// that saw the old generation read the marks either before the mark (as if it came a moment
/// earlier) or after it (and refused).
///
/// The value is never a counter but a digest with fresh random bytes in it (see
/// `NodeShared::move_marks_generation`): two workers creating or moving it at once (Envoy's
/// CAS 0 lets both write) or a host that evicted it (Kong's shm) cannot bring back a value a
/// reader remembers.
pub type MarksGeneration = [u8; 16];

/// The shared-data key of the marks generation (all issuers: the mark caches are shared).
const MARKS_GENERATION: &str = "openid_connect/marks.generation";

/// State shared by every worker.
///
/// The cache and lock methods have defaults for a host without shared data: nothing is
/// cached and every lock is granted, so each request works alone (correct, only slower).
pub trait SharedState {
    /// Claims the right to refetch the JWKS after a token named an unknown key. Rate-limited
    /// across workers, so random `kid`s cannot make the filter hammer the identity provider.
    fn claim_jwks_refetch(&self, now: u64) -> bool;

    /// The value stored under `key` (a hex digest) by [`cache_put`](Self::cache_put), unless it
    /// expired by `now`.
    fn cache_get(&self, _kind: CacheKind, _key: &str, _now: u64) -> Option<Vec<u8>> {
        None
    }

    /// Stores `value` under `key` until `expires_at` (epoch seconds), for every worker.
    fn cache_put(&self, _kind: CacheKind, _key: &str, _value: &[u8], _expires_at: u64) {}

    /// The current generation of the marks that refuse sessions and tokens (the
    /// [`CacheKind::marks_sessions`] caches): it changes after every such mark is written, so
    /// a session found unmarked at a generation is still unmarked while it has not changed
    /// (see [`MarksGeneration`]). `None` when unknown: then every mark must be read.
    fn marks_generation(&self) -> Option<MarksGeneration> {
        None
    }

    /// Takes the lock `key` until `until` (epoch seconds) unless another holder's lease is
    /// still running; `true` when this caller holds it now.
    fn try_lock(&self, _key: &str, _now: u64, _until: u64) -> bool {
        true
    }

    /// Gives the lock `key` back (only if it is still this key's).
    fn unlock(&self, _key: &str) {}
}

/// The shared state of one issuer's workers over a host's store: the JWKS refetch gate, the
/// bounded caches and the refresh locks. What a write could not do is noted for the log.
pub struct NodeShared<D> {
    data: D,
    keys: SharedKeys,
    /// Seconds since the epoch, for a cache write to drop what expired (the flows' calls
    /// name only the new record's expiry).
    clock: fn() -> u64,
    /// Fresh random bytes (the host's), for a new marks generation; `None` without.
    random: fn() -> Option<[u8; 32]>,
    notes: RefCell<Vec<Note>>,
}

impl<D: SharedData> NodeShared<D> {
    pub fn new(data: D, keys: SharedKeys, clock: fn() -> u64) -> NodeShared<D> {
        NodeShared {
            data,
            keys,
            clock,
            random: || None,
            notes: RefCell::default(),
        }
    }

    /// With the host's randomness, which a new marks generation needs: without it none is
    /// made, and every request reads the marks.
    pub fn with_random(self, random: fn() -> Option<[u8; 32]>) -> NodeShared<D> {
        NodeShared { random, ..self }
    }

    /// The store underneath.
    pub fn data(&self) -> &D {
        &self.data
    }

    /// Log lines about the caches since the last call.
    pub fn take_notes(&self) -> Vec<Note> {
        std::mem::take(&mut *self.notes.borrow_mut())
    }
}

impl<D: SharedData> NodeShared<D> {
    /// Gives the marks generation a value it never had, after the mark `key` was stored:
    /// a digest of the previous value, the key, the time and fresh random bytes. A generation
    /// that is not there (never made, or evicted) is made only from random bytes, so that it
    /// cannot come back with a value a reader remembers; without randomness it stays absent
    /// (read as unknown: every request reads the marks). False when the host kept refusing.
    fn move_marks_generation(&self, key: &str) -> bool {
        let now = (self.clock)();
        let random = (self.random)();
        (0..WRITE_ATTEMPTS).any(|_| {
            let (previous, version) = read(&self.data, MARKS_GENERATION).unwrap_or_default();
            if previous.is_empty() && random.is_none() {
                return true;
            }
            let mut hasher = Sha256::new();
            hasher.update(&previous);
            hasher.update(key.as_bytes());
            hasher.update(now.to_be_bytes());
            hasher.update(random.unwrap_or_default());
            let digest = hasher.finalize();
            let next = digest.get(..16).unwrap_or_default();
            self.data.set(MARKS_GENERATION, next, version)
        })
    }
}

impl<D: SharedData> SharedState for NodeShared<D> {
    fn claim_jwks_refetch(&self, now: u64) -> bool {
        gate::claim(
            &self.data,
            &self.keys.jwks_refetch,
            now,
            JWKS_REFETCH_INTERVAL,
        )
    }

    fn cache_get(&self, kind: CacheKind, key: &str, now: u64) -> Option<Vec<u8>> {
        cache::get(&self.data, kind, key, now)
    }

    fn cache_put(&self, kind: CacheKind, key: &str, value: &[u8], expires_at: u64) {
        let note = match cache::put(&self.data, kind, key, value, expires_at, (self.clock)()) {
            PutOutcome::Stored { .. } if kind.marks_sessions() && !self.move_marks_generation(key) => {
                Note::Warn(format!(
                    "{} mark stored but the marks generation could not be moved: remembered sessions may not see it",
                    kind.name()
                ))
            }
            PutOutcome::Stored { evicted: 0 } | PutOutcome::Skipped => return,
            PutOutcome::Stored { evicted } => Note::Info(format!(
                "{} cache full: {evicted} entries pushed out early",
                kind.name()
            )),
            PutOutcome::Failed => Note::Warn(format!("cannot cache {}", kind.name())),
        };
        self.notes.borrow_mut().push(note);
    }

    fn marks_generation(&self) -> Option<MarksGeneration> {
        match read(&self.data, MARKS_GENERATION) {
            Some((bytes, _)) => MarksGeneration::try_from(bytes.as_slice()).ok(),
            // Not made yet (or evicted): make one, and read every mark this time.
            None => {
                self.move_marks_generation("");
                None
            }
        }
    }

    fn try_lock(&self, key: &str, now: u64, until: u64) -> bool {
        lock::try_lock(&self.data, &self.keys, key, now, until)
    }

    fn unlock(&self, key: &str) {
        lock::unlock(&self.data, &self.keys, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::memory::{Host, MemoryData};

    fn node(host: Host) -> NodeShared<MemoryData> {
        NodeShared::new(
            MemoryData::new(host),
            SharedKeys::for_issuer("http://idp"),
            || 100,
        )
        .with_random(MemoryData::distinct_random)
    }

    /// The generation is made on first use (that read answers "unknown"), and moves with every
    /// mark of a session or token, to values it never had, on both hosts' CAS semantics.
    #[test]
    fn every_mark_moves_the_marks_generation_to_a_new_value() {
        for host in Host::ALL {
            let node = node(host);
            assert_eq!(node.marks_generation(), None, "{host:?}: not made yet");
            let mut seen = vec![node.marks_generation().expect("made by the first read")];
            assert_eq!(node.marks_generation(), seen.first().copied(), "stable");
            for (kind, key) in [
                (CacheKind::Ended, "a"),
                (CacheKind::Revoked, "b"),
                (CacheKind::Ended, "a"),
            ] {
                node.cache_put(kind, key, b"", 200);
                let now = node.marks_generation().unwrap();
                assert!(
                    !seen.contains(&now),
                    "{host:?}: {kind:?} {key} reused a value"
                );
                seen.push(now);
            }
            // Other caches, and marks that expired before they were written, move nothing.
            node.cache_put(CacheKind::Tokens, "c", b"{}", 200);
            node.cache_put(CacheKind::Ended, "d", b"", 50);
            assert_eq!(node.marks_generation(), seen.last().copied(), "{host:?}");
            assert!(node.take_notes().is_empty(), "{host:?}");
        }
    }

    /// A generation the host lost (Kong's shm evicts) is made again with a value no reader
    /// can remember, and reads as unknown meanwhile.
    #[test]
    fn a_lost_generation_is_never_made_again_with_an_old_value() {
        for host in Host::ALL {
            let node = node(host);
            node.marks_generation();
            node.cache_put(CacheKind::Ended, "a", b"", 200);
            let before = node.marks_generation().unwrap();
            node.data().forget(MARKS_GENERATION);
            assert_eq!(node.marks_generation(), None, "{host:?}");
            let after = node.marks_generation().unwrap();
            assert_ne!(after, before, "{host:?}");
        }
    }

    /// Without randomness no generation is made: every read is "unknown", so every request
    /// reads the marks; marks are still stored.
    #[test]
    fn without_randomness_the_generation_stays_unknown() {
        let node = NodeShared::new(
            MemoryData::default(),
            SharedKeys::for_issuer("http://idp"),
            || 100,
        );
        assert_eq!(node.marks_generation(), None);
        node.cache_put(CacheKind::Ended, "a", b"", 200);
        assert_eq!(node.marks_generation(), None);
        assert!(node.cache_get(CacheKind::Ended, "a", 150).is_some());
        assert!(node.take_notes().is_empty());
    }
}
