//! Real keys and real signatures for tests, made with the signing side of the same crates.
//!
//! RSA keys are generated once per test process (2048 bits, OS randomness); EC and Ed25519 keys
//! come from fixed scalars so failures are reproducible.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand_core::OsRng;
use rsa::traits::PublicKeyParts as _;
use rsa::{Pkcs1v15Sign, Pss, RsaPrivateKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::discovery::Algorithm;

pub(crate) const ISSUER: &str = "http://127.0.0.1:3000";
pub(crate) const NOW: u64 = 1_750_000_000;

pub(crate) fn rsa_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut OsRng, 2048).unwrap())
}

/// A second RSA key: same shape, different secret, for "signed by someone else" tests.
pub(crate) fn other_rsa_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut OsRng, 2048).unwrap())
}

pub(crate) fn p256_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).unwrap()
}

pub(crate) fn p384_key() -> p384::ecdsa::SigningKey {
    p384::ecdsa::SigningKey::from_slice(&[0x22; 48]).unwrap()
}

pub(crate) fn ed25519_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[0x33; 32])
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Who signs a test token.
pub(crate) enum Signer<'a> {
    Rsa(&'a RsaPrivateKey),
    P256(&'a p256::ecdsa::SigningKey),
    P384(&'a p384::ecdsa::SigningKey),
    Ed25519(&'a ed25519_dalek::SigningKey),
    Hmac(&'a [u8]),
}

/// The public JWK of an RSA key (no `alg`, no `use` unless added by the caller).
pub(crate) fn rsa_jwk(key: &RsaPrivateKey, kid: &str) -> Value {
    json!({"kty": "RSA", "kid": kid, "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be())})
}

pub(crate) fn p256_jwk(key: &p256::ecdsa::SigningKey, kid: &str) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    json!({"kty": "EC", "crv": "P-256", "kid": kid,
           "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())})
}

pub(crate) fn p384_jwk(key: &p384::ecdsa::SigningKey, kid: &str) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    json!({"kty": "EC", "crv": "P-384", "kid": kid,
           "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())})
}

pub(crate) fn ed25519_jwk(key: &ed25519_dalek::SigningKey, kid: &str) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(key.verifying_key().as_bytes())})
}

/// A JWK with extra members merged in (e.g. `alg`, `use`).
pub(crate) fn with(mut jwk: Value, extra: Value) -> Value {
    if let (Some(jwk), Value::Object(extra)) = (jwk.as_object_mut(), extra) {
        jwk.extend(extra);
    }
    jwk
}

pub(crate) fn jwks_json(keys: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "keys": keys })).unwrap()
}

/// Signs `header.payload` as given (the header is used verbatim, so tests can lie in it).
pub(crate) fn sign_compact(
    header: &Value,
    claims: &Value,
    signer: &Signer<'_>,
    alg: Algorithm,
) -> String {
    let input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(header).unwrap()),
        b64(&serde_json::to_vec(claims).unwrap())
    );
    let signature = sign_bytes(input.as_bytes(), signer, alg);
    format!("{input}.{}", b64(&signature))
}

/// A token with header `{"alg", "kid"?}` signed by `signer`.
pub(crate) fn token(
    alg: Algorithm,
    kid: Option<&str>,
    claims: &Value,
    signer: &Signer<'_>,
) -> String {
    let mut header = json!({"alg": alg.name(), "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    sign_compact(&header, claims, signer, alg)
}

/// Claims that pass the default test policy at [`NOW`].
pub(crate) fn good_claims() -> Value {
    json!({
        "iss": ISSUER, "sub": "alice", "aud": "kong", "nonce": "n-0S6_WzA2Mj",
        "iat": NOW - 10, "exp": NOW + 300, "email": "alice@example.com"
    })
}

fn sign_bytes(message: &[u8], signer: &Signer<'_>, alg: Algorithm) -> Vec<u8> {
    use p256::ecdsa::signature::Signer as _;
    use Algorithm::*;
    match signer {
        Signer::Rsa(key) => match alg {
            RS256 => key.sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(message)),
            RS384 => key.sign(Pkcs1v15Sign::new::<Sha384>(), &Sha384::digest(message)),
            RS512 => key.sign(Pkcs1v15Sign::new::<Sha512>(), &Sha512::digest(message)),
            PS256 => key.sign_with_rng(&mut OsRng, Pss::new::<Sha256>(), &Sha256::digest(message)),
            PS384 => key.sign_with_rng(&mut OsRng, Pss::new::<Sha384>(), &Sha384::digest(message)),
            PS512 => key.sign_with_rng(&mut OsRng, Pss::new::<Sha512>(), &Sha512::digest(message)),
            other => panic!("an RSA key cannot sign {other}"),
        }
        .unwrap(),
        Signer::P256(key) => {
            let sig: p256::ecdsa::Signature = key.sign(message);
            sig.to_bytes().to_vec()
        }
        Signer::P384(key) => {
            let sig: p384::ecdsa::Signature = key.sign(message);
            sig.to_bytes().to_vec()
        }
        Signer::Ed25519(key) => key.sign(message).to_bytes().to_vec(),
        Signer::Hmac(secret) => hmac_sign(secret, message, alg),
    }
}

fn hmac_sign(secret: &[u8], message: &[u8], alg: Algorithm) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    macro_rules! mac {
        ($digest:ty) => {{
            let mut mac = <Hmac<$digest> as Mac>::new_from_slice(secret).unwrap();
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }};
    }
    match alg {
        Algorithm::HS256 => mac!(Sha256),
        Algorithm::HS384 => mac!(Sha384),
        Algorithm::HS512 => mac!(Sha512),
        other => panic!("HMAC cannot sign {other}"),
    }
}
