//! Ended sessions: a session the filter logged out or destroyed is refused from the next
//! request on, by every worker of the node, although its cookie (or a copy of it taken
//! before) still decrypts.
//!
//! Cookie sessions keep nothing on the server, so the node remembers the end instead: a mark
//! in shared data (the bounded [`CacheKind::Ended`] cache) that lives exactly as long as a
//! copy of the cookie could still open the session, after which the timeouts refuse it anyway.
//!
//! Which session. The session id in the cookie header changes at every save (renewal,
//! refresh), so an older copy carries another one. What every copy of a session shares is its
//! login id (random, stored in the session data at login and carried over every refresh), so a
//! session is named by the digest of the audience and that id. A session without one (made by
//! Kong's plugin) is named by its subject and `created_at`: two such logins of one user in the
//! same second share that name, and ending one ends both, which errs on the safe side.

use crate::shared::cache::{self as shared_cache, CacheKind};
use crate::shared::SharedState;

use super::payload::SessionPayload;
use super::settings::SessionSettings;
use super::state::Session;

/// How long a mark is kept when the session has no timeout at all (it could otherwise live
/// forever; the cache drops the marks closest to their end first when full).
const WITHOUT_TIMEOUTS: u64 = 365 * 24 * 3600;

/// A login id from the first session id of the login (random, and public like every sid).
/// It is kept in [`SessionPayload::login_id`] and carried over every refresh.
pub fn new_login_id(first_sid: &[u8; 32]) -> String {
    base16ct::lower::encode_string(first_sid.get(..16).unwrap_or_default())
}

/// The name every copy of this session shares: its login id, or (sessions made without one,
/// e.g. by Kong) its subject and creation time.
/// Worked out once per session content: a remembered cookie's copies share it.
pub fn identity(session: &Session, audience: &str) -> String {
    session
        .notes()
        .identity(audience, || identity_of(session, audience))
}

fn identity_of(session: &Session, audience: &str) -> String {
    if let Some(id) = SessionPayload::login_id_of(session, audience) {
        return shared_cache::digest(&["ended#", audience, "#login#", id]);
    }
    let subject = session.subject(audience).unwrap_or_default();
    let created_at = session.created_at().to_string();
    shared_cache::digest(&["ended#", audience, "#", subject, "#", &created_at])
}

/// Until when a copy of the cookie could still open the session: its absolute timeout, and no
/// later than a rolling or idling timeout counted from now (no copy was saved or touched after
/// now, since the session is refused from now on).
pub fn open_until(settings: &SessionSettings, session: &Session, now: u64) -> u64 {
    let mut until = now.saturating_add(WITHOUT_TIMEOUTS);
    if settings.absolute_timeout > 0 {
        until = until.min(
            session
                .created_at()
                .saturating_add(settings.absolute_timeout),
        );
    }
    for timeout in [settings.rolling_timeout, settings.idling_timeout] {
        if timeout > 0 {
            until = until.min(now.saturating_add(timeout));
        }
    }
    // At least a second, so that a session at its very end is still marked while it matters.
    until.max(now.saturating_add(1))
}

/// Marks the session ended for every worker.
pub fn record(shared: &dyn SharedState, identity: &str, until: u64) {
    shared.cache_put(CacheKind::Ended, identity, b"", until);
}

/// Whether the session was ended on this node.
pub fn is_ended(shared: &dyn SharedState, identity: &str, now: u64) -> bool {
    shared.cache_get(CacheKind::Ended, identity, now).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(created_at: u64) -> Session {
        let mut session = Session::new(created_at);
        session.set("default", serde_json::json!({}), Some("john".into()));
        session
    }

    #[test]
    fn every_copy_of_a_session_shares_its_identity() {
        let a = session(100);
        assert_eq!(identity(&a, "default"), identity(&session(100), "default"));
        assert_ne!(identity(&a, "default"), identity(&session(101), "default"));
        assert_ne!(identity(&a, "default"), identity(&a, "other"));
        let mut other_user = session(100);
        other_user.set("default", serde_json::json!({}), Some("jane".into()));
        assert_ne!(identity(&a, "default"), identity(&other_user, "default"));
    }

    fn login(created_at: u64, first_sid: u8) -> (Session, SessionPayload) {
        let mut session = session(created_at);
        let payload = SessionPayload::new(
            serde_json::Map::new(),
            0,
            crate::config::AuthMethod::Password,
            Some(new_login_id(&[first_sid; 32])),
        );
        payload.store(&mut session, "default", Some("john".into()));
        (session, payload)
    }

    #[test]
    fn logins_in_the_same_second_have_their_own_identity() {
        let (first, payload) = login(100, 1);
        let (second, _) = login(100, 2);
        assert_ne!(identity(&first, "default"), identity(&second, "default"));
        // A refresh keeps the login's identity.
        let mut refreshed = session(100);
        payload.with_tokens(serde_json::Map::new(), 5).store(
            &mut refreshed,
            "default",
            Some("john".into()),
        );
        assert_eq!(identity(&first, "default"), identity(&refreshed, "default"));
    }

    #[test]
    fn marks_last_as_long_as_a_copy_could_open_the_session() {
        let s = session(1_000);
        let settings = SessionSettings {
            idling_timeout: 900,
            rolling_timeout: 3_600,
            absolute_timeout: 86_400,
            ..SessionSettings::default()
        };
        assert_eq!(open_until(&settings, &s, 2_000), 2_900);
        let no_idling = SessionSettings {
            idling_timeout: 0,
            ..settings.clone()
        };
        assert_eq!(open_until(&no_idling, &s, 2_000), 5_600);
        assert_eq!(open_until(&no_idling, &s, 86_000), 87_400);
        let none = SessionSettings {
            idling_timeout: 0,
            rolling_timeout: 0,
            absolute_timeout: 0,
            ..settings
        };
        assert_eq!(open_until(&none, &s, 2_000), 2_000 + WITHOUT_TIMEOUTS);
        // Past its absolute timeout already: still a second.
        let short = SessionSettings {
            absolute_timeout: 10,
            ..SessionSettings::default()
        };
        assert_eq!(open_until(&short, &s, 5_000), 5_001);
    }
}
