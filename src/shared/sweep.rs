//! Frees the memory of expired cache records nobody asks for again: shared data has no
//! expiry, so each worker's tick rewrites a few buckets of every kind without their expired
//! records, going round all buckets over time.

use super::cache::{self, CacheKind};
use super::SharedData;

/// Cache buckets of each kind a worker sweeps per tick.
pub const SWEPT_PER_TICK: u16 = 16;

/// Where this worker's sweep goes on from (per worker; the workers' cursors need not agree).
#[derive(Debug, Default)]
pub struct ExpiryIndex {
    next: u16,
}

impl ExpiryIndex {
    /// Sweeps the next buckets of every kind (see [`cache::sweep`]); the records removed.
    pub fn clear_expired(&mut self, data: &dyn SharedData, now: u64) -> usize {
        let removed = CacheKind::ALL
            .into_iter()
            .map(|kind| cache::sweep(data, kind, self.next, SWEPT_PER_TICK, now))
            .sum();
        self.next = self.next.wrapping_add(SWEPT_PER_TICK);
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::memory::MemoryData;

    #[test]
    fn ticks_go_round_every_bucket() {
        let data = MemoryData::default();
        let kind = CacheKind::Ended;
        let keys: Vec<String> = (0..500).map(|i| cache::digest(&[&i.to_string()])).collect();
        for key in &keys {
            cache::put(&data, kind, key, b"1", 100, 0);
        }
        let mut index = ExpiryIndex::default();
        let largest = CacheKind::ALL
            .into_iter()
            .map(|kind| kind.limits().buckets)
            .max()
            .unwrap_or(0);
        let ticks = largest.div_ceil(SWEPT_PER_TICK);
        let removed: usize = (0..ticks).map(|_| index.clear_expired(&data, 200)).sum();
        assert_eq!(removed, 500);
        assert_eq!(cache::entry_count(&data, kind), 0);
    }
}
