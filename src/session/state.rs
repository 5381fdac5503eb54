//! One session: its audience entries and, once it has been read or written, what the cookie
//! held (the header, the first chunk, how many cookies) so that it can be touched, renewed,
//! shrunk or cleared later.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde_json::Value;

use super::header::Header;
use super::keys::Ikm;
use super::plaintext::AudienceEntry;
use crate::shared::state::MarksGeneration;

/// `Debug` shows the audiences and cookie metadata but not the data (it holds tokens).
///
/// A copy is cheap: the entries and the cookie are shared until one copy changes them (a
/// remembered cookie hands out a copy of its session on every request, see
/// `verified_cookies`), and so are the [`SessionNotes`] about the entries.
#[derive(Clone)]
pub struct Session {
    pub(super) entries: Rc<Vec<AudienceEntry>>,
    pub(super) created_at: u64,
    pub(super) cookie: Option<Rc<StoredCookie>>,
    notes: Rc<SessionNotes>,
}

/// What the flows worked out about a session's entries, kept with them so that the copies a
/// remembered cookie hands out do not work it out again. Any change to the entries starts
/// new notes; the cookie's header may change (touch, save) without changing them.
#[derive(Default)]
pub struct SessionNotes {
    /// The session's name for the ended-session marks, and its audience (see `ended::identity`).
    identity: RefCell<Option<(String, String)>>,
    /// The marks generation of the last ended-session check (`None`: unknown), which found
    /// the session not ended (see `shared::state::MarksGeneration`).
    not_ended_at: Cell<Option<MarksGeneration>>,
    /// The marks generation at which no mark refused this session or its tokens.
    unmarked_at: Cell<Option<MarksGeneration>>,
}

impl SessionNotes {
    /// The identity noted for `audience`, or `compute`d and noted now.
    pub fn identity(&self, audience: &str, compute: impl FnOnce() -> String) -> String {
        if let Some((noted_audience, identity)) = &*self.identity.borrow() {
            if noted_audience == audience {
                return identity.clone();
            }
        }
        let identity = compute();
        *self.identity.borrow_mut() = Some((audience.to_string(), identity.clone()));
        identity
    }

    /// Whether no mark refused the session or its tokens at this generation.
    pub fn unmarked_at(&self, generation: &MarksGeneration) -> bool {
        self.unmarked_at.get().as_ref() == Some(generation)
    }

    /// Notes that the ended-session marks did not refuse the session at `generation`.
    pub fn set_not_ended_at(&self, generation: Option<MarksGeneration>) {
        self.not_ended_at.set(generation);
    }

    /// Notes that the token marks did not refuse the session either, at the generation of the
    /// last ended-session check (nothing when that was unknown).
    pub fn set_tokens_unmarked(&self) {
        if let Some(generation) = self.not_ended_at.get() {
            self.unmarked_at.set(Some(generation));
        }
    }

    /// The generation of the last ended-session check, if no mark refused the session
    /// or its tokens at it: the token marks need not be read again.
    pub fn tokens_unmarked(&self) -> bool {
        self.not_ended_at
            .get()
            .is_some_and(|generation| self.unmarked_at(&generation))
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let audiences: Vec<&str> = self
            .entries
            .iter()
            .map(|entry| entry.audience.as_str())
            .collect();
        f.debug_struct("Session")
            .field("audiences", &audiences)
            .field("created_at", &self.created_at)
            .field("header", &self.header())
            .field("chunk_count", &self.chunk_count())
            .finish_non_exhaustive()
    }
}

/// What the last cookie read or written for this session looked like.
#[derive(Debug, Clone)]
pub(super) struct StoredCookie {
    pub header: Header,
    /// The payload characters carried by the first cookie, after the header; a touch re-sends
    /// them unchanged.
    pub first_chunk: String,
    pub chunk_count: usize,
    /// The key that verified (or wrote) the header: a touch re-MACs with it, as the library
    /// does when a fallback secret opened the session.
    pub ikm: Ikm,
}

impl Session {
    pub(super) fn new(created_at: u64) -> Session {
        Session {
            entries: Rc::default(),
            created_at,
            cookie: None,
            notes: Rc::default(),
        }
    }

    /// A session read from a cookie.
    pub(super) fn read(
        entries: Vec<AudienceEntry>,
        created_at: u64,
        cookie: StoredCookie,
    ) -> Session {
        Session {
            entries: Rc::new(entries),
            created_at,
            cookie: Some(Rc::new(cookie)),
            notes: Rc::default(),
        }
    }

    /// What the flows noted about these entries (shared by every copy of them).
    pub fn notes(&self) -> &SessionNotes {
        &self.notes
    }

    /// The entries, to change: the notes were about the old ones.
    fn entries_mut(&mut self) -> &mut Vec<AudienceEntry> {
        self.notes = Rc::default();
        Rc::make_mut(&mut self.entries)
    }

    /// The data stored for `audience` (Kong stores its tokens under `session_audience`).
    pub fn data(&self, audience: &str) -> Option<&serde_json::Value> {
        self.entry(audience).map(|entry| &entry.data)
    }

    pub fn subject(&self, audience: &str) -> Option<&str> {
        self.entry(audience)
            .and_then(|entry| entry.subject.as_deref())
    }

    /// Like `data`, but an absent audience is the library's "missing session audience" error.
    pub fn audience_data(&self, audience: &str) -> Result<&Value, super::SessionError> {
        self.data(audience)
            .ok_or(super::SessionError::MissingAudience)
    }

    /// Replaces the data and subject of `audience`, or adds the audience after the others.
    pub fn set(&mut self, audience: &str, data: serde_json::Value, subject: Option<String>) {
        let entries = self.entries_mut();
        match entries.iter_mut().find(|entry| entry.audience == audience) {
            Some(entry) => {
                entry.data = data;
                entry.subject = subject;
            }
            None => entries.push(AudienceEntry {
                data,
                audience: audience.to_string(),
                subject,
            }),
        }
    }

    /// Removes this audience; true when no audience is left (the whole session must then be cleared).
    pub fn remove(&mut self, audience: &str) -> bool {
        if let Some(index) = self
            .entries
            .iter()
            .position(|entry| entry.audience == audience)
        {
            self.entries_mut().remove(index);
        }
        self.entries.is_empty()
    }

    /// Creation time (epoch seconds): kept across saves, bounded by the absolute timeout.
    pub fn created_at(&self) -> u64 {
        self.created_at
    }

    /// How many cookies the session was read from or last written to (0 for a new session).
    pub fn chunk_count(&self) -> usize {
        self.cookie.as_ref().map_or(0, |cookie| cookie.chunk_count)
    }

    fn entry(&self, audience: &str) -> Option<&AudienceEntry> {
        self.entries.iter().find(|entry| entry.audience == audience)
    }

    /// Every audience entry, in cookie order.
    pub fn entries(&self) -> &[AudienceEntry] {
        &self.entries
    }

    /// The header of the cookie this session was read from or last written to.
    pub fn header(&self) -> Option<&Header> {
        self.cookie.as_ref().map(|cookie| &cookie.header)
    }

    /// The session id (sid) of that cookie, base64url-encoded as the library's `Session-Id`.
    pub fn id(&self) -> Option<String> {
        self.header()
            .map(|header| super::base64url::encode(&header.sid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_replaces_or_appends_and_debug_hides_data() {
        let mut session = Session::new(5);
        session.set(
            "a",
            json!({"access_token": "secret-token"}),
            Some("alice".into()),
        );
        session.set("b", json!(1), None);
        session.set("a", json!(2), None);
        assert_eq!(
            session
                .entries()
                .iter()
                .map(|e| e.audience.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(session.data("a"), Some(&json!(2)));
        assert_eq!(session.subject("a"), None);
        let debug = format!("{session:?}");
        assert!(
            debug.contains("\"a\"") && !debug.contains("secret-token") && !debug.contains('2'),
            "{debug}"
        );
        assert!(!session.remove("a"));
        assert!(session.remove("b"));
    }
}
