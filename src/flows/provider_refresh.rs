//! Keeping the provider documents fresh in the background, stale-while-revalidate: requests go
//! on with the last good documents while a refresh runs or after it fails.
//!
//! On each tick of a worker's root context: once the shared documents are older than
//! `rediscovery_lifetime` (or there are none), the worker that claims the node's fetch lease
//! (see [`gate`]) fetches discovery then the JWKS; the others wait for its result in shared
//! data. A failed refresh keeps the last documents and is tried again no sooner than
//! [`RETRY_AFTER_FAILURE`] (and not before the lease ends).
//!
//! The fetch's second call is sent from the next tick, never from the first call's answer:
//! a dispatch from the root's answer callback crashes Kong's engine (its fake request has no
//! pool).

use crate::flows::provider::Provider;
use crate::flows::provider_fetch::{FetchProgress, ProviderFetch};
use crate::flows::settings::Settings;
use crate::shared::{gate, SharedData, SharedKeys};
use crate::step::{CallResponse, Note, OutboundRequest};

/// After a failed refresh, wait this long before the next try (Kong 3.8 waits 5 s).
pub const RETRY_AFTER_FAILURE: u64 = 5;

/// One worker's part in refreshing the documents.
#[derive(Debug, Default)]
pub struct ProviderRefresh {
    stage: Stage,
    /// No refresh starts before this epoch second.
    next_attempt: u64,
}

#[derive(Debug, Default)]
enum Stage {
    #[default]
    Idle,
    /// A call is out; its answer goes to [`ProviderRefresh::on_response`].
    Waiting(ProviderFetch),
    /// The next call, sent on the next tick.
    Ready(ProviderFetch, OutboundRequest),
}

impl ProviderRefresh {
    /// The call to send on this tick, if any. `current` is the documents shared now.
    pub fn on_tick(
        &mut self,
        settings: &Settings,
        data: &dyn SharedData,
        keys: &SharedKeys,
        current: Option<&Provider>,
        now: u64,
        notes: &mut Vec<Note>,
    ) -> Option<OutboundRequest> {
        match std::mem::take(&mut self.stage) {
            Stage::Ready(fetch, request) => {
                self.stage = Stage::Waiting(fetch);
                return Some(request);
            }
            waiting @ Stage::Waiting(_) => {
                self.stage = waiting;
                return None;
            }
            Stage::Idle => {}
        }
        if now < self.next_attempt {
            return None;
        }
        let stale = current.is_none_or(|provider| provider.is_stale(settings, now));
        if !stale || !gate::claim(data, &keys.fetch_lease, now, lease(settings)) {
            return None;
        }
        match ProviderFetch::start(settings) {
            Ok((fetch, request)) => {
                self.stage = Stage::Waiting(fetch);
                Some(request)
            }
            Err(reason) => {
                self.failed(now, &reason.to_string(), notes);
                None
            }
        }
    }

    /// The call [`on_tick`](Self::on_tick) gave could not be sent.
    pub fn send_failed(&mut self, now: u64, reason: &str, notes: &mut Vec<Note>) {
        self.failed(now, reason, notes);
    }

    /// The answer to the call out; the new documents once the fetch is complete (to publish).
    pub fn on_response(
        &mut self,
        settings: &Settings,
        response: &CallResponse,
        now: u64,
        notes: &mut Vec<Note>,
    ) -> Option<Provider> {
        let Stage::Waiting(fetch) = std::mem::take(&mut self.stage) else {
            return None;
        };
        match fetch.on_response(settings, response, now) {
            FetchProgress::Next(fetch, request) => {
                self.stage = Stage::Ready(fetch, request);
                None
            }
            FetchProgress::Done(provider) => {
                notes.push(Note::Info("provider documents refreshed".into()));
                Some(provider)
            }
            FetchProgress::Failed(reason) => {
                self.failed(now, &reason.to_string(), notes);
                None
            }
        }
    }

    fn failed(&mut self, now: u64, reason: &str, notes: &mut Vec<Note>) {
        self.stage = Stage::Idle;
        self.next_attempt = now.saturating_add(RETRY_AFTER_FAILURE);
        notes.push(Note::Warn(format!(
            "provider refresh failed, keeping the last documents: {reason}"
        )));
    }
}

/// How long the fetching worker keeps the lease: two call timeouts (discovery and JWKS).
fn lease(settings: &Settings) -> u64 {
    (settings.config.timeout / 1000).max(1) * 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::shared::memory::{Host, MemoryData};

    const ISSUER: &str = "http://idp.test";
    const NOW: u64 = 1_000_000;

    fn settings() -> Settings {
        let config = serde_json::json!({
            "issuer": ISSUER, "client_id": ["kong"], "client_secret": ["secret"],
            "session_secret": "0123456789abcdef0123456789abcdef", "timeout": 3000,
            "rediscovery_lifetime": 30,
        });
        let config = Config::parse(config.to_string().as_bytes()).unwrap();
        Settings::new(config, b"0123456789abcdef0123456789abcdef").unwrap()
    }

    fn ok(body: serde_json::Value) -> CallResponse {
        CallResponse {
            status: Some(200),
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }

    /// Discovery with every endpoint the settings need (no RFC 8414 metadata fetch).
    fn discovery() -> CallResponse {
        ok(serde_json::json!({
            "issuer": ISSUER,
            "jwks_uri": format!("{ISSUER}/jwks"),
            "revocation_endpoint": format!("{ISSUER}/revoke"),
            "introspection_endpoint": format!("{ISSUER}/introspect"),
        }))
    }

    fn jwks() -> CallResponse {
        ok(serde_json::json!({"keys": []}))
    }

    struct Worker {
        refresh: ProviderRefresh,
        notes: Vec<Note>,
    }

    impl Worker {
        fn new() -> Worker {
            Worker {
                refresh: ProviderRefresh::default(),
                notes: Vec::new(),
            }
        }

        fn tick(
            &mut self,
            data: &MemoryData,
            current: Option<&Provider>,
            now: u64,
        ) -> Option<String> {
            let keys = SharedKeys::for_issuer(ISSUER);
            self.refresh
                .on_tick(&settings(), data, &keys, current, now, &mut self.notes)
                .map(|request| request.path)
        }

        fn answer(&mut self, response: CallResponse, now: u64) -> Option<Provider> {
            self.refresh
                .on_response(&settings(), &response, now, &mut self.notes)
        }
    }

    #[test]
    fn discovery_then_jwks_from_the_next_tick() {
        let data = MemoryData::default();
        let mut worker = Worker::new();
        assert_eq!(
            worker.tick(&data, None, NOW).as_deref(),
            Some("/.well-known/openid-configuration")
        );
        assert!(
            worker.tick(&data, None, NOW).is_none(),
            "one call at a time"
        );
        // The JWKS call is never sent from the discovery answer.
        assert!(worker.answer(discovery(), NOW).is_none());
        assert_eq!(worker.tick(&data, None, NOW + 1).as_deref(), Some("/jwks"));
        let provider = worker.answer(jwks(), NOW + 1).expect("documents");
        assert_eq!(provider.fetched_at, NOW + 1);
        assert_eq!(
            worker.notes,
            [Note::Info("provider documents refreshed".into())]
        );
    }

    #[test]
    fn fresh_documents_are_not_fetched_and_stale_ones_by_one_worker() {
        for host in Host::ALL {
            let data = MemoryData::new(host);
            let fresh = {
                let mut worker = Worker::new();
                worker.tick(&data, None, NOW);
                worker.answer(discovery(), NOW);
                worker.tick(&data, None, NOW);
                worker.answer(jwks(), NOW).unwrap()
            };
            let (mut a, mut b) = (Worker::new(), Worker::new());
            assert!(a.tick(&data, Some(&fresh), NOW + 29).is_none(), "{host:?}");
            // Stale at rediscovery_lifetime; the lease of the first fetch (6 s) is long over.
            assert!(a.tick(&data, Some(&fresh), NOW + 30).is_some(), "{host:?}");
            assert!(
                b.tick(&data, Some(&fresh), NOW + 30).is_none(),
                "{host:?}: lease held"
            );
            assert!(
                b.tick(&data, Some(&fresh), NOW + 35).is_none(),
                "{host:?}: lease held"
            );
            assert!(
                b.tick(&data, Some(&fresh), NOW + 36).is_some(),
                "{host:?}: lease over"
            );
        }
    }

    #[test]
    fn a_failed_refresh_waits_before_the_next_try() {
        let data = MemoryData::default();
        let mut worker = Worker::new();
        assert!(worker.tick(&data, None, NOW).is_some());
        let refused = CallResponse {
            status: Some(503),
            ..CallResponse::default()
        };
        assert!(worker.answer(refused, NOW).is_none());
        assert!(matches!(&worker.notes[..], [Note::Warn(w)] if w.contains("answered 503")));
        // The lease (2 x 3 s) and the retry delay (5 s) both hold it back.
        assert!(worker.tick(&data, None, NOW + 4).is_none());
        assert!(worker.tick(&data, None, NOW + 5).is_none());
        assert!(worker.tick(&data, None, NOW + 6).is_some());
        // A call the adapter could not send counts as a failure too.
        worker
            .refresh
            .send_failed(NOW + 6, "no route", &mut worker.notes);
        assert!(worker.tick(&data, None, NOW + 10).is_none());
        assert!(worker.tick(&data, None, NOW + 12).is_some());
    }

    #[test]
    fn an_answer_for_no_call_is_ignored() {
        let mut worker = Worker::new();
        assert!(worker.answer(discovery(), NOW).is_none());
        assert!(worker.notes.is_empty());
    }
}
