//! Session checks at the identity provider (`session_idp_check_interval`, ours): how a logout
//! on one node, or at the provider, reaches every node of a fleet.
//!
//! Nodes share no memory, so the provider is the shared truth: a logout with `logout_revoke`
//! (or the provider ending its session) makes the session's tokens inactive there. Each node
//! asks the provider about a session at most once per interval, and keeps the answer in its
//! shared data, so every worker of the node sees it (one record per session, bounded like the
//! ended marks: [`CacheKind::Liveness`]).
//!
//! This module is the decision and its record; the flow glue (the call, the lock, what an
//! answer means) is in `flows::engine::session_liveness`.
//!
//! The record names the session by its login ([`ended::identity`](super::ended::identity)),
//! which every copy of the cookie shares, and holds two times: when the provider last
//! confirmed the session alive, and when a check last failed (the provider did not answer).
//! A session never confirmed on this node counts as confirmed when it was created: a login is
//! a confirmation, so a fresh session is not checked at once anywhere.

use crate::config::{Config, IdpCheckFailure};
use crate::shared::cache::{self as shared_cache, CacheKind};
use crate::shared::SharedState;

/// After a failed check, the next one waits at least this long (or the interval, when it is
/// shorter): a provider that is down gets at most one check per session and node in this time,
/// however many requests come.
pub const RETRY_AFTER_FAILURE: u64 = 5;

/// The checks' settings; `None` from [`Policy::from_config`] when they are off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub interval: u64,
    pub failure: IdpCheckFailure,
    pub grace: u64,
}

impl Policy {
    pub fn from_config(config: &Config) -> Option<Policy> {
        let interval = config.session_idp_check_interval.filter(|n| *n > 0)?;
        Some(Policy {
            interval,
            failure: config.session_idp_check_failure,
            grace: config.session_idp_check_grace,
        })
    }
}

/// What this node knows about a session: when the provider last confirmed it, and when a
/// check last failed (0: never).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Record {
    pub confirmed_at: u64,
    pub failed_at: u64,
}

impl Record {
    fn encode(self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(16);
        bytes.extend_from_slice(&self.confirmed_at.to_be_bytes());
        bytes.extend_from_slice(&self.failed_at.to_be_bytes());
        bytes
    }

    fn decode(bytes: &[u8]) -> Option<Record> {
        let confirmed = bytes.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok())?;
        let failed = bytes.get(8..16).and_then(|b| <[u8; 8]>::try_from(b).ok())?;
        Some(Record {
            confirmed_at: u64::from_be_bytes(confirmed),
            failed_at: u64::from_be_bytes(failed),
        })
    }
}

/// What a request of the session does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Confirmed recently enough: go on without asking.
    Serve,
    /// Ask the provider now (one request per session and node at a time).
    Check,
    /// A check failed moments ago: no new call yet; the failure rule decides.
    Unconfirmed(Unconfirmed),
}

/// The failure rule's verdict for a session the provider could not confirm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unconfirmed {
    /// Within the grace period since the last good confirmation: served.
    ServeInGrace,
    /// Refused (401) without ending the session: it works again once the provider answers.
    Refuse,
}

/// The last good confirmation: the record's, or the session's creation (a login).
pub fn last_confirmed(record: Option<Record>, created_at: u64) -> u64 {
    record.map_or(created_at, |r| r.confirmed_at.max(created_at))
}

/// Whether the session needs a check, at `now`.
pub fn decide(policy: &Policy, record: Option<Record>, created_at: u64, now: u64) -> Decision {
    let confirmed = last_confirmed(record, created_at);
    if now < confirmed.saturating_add(policy.interval) {
        return Decision::Serve;
    }
    let failed_at = record.map_or(0, |r| r.failed_at);
    let retry = policy.interval.min(RETRY_AFTER_FAILURE);
    if failed_at > confirmed && now < failed_at.saturating_add(retry) {
        return Decision::Unconfirmed(when_unconfirmed(policy, confirmed, now));
    }
    Decision::Check
}

/// The failure rule: `grace` serves until `grace` seconds after the last good confirmation,
/// `refuse` refuses at once. Neither ends the session.
pub fn when_unconfirmed(policy: &Policy, last_confirmed: u64, now: u64) -> Unconfirmed {
    match policy.failure {
        IdpCheckFailure::Grace if now < last_confirmed.saturating_add(policy.grace) => {
            Unconfirmed::ServeInGrace
        }
        IdpCheckFailure::Grace | IdpCheckFailure::Refuse => Unconfirmed::Refuse,
    }
}

/// The record's key in [`CacheKind::Liveness`].
fn record_key(identity: &str) -> String {
    shared_cache::digest(&["liveness#", identity])
}

/// The name of the lock that keeps one check per session and node in flight.
pub fn lock_key(identity: &str) -> String {
    shared_cache::digest(&["liveness-lock#", identity])
}

/// This node's record of the session.
pub fn read(shared: &dyn SharedState, identity: &str, now: u64) -> Option<Record> {
    let bytes = shared.cache_get(CacheKind::Liveness, &record_key(identity), now)?;
    Record::decode(&bytes)
}

/// The provider confirmed the session at `now`; kept until `until` (when no copy of the
/// cookie could open the session any more).
pub fn confirm(shared: &dyn SharedState, identity: &str, now: u64, until: u64) {
    let record = Record {
        confirmed_at: now,
        failed_at: 0,
    };
    shared.cache_put(
        CacheKind::Liveness,
        &record_key(identity),
        &record.encode(),
        until,
    );
}

/// A check failed at `now`: the last good confirmation stays.
pub fn failed(
    shared: &dyn SharedState,
    identity: &str,
    previous: Option<Record>,
    now: u64,
    until: u64,
) {
    let record = Record {
        confirmed_at: previous.map_or(0, |r| r.confirmed_at),
        failed_at: now,
    };
    shared.cache_put(
        CacheKind::Liveness,
        &record_key(identity),
        &record.encode(),
        until,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(failure: IdpCheckFailure) -> Policy {
        Policy {
            interval: 10,
            failure,
            grace: 60,
        }
    }

    #[test]
    fn off_unless_an_interval_is_set() {
        let mut config = Config::parse(br#"{"issuer":"http://127.0.0.1:8080"}"#).unwrap();
        assert_eq!(Policy::from_config(&config), None);
        config.session_idp_check_interval = Some(0);
        assert_eq!(Policy::from_config(&config), None);
        config.session_idp_check_interval = Some(5);
        assert_eq!(
            Policy::from_config(&config),
            Some(Policy {
                interval: 5,
                failure: IdpCheckFailure::Grace,
                grace: 300
            })
        );
    }

    #[test]
    fn a_check_is_due_once_the_interval_passed_since_the_last_confirmation() {
        let p = policy(IdpCheckFailure::Grace);
        // Never confirmed on this node: the login (creation) counts.
        assert_eq!(decide(&p, None, 100, 109), Decision::Serve);
        assert_eq!(decide(&p, None, 100, 110), Decision::Check);
        let confirmed = Some(Record {
            confirmed_at: 200,
            failed_at: 0,
        });
        assert_eq!(decide(&p, confirmed, 100, 209), Decision::Serve);
        assert_eq!(decide(&p, confirmed, 100, 210), Decision::Check);
    }

    #[test]
    fn after_a_failure_no_call_until_the_retry_time_and_the_failure_rule_decides() {
        let failed = Some(Record {
            confirmed_at: 200,
            failed_at: 215,
        });
        let grace = policy(IdpCheckFailure::Grace);
        assert_eq!(
            decide(&grace, failed, 100, 216),
            Decision::Unconfirmed(Unconfirmed::ServeInGrace)
        );
        assert_eq!(
            decide(&grace, failed, 100, 215 + RETRY_AFTER_FAILURE),
            Decision::Check
        );
        let refuse = policy(IdpCheckFailure::Refuse);
        assert_eq!(
            decide(&refuse, failed, 100, 216),
            Decision::Unconfirmed(Unconfirmed::Refuse)
        );
        // Grace runs from the last good confirmation, not from the failure.
        assert_eq!(
            when_unconfirmed(&grace, 200, 259),
            Unconfirmed::ServeInGrace
        );
        assert_eq!(when_unconfirmed(&grace, 200, 260), Unconfirmed::Refuse);
        assert_eq!(when_unconfirmed(&refuse, 200, 201), Unconfirmed::Refuse);
    }

    #[test]
    fn records_round_trip_and_a_damaged_one_reads_as_none() {
        let r = Record {
            confirmed_at: 7,
            failed_at: u64::MAX,
        };
        assert_eq!(Record::decode(&r.encode()), Some(r));
        assert_eq!(Record::decode(b"short"), None);
    }
}
