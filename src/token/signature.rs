//! Signature verification: which key, which algorithm, and the cryptographic check.
//!
//! The token's `alg` header is only a claim by whoever made the token. It is accepted only when
//! the chosen key fits it: an RSA key verifies RS*/PS*, a P-256 key ES256, a P-384 key ES384, an
//! Ed25519 key EdDSA. HMAC algorithms never use a JWKS key (that is how "HS256 signed with the
//! RSA public key" forgeries work); they use the configured client secret, and only when the
//! policy enables HS signatures.
//!
//! # Why not `jwt-simple`
//!
//! The design named `jwt-simple` (0.15, `default-features = false, features = ["pure-rust"]`).
//! It builds for wasm32-wasip1, and was measured in place of the checks below (its
//! `verify_token` per key type, with the claims still checked by `claims.rs`), on the commit
//! whose module was 1,030,438 bytes:
//!
//! - **Module size** (`make wasm`, cap 1 MiB = 1,048,576): every algorithm on jwt-simple
//!   1,306,254 bytes (+275,816); RSA and HMAC only 1,258,743 (+228,305); EC and EdDSA only
//!   1,243,525 (+213,087). Over the cap in every split: it brings a second generation of the
//!   RustCrypto curves (p256/p384 0.14 next to the 0.13 our JWKS keys are parsed into),
//!   superboring's OpenSSL-like layer, ed25519-compact, hmac-sha256/512 and anyhow.
//! - **Speed** (`bench/session-timing.sh`'s "verify_jwt, keys parsed", ours and jwt-simple's
//!   builds run in turn, µs per token, best of 6-7 runs on a 2-core machine at load 5-9):
//!   wasm32 under Node's WASI RS256 725 (ours) against 1,047 (jwt-simple, +44%: the 64-bit
//!   digits below), ES256 1,073 against 825 (-23%: p256 0.14 against our 0.13; upgrading our
//!   p256 would get that without jwt-simple); natively RS256 319 against 185, ES256 225
//!   against 255.
//! - **Rules of ours it does not express** (read in its 0.15.0 sources): Kong's
//!   `verify_claims = false` cannot switch off its `exp` check (only by setting its clock to
//!   0); a negative NumericDate fails to parse instead of being expired; a `typ` header other
//!   than `JWT` or `*+JWT` (e.g. RFC 7515's `JOSE`) is rejected; RSA keys must be 2048-4096
//!   bits with exponent 65537, where our JWKS takes up to 8192 bits. Key selection by `kid`
//!   and the refetch on a key miss stay ours either way (it verifies with one given key).
//! - Its RSA back end (superboring) enables the `rsa` crate's `u64_digit`, `std` and `pem`
//!   features, and Cargo unifies features, so our own RSA would get 64-bit digits too: on
//!   wasm32 that is the change Cargo.toml documents as ~950 -> ~1,500 µs per RS256 token.
//!
//! So the verification stays on the RustCrypto crates, called directly.

use hmac::{Hmac, Mac};
use rsa::{Pkcs1v15Sign, Pss, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::discovery::{Algorithm, Jwks, KeyError, PublicKey};

use super::compact::CompactJws;
use super::{clip, TokenError, VerifyPolicy};

/// Checks the signature of `jws` with a key from `keys` (or the policy's HS secret).
pub(super) fn verify_signature(
    jws: &CompactJws<'_>,
    keys: &Jwks,
    policy: &VerifyPolicy,
) -> Result<(), TokenError> {
    let alg = Algorithm::from_name(&jws.alg)
        .ok_or_else(|| TokenError::UnsupportedAlgorithm(clip(&jws.alg)))?;
    let message = jws.signing_input.as_bytes();
    if alg.is_symmetric() {
        if !policy.enable_hs_signatures {
            return Err(TokenError::HsSignaturesDisabled(alg));
        }
        let secret = policy
            .hs_secret
            .as_deref()
            .filter(|secret| !secret.is_empty())
            .ok_or(TokenError::MissingHsSecret(alg))?;
        return if hmac_matches(alg, secret, message, &jws.signature) {
            Ok(())
        } else {
            Err(TokenError::BadSignature)
        };
    }
    let mut candidates = keys
        .candidates(jws.kid.as_deref(), alg)
        .map_err(TokenError::from)?;
    if candidates.any(|jwk| public_key_verifies(&jwk.key, alg, message, &jws.signature)) {
        Ok(())
    } else {
        Err(TokenError::BadSignature)
    }
}

impl From<KeyError> for TokenError {
    fn from(error: KeyError) -> TokenError {
        match error {
            KeyError::UnsupportedAlgorithm(alg) => TokenError::UnsupportedAlgorithm(clip(&alg)),
            KeyError::UnknownKid(kid) => TokenError::UnknownKid(clip(&kid)),
            KeyError::KidDoesNotFitAlgorithm { kid, alg } => TokenError::NoMatchingKey {
                alg,
                kid: Some(clip(&kid)),
            },
            KeyError::NoMatchingKey(alg) => TokenError::NoMatchingKey { alg, kid: None },
        }
    }
}

/// HMAC check in constant time (`verify_slice`).
fn hmac_matches(alg: Algorithm, secret: &[u8], message: &[u8], signature: &[u8]) -> bool {
    fn check<M: Mac + hmac::digest::KeyInit>(secret: &[u8], message: &[u8], sig: &[u8]) -> bool {
        match <M as hmac::digest::KeyInit>::new_from_slice(secret) {
            Ok(mut mac) => {
                mac.update(message);
                mac.verify_slice(sig).is_ok()
            }
            Err(_) => false,
        }
    }
    match alg {
        Algorithm::HS256 => check::<Hmac<Sha256>>(secret, message, signature),
        Algorithm::HS384 => check::<Hmac<Sha384>>(secret, message, signature),
        Algorithm::HS512 => check::<Hmac<Sha512>>(secret, message, signature),
        _ => false,
    }
}

/// Whether `key` verifies `signature` over `message` with `alg`. A key that does not fit the
/// algorithm never verifies (checked again here so this function is safe on its own).
fn public_key_verifies(key: &PublicKey, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
    use p256::ecdsa::signature::Verifier as _;
    if !key.fits(alg) {
        return false;
    }
    match key {
        PublicKey::Rsa(key) => rsa_verifies(key, alg, message, signature),
        PublicKey::P256(key) => p256::ecdsa::Signature::from_slice(signature)
            .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
        PublicKey::P384(key) => p384::ecdsa::Signature::from_slice(signature)
            .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
        // verify_strict also rejects non-canonical and small-order signatures.
        PublicKey::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
            .is_ok_and(|sig| key.verify_strict(message, &sig).is_ok()),
    }
}

fn rsa_verifies(key: &RsaPublicKey, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
    // RFC 7518 section 3.5: PSS uses MGF1 with the same hash and a salt as long as the hash.
    let outcome = match alg {
        Algorithm::RS256 => key.verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(message),
            signature,
        ),
        Algorithm::RS384 => key.verify(
            Pkcs1v15Sign::new::<Sha384>(),
            &Sha384::digest(message),
            signature,
        ),
        Algorithm::RS512 => key.verify(
            Pkcs1v15Sign::new::<Sha512>(),
            &Sha512::digest(message),
            signature,
        ),
        Algorithm::PS256 => key.verify(Pss::new::<Sha256>(), &Sha256::digest(message), signature),
        Algorithm::PS384 => key.verify(Pss::new::<Sha384>(), &Sha384::digest(message), signature),
        Algorithm::PS512 => key.verify(Pss::new::<Sha512>(), &Sha512::digest(message), signature),
        _ => return false,
    };
    outcome.is_ok()
}
