//! The session secret when none is configured: Kong generates a random one per issuer; here
//! it is generated once and kept in shared data so every worker encrypts with the same key.
//! It dies with the process, so sessions do not survive a restart (the README says so).

use super::{read, SharedData, SharedKeys};

/// Bytes of a generated secret.
const LENGTH: usize = 32;

/// The stored secret, else one made from `random` (None: the host has no randomness or no
/// shared data; then the configuration is refused, never run with a guessable secret).
pub fn generated(
    data: &dyn SharedData,
    keys: &SharedKeys,
    random: impl FnOnce() -> Option<[u8; 32]>,
) -> Option<Vec<u8>> {
    if let Some(existing) = current(data, keys) {
        return Some(existing);
    }
    let fresh = random()?;
    // The ABI has no set-if-absent that means the same on every host: two workers
    // configuring at the same instant may both write (Envoy) or one is refused (Kong). Each
    // reads back what is stored, and the root re-reads it on every tick (see [`current`]),
    // so all workers converge on the last write.
    data.set(&keys.session_secret, &fresh, 0);
    current(data, keys)
}

/// The generated secret as stored now (None when none was generated).
pub fn current(data: &dyn SharedData, keys: &SharedKeys) -> Option<Vec<u8>> {
    read(data, &keys.session_secret)
        .map(|(secret, _)| secret)
        .filter(|secret| secret.len() == LENGTH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::memory::{Host, MemoryData};

    #[test]
    fn every_worker_ends_up_with_the_stored_secret() {
        for host in Host::ALL {
            let data = MemoryData::new(host);
            let keys = SharedKeys::for_issuer("http://idp");
            assert_eq!(current(&data, &keys), None);
            let first = generated(&data, &keys, || Some([1; 32]));
            assert_eq!(first, Some(vec![1; 32]), "{host:?}");
            let second = generated(&data, &keys, || Some([2; 32]));
            assert_eq!(second, first, "{host:?}: the stored one is kept");
            assert_eq!(current(&data, &keys), first);
        }
    }

    #[test]
    fn no_randomness_or_no_shared_data_gives_no_secret() {
        let data = MemoryData::default();
        let keys = SharedKeys::for_issuer("http://idp");
        assert_eq!(generated(&data, &keys, || None), None);
        data.unavailable.set(true);
        assert_eq!(generated(&data, &keys, || Some([1; 32])), None);
    }
}
