//! The provider documents every worker shares: stored under the issuer's provider key (see
//! [`SharedKeys`](crate::shared::SharedKeys)) as [`Provider::to_shared`] writes them, and
//! re-parsed by a worker only when the shared copy changed (its version differs), so a
//! request costs one shared-data read, not a JWKS parse.

use std::rc::Rc;

use crate::flows::provider::Provider;
use crate::shared::{self, SharedData};
use crate::step::Note;

/// This worker's parsed copy of the shared documents.
pub struct ProviderCache {
    key: String,
    cached: Option<(u32, Rc<Provider>)>,
}

impl ProviderCache {
    /// The documents stored under `key`.
    pub fn new(key: String) -> ProviderCache {
        ProviderCache { key, cached: None }
    }

    /// The documents as shared now; the last good ones when the shared copy is gone or
    /// unreadable (noted), None before any fetch.
    pub fn current(
        &mut self,
        data: &dyn SharedData,
        notes: &mut Vec<Note>,
    ) -> Option<Rc<Provider>> {
        let (bytes, version) = match data.get(&self.key) {
            Ok(Some(stored)) => stored,
            Ok(None) => return self.last(),
            Err(_) => {
                notes.push(Note::Warn("shared data unavailable".into()));
                return self.last();
            }
        };
        if let Some((cached_version, provider)) = &self.cached {
            if *cached_version == version {
                return Some(provider.clone());
            }
        }
        match Provider::from_shared(&bytes) {
            Ok(provider) => {
                let provider = Rc::new(provider);
                self.cached = Some((version, provider.clone()));
                Some(provider)
            }
            Err(e) => {
                notes.push(Note::Warn(format!(
                    "shared provider documents unreadable: {e}"
                )));
                self.last()
            }
        }
    }

    fn last(&self) -> Option<Rc<Provider>> {
        self.cached.as_ref().map(|(_, provider)| provider.clone())
    }

    /// Shares freshly fetched documents with every worker (whatever the host means by CAS 0);
    /// the next [`current`](Self::current) parses them again from shared data.
    pub fn publish(&mut self, data: &dyn SharedData, provider: &Provider, notes: &mut Vec<Note>) {
        if !shared::overwrite(data, &self.key, &provider.to_shared()) {
            notes.push(Note::Warn(
                "cannot share provider documents (shared data refused the write)".into(),
            ));
        }
        self.cached = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::memory::{Host, MemoryData};

    const KEY: &str = "openid_connect/provider.test";

    fn provider(fetched_at: u64) -> Provider {
        let metadata = serde_json::json!({"issuer": "http://idp", "jwks_uri": "http://idp/jwks"});
        Provider::from_documents(
            metadata.to_string().as_bytes(),
            Some(br#"{"keys": []}"#),
            fetched_at,
        )
        .unwrap()
    }

    #[test]
    fn a_publication_reaches_every_worker_on_both_hosts() {
        for host in Host::ALL {
            let data = MemoryData::new(host);
            let mut notes = Vec::new();
            let mut fetcher = ProviderCache::new(KEY.into());
            let mut other = ProviderCache::new(KEY.into());
            assert!(other.current(&data, &mut notes).is_none());
            fetcher.publish(&data, &provider(100), &mut notes);
            assert_eq!(
                other.current(&data, &mut notes).map(|p| p.fetched_at),
                Some(100)
            );
            // A later refresh replaces the documents (Kong refuses a CAS 0 rewrite).
            fetcher.publish(&data, &provider(200), &mut notes);
            assert_eq!(
                other.current(&data, &mut notes).map(|p| p.fetched_at),
                Some(200),
                "{host:?}"
            );
            assert!(notes.is_empty(), "{host:?}: {notes:?}");
        }
    }

    #[test]
    fn an_unchanged_copy_is_not_parsed_again() {
        let data = MemoryData::default();
        let mut notes = Vec::new();
        let mut cache = ProviderCache::new(KEY.into());
        cache.publish(&data, &provider(100), &mut notes);
        let first = cache.current(&data, &mut notes).unwrap();
        let again = cache.current(&data, &mut notes).unwrap();
        assert!(Rc::ptr_eq(&first, &again));
    }

    #[test]
    fn damaged_or_unavailable_shared_data_keeps_the_last_good_documents() {
        let data = MemoryData::default();
        let mut notes = Vec::new();
        let mut cache = ProviderCache::new(KEY.into());
        cache.publish(&data, &provider(100), &mut notes);
        assert!(cache.current(&data, &mut notes).is_some());
        assert!(shared::overwrite(&data, KEY, b"not json"));
        assert_eq!(
            cache.current(&data, &mut notes).map(|p| p.fetched_at),
            Some(100)
        );
        data.unavailable.set(true);
        assert_eq!(
            cache.current(&data, &mut notes).map(|p| p.fetched_at),
            Some(100)
        );
        assert_eq!(notes.len(), 2, "{notes:?}");
    }
}
