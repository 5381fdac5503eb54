//! The provider documents every worker shares: stored under the issuer's provider key (see
//! [`SharedKeys`](crate::shared::SharedKeys)) as [`Provider::to_shared`] writes them, and
//! re-parsed by a worker only when the shared copy changed (its version differs), so a
//! request costs one shared-data read, not a JWKS parse.

use std::rc::Rc;

use crate::discovery::OptionalEndpoint;
use crate::flows::provider::Provider;
use crate::flows::provider_fetch;
use crate::shared::{self, SharedData};
use crate::step::Note;

/// This worker's parsed copy of the shared documents.
pub struct ProviderCache {
    key: String,
    /// Where the node remembers which missing endpoints were announced (see
    /// [`provider_fetch::announce`]); None: publications announce nothing.
    gaps_key: Option<String>,
    cached: Option<(u32, Rc<Provider>)>,
}

impl ProviderCache {
    /// The documents stored under `key`.
    pub fn new(key: String) -> ProviderCache {
        ProviderCache {
            key,
            gaps_key: None,
            cached: None,
        }
    }

    /// Publications also announce, once per node, the endpoints a setting needs that the
    /// fetched documents lack, remembered under `gaps_key`.
    pub fn announcing_gaps_at(mut self, gaps_key: String) -> ProviderCache {
        self.gaps_key = Some(gaps_key);
        self
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
    /// the next [`current`](Self::current) parses them again from shared data. When the fetch
    /// left endpoints missing that no publication on this node announced yet, says so (one
    /// warning) and returns them, for the metrics.
    pub fn publish(
        &mut self,
        data: &dyn SharedData,
        provider: &Provider,
        notes: &mut Vec<Note>,
    ) -> Vec<OptionalEndpoint> {
        if !shared::overwrite(data, &self.key, &provider.to_shared()) {
            notes.push(Note::Warn(
                "cannot share provider documents (shared data refused the write)".into(),
            ));
        }
        self.cached = None;
        let (Some(gaps_key), Some(gaps)) = (&self.gaps_key, &provider.endpoint_gaps) else {
            return Vec::new();
        };
        match provider_fetch::announce(data, gaps_key, gaps) {
            Some(announcement) => {
                notes.push(Note::Warn(announcement.message));
                announcement.missing
            }
            None => Vec::new(),
        }
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

    #[test]
    fn a_missing_endpoint_is_announced_by_one_publication_per_node() {
        use crate::discovery::EndpointGaps;
        const GAPS: &str = "openid_connect/endpoint_gaps.test";
        for host in Host::ALL {
            let data = MemoryData::new(host);
            provider_fetch::prepare(&data, GAPS);
            let mut fetched = provider(100);
            fetched.endpoint_gaps = Some(EndpointGaps {
                missing: vec![OptionalEndpoint::Revocation],
                oauth_metadata: Some("it answered 404".into()),
            });
            let mut notes = Vec::new();
            let mut root = ProviderCache::new(KEY.into()).announcing_gaps_at(GAPS.into());
            let mut request = ProviderCache::new(KEY.into()).announcing_gaps_at(GAPS.into());
            assert_eq!(
                root.publish(&data, &fetched, &mut notes),
                [OptionalEndpoint::Revocation]
            );
            assert_eq!(notes.len(), 1, "{host:?}: {notes:?}");
            // Another worker's fetch, and the periodic refreshes: nothing new to say.
            assert!(request.publish(&data, &fetched, &mut notes).is_empty());
            assert!(root.publish(&data, &fetched, &mut notes).is_empty());
            // A copy read from shared data (no gaps known) changes nothing either.
            let shared = root.current(&data, &mut notes).unwrap();
            assert!(request.publish(&data, &shared, &mut notes).is_empty());
            assert!(root.publish(&data, &fetched, &mut notes).is_empty());
            assert_eq!(notes.len(), 1, "{host:?}: {notes:?}");
            // Without a key to remember them in, nothing is announced.
            let mut quiet = ProviderCache::new(KEY.into());
            assert!(quiet
                .publish(&MemoryData::new(host), &fetched, &mut notes)
                .is_empty());
        }
    }
}
