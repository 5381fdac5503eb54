//! AES-256-GCM of the session data and the truncated HMAC-SHA256 of the header.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::error::SessionError;
use super::header::{MAC_SIZE, SID_SIZE, TAG_SIZE};
use super::keys::{encryption_key, mac_key, Ikm};

/// Encrypts `plaintext` under the key of `sid`; returns the ciphertext (same length) and tag.
pub fn encrypt(
    ikm: &Ikm,
    sid: &[u8; SID_SIZE],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, [u8; TAG_SIZE]), SessionError> {
    let key = encryption_key(ikm, sid)?;
    let cipher = Aes256Gcm::new(&key.key.into());
    let mut buffer = plaintext.to_vec();
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(&key.nonce), aad, &mut buffer)
        .map_err(|_| SessionError::Crypto("encrypt session data"))?;
    Ok((buffer, tag.into()))
}

pub fn decrypt(
    ikm: &Ikm,
    sid: &[u8; SID_SIZE],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8; TAG_SIZE],
) -> Result<Vec<u8>, SessionError> {
    let key = encryption_key(ikm, sid)?;
    let cipher = Aes256Gcm::new(&key.key.into());
    let mut buffer = ciphertext.to_vec();
    cipher
        .decrypt_in_place_detached(
            Nonce::from_slice(&key.nonce),
            aad,
            &mut buffer,
            Tag::from_slice(tag),
        )
        .map_err(|_| SessionError::Decrypt)?;
    Ok(buffer)
}

/// HMAC-SHA256 of `message` under the MAC key of `sid`, truncated to 16 bytes.
pub fn mac(
    ikm: &Ikm,
    sid: &[u8; SID_SIZE],
    message: &[u8],
) -> Result<[u8; MAC_SIZE], SessionError> {
    let full = mac_state(ikm, sid, message)?.finalize().into_bytes();
    let (truncated, _) = full
        .split_first_chunk::<MAC_SIZE>()
        .ok_or(SessionError::Crypto("calculate session mac"))?;
    Ok(*truncated)
}

/// Constant-time check of a truncated MAC.
pub fn verify_mac(
    ikm: &Ikm,
    sid: &[u8; SID_SIZE],
    message: &[u8],
    expected: &[u8; MAC_SIZE],
) -> bool {
    match mac_state(ikm, sid, message) {
        Ok(state) => state.verify_truncated_left(expected).is_ok(),
        Err(_) => false,
    }
}

fn mac_state(
    ikm: &Ikm,
    sid: &[u8; SID_SIZE],
    message: &[u8],
) -> Result<Hmac<Sha256>, SessionError> {
    let key = mac_key(ikm, sid)?;
    let mut state = <Hmac<Sha256> as Mac>::new_from_slice(&key)
        .map_err(|_| SessionError::Crypto("calculate session mac"))?;
    state.update(message);
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_round_trips_and_binds_the_aad() {
        let ikm = Ikm::from_secret(b"s");
        let sid = [3; 32];
        let (ciphertext, tag) = encrypt(&ikm, &sid, b"aad", b"hello").unwrap();
        assert_eq!(ciphertext.len(), 5);
        assert_eq!(
            decrypt(&ikm, &sid, b"aad", &ciphertext, &tag).unwrap(),
            b"hello"
        );
        assert_eq!(
            decrypt(&ikm, &sid, b"aaD", &ciphertext, &tag),
            Err(SessionError::Decrypt)
        );
        assert_eq!(
            decrypt(&ikm, &[4; 32], b"aad", &ciphertext, &tag),
            Err(SessionError::Decrypt)
        );
    }

    #[test]
    fn mac_verifies_only_its_message() {
        let ikm = Ikm::from_secret(b"s");
        let sid = [3; 32];
        let tag = mac(&ikm, &sid, b"header").unwrap();
        assert!(verify_mac(&ikm, &sid, b"header", &tag));
        assert!(!verify_mac(&ikm, &sid, b"headeR", &tag));
        assert!(!verify_mac(&Ikm::from_secret(b"t"), &sid, b"header", &tag));
    }
}
