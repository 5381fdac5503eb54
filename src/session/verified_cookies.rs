//! A small per-codec memory of cookies that already passed the MAC and decryption, so a client
//! that sends the same cookie again is not decrypted again.
//!
//! Why it is safe: a cookie session has no server-side state, so the same cookie bytes under
//! the same keys always verify and decrypt to the same data; remembering the result changes no
//! answer. Only the cryptographic work is skipped (in wasm, with no AES or SHA instructions,
//! it is most of the filter's per-request time: see bench/README.md). The timeouts are still
//! checked on every request by the caller, from the header of the cookie as sent.
//!
//! A hit needs the whole header (with its MAC and the GCM tag) and the whole payload to be
//! byte-for-byte those of a verified cookie. The lookup compares MACs without an early exit
//! and the full bytes of a candidate in constant time, so its timing does not tell how much
//! of a forged cookie matches one in memory, as the MAC check it replaces does not.
//!
//! Memory stays bounded: at most [`CAPACITY`] cookies whose payload is at most
//! [`MAX_PAYLOAD`] characters; the oldest is forgotten first.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use super::header::{HEADER_SIZE, MAC_SIZE};
use super::state::Session;

/// Cookies remembered per codec (one codec per scheme and configuration in each worker).
pub const CAPACITY: usize = 64;
/// Larger sessions (more than two full cookies) are not remembered: they are rare, and would
/// make the memory's bound large.
pub const MAX_PAYLOAD: usize = 8 * 1024;

struct Verified {
    header: [u8; HEADER_SIZE],
    /// The base64url payload of all chunks, as read.
    payload: Box<[u8]>,
    session: Session,
}

/// The memory itself; interior mutability because a codec is shared read-only by requests.
#[derive(Default)]
pub struct VerifiedCookies {
    entries: RefCell<VecDeque<Verified>>,
    hits: Cell<u64>,
}

impl VerifiedCookies {
    /// The session a cookie with exactly this header and payload opened to, if remembered.
    pub fn find(&self, header: &[u8; HEADER_SIZE], payload: &[u8]) -> Option<Session> {
        let entries = self.entries.borrow();
        let mac = mac_of(header);
        let mut found = None;
        for (index, entry) in entries.iter().enumerate() {
            // No early exit inside a MAC comparison; only whole-MAC equality decides.
            if constant_time_eq(&mac_of(&entry.header), &mac) {
                found = Some(index);
            }
        }
        let entry = entries.get(found?)?;
        let same =
            constant_time_eq(&entry.header, header) & constant_time_eq(&entry.payload, payload);
        if !same {
            return None;
        }
        self.hits.set(self.hits.get().saturating_add(1));
        Some(entry.session.clone())
    }

    /// Remembers a cookie that verified and the session it opened to.
    pub fn remember(&self, header: [u8; HEADER_SIZE], payload: &[u8], session: &Session) {
        if payload.len() > MAX_PAYLOAD {
            return;
        }
        let mut entries = self.entries.borrow_mut();
        let mac = mac_of(&header);
        // A cookie with this MAC already here is the same header: keep one entry for it.
        entries.retain(|entry| !constant_time_eq(&mac_of(&entry.header), &mac));
        if entries.len() >= CAPACITY {
            entries.pop_front();
        }
        entries.push_back(Verified {
            header,
            payload: payload.into(),
            session: session.clone(),
        });
    }

    /// How many cookies are remembered, and how many requests were answered from memory.
    pub fn stats(&self) -> (usize, u64) {
        (self.entries.borrow().len(), self.hits.get())
    }
}

/// A copy starts empty: it may be given other keys (see `SessionCodec::with_fallback_secrets`).
impl Clone for VerifiedCookies {
    fn clone(&self) -> VerifiedCookies {
        VerifiedCookies::default()
    }
}

/// Shows counts only: the sessions hold tokens.
impl std::fmt::Debug for VerifiedCookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (entries, hits) = self.stats();
        f.debug_struct("VerifiedCookies")
            .field("entries", &entries)
            .field("hits", &hits)
            .finish()
    }
}

/// The header's last 16 bytes: its truncated HMAC.
fn mac_of(header: &[u8; HEADER_SIZE]) -> [u8; MAC_SIZE] {
    let mut mac = [0u8; MAC_SIZE];
    if let Some(tail) = header.get(HEADER_SIZE - MAC_SIZE..) {
        mac.copy_from_slice(tail);
    }
    mac
}

/// Equality that reads every byte whatever the differences (lengths are not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(mac_byte: u8, other: u8) -> [u8; HEADER_SIZE] {
        let mut header = [other; HEADER_SIZE];
        header[HEADER_SIZE - MAC_SIZE..].fill(mac_byte);
        header
    }

    #[test]
    fn finds_only_the_exact_header_and_payload() {
        let memory = VerifiedCookies::default();
        let session = Session::new(5);
        memory.remember(header(1, 0), b"payload", &session);
        assert!(memory.find(&header(1, 0), b"payload").is_some());
        assert!(
            memory.find(&header(1, 0), b"payloaD").is_none(),
            "other payload"
        );
        assert!(
            memory.find(&header(1, 0), b"payload+").is_none(),
            "longer payload"
        );
        assert!(
            memory.find(&header(1, 9), b"payload").is_none(),
            "same MAC, other header"
        );
        assert!(
            memory.find(&header(2, 0), b"payload").is_none(),
            "other MAC"
        );
        assert_eq!(memory.stats(), (1, 1));
    }

    #[test]
    fn stays_within_capacity_and_forgets_the_oldest() {
        let memory = VerifiedCookies::default();
        let session = Session::new(5);
        for i in 0..=CAPACITY {
            memory.remember(header(i as u8, 0), b"p", &session);
        }
        assert_eq!(memory.stats().0, CAPACITY);
        assert!(memory.find(&header(0, 0), b"p").is_none());
        assert!(memory.find(&header(CAPACITY as u8, 0), b"p").is_some());
        // Remembering the same header again replaces it rather than adding a second entry.
        memory.remember(header(CAPACITY as u8, 0), b"q", &session);
        assert_eq!(memory.stats().0, CAPACITY);
        assert!(memory.find(&header(CAPACITY as u8, 0), b"q").is_some());
    }

    #[test]
    fn large_payloads_and_copies_are_not_remembered() {
        let memory = VerifiedCookies::default();
        let session = Session::new(5);
        memory.remember(header(1, 0), &vec![b'a'; MAX_PAYLOAD + 1], &session);
        assert_eq!(memory.stats().0, 0);
        memory.remember(header(1, 0), b"p", &session);
        assert_eq!(memory.clone().stats(), (0, 0));
        assert_eq!(
            format!("{memory:?}"),
            "VerifiedCookies { entries: 1, hits: 0 }"
        );
    }

    #[test]
    fn constant_time_eq_compares_lengths_and_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
