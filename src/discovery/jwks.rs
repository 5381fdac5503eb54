//! The provider's signing keys (RFC 7517 JWK Set) and the choice of key for a token.
//!
//! A JWKS often holds keys the filter cannot or must not use (encryption keys, curves it does not
//! implement, symmetric keys). Those are skipped one by one, with a reason for the log, so that one
//! odd key never takes the whole set down. Every key that is kept has been decoded and checked
//! (RSA modulus size, EC point on the curve, Ed25519 point), so verification cannot fail later on a
//! malformed key.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::traits::PublicKeyParts as _;
use rsa::{BigUint, RsaPublicKey};
use serde::ser::SerializeStruct as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::{parse_object, Algorithm, DiscoveryError};

const WHAT: &str = "JWKS";

/// Keys beyond this many in one set are skipped: a real provider publishes a handful, and every
/// kept key may cost a signature check for a token without `kid`.
pub const MAX_KEYS: usize = 64;

/// RSA moduli below 2048 bits are refused (NIST SP 800-131A); above 8192 bits a single
/// verification becomes a denial-of-service lever.
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;

/// A verified-usable public key from the JWKS.
#[derive(Debug, Clone, PartialEq)]
pub struct Jwk {
    /// The key id tokens name in their `kid` header.
    pub kid: Option<String>,
    /// The only algorithm this key may verify, when the JWK says so; `None` means any algorithm
    /// that fits the key type.
    pub alg: Option<Algorithm>,
    pub key: PublicKey,
}

/// Decoded public key material, by type and curve.
#[derive(Debug, Clone, PartialEq)]
pub enum PublicKey {
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// Whether this key type can verify `alg` at all. HMAC algorithms never fit a public key:
    /// this is what stops an HS256 token "signed" with the RSA public key.
    pub fn fits(&self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            PublicKey::Rsa(_) => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            PublicKey::P256(_) => alg == ES256,
            PublicKey::P384(_) => alg == ES384,
            PublicKey::Ed25519(_) => alg == EdDSA,
        }
    }

    /// The JWK `kty` of this key.
    pub fn kty(&self) -> &'static str {
        match self {
            PublicKey::Rsa(_) => "RSA",
            PublicKey::P256(_) | PublicKey::P384(_) => "EC",
            PublicKey::Ed25519(_) => "OKP",
        }
    }
}

impl Jwk {
    /// Whether this key may verify a token signed with `alg`.
    pub fn accepts(&self, alg: Algorithm) -> bool {
        self.key.fits(alg) && self.alg.is_none_or(|own| own == alg)
    }
}

/// A key of the published set that was not kept, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in the published `keys` array (0-based).
    pub index: usize,
    pub kid: Option<String>,
    pub reason: SkipReason,
}

impl fmt::Display for SkippedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JWKS key #{}", self.index)?;
        if let Some(kid) = &self.kid {
            write!(f, " (kid {kid:?})")?;
        }
        write!(f, " skipped: {}", self.reason)
    }
}

/// Why a published key is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    #[error("not a JSON object")]
    NotAnObject,
    #[error("\"kid\" is not a string")]
    InvalidKid,
    #[error("\"kty\" is missing or not a string")]
    MissingKty,
    #[error("key type {0:?} is not supported (RSA, EC and OKP are)")]
    UnsupportedKeyType(String),
    #[error("symmetric (oct) keys are never taken from a JWKS; HS tokens are verified with the client secret")]
    SymmetricKey,
    #[error("\"use\" is {0:?}, not \"sig\"")]
    NotForSignatures(String),
    #[error("\"key_ops\" does not include \"verify\"")]
    NotForVerification,
    #[error("\"alg\" {0:?} is not a supported signature algorithm")]
    UnsupportedAlgorithm(String),
    #[error("\"alg\" {alg} does not fit a {kty} key")]
    AlgorithmDoesNotFitKey { alg: Algorithm, kty: &'static str },
    #[error("curve {0:?} is not supported (P-256, P-384 and Ed25519 are)")]
    UnsupportedCurve(String),
    #[error("parameter {0:?} is missing or not a string")]
    MissingParameter(&'static str),
    #[error("parameter {0:?} is not valid base64url")]
    BadEncoding(&'static str),
    #[error("parameter {0:?} has the wrong length for the curve")]
    BadLength(&'static str),
    #[error(
        "RSA modulus of {0} bits is outside the accepted {RSA_MIN_BITS}..={RSA_MAX_BITS} bits"
    )]
    RsaKeySize(usize),
    #[error("the key material is invalid: {0}")]
    InvalidKey(String),
    #[error("more than {MAX_KEYS} keys in the set")]
    TooManyKeys,
}

/// Why no key could be chosen for a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("algorithm {0:?} is not verified with a JWKS key")]
    UnsupportedAlgorithm(String),
    /// The adapter may refetch the JWKS once (see `JwksRefetchGate`): the provider may have
    /// rotated its keys.
    #[error("no JWKS key has kid {0:?}")]
    UnknownKid(String),
    #[error("the JWKS key with kid {kid:?} cannot verify {alg}")]
    KidDoesNotFitAlgorithm { kid: String, alg: Algorithm },
    #[error("no JWKS key can verify {0}")]
    NoMatchingKey(Algorithm),
}

/// The usable keys of a provider's JWK Set.
///
/// Serialises to a standard JWKS (`{"keys":[...]}`, only the kept keys) and deserialises through
/// [`Jwks::parse`]'s rules, so the adapter can share it between workers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Jwks {
    keys: Vec<Jwk>,
    skipped: Vec<SkippedKey>,
}

impl Jwks {
    /// Parses a JWK Set. Only a document that is not a JSON object with a `keys` array is an
    /// error; unusable keys are skipped (see [`Jwks::skipped`]).
    pub fn parse(bytes: &[u8]) -> Result<Jwks, DiscoveryError> {
        Self::from_object(&parse_object(bytes, WHAT)?)
    }

    fn from_object(doc: &Map<String, Value>) -> Result<Jwks, DiscoveryError> {
        let Some(Value::Array(published)) = doc.get("keys") else {
            return Err(DiscoveryError::MissingKeys);
        };
        let mut jwks = Jwks::default();
        for (index, entry) in published.iter().enumerate() {
            let kid = entry.get("kid").and_then(Value::as_str).map(str::to_string);
            let outcome = if jwks.keys.len() >= MAX_KEYS {
                Err(SkipReason::TooManyKeys)
            } else {
                decode_jwk(entry)
            };
            match outcome {
                Ok(jwk) => jwks.keys.push(jwk),
                Err(reason) => jwks.skipped.push(SkippedKey { index, kid, reason }),
            }
        }
        Ok(jwks)
    }

    /// The keys that were kept, in published order.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// The keys that were not kept, for the log. Not carried through serialisation.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds the keys of another set (Kong's `extra_jwks_uris`), up to [`MAX_KEYS`] in all. Keys
    /// beyond the limit are recorded as skipped, with their position among `other`'s kept keys.
    pub fn extend(&mut self, other: Jwks) {
        let room = MAX_KEYS.saturating_sub(self.keys.len());
        let mut incoming = other.keys.into_iter();
        self.keys.extend(incoming.by_ref().take(room));
        self.skipped.extend(other.skipped);
        self.skipped
            .extend(incoming.enumerate().map(|(i, jwk)| SkippedKey {
                index: room.saturating_add(i),
                kid: jwk.kid,
                reason: SkipReason::TooManyKeys,
            }));
    }

    /// The key to verify a token whose header names `kid` (if any) and `alg`. The token's
    /// `alg` only narrows the choice: the chosen key must itself fit that algorithm.
    pub fn select(&self, kid: Option<&str>, alg: &str) -> Result<&Jwk, KeyError> {
        let alg = match Algorithm::from_name(alg) {
            Some(alg) if !alg.is_symmetric() => alg,
            _ => return Err(KeyError::UnsupportedAlgorithm(alg.to_string())),
        };
        self.candidates(kid, alg)?
            .next()
            .ok_or(KeyError::NoMatchingKey(alg))
    }

    /// Every key that may verify a token with this `kid` and `alg`, best first; never empty when
    /// `Ok`. With a `kid`, only keys carrying that id (unless no key of the set has any id, as
    /// with providers that publish bare keys: then `kid` cannot be used to choose). Without one,
    /// every key that fits `alg`.
    pub fn candidates<'s, 'k>(
        &'s self,
        kid: Option<&'k str>,
        alg: Algorithm,
    ) -> Result<impl Iterator<Item = &'s Jwk> + use<'s, 'k>, KeyError> {
        let set_has_kids = self.keys.iter().any(|k| k.kid.is_some());
        let wanted_kid = kid.filter(|_| set_has_kids);
        if let Some(wanted) = wanted_kid {
            let mut with_kid = self
                .keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(wanted))
                .peekable();
            if with_kid.peek().is_none() {
                return Err(KeyError::UnknownKid(wanted.to_string()));
            }
            if !with_kid.any(|k| k.accepts(alg)) {
                return Err(KeyError::KidDoesNotFitAlgorithm {
                    kid: wanted.to_string(),
                    alg,
                });
            }
        } else if !self.keys.iter().any(|k| k.accepts(alg)) {
            return Err(KeyError::NoMatchingKey(alg));
        }
        Ok(self.keys.iter().filter(move |k| {
            k.accepts(alg) && wanted_kid.is_none_or(|wanted| k.kid.as_deref() == Some(wanted))
        }))
    }
}

/// Decodes one published JWK, or says why it is not used.
fn decode_jwk(entry: &Value) -> Result<Jwk, SkipReason> {
    let Value::Object(members) = entry else {
        return Err(SkipReason::NotAnObject);
    };
    let kid = match members.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(SkipReason::InvalidKid),
    };
    let kty = members
        .get("kty")
        .and_then(Value::as_str)
        .ok_or(SkipReason::MissingKty)?;
    if kty == "oct" {
        return Err(SkipReason::SymmetricKey);
    }
    if let Some(key_use) = members.get("use").and_then(Value::as_str) {
        if key_use != "sig" {
            return Err(SkipReason::NotForSignatures(key_use.to_string()));
        }
    }
    if let Some(Value::Array(ops)) = members.get("key_ops") {
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Err(SkipReason::NotForVerification);
        }
    }
    let alg = match members.get("alg").and_then(Value::as_str) {
        None => None,
        Some(name) => match Algorithm::from_name(name) {
            Some(alg) => Some(alg),
            None => return Err(SkipReason::UnsupportedAlgorithm(name.to_string())),
        },
    };
    let key = match kty {
        "RSA" => decode_rsa(members)?,
        "EC" => decode_ec(members)?,
        "OKP" => decode_okp(members)?,
        other => return Err(SkipReason::UnsupportedKeyType(other.to_string())),
    };
    if let Some(alg) = alg {
        if !key.fits(alg) {
            return Err(SkipReason::AlgorithmDoesNotFitKey {
                alg,
                kty: key.kty(),
            });
        }
    }
    Ok(Jwk { kid, alg, key })
}

fn decode_rsa(members: &Map<String, Value>) -> Result<PublicKey, SkipReason> {
    let n = BigUint::from_bytes_be(&b64_param(members, "n")?);
    let e = BigUint::from_bytes_be(&b64_param(members, "e")?);
    let bits = n.bits();
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(SkipReason::RsaKeySize(bits));
    }
    RsaPublicKey::new_with_max_size(n, e, RSA_MAX_BITS)
        .map(PublicKey::Rsa)
        .map_err(|e| SkipReason::InvalidKey(e.to_string()))
}

fn decode_ec(members: &Map<String, Value>) -> Result<PublicKey, SkipReason> {
    let crv = members
        .get("crv")
        .and_then(Value::as_str)
        .ok_or(SkipReason::MissingParameter("crv"))?;
    let coordinate_len = match crv {
        "P-256" => 32,
        "P-384" => 48,
        other => return Err(SkipReason::UnsupportedCurve(other.to_string())),
    };
    // SEC1 uncompressed point: 0x04 || x || y, each coordinate left-padded to the field size
    // (RFC 7518 requires full length, but a few encoders drop leading zero bytes).
    let mut point = Vec::with_capacity(1 + 2 * coordinate_len);
    point.push(0x04);
    for name in ["x", "y"] {
        let coordinate = b64_param(members, name)?;
        let padding = coordinate_len
            .checked_sub(coordinate.len())
            .ok_or(SkipReason::BadLength(name))?;
        point.extend(std::iter::repeat_n(0u8, padding));
        point.extend_from_slice(&coordinate);
    }
    let key = if coordinate_len == 32 {
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map(PublicKey::P256)
    } else {
        p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).map(PublicKey::P384)
    };
    // The only failure is a point that is not on the curve (or the identity).
    key.map_err(|_| SkipReason::InvalidKey("the EC point is not on the curve".into()))
}

fn decode_okp(members: &Map<String, Value>) -> Result<PublicKey, SkipReason> {
    let crv = members
        .get("crv")
        .and_then(Value::as_str)
        .ok_or(SkipReason::MissingParameter("crv"))?;
    if crv != "Ed25519" {
        return Err(SkipReason::UnsupportedCurve(crv.to_string()));
    }
    let x: [u8; 32] = b64_param(members, "x")?
        .try_into()
        .map_err(|_| SkipReason::BadLength("x"))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&x)
        .map_err(|e| SkipReason::InvalidKey(e.to_string()))?;
    if key.is_weak() {
        return Err(SkipReason::InvalidKey(
            "weak (small-order) Ed25519 point".into(),
        ));
    }
    Ok(PublicKey::Ed25519(key))
}

fn b64_param(members: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, SkipReason> {
    let text = members
        .get(name)
        .and_then(Value::as_str)
        .ok_or(SkipReason::MissingParameter(name))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| SkipReason::BadEncoding(name))
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Serialize for Jwk {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut jwk = serializer.serialize_struct("Jwk", 7)?;
        jwk.serialize_field("kty", self.key.kty())?;
        if let Some(kid) = &self.kid {
            jwk.serialize_field("kid", kid)?;
        }
        if let Some(alg) = self.alg {
            jwk.serialize_field("alg", alg.name())?;
        }
        jwk.serialize_field("use", "sig")?;
        match &self.key {
            PublicKey::Rsa(key) => {
                jwk.serialize_field("n", &b64(&key.n().to_bytes_be()))?;
                jwk.serialize_field("e", &b64(&key.e().to_bytes_be()))?;
            }
            PublicKey::P256(key) => {
                let point = key.to_encoded_point(false);
                jwk.serialize_field("crv", "P-256")?;
                jwk.serialize_field("x", &b64(point.x().map(|x| x.as_slice()).unwrap_or(&[])))?;
                jwk.serialize_field("y", &b64(point.y().map(|y| y.as_slice()).unwrap_or(&[])))?;
            }
            PublicKey::P384(key) => {
                let point = key.to_encoded_point(false);
                jwk.serialize_field("crv", "P-384")?;
                jwk.serialize_field("x", &b64(point.x().map(|x| x.as_slice()).unwrap_or(&[])))?;
                jwk.serialize_field("y", &b64(point.y().map(|y| y.as_slice()).unwrap_or(&[])))?;
            }
            PublicKey::Ed25519(key) => {
                jwk.serialize_field("crv", "Ed25519")?;
                jwk.serialize_field("x", &b64(key.as_bytes()))?;
            }
        }
        jwk.end()
    }
}

impl Serialize for Jwks {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut set = serializer.serialize_struct("Jwks", 1)?;
        set.serialize_field("keys", &self.keys)?;
        set.end()
    }
}

impl<'de> Deserialize<'de> for Jwks {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Object(doc) => Jwks::from_object(&doc).map_err(serde::de::Error::custom),
            _ => Err(serde::de::Error::custom(DiscoveryError::NotAnObject {
                what: WHAT,
            })),
        }
    }
}

#[cfg(test)]
#[path = "jwks_tests.rs"]
mod tests;
