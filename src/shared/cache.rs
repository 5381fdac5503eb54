//! What the flows keep in the host's shared data, where every worker sees it: introspection
//! results, userinfo answers, token-endpoint answers, refreshed session tokens, and the marks
//! a logout leaves (revoked tokens, ended sessions).
//!
//! Keys are hex SHA-256 digests of what identifies an entry (a token, a grant's credentials),
//! never the secret itself.
//!
//! Why buckets. Shared data has no expiry and no delete (proxy-wasm ABI 0.2.1), so one key per
//! entry would grow without end: 20,000 random bearer tokens would leave 20,000 keys for good.
//! Instead each kind owns a fixed number of keys, `openid_connect/<kind>.b<n>`, made at most
//! once each; an entry lives in the bucket its digest picks, as a record with its expiry. A
//! write drops the bucket's expired records and, when the bucket is full (in records or in
//! bytes), the record that expires first. So every kind is bounded in entries
//! ([`Limits::entries`]) and in bytes ([`Limits::bytes`]) whatever clients send, expired
//! entries really free their memory ([`sweep`] rewrites buckets in the background), and the
//! cost of an attack is only that it may push other entries out sooner (for the marks, the
//! ones closest to their own end).

use sha2::{Digest, Sha256};

use super::{read, SharedData, WRITE_ATTEMPTS};

/// The kinds of shared entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheKind {
    /// RFC 7662 introspection results (`cache_introspection`); only active tokens.
    Introspection,
    /// Userinfo answers (`cache_user_info`).
    Userinfo,
    /// Token endpoint answers of the password, client credentials and refresh token grants
    /// (`cache_tokens`).
    Tokens,
    /// The tokens a session's refresh produced, for the other requests of that session that
    /// arrived with the old ones.
    Refreshed,
    /// Tokens revoked at logout: never served from a cache, never forwarded from a session.
    Revoked,
    /// Sessions ended by a logout or destroyed by the filter: refused until they expire anyway.
    Ended,
    /// When the identity provider last confirmed a session alive (and when a check last
    /// failed), with `session_idp_check_interval` (see `session::liveness`).
    Liveness,
}

impl CacheKind {
    /// Whether a record of this kind refuses sessions or tokens (an ended session, a revoked
    /// token): writing one moves the marks generation (see `state::MarksGeneration`).
    pub fn marks_sessions(self) -> bool {
        matches!(self, CacheKind::Revoked | CacheKind::Ended)
    }
}

/// How much of the shared data a kind may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Keys (buckets) of the kind.
    pub buckets: u16,
    /// Records a bucket holds at most.
    pub ways: usize,
    /// Bytes a bucket's value holds at most (records with their headers).
    pub bucket_bytes: usize,
}

impl Limits {
    /// Entries the kind holds at most.
    pub const fn entries(self) -> usize {
        self.buckets as usize * self.ways
    }

    /// Bytes of values the kind holds at most.
    pub const fn bytes(self) -> usize {
        self.buckets as usize * self.bucket_bytes
    }

    /// The largest value a record may carry (larger ones are not cached).
    pub const fn max_value(self) -> usize {
        self.bucket_bytes - RECORD_HEADER
    }
}

impl CacheKind {
    pub const ALL: [CacheKind; 7] = [
        CacheKind::Introspection,
        CacheKind::Userinfo,
        CacheKind::Tokens,
        CacheKind::Refreshed,
        CacheKind::Revoked,
        CacheKind::Ended,
        CacheKind::Liveness,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CacheKind::Introspection => "introspection",
            CacheKind::Userinfo => "userinfo",
            CacheKind::Tokens => "tokens",
            CacheKind::Refreshed => "refreshed",
            CacheKind::Revoked => "revoked",
            CacheKind::Ended => "ended",
            CacheKind::Liveness => "liveness",
        }
    }

    /// The bounds of each kind; all together at most about 17 MiB of values in 2,304 keys.
    /// Answers are a few KiB (token sets up to a bucket); marks are 44 bytes each, so
    /// thousands fit in little memory and an attacker must end many sessions of their own
    /// to push a mark out.
    pub const fn limits(self) -> Limits {
        match self {
            CacheKind::Introspection | CacheKind::Userinfo => Limits {
                buckets: 512,
                ways: 4,
                bucket_bytes: 8 * 1024,
            },
            CacheKind::Tokens | CacheKind::Refreshed => Limits {
                buckets: 256,
                ways: 4,
                bucket_bytes: 16 * 1024,
            },
            CacheKind::Revoked => Limits {
                buckets: 256,
                ways: 32,
                bucket_bytes: 32 * RECORD_HEADER,
            },
            CacheKind::Ended => Limits {
                buckets: 512,
                ways: 32,
                bucket_bytes: 32 * RECORD_HEADER,
            },
            // One 16-byte record (two times) per session checked on this node.
            CacheKind::Liveness => Limits {
                buckets: 512,
                ways: 32,
                bucket_bytes: 32 * (RECORD_HEADER + 16),
            },
        }
    }

    /// The shared-data key of bucket `index`.
    pub fn bucket_key(self, index: u16) -> String {
        format!("openid_connect/{}.b{index}", self.name())
    }

    /// The bucket of an entry's key (a hex digest; anything else still lands somewhere).
    #[cfg(test)]
    fn bucket_of(self, key: &str) -> u16 {
        self.bucket_of_id(&record_id(key))
    }

    /// The bucket of a record id: its first two bytes (the id is already a SHA-256, so
    /// hashing it again would spread the records no better).
    fn bucket_of_id(self, id: &[u8; 32]) -> u16 {
        let [first, second, ..] = *id;
        u16::from_be_bytes([first, second]) % self.limits().buckets
    }
}

/// Bytes before a record's value: expiry (8), key digest (32), value length (4).
pub const RECORD_HEADER: usize = 8 + 32 + 4;

/// One entry of a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    expires_at: u64,
    id: [u8; 32],
    value: Vec<u8>,
}

/// A record as it lies in a bucket's bytes.
struct RecordRef<'a> {
    expires_at: u64,
    id: &'a [u8; 32],
    value: &'a [u8],
}

/// The records of a bucket value, read in place; a damaged tail ends them (it is only a
/// cache). Lookups (on every authenticated request: the ended-session and revocation marks)
/// take the one they need without copying the others.
fn records(bytes: &[u8]) -> impl Iterator<Item = RecordRef<'_>> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        let expiry = rest.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok())?;
        let id = rest
            .get(8..40)
            .and_then(|b| <&[u8; 32]>::try_from(b).ok())?;
        let len = rest.get(40..44).and_then(|b| <[u8; 4]>::try_from(b).ok())?;
        let end = RECORD_HEADER.saturating_add(u32::from_be_bytes(len) as usize);
        let value = rest.get(RECORD_HEADER..end)?;
        rest = rest.get(end..).unwrap_or_default();
        Some(RecordRef {
            expires_at: u64::from_be_bytes(expiry),
            id,
            value,
        })
    })
}

/// The records of a bucket value, copied (to rewrite the bucket).
fn parse_bucket(bytes: &[u8]) -> Vec<Record> {
    records(bytes)
        .map(|r| Record {
            expires_at: r.expires_at,
            id: *r.id,
            value: r.value.to_vec(),
        })
        .collect()
}

fn write_bucket(records: &[Record]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(records.iter().map(|r| RECORD_HEADER + r.value.len()).sum());
    for record in records {
        bytes.extend_from_slice(&record.expires_at.to_be_bytes());
        bytes.extend_from_slice(&record.id);
        bytes.extend_from_slice(&(record.value.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&record.value);
    }
    bytes
}

/// The record id of an entry key: the SHA-256 of the key (keys are digests already, this
/// only makes any key fit 32 bytes).
fn record_id(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The value stored under `key` that is still valid at `now` (valid strictly before its expiry).
pub fn get(data: &dyn SharedData, kind: CacheKind, key: &str, now: u64) -> Option<Vec<u8>> {
    let id = record_id(key);
    let (bytes, _) = read(data, &kind.bucket_key(kind.bucket_of_id(&id)))?;
    find_record(&bytes, &id, now).map(<[u8]>::to_vec)
}

/// The value of the live record `id` in a bucket's bytes.
fn find_record<'a>(bytes: &'a [u8], id: &[u8; 32], now: u64) -> Option<&'a [u8]> {
    records(bytes)
        .find(|r| r.id == id && now < r.expires_at)
        .map(|r| r.value)
}

/// What a [`put`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    Stored {
        /// Records pushed out to make room (not expired ones).
        evicted: usize,
    },
    /// The value is larger than a record may be, or already expired: not stored.
    Skipped,
    /// Other workers kept changing the bucket, or the host refused the write.
    Failed,
}

/// Stores `value` under `key` until `expires_at`, for every worker.
pub fn put(
    data: &dyn SharedData,
    kind: CacheKind,
    key: &str,
    value: &[u8],
    expires_at: u64,
    now: u64,
) -> PutOutcome {
    let limits = kind.limits();
    if value.len() > limits.max_value() || expires_at <= now {
        return PutOutcome::Skipped;
    }
    let id = record_id(key);
    let bucket = kind.bucket_key(kind.bucket_of_id(&id));
    for _ in 0..WRITE_ATTEMPTS {
        let (records, cas) = match read(data, &bucket) {
            Some((bytes, cas)) => (parse_bucket(&bytes), cas),
            None => (Vec::new(), 0),
        };
        let mut records: Vec<Record> = records
            .into_iter()
            .filter(|r| r.id != id && now < r.expires_at)
            .collect();
        records.push(Record {
            expires_at,
            id,
            value: value.to_vec(),
        });
        let evicted = make_room(&mut records, limits);
        // Without a version (a bucket not made yet) two workers may both write; reading
        // back tells whether this record survived, else the next round compares-and-swaps.
        if data.set(&bucket, &write_bucket(&records), cas)
            && (cas != 0 || holds(data, &bucket, &id))
        {
            return PutOutcome::Stored { evicted };
        }
    }
    PutOutcome::Failed
}

fn holds(data: &dyn SharedData, bucket: &str, id: &[u8; 32]) -> bool {
    read(data, bucket).is_some_and(|(bytes, _)| records(&bytes).any(|r| r.id == id))
}

/// Drops the records that expire first until the bucket fits its limits; how many went.
fn make_room(records: &mut Vec<Record>, limits: Limits) -> usize {
    let mut evicted = 0;
    let size = |records: &Vec<Record>| -> usize {
        records.iter().map(|r| RECORD_HEADER + r.value.len()).sum()
    };
    while records.len() > limits.ways || size(records) > limits.bucket_bytes {
        let Some(soonest) = records
            .iter()
            .enumerate()
            .min_by_key(|(_, r)| r.expires_at)
            .map(|(i, _)| i)
        else {
            break;
        };
        records.remove(soonest);
        evicted += 1;
    }
    evicted
}

/// Records of `kind` stored now, expired or not (what the kind costs until swept).
pub fn entry_count(data: &dyn SharedData, kind: CacheKind) -> usize {
    (0..kind.limits().buckets)
        .filter_map(|index| read(data, &kind.bucket_key(index)))
        .map(|(bytes, _)| records(&bytes).count())
        .sum()
}

/// Rewrites the buckets `first..first + count` (wrapping) of `kind` without their expired
/// records, so memory is given back even for entries nobody asks for again. Buckets with
/// nothing expired are left alone. Returns the records removed.
pub fn sweep(data: &dyn SharedData, kind: CacheKind, first: u16, count: u16, now: u64) -> usize {
    let buckets = kind.limits().buckets;
    let mut removed = 0;
    for offset in 0..count.min(buckets) {
        let index = ((u32::from(first) + u32::from(offset)) % u32::from(buckets)) as u16;
        let key = kind.bucket_key(index);
        let Some((bytes, cas)) = read(data, &key) else {
            continue;
        };
        let records = parse_bucket(&bytes);
        let live: Vec<Record> = records
            .iter()
            .filter(|r| now < r.expires_at)
            .cloned()
            .collect();
        if live.len() < records.len() && data.set(&key, &write_bucket(&live), cas) {
            removed += records.len() - live.len();
        }
    }
    removed
}

/// The hex SHA-256 of the parts written one after the other.
pub fn digest(parts: &[&str]) -> String {
    let parts: Vec<&[u8]> = parts.iter().map(|part| part.as_bytes()).collect();
    digest_bytes(&parts)
}

/// [`digest`] of byte strings.
pub fn digest_bytes(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    base16ct::lower::encode_string(&hasher.finalize())
}

/// When an entry about a token stops being used: `cache_ttl` seconds from now (0: no limit),
/// and never after the token itself expires (`token_exp`, when known).
pub fn expiry(now: u64, cache_ttl: u64, token_exp: Option<u64>) -> u64 {
    let by_ttl = if cache_ttl == 0 {
        u64::MAX
    } else {
        now.saturating_add(cache_ttl)
    };
    match token_exp {
        Some(exp) => by_ttl.min(exp),
        None => by_ttl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_hex_sha256() {
        assert_eq!(digest(&["a", "bc"]), digest(&["abc"]));
        assert_eq!(
            digest(&[""]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn expiry_is_the_earlier_of_ttl_and_token() {
        assert_eq!(expiry(1000, 60, None), 1060);
        assert_eq!(expiry(1000, 60, Some(1030)), 1030);
        assert_eq!(expiry(1000, 60, Some(5000)), 1060);
        assert_eq!(expiry(1000, 0, Some(5000)), 5000);
        assert_eq!(expiry(1000, 0, None), u64::MAX);
    }

    use crate::shared::memory::MemoryData;

    #[test]
    fn entries_round_trip_and_expire() {
        let store = MemoryData::default();
        let kind = CacheKind::Introspection;
        assert_eq!(
            put(&store, kind, "k", b"value", 100, 10),
            PutOutcome::Stored { evicted: 0 }
        );
        assert_eq!(get(&store, kind, "k", 99), Some(b"value".to_vec()));
        assert_eq!(get(&store, kind, "k", 100), None);
        assert_eq!(get(&store, CacheKind::Userinfo, "k", 50), None);
        // A second put replaces the first.
        put(&store, kind, "k", b"newer", 200, 10);
        assert_eq!(get(&store, kind, "k", 150), Some(b"newer".to_vec()));
        assert_eq!(put(&store, kind, "late", b"v", 10, 10), PutOutcome::Skipped);
        let huge = vec![0u8; kind.limits().max_value() + 1];
        assert_eq!(
            put(&store, kind, "huge", &huge, 100, 10),
            PutOutcome::Skipped
        );
    }

    /// Finding 13.6: however many distinct keys are written, a kind keeps at most its limits
    /// in keys, entries and bytes (one key per entry grew without end before).
    #[test]
    fn every_kind_is_bounded_in_keys_entries_and_bytes() {
        for kind in CacheKind::ALL {
            let store = MemoryData::default();
            let limits = kind.limits();
            let value = vec![7u8; 300.min(limits.max_value())];
            let written = limits.entries() * 3;
            for i in 0..written {
                put(
                    &store,
                    kind,
                    &digest(&[&i.to_string()]),
                    &value,
                    1_000 + i as u64,
                    0,
                );
            }
            let (keys, bytes) = store.footprint();
            assert!(keys <= limits.buckets as usize, "{kind:?}: {keys} keys");
            assert!(
                bytes <= limits.bytes() + keys * 40,
                "{kind:?}: {bytes} bytes"
            );
            let live = (0..written)
                .filter(|i| get(&store, kind, &digest(&[&i.to_string()]), 0).is_some())
                .count();
            assert!(live <= limits.entries(), "{kind:?}: {live} entries");
            // The newest entries (latest expiry) are the ones kept.
            let last = digest(&[&(written - 1).to_string()]);
            assert!(get(&store, kind, &last, 0).is_some(), "{kind:?}");
        }
    }

    #[test]
    fn a_full_bucket_pushes_out_the_record_that_expires_first() {
        let store = MemoryData::default();
        let kind = CacheKind::Tokens;
        // Keys that land in one bucket.
        let same_bucket: Vec<String> = (0..10_000)
            .map(|i| format!("key-{i}"))
            .filter(|k| kind.bucket_of(k) == 0)
            .take(kind.limits().ways + 1)
            .collect();
        for (i, key) in same_bucket.iter().enumerate() {
            let expires = if i == 2 { 50 } else { 500 + i as u64 };
            put(&store, kind, key, b"x", expires, 0);
        }
        let outcome = put(&store, kind, "another", b"x", 900, 0);
        assert!(matches!(outcome, PutOutcome::Stored { .. }));
        assert_eq!(
            get(&store, kind, &same_bucket[2], 0),
            None,
            "soonest expiry went first"
        );
        assert!(get(&store, kind, &same_bucket[0], 0).is_some());
    }

    #[test]
    fn the_sweep_frees_expired_records() {
        let store = MemoryData::default();
        let kind = CacheKind::Userinfo;
        for i in 0..2_000u64 {
            put(
                &store,
                kind,
                &i.to_string(),
                &[1u8; 200],
                100 + i % 2 * 1_000,
                0,
            );
        }
        let (_, before) = store.footprint();
        let live = |store: &MemoryData| {
            (0..2_000u64)
                .filter(|i| get(store, kind, &i.to_string(), 500).is_some())
                .count()
        };
        let live_before = live(&store);
        let mut removed = 0;
        let mut cursor = 0u16;
        for _ in 0..(kind.limits().buckets / 16) {
            removed += sweep(&store, kind, cursor, 16, 500);
            cursor = cursor.wrapping_add(16);
        }
        let (_, after) = store.footprint();
        assert!(
            removed > 0 && after < before,
            "{removed} removed, {before} -> {after} bytes"
        );
        assert_eq!(sweep(&store, kind, 0, kind.limits().buckets, 500), 0);
        assert!(live_before > 0);
        assert_eq!(live(&store), live_before, "live entries stay");
    }

    #[test]
    fn damaged_buckets_read_as_empty_and_heal_on_write() {
        let store = MemoryData::default();
        let kind = CacheKind::Revoked;
        let bucket = kind.bucket_key(kind.bucket_of("k"));
        store.set(&bucket, b"\x00\x01garbage", 0);
        assert_eq!(get(&store, kind, "k", 0), None);
        put(&store, kind, "k", b"1", 10, 0);
        assert_eq!(get(&store, kind, "k", 0), Some(b"1".to_vec()));
    }
}
