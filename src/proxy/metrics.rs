//! Counters through the proxy-wasm metrics ABI (Envoy prefixes them `wasmcustom.`, Kong
//! `pw.<filter>.`; our gateway serves them at `/metrics`).

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use crate::discovery::OptionalEndpoint;
use crate::flows::Event;

/// Metric ids, defined once per root context.
pub(super) struct Metrics {
    logins: Option<u32>,
    session_hits: Option<u32>,
    session_refreshes: Option<u32>,
    logouts: Option<u32>,
    revocations_ok: Option<u32>,
    revocations_failed: Option<u32>,
    idp_call_failures: Option<u32>,
    revocation_endpoint_missing: Option<u32>,
    introspection_endpoint_missing: Option<u32>,
}

fn counter(name: &str) -> Option<u32> {
    hostcalls::define_metric(MetricType::Counter, name).ok()
}

impl Metrics {
    pub(super) fn define() -> Metrics {
        Metrics {
            logins: counter("openid_connect_logins_total"),
            session_hits: counter("openid_connect_session_hits_total"),
            session_refreshes: counter("openid_connect_session_refreshes_total"),
            logouts: counter("openid_connect_logouts_total"),
            revocations_ok: counter("openid_connect_revocations_ok_total"),
            revocations_failed: counter("openid_connect_revocations_failed_total"),
            idp_call_failures: counter("openid_connect_idp_call_failures_total"),
            revocation_endpoint_missing: counter(
                "openid_connect_revocation_endpoint_missing_total",
            ),
            introspection_endpoint_missing: counter(
                "openid_connect_introspection_endpoint_missing_total",
            ),
        }
    }

    pub(super) fn record(&self, event: &Event) {
        let id = match event {
            Event::Login => self.logins,
            Event::SessionHit => self.session_hits,
            Event::SessionRefreshed => self.session_refreshes,
            Event::Logout => self.logouts,
            Event::RevocationOk => self.revocations_ok,
            Event::RevocationFailed => self.revocations_failed,
            Event::IdpCallFailed => self.idp_call_failures,
            // One counter per reason; defining an existing name returns its id.
            Event::Rejected(reason) => {
                counter(&format!("openid_connect_rejections_{reason}_total"))
            }
        };
        if let Some(id) = id {
            let _ = hostcalls::increment_metric(id, 1);
        }
    }

    /// Endpoints a setting needs that the provider's documents were found to lack (counted
    /// once per node each time the gap appears, see `ProviderCache::publish`).
    pub(super) fn record_missing_endpoints(&self, endpoints: &[OptionalEndpoint]) {
        for endpoint in endpoints {
            let id = match endpoint {
                OptionalEndpoint::Revocation => self.revocation_endpoint_missing,
                OptionalEndpoint::Introspection => self.introspection_endpoint_missing,
            };
            if let Some(id) = id {
                let _ = hostcalls::increment_metric(id, 1);
            }
        }
    }
}
