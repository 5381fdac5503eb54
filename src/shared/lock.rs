//! The refresh locks: one session's refresh at a time across the workers (the others wait for
//! its tokens instead of spending the refresh token again).
//!
//! Each issuer has [`SLOTS`] lock keys, made when the filter is configured; a lock named by a
//! hex digest lives in the slot its first byte picks, so two sessions that share a slot only
//! refresh one after the other. A slot holds `-` when free, else `<holder> <until>`: the
//! holder's lock name and the epoch second its lease ends (a crashed holder frees it then).
//! Taking a lock is a compare-and-swap of the existing slot with the version read: the ABI
//! has no "set if absent" that means the same on every host.

use super::{SharedData, SharedKeys};

/// Refresh locks per issuer.
pub const SLOTS: u8 = 64;
/// The value of a free slot.
const FREE: &[u8] = b"-";

/// Makes the lock slots of an issuer, before requests come.
pub fn prepare(data: &dyn SharedData, keys: &SharedKeys) {
    for slot in 0..SLOTS {
        let name = slot_key(keys, slot);
        if let Ok(None) = data.get(&name) {
            data.set(&name, FREE, 0);
        }
    }
}

/// Takes the lock `name` until `until` unless another holder's lease is still running at
/// `now`; `true` when the caller holds it now. Without shared data (a host error, or a slot
/// that cannot be made) the caller works alone: the lock only saves refreshes, it guards
/// nothing.
pub fn try_lock(
    data: &dyn SharedData,
    keys: &SharedKeys,
    name: &str,
    now: u64,
    until: u64,
) -> bool {
    let slot = slot_of(keys, name);
    let mut read = data.get(&slot);
    if matches!(read, Ok(None)) {
        // A slot evicted since it was prepared is made again (two workers doing so at once
        // could both win on Envoy: then two refreshes happen).
        data.set(&slot, FREE, 0);
        read = data.get(&slot);
    }
    let Ok(Some((value, cas))) = read else {
        return true;
    };
    if holder(&value).is_some_and(|(_, held_until)| held_until > now) {
        return false;
    }
    data.set(&slot, format!("{name} {until}").as_bytes(), cas)
}

/// Gives the lock `name` back, only if it is still this name's.
pub fn unlock(data: &dyn SharedData, keys: &SharedKeys, name: &str) {
    let slot = slot_of(keys, name);
    if let Ok(Some((value, cas))) = data.get(&slot) {
        if holder(&value).is_some_and(|(holder, _)| holder == name) {
            data.set(&slot, FREE, cas);
        }
    }
}

/// The locks held now, as (name, lease end): what a flow left behind, for tests.
#[cfg(test)]
pub fn held(data: &dyn SharedData, keys: &SharedKeys) -> Vec<(String, u64)> {
    (0..SLOTS)
        .filter_map(|slot| super::read(data, &slot_key(keys, slot)))
        .filter_map(|(value, _)| holder(&value).map(|(name, until)| (name.to_string(), until)))
        .collect()
}

/// Moves the lease end of every held lock to `until`: a holder that never finishes, for
/// tests.
#[cfg(test)]
pub fn extend_held(data: &dyn SharedData, keys: &SharedKeys, until: u64) {
    for slot in 0..SLOTS {
        let key = slot_key(keys, slot);
        if let Some((value, cas)) = super::read(data, &key) {
            if let Some((name, _)) = holder(&value) {
                data.set(&key, format!("{name} {until}").as_bytes(), cas);
            }
        }
    }
}

fn slot_key(keys: &SharedKeys, slot: u8) -> String {
    format!("{}{slot}", keys.refresh_lock)
}

/// The slot of a lock name (a hex digest; anything else uses slot 0).
fn slot_of(keys: &SharedKeys, name: &str) -> String {
    let slot = name
        .get(..2)
        .and_then(|h| u8::from_str_radix(h, 16).ok())
        .unwrap_or(0)
        % SLOTS;
    slot_key(keys, slot)
}

/// `"<holder> <until>"`, or `None` when free (or unreadable, which frees it).
fn holder(value: &[u8]) -> Option<(&str, u64)> {
    let text = std::str::from_utf8(value).ok()?;
    let (holder, until) = text.split_once(' ')?;
    Some((holder, until.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::memory::{Host, MemoryData};

    const A: &str = "aa11";
    /// Same slot as A (same first byte), another session.
    const A2: &str = "aa22";
    const B: &str = "bb11";

    fn prepared(host: Host) -> (MemoryData, SharedKeys) {
        let data = MemoryData::new(host);
        let keys = SharedKeys::for_issuer("http://idp");
        prepare(&data, &keys);
        (data, keys)
    }

    #[test]
    fn values_and_slots() {
        assert_eq!(holder(b"abc 123"), Some(("abc", 123)));
        assert_eq!(holder(FREE), None);
        assert_eq!(holder(b"abc x"), None);
        let keys = SharedKeys::for_issuer("http://idp");
        let prefix = &keys.refresh_lock;
        assert_eq!(slot_of(&keys, "ff00"), format!("{prefix}{}", 0xff % 64));
        assert_eq!(slot_of(&keys, "zz"), format!("{prefix}0"));
        assert_eq!(slot_of(&keys, ""), format!("{prefix}0"));
    }

    #[test]
    fn prepare_makes_every_slot_free_once() {
        for host in Host::ALL {
            let (data, keys) = prepared(host);
            assert_eq!(data.footprint().0, usize::from(SLOTS));
            assert!(try_lock(&data, &keys, A, 100, 130));
            // Preparing again (another worker configuring) does not free a held lock.
            prepare(&data, &keys);
            assert!(!try_lock(&data, &keys, A2, 100, 130), "{host:?}");
        }
    }

    #[test]
    fn one_holder_until_unlock_or_lease_end_on_both_hosts() {
        for host in Host::ALL {
            let (data, keys) = prepared(host);
            assert!(try_lock(&data, &keys, A, 100, 130), "{host:?}");
            assert!(!try_lock(&data, &keys, A, 101, 131), "{host:?}: held");
            assert!(!try_lock(&data, &keys, A2, 101, 131), "{host:?}: same slot");
            assert!(try_lock(&data, &keys, B, 101, 131), "{host:?}: other slot");
            // Only the holder frees it.
            unlock(&data, &keys, A2);
            assert!(!try_lock(&data, &keys, A2, 102, 132), "{host:?}");
            unlock(&data, &keys, A);
            assert!(try_lock(&data, &keys, A2, 102, 132), "{host:?}: freed");
            // A holder that never unlocks loses the lock when its lease ends.
            assert!(!try_lock(&data, &keys, A, 131, 160), "{host:?}");
            assert!(try_lock(&data, &keys, A, 132, 160), "{host:?}: lease over");
        }
    }

    /// Two workers read the free slot with the same version: only the first claim lands.
    #[test]
    fn a_racing_claim_loses_the_compare_and_swap() {
        for host in Host::ALL {
            let (data, keys) = prepared(host);
            let slot = slot_of(&keys, A);
            let (_, seen) = data.get(&slot).unwrap().unwrap();
            assert!(try_lock(&data, &keys, A, 100, 130));
            assert!(!data.set(&slot, b"aa22 130", seen), "{host:?}");
        }
    }

    #[test]
    fn held_locks_can_be_listed_and_extended() {
        let (data, keys) = prepared(Host::Kong);
        assert!(held(&data, &keys).is_empty());
        assert!(try_lock(&data, &keys, A, 100, 130));
        assert_eq!(held(&data, &keys), [(A.to_string(), 130)]);
        extend_held(&data, &keys, u64::MAX);
        assert!(!try_lock(&data, &keys, A, 10_000, 10_030));
        unlock(&data, &keys, A);
        assert!(held(&data, &keys).is_empty());
    }

    #[test]
    fn an_evicted_slot_is_made_again_and_no_shared_data_works_alone() {
        for host in Host::ALL {
            let data = MemoryData::new(host);
            let keys = SharedKeys::for_issuer("http://idp");
            assert!(try_lock(&data, &keys, A, 100, 130), "{host:?}");
            assert!(!try_lock(&data, &keys, A2, 100, 130), "{host:?}");
        }
        let data = MemoryData::default();
        let keys = SharedKeys::for_issuer("http://idp");
        data.unavailable.set(true);
        assert!(try_lock(&data, &keys, A, 100, 130));
    }
}
