//! Endpoints a setting needs that neither the configuration nor the provider's documents give
//! (discovery, then RFC 8414 metadata), and saying so once per node rather than at every
//! request that would have used them.

use crate::config::AuthMethod;
use crate::discovery::{EndpointGaps, OptionalEndpoint, ProviderMetadata};
use crate::flows::settings::Settings;
use crate::shared::{self, SharedData};

/// The optional endpoints worth asking RFC 8414 metadata for: the [`unmet`] ones, and
/// introspection for the session checks at the provider (`session_idp_check_interval`), which
/// prefer it but fall back to a refresh (so its absence is not a gap to announce).
pub fn wanted(settings: &Settings, metadata: &ProviderMetadata) -> Vec<OptionalEndpoint> {
    let config = &settings.config;
    let mut wanted = unmet(settings, metadata);
    if config.session_idp_check_interval.is_some()
        && config.introspection_endpoint.is_none()
        && metadata.introspection_endpoint.is_none()
        && !wanted.contains(&OptionalEndpoint::Introspection)
    {
        wanted.push(OptionalEndpoint::Introspection);
    }
    wanted
}

/// The optional endpoints the configuration needs and neither it nor `metadata` gives:
/// revocation with `logout_revoke`, introspection with the `introspection` auth method.
pub fn unmet(settings: &Settings, metadata: &ProviderMetadata) -> Vec<OptionalEndpoint> {
    let config = &settings.config;
    let mut unmet = Vec::new();
    if config.logout_revoke
        && config.revocation_endpoint.is_none()
        && metadata.revocation_endpoint.is_none()
    {
        unmet.push(OptionalEndpoint::Revocation);
    }
    if config.enabled(AuthMethod::Introspection)
        && config.introspection_endpoint.is_none()
        && metadata.introspection_endpoint.is_none()
    {
        unmet.push(OptionalEndpoint::Introspection);
    }
    unmet
}

/// A warning to log once, and the endpoints to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub missing: Vec<OptionalEndpoint>,
    pub message: String,
}

/// Stored when nothing is missing (shared data values are never empty here, so an absent key
/// and "nothing missing" stay apart).
const NONE_MISSING: &[u8] = b"-";

/// The value under `key` before any fetch: "nothing missing", so the first fetch that finds a
/// gap announces it. Written only when absent (each worker calls this when configured).
pub fn prepare(data: &dyn SharedData, key: &str) {
    if let Ok(None) = data.get(key) {
        // CAS 0: only if still absent in Kong's engine; elsewhere two workers may both write
        // the same value, which is harmless.
        let _ = data.set(key, NONE_MISSING, 0);
    }
}

/// Whether this caller is the one to announce `gaps`: the node's shared `key` remembers what
/// was last announced, and only the caller that changes it (compare-and-swap) announces. So
/// the workers' repeated fetches (every `rediscovery_lifetime`) say nothing new, and a gap
/// that appears (or comes back after being filled) is said once. Nothing missing is never
/// announced, only remembered. Shared data the host cannot give means nothing is announced:
/// without it every fetch would say the same again.
pub fn announce(data: &dyn SharedData, key: &str, gaps: &EndpointGaps) -> Option<Announcement> {
    let value = fingerprint(&gaps.missing);
    for _ in 0..shared::WRITE_ATTEMPTS {
        let current = data.get(key).ok()?;
        if current.as_ref().is_some_and(|(stored, _)| *stored == value) {
            return None;
        }
        if data.set(key, &value, current.map_or(0, |(_, cas)| cas)) {
            return (!gaps.missing.is_empty()).then(|| Announcement {
                missing: gaps.missing.clone(),
                message: message(gaps),
            });
        }
    }
    None
}

fn fingerprint(missing: &[OptionalEndpoint]) -> Vec<u8> {
    if missing.is_empty() {
        return NONE_MISSING.to_vec();
    }
    let names: Vec<&str> = missing.iter().map(|e| e.member()).collect();
    names.join(",").into_bytes()
}

fn message(gaps: &EndpointGaps) -> String {
    let consequences: Vec<String> = gaps
        .missing
        .iter()
        .map(|endpoint| match endpoint {
            OptionalEndpoint::Revocation => "logout_revoke is on but no revocation_endpoint is \
                 configured or published: logouts will not revoke tokens"
                .to_string(),
            OptionalEndpoint::Introspection => "the introspection auth method is on but no \
                 introspection_endpoint is configured or published: tokens cannot be introspected"
                .to_string(),
        })
        .collect();
    let source = gaps
        .oauth_metadata
        .as_deref()
        .unwrap_or("not asked (the issuer has no RFC 8414 metadata URL)");
    format!(
        "{} (discovery has none; RFC 8414 metadata: {source})",
        consequences.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::memory::{Host, MemoryData};

    const KEY: &str = "openid_connect/endpoint_gaps.test";

    fn gaps(missing: &[OptionalEndpoint]) -> EndpointGaps {
        EndpointGaps {
            missing: missing.to_vec(),
            oauth_metadata: Some("answered 404".into()),
        }
    }

    fn settings(config: serde_json::Value) -> Settings {
        let mut json = serde_json::json!({
            "issuer": "http://127.0.0.1:9000",
            "client_id": ["kong"],
            "client_secret": ["secret"],
            "session_secret": "0123456789abcdef0123456789abcdef",
        });
        if let (Some(base), Some(extra)) = (json.as_object_mut(), config.as_object()) {
            base.extend(extra.clone());
        }
        let config = crate::config::Config::parse(json.to_string().as_bytes()).unwrap();
        Settings::new(config, b"0123456789abcdef0123456789abcdef").unwrap()
    }

    #[test]
    fn the_first_fetch_with_a_gap_announces_it_and_later_ones_do_not() {
        for host in Host::ALL {
            let store = MemoryData::new(host);
            prepare(&store, KEY);
            let missing = gaps(&[OptionalEndpoint::Revocation]);
            let said = announce(&store, KEY, &missing).expect("announced");
            assert_eq!(said.missing, [OptionalEndpoint::Revocation]);
            assert!(
                said.message.contains("no revocation_endpoint"),
                "{}",
                said.message
            );
            assert!(
                said.message.contains("RFC 8414 metadata: answered 404"),
                "{}",
                said.message
            );
            // Every worker's later fetches find the same gap: nothing more to say.
            for _ in 0..5 {
                prepare(&store, KEY);
                assert_eq!(announce(&store, KEY, &missing), None, "{host:?}");
            }
        }
    }

    #[test]
    fn nothing_missing_is_never_announced() {
        let store = MemoryData::default();
        prepare(&store, KEY);
        assert_eq!(announce(&store, KEY, &EndpointGaps::default()), None);
    }

    #[test]
    fn a_gap_that_changes_or_comes_back_is_announced_again() {
        let store = MemoryData::default();
        prepare(&store, KEY);
        assert!(announce(&store, KEY, &gaps(&[OptionalEndpoint::Revocation])).is_some());
        let both = gaps(&[
            OptionalEndpoint::Revocation,
            OptionalEndpoint::Introspection,
        ]);
        let said = announce(&store, KEY, &both).expect("a new gap");
        assert!(
            said.message.contains("introspection_endpoint"),
            "{}",
            said.message
        );
        assert_eq!(announce(&store, KEY, &EndpointGaps::default()), None);
        assert!(
            announce(&store, KEY, &both).is_some(),
            "filled, then missing again"
        );
    }

    #[test]
    fn without_a_prepared_key_the_first_announcement_still_happens_once() {
        for host in Host::ALL {
            let store = MemoryData::new(host);
            let missing = gaps(&[OptionalEndpoint::Introspection]);
            assert!(announce(&store, KEY, &missing).is_some(), "{host:?}");
            assert_eq!(announce(&store, KEY, &missing), None, "{host:?}");
        }
    }

    #[test]
    fn without_shared_data_nothing_is_announced() {
        let store = MemoryData::default();
        store.unavailable.set(true);
        prepare(&store, KEY);
        assert_eq!(
            announce(&store, KEY, &gaps(&[OptionalEndpoint::Revocation])),
            None
        );
    }

    #[test]
    fn only_endpoints_a_setting_uses_are_needed() {
        let none = ProviderMetadata::default();
        let revoking =
            settings(serde_json::json!({"logout_revoke": true, "auth_methods": ["session"]}));
        assert_eq!(unmet(&revoking, &none), [OptionalEndpoint::Revocation]);
        let not_revoking =
            settings(serde_json::json!({"auth_methods": ["session", "introspection"]}));
        assert_eq!(
            unmet(&not_revoking, &none),
            [OptionalEndpoint::Introspection]
        );
        let configured = settings(serde_json::json!({
            "logout_revoke": true,
            "revocation_endpoint": "http://127.0.0.1:9000/revoke",
            "auth_methods": ["session"],
        }));
        assert!(unmet(&configured, &none).is_empty());
        let published = ProviderMetadata {
            revocation_endpoint: Some("http://127.0.0.1:9000/r".into()),
            introspection_endpoint: Some("http://127.0.0.1:9000/i".into()),
            ..ProviderMetadata::default()
        };
        let both =
            settings(serde_json::json!({"logout_revoke": true, "auth_methods": ["introspection"]}));
        assert!(unmet(&both, &published).is_empty());
        assert_eq!(
            unmet(&both, &none),
            [
                OptionalEndpoint::Revocation,
                OptionalEndpoint::Introspection
            ]
        );
    }

    #[test]
    fn session_checks_want_introspection_without_needing_it() {
        let none = ProviderMetadata::default();
        let checking = settings(serde_json::json!({
            "auth_methods": ["session", "password"],
            "session_idp_check_interval": 5,
        }));
        assert_eq!(wanted(&checking, &none), [OptionalEndpoint::Introspection]);
        assert!(unmet(&checking, &none).is_empty(), "a refresh does instead");
        let published = ProviderMetadata {
            introspection_endpoint: Some("http://127.0.0.1:9000/i".into()),
            ..ProviderMetadata::default()
        };
        assert!(wanted(&checking, &published).is_empty());
    }
}
