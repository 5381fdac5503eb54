//! Process-wide state filters share across workers: key-value data with compare-and-swap, and
//! shared queues. Both are namespaced by VM id, as in Envoy.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::abi::Status;
use crate::config::host::CasZero;

/// Shared key-value data. Every successful write gets a fresh, non-zero CAS value.
#[derive(Default)]
pub(crate) struct SharedData {
    inner: Mutex<SharedDataInner>,
}

#[derive(Default)]
struct SharedDataInner {
    next_cas: u32,
    by_vm: HashMap<String, HashMap<String, (Vec<u8>, u32)>>,
}

impl SharedDataInner {
    fn next_cas(&mut self) -> u32 {
        self.next_cas = self.next_cas.wrapping_add(1);
        if self.next_cas == 0 {
            self.next_cas = 1;
        }
        self.next_cas
    }
}

impl SharedData {
    pub(crate) fn get(&self, vm_id: &str, key: &str) -> Option<(Vec<u8>, u32)> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.by_vm.get(vm_id)?.get(key).cloned()
    }

    /// Stores `value`; a non-zero `cas` must match the current entry's CAS (as in Envoy, a
    /// missing key accepts any CAS). A zero `cas` means "no check" (Envoy) or, with
    /// `cas_zero: if_absent` (Kong's engine), "only if the key does not exist yet".
    pub(crate) fn set(
        &self,
        vm_id: &str,
        key: &str,
        value: Vec<u8>,
        cas: u32,
        cas_zero: CasZero,
    ) -> Result<(), Status> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let current = inner
            .by_vm
            .get(vm_id)
            .and_then(|m| m.get(key))
            .map(|(_, c)| *c);
        if let Some(current) = current {
            let zero_refused = cas == 0 && cas_zero == CasZero::IfAbsent;
            if zero_refused || (cas != 0 && cas != current) {
                return Err(Status::CasMismatch);
            }
        }
        let next = inner.next_cas();
        inner
            .by_vm
            .entry(vm_id.to_string())
            .or_default()
            .insert(key.to_string(), (value, next));
        Ok(())
    }
}

/// Who hears `proxy_on_queue_ready` for a queue: the root context that registered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueOwner {
    pub(crate) worker: usize,
    pub(crate) plugin: usize,
    pub(crate) root_context: u32,
}

#[derive(Default)]
pub(crate) struct SharedQueues {
    inner: Mutex<QueuesInner>,
}

#[derive(Default)]
struct QueuesInner {
    next_id: u32,
    by_name: HashMap<(String, String), u32>,
    queues: HashMap<u32, Queue>,
}

struct Queue {
    items: VecDeque<Vec<u8>>,
    owner: QueueOwner,
}

impl SharedQueues {
    /// Opens the queue `(vm_id, name)`, creating it (owned by `owner`) when new.
    pub(crate) fn register(&self, vm_id: &str, name: &str, owner: QueueOwner) -> u32 {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = (vm_id.to_string(), name.to_string());
        if let Some(id) = inner.by_name.get(&key) {
            return *id;
        }
        inner.next_id += 1;
        let id = inner.next_id;
        inner.by_name.insert(key, id);
        inner.queues.insert(
            id,
            Queue {
                items: VecDeque::new(),
                owner,
            },
        );
        id
    }

    pub(crate) fn resolve(&self, vm_id: &str, name: &str) -> Option<u32> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .by_name
            .get(&(vm_id.to_string(), name.to_string()))
            .copied()
    }

    /// Appends an item and returns who to notify.
    pub(crate) fn enqueue(&self, id: u32, value: Vec<u8>) -> Result<QueueOwner, Status> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let queue = inner.queues.get_mut(&id).ok_or(Status::NotFound)?;
        queue.items.push_back(value);
        Ok(queue.owner)
    }

    pub(crate) fn dequeue(&self, id: u32) -> Result<Vec<u8>, Status> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let queue = inner.queues.get_mut(&id).ok_or(Status::NotFound)?;
        queue.items.pop_front().ok_or(Status::Empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_detects_concurrent_writes() {
        let data = SharedData::default();
        assert!(data.get("", "k").is_none());
        data.set("", "k", b"a".to_vec(), 0, CasZero::NoCheck)
            .unwrap();
        let (value, cas) = data.get("", "k").unwrap();
        assert_eq!(value, b"a");
        assert_ne!(cas, 0);
        data.set("", "k", b"b".to_vec(), cas, CasZero::NoCheck)
            .unwrap();
        assert_eq!(
            data.set("", "k", b"c".to_vec(), cas, CasZero::NoCheck),
            Err(Status::CasMismatch)
        );
        assert_eq!(data.get("", "k").unwrap().0, b"b");
        assert!(data.get("other-vm", "k").is_none());
    }

    #[test]
    fn cas_zero_means_no_check_in_envoy_and_only_if_absent_in_kong() {
        let data = SharedData::default();
        data.set("", "k", b"a".to_vec(), 0, CasZero::IfAbsent)
            .unwrap();
        assert_eq!(
            data.set("", "k", b"b".to_vec(), 0, CasZero::IfAbsent),
            Err(Status::CasMismatch),
            "Kong: CAS 0 on an existing key"
        );
        data.set("", "k", b"c".to_vec(), 0, CasZero::NoCheck)
            .unwrap();
        assert_eq!(data.get("", "k").unwrap().0, b"c");
        let (_, cas) = data.get("", "k").unwrap();
        data.set("", "k", b"d".to_vec(), cas, CasZero::IfAbsent)
            .unwrap();
        assert_eq!(data.get("", "k").unwrap().0, b"d");
    }

    #[test]
    fn queues_are_fifo_and_named_per_vm() {
        let queues = SharedQueues::default();
        let owner = QueueOwner {
            worker: 0,
            plugin: 0,
            root_context: 1,
        };
        let id = queues.register("vm", "q", owner);
        assert_eq!(queues.register("vm", "q", owner), id);
        assert_eq!(queues.resolve("vm", "q"), Some(id));
        assert_eq!(queues.resolve("other", "q"), None);
        assert_eq!(queues.dequeue(id), Err(Status::Empty));
        queues.enqueue(id, b"1".to_vec()).unwrap();
        queues.enqueue(id, b"2".to_vec()).unwrap();
        assert_eq!(queues.dequeue(id).unwrap(), b"1");
        assert_eq!(queues.dequeue(id + 1), Err(Status::NotFound));
    }
}
