//! A per-worker memory of bearer JWTs whose signature already verified, so a client that sends
//! the same token again costs a SHA-256 of it instead of an RSA or ECDSA verification (in wasm,
//! about 1 ms of CPU: see bench/README.md).
//!
//! Why it is safe: a JWT's signature covers its header and claims, so the same token bytes under
//! the same keys and policy always verify the same way. Only the signature check is skipped on a
//! hit; the caller still parses the token and checks `exp`, `nbf`, `iat` and the issuer with the
//! current time on every request, and still consults the logout revocation marks.
//!
//! - Entries are keyed by the SHA-256 of the whole token (a second-preimage of SHA-256 is what a
//!   forged token would need to hit an entry).
//! - They belong to one set of keys: the memory remembers which provider documents (the
//!   worker's `Rc<Provider>`, replaced whenever the JWKS is fetched or shared anew) verified
//!   them, and forgets everything when asked about another one.
//! - An entry lives until the token's `exp`; tokens without `exp` are not remembered.
//! - At most [`CAPACITY`] entries: when full, expired entries go first, and if none had expired
//!   the memory starts over (only tokens that verified get in, so filling it takes that many
//!   valid tokens, and the worst case is today's cost: a verification per request).
//! - An entry also notes the marks generation at which the token was found not revoked, so
//!   that the revocation mark is read again only once a mark was written since.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use sha2::{Digest, Sha256};

use crate::flows::provider::Provider;
use crate::shared::state::MarksGeneration;

/// Tokens remembered per configuration and worker (about 50 bytes each).
pub const CAPACITY: usize = 4096;

/// The SHA-256 of a token: the key of its entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    pub fn of(token: &str) -> TokenDigest {
        TokenDigest(Sha256::digest(token.as_bytes()).into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

#[derive(Default)]
struct Memo {
    /// The provider documents whose keys verified every entry.
    keys: Weak<Provider>,
    /// The remembered tokens, sorted by digest: a lookup is a binary search, and the
    /// insertion's move only happens on a miss, next to a signature verification that costs
    /// far more (a sorted Vec is also less code in the module than a hash map).
    entries: Vec<Entry>,
}

struct Entry {
    digest: TokenDigest,
    /// The token's `exp`, in seconds since the epoch.
    exp: u64,
    /// The marks generation at which no logout had revoked the token (see
    /// `shared::state::MarksGeneration`): while it stands, the mark need not be read.
    unmarked_at: Option<MarksGeneration>,
}

impl Memo {
    fn find(&self, digest: &TokenDigest) -> Option<&Entry> {
        let index = self.index(digest).ok()?;
        self.entries.get(index)
    }

    fn index(&self, digest: &TokenDigest) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|entry| entry.digest.cmp(digest))
    }
}

impl Memo {
    /// Forgets everything when `provider` is not the one the entries were verified with.
    fn follow(&mut self, provider: &Rc<Provider>) {
        // A Weak keeps its allocation alive, so a new provider cannot reuse the address.
        if !Weak::ptr_eq(&self.keys, &Rc::downgrade(provider)) {
            self.keys = Rc::downgrade(provider);
            self.entries.clear();
        }
    }
}

/// The memory; interior mutability because the settings are shared read-only by requests.
#[derive(Default)]
pub struct VerifiedTokens {
    memo: RefCell<Memo>,
    hits: Cell<u64>,
}

impl VerifiedTokens {
    /// Whether this token verified with `provider`'s keys and has not reached its `exp`.
    pub fn contains(&self, provider: &Rc<Provider>, digest: &TokenDigest, now: u64) -> bool {
        let mut memo = self.memo.borrow_mut();
        memo.follow(provider);
        let live = memo.find(digest).is_some_and(|entry| now < entry.exp);
        if live {
            self.hits.set(self.hits.get().saturating_add(1));
        }
        live
    }

    /// Remembers a token whose signature verified with `provider`'s keys, until its `exp`.
    pub fn remember(&self, provider: &Rc<Provider>, digest: TokenDigest, exp: u64, now: u64) {
        if exp <= now {
            return;
        }
        let mut memo = self.memo.borrow_mut();
        memo.follow(provider);
        let mut place = memo.index(&digest);
        if let Ok(index) = place {
            if let Some(entry) = memo.entries.get_mut(index) {
                entry.exp = exp;
            }
            return;
        }
        if memo.entries.len() >= CAPACITY {
            memo.entries.retain(|entry| now < entry.exp);
            if memo.entries.len() >= CAPACITY {
                memo.entries.clear();
            }
            place = memo.index(&digest);
        }
        if let Err(index) = place {
            memo.entries.insert(
                index,
                Entry {
                    digest,
                    exp,
                    unmarked_at: None,
                },
            );
        }
    }

    /// Whether the remembered token was found not revoked at this marks generation.
    pub fn unmarked_at(&self, digest: &TokenDigest, generation: &MarksGeneration) -> bool {
        let memo = self.memo.borrow();
        memo.find(digest)
            .is_some_and(|entry| entry.unmarked_at.as_ref() == Some(generation))
    }

    /// Notes that the remembered token was not revoked at this generation (read before the
    /// revocation mark was).
    pub fn set_unmarked_at(&self, digest: &TokenDigest, generation: MarksGeneration) {
        let mut memo = self.memo.borrow_mut();
        if let Ok(index) = memo.index(digest) {
            if let Some(entry) = memo.entries.get_mut(index) {
                entry.unmarked_at = Some(generation);
            }
        }
    }

    /// Tokens remembered now.
    pub fn len(&self) -> usize {
        self.memo.borrow().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many verifications the memory saved so far.
    pub fn hits(&self) -> u64 {
        self.hits.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Rc<Provider> {
        let metadata = br#"{"issuer":"https://idp.test","authorization_endpoint":"https://idp.test/auth","token_endpoint":"https://idp.test/token","jwks_uri":"https://idp.test/jwks"}"#;
        Rc::new(Provider::from_documents(metadata, Some(br#"{"keys":[]}"#), 0).unwrap())
    }

    #[test]
    fn remembers_a_token_until_its_exp() {
        let memo = VerifiedTokens::default();
        let keys = provider();
        let digest = TokenDigest::of("a.b.c");
        assert!(!memo.contains(&keys, &digest, 100));
        memo.remember(&keys, digest, 200, 100);
        assert!(memo.contains(&keys, &digest, 199));
        assert!(!memo.contains(&keys, &digest, 200));
        assert!(!memo.contains(&keys, &TokenDigest::of("a.b.d"), 150));
        assert_eq!(memo.hits(), 1);
        // Already expired: not remembered.
        let late = TokenDigest::of("x.y.z");
        memo.remember(&keys, late, 100, 100);
        assert!(!memo.contains(&keys, &late, 50));
    }

    #[test]
    fn other_keys_forget_every_entry() {
        let memo = VerifiedTokens::default();
        let old = provider();
        let digest = TokenDigest::of("a.b.c");
        memo.remember(&old, digest, 200, 100);
        let rotated = provider();
        assert!(!memo.contains(&rotated, &digest, 150));
        assert!(memo.is_empty());
        // And the old documents do not bring the entries back.
        assert!(!memo.contains(&old, &digest, 150));
    }

    #[test]
    fn stays_bounded() {
        let memo = VerifiedTokens::default();
        let keys = provider();
        for i in 0..CAPACITY {
            memo.remember(&keys, TokenDigest::of(&i.to_string()), 1000, 0);
        }
        assert_eq!(memo.len(), CAPACITY);
        // Full of live entries: the memory starts over.
        memo.remember(&keys, TokenDigest::of("one more"), 1000, 0);
        assert_eq!(memo.len(), 1);
        // Full with some expired: only those go.
        for i in 0..CAPACITY - 1 {
            memo.remember(
                &keys,
                TokenDigest::of(&i.to_string()),
                10 + (i % 2) as u64,
                0,
            );
        }
        assert_eq!(memo.len(), CAPACITY);
        memo.remember(&keys, TokenDigest::of("after"), 1000, 10);
        assert_eq!(memo.len(), CAPACITY / 2 + 1);
        assert!(memo.contains(&keys, &TokenDigest::of("after"), 10));
    }
}
