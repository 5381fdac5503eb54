//! Key material: the initial key (ikm) from the configured secret, and the per-session keys
//! HKDF-SHA256 derives from it with the session id.
//!
//! HKDF runs with an empty salt; the info is `"encryption:" || sid` for the 44 bytes of
//! AES-256 key and GCM nonce, and `"authentication:" || sid` for the 32-byte HMAC key.
//! A fresh sid on every save is what makes the fixed-per-sid nonce safe.

use hkdf::Hkdf;
use sha2::{Digest, Sha256};

use super::error::SessionError;
use super::header::SID_SIZE;

pub const IKM_SIZE: usize = 32;

/// Initial key material: SHA-256 of the configured secret, with HKDF's extract step done once.
///
/// HKDF-Extract with the fixed empty salt gives the same pseudorandom key for every session,
/// so it is computed here rather than on each request; every derivation then only expands
/// (half the SHA-256 work of a fresh `Hkdf::new`, measured in bench/session-timing).
#[derive(Clone)]
pub struct Ikm {
    key: [u8; IKM_SIZE],
    extracted: Hkdf<Sha256>,
}

impl Ikm {
    /// The library hashes every secret (also fallback secrets) with SHA-256.
    pub fn from_secret(secret: &[u8]) -> Ikm {
        Ikm::from_raw(Sha256::digest(secret).into())
    }

    /// A raw 32-byte key, as the library's `ikm` option takes it.
    pub fn from_raw(key: [u8; IKM_SIZE]) -> Ikm {
        // An empty salt: HMAC pads it to the same all-zero block as RFC 5869's default salt.
        Ikm {
            key,
            extracted: Hkdf::<Sha256>::new(Some(&[]), &key),
        }
    }
}

impl PartialEq for Ikm {
    fn eq(&self, other: &Ikm) -> bool {
        self.key == other.key
    }
}

impl Eq for Ikm {}

impl std::fmt::Debug for Ikm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ikm(..)")
    }
}

/// AES-256-GCM key and nonce of one session id.
pub struct EncryptionKey {
    pub key: [u8; 32],
    pub nonce: [u8; 12],
}

pub fn encryption_key(ikm: &Ikm, sid: &[u8; SID_SIZE]) -> Result<EncryptionKey, SessionError> {
    let mut okm = [0u8; 44];
    expand(ikm, b"encryption:", sid, &mut okm)?;
    let (key, nonce) = okm
        .split_first_chunk::<32>()
        .ok_or(SessionError::Crypto("derive session encryption key"))?;
    let nonce: [u8; 12] = nonce
        .try_into()
        .map_err(|_| SessionError::Crypto("derive session encryption key"))?;
    Ok(EncryptionKey { key: *key, nonce })
}

pub fn mac_key(ikm: &Ikm, sid: &[u8; SID_SIZE]) -> Result<[u8; 32], SessionError> {
    let mut okm = [0u8; 32];
    expand(ikm, b"authentication:", sid, &mut okm)?;
    Ok(okm)
}

fn expand(
    ikm: &Ikm,
    usage: &[u8],
    sid: &[u8; SID_SIZE],
    out: &mut [u8],
) -> Result<(), SessionError> {
    ikm.extracted
        .expand_multi_info(&[usage, sid], out)
        .map_err(|_| SessionError::Crypto("derive session key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_sid_and_usage() {
        let ikm = Ikm::from_secret(b"secret");
        let a = encryption_key(&ikm, &[1; 32]).unwrap();
        let b = encryption_key(&ikm, &[2; 32]).unwrap();
        assert_ne!(a.key, b.key);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(mac_key(&ikm, &[1; 32]).unwrap(), a.key);
        assert_eq!(
            Ikm::from_secret(b"secret"),
            Ikm::from_raw(Sha256::digest(b"secret").into())
        );
        assert_eq!(format!("{ikm:?}"), "Ikm(..)");
    }

    #[test]
    fn the_stored_extract_gives_the_same_keys_as_a_fresh_hkdf() {
        let ikm = Ikm::from_secret(b"secret");
        let sid = [9u8; SID_SIZE];
        let fresh = Hkdf::<Sha256>::new(Some(&[]), &Sha256::digest(b"secret"));
        let mut expected = [0u8; 44];
        fresh
            .expand_multi_info(&[b"encryption:", &sid], &mut expected)
            .unwrap();
        let key = encryption_key(&ikm, &sid).unwrap();
        assert_eq!(key.key[..], expected[..32]);
        assert_eq!(key.nonce[..], expected[32..]);
        let mut expected_mac = [0u8; 32];
        fresh
            .expand_multi_info(&[b"authentication:", &sid], &mut expected_mac)
            .unwrap();
        assert_eq!(mac_key(&ikm, &sid).unwrap(), expected_mac);
    }
}
