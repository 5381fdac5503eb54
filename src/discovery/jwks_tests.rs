//! JWKS parsing and key selection, with real public keys from `token::testkeys`.

use proptest::prelude::*;
use serde_json::json;

use super::{Algorithm, DiscoveryError, Jwks, KeyError, PublicKey, SkipReason, MAX_KEYS};
use crate::token::testkeys::*;

fn mixed_set() -> Vec<u8> {
    jwks_json(&[
        with(
            rsa_jwk(rsa_key(), "rsa-1"),
            json!({"alg": "RS256", "use": "sig"}),
        ),
        p256_jwk(&p256_key(), "ec-256"),
        p384_jwk(&p384_key(), "ec-384"),
        ed25519_jwk(&ed25519_key(), "ed-1"),
    ])
}

#[test]
fn keeps_every_supported_key_type() {
    let jwks = Jwks::parse(&mixed_set()).unwrap();
    assert!(jwks.skipped().is_empty(), "{:?}", jwks.skipped());
    let kinds: Vec<_> = jwks
        .keys()
        .iter()
        .map(|k| (k.kid.as_deref(), k.key.kty()))
        .collect();
    assert_eq!(
        kinds,
        [
            (Some("rsa-1"), "RSA"),
            (Some("ec-256"), "EC"),
            (Some("ec-384"), "EC"),
            (Some("ed-1"), "OKP")
        ]
    );
    assert_eq!(jwks.keys()[0].alg, Some(Algorithm::RS256));
    assert_eq!(jwks.keys()[1].alg, None);
}

#[test]
fn a_key_without_alg_is_usable_for_every_algorithm_of_its_type() {
    let jwks = Jwks::parse(&jwks_json(&[rsa_jwk(rsa_key(), "k")])).unwrap();
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        assert_eq!(
            jwks.select(Some("k"), alg).unwrap().kid.as_deref(),
            Some("k")
        );
        assert!(jwks.select(None, alg).is_ok());
    }
    assert_eq!(
        jwks.select(Some("k"), "ES256"),
        Err(KeyError::KidDoesNotFitAlgorithm {
            kid: "k".into(),
            alg: Algorithm::ES256
        })
    );
}

#[test]
fn each_key_type_fits_exactly_its_algorithms() {
    use Algorithm::*;
    let jwks = Jwks::parse(&mixed_set()).unwrap();
    let expected: [&[Algorithm]; 4] = [
        &[RS256, RS384, RS512, PS256, PS384, PS512],
        &[ES256],
        &[ES384],
        &[EdDSA],
    ];
    for (jwk, expected) in jwks.keys().iter().zip(expected) {
        let fitting: Vec<Algorithm> = Algorithm::ALL
            .into_iter()
            .filter(|alg| jwk.key.fits(*alg))
            .collect();
        let mut expected = expected.to_vec();
        expected.sort_by_key(|a| a.name());
        let mut fitting = fitting;
        fitting.sort_by_key(|a| a.name());
        assert_eq!(fitting, expected, "{}", jwk.key.kty());
    }
}

#[test]
fn small_order_ed25519_keys_are_skipped() {
    // The identity point (y = 1) is a valid encoding of a point of order 1.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let jwks = Jwks::parse(&jwks_json(&[
        json!({"kty": "OKP", "crv": "Ed25519", "kid": "weak", "x": b64(&identity)}),
    ]))
    .unwrap();
    assert!(jwks.is_empty());
    assert!(matches!(
        jwks.skipped()[0].reason,
        SkipReason::InvalidKey(_)
    ));
}

#[test]
fn selection_follows_kid_then_algorithm() {
    let jwks = Jwks::parse(&mixed_set()).unwrap();
    assert_eq!(
        jwks.select(Some("ec-384"), "ES384").unwrap().kid.as_deref(),
        Some("ec-384")
    );
    assert_eq!(
        jwks.select(None, "ES256").unwrap().kid.as_deref(),
        Some("ec-256")
    );
    assert_eq!(
        jwks.select(None, "EdDSA").unwrap().kid.as_deref(),
        Some("ed-1")
    );
    assert_eq!(
        jwks.select(None, "RS256").unwrap().kid.as_deref(),
        Some("rsa-1")
    );
    // The RSA key is pinned to RS256.
    assert_eq!(
        jwks.select(None, "PS256"),
        Err(KeyError::NoMatchingKey(Algorithm::PS256))
    );
    assert_eq!(
        jwks.select(Some("nope"), "RS256"),
        Err(KeyError::UnknownKid("nope".into()))
    );
    for alg in ["none", "HS256", "ES512", ""] {
        assert_eq!(
            jwks.select(None, alg),
            Err(KeyError::UnsupportedAlgorithm(alg.into())),
            "{alg}"
        );
    }
}

#[test]
fn kid_is_ignored_when_the_provider_publishes_no_kids() {
    let mut bare = rsa_jwk(rsa_key(), "x");
    bare.as_object_mut().unwrap().remove("kid");
    let jwks = Jwks::parse(&jwks_json(&[bare])).unwrap();
    assert!(jwks.select(Some("whatever"), "RS256").is_ok());
}

#[test]
fn same_kid_on_several_keys_picks_the_one_that_fits() {
    let jwks = Jwks::parse(&jwks_json(&[
        p256_jwk(&p256_key(), "shared"),
        rsa_jwk(rsa_key(), "shared"),
    ]))
    .unwrap();
    assert_eq!(
        jwks.select(Some("shared"), "RS256").unwrap().key.kty(),
        "RSA"
    );
    assert_eq!(
        jwks.select(Some("shared"), "ES256").unwrap().key.kty(),
        "EC"
    );
}

#[test]
fn unusable_keys_are_skipped_with_a_reason_and_the_rest_still_works() {
    let doc = jwks_json(&[
        json!({"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"}),
        json!({"kty": "EC", "kid": "k1", "crv": "secp256k1", "x": "AA", "y": "AA"}),
        json!({"kty": "EC", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA"}),
        json!({"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": "AA"}),
        json!({"kty": "PQC", "kid": "future"}),
        json!({"kty": "oct", "kid": "hs", "k": "c2VjcmV0"}),
        json!({"kid": "no-kty"}),
        json!("not an object"),
        json!({"kty": "RSA", "kid": 7, "n": "AQAB", "e": "AQAB"}),
        with(rsa_jwk(rsa_key(), "wrap"), json!({"key_ops": ["wrapKey"]})),
        with(rsa_jwk(rsa_key(), "oaep"), json!({"alg": "RSA-OAEP"})),
        with(rsa_jwk(rsa_key(), "mismatch"), json!({"alg": "ES256"})),
        json!({"kty": "RSA", "kid": "tiny", "n": b64(&[0xff; 64]), "e": "AQAB"}),
        json!({"kty": "RSA", "kid": "no-n", "e": "AQAB"}),
        json!({"kty": "EC", "kid": "off-curve", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[2; 32])}),
        json!({"kty": "EC", "kid": "long-x", "crv": "P-256", "x": b64(&[1; 33]), "y": b64(&[2; 32])}),
        json!({"kty": "OKP", "kid": "short", "crv": "Ed25519", "x": b64(&[1; 31])}),
        json!({"kty": "OKP", "kid": "bad-b64", "crv": "Ed25519", "x": "***"}),
        with(
            rsa_jwk(rsa_key(), "good"),
            json!({"use": "sig", "key_ops": ["verify"]}),
        ),
    ]);
    let jwks = Jwks::parse(&doc).unwrap();
    let kept: Vec<_> = jwks.keys().iter().map(|k| k.kid.as_deref()).collect();
    assert_eq!(kept, [Some("good")]);
    let reasons: Vec<_> = jwks
        .skipped()
        .iter()
        .map(|s| (s.index, s.reason.clone()))
        .collect();
    assert_eq!(
        reasons,
        [
            (0, SkipReason::NotForSignatures("enc".into())),
            (1, SkipReason::UnsupportedCurve("secp256k1".into())),
            (2, SkipReason::UnsupportedCurve("P-521".into())),
            (3, SkipReason::UnsupportedCurve("X25519".into())),
            (4, SkipReason::UnsupportedKeyType("PQC".into())),
            (5, SkipReason::SymmetricKey),
            (6, SkipReason::MissingKty),
            (7, SkipReason::NotAnObject),
            (8, SkipReason::InvalidKid),
            (9, SkipReason::NotForVerification),
            (10, SkipReason::UnsupportedAlgorithm("RSA-OAEP".into())),
            (
                11,
                SkipReason::AlgorithmDoesNotFitKey {
                    alg: Algorithm::ES256,
                    kty: "RSA"
                }
            ),
            (12, SkipReason::RsaKeySize(512)),
            (13, SkipReason::MissingParameter("n")),
            (
                14,
                SkipReason::InvalidKey("the EC point is not on the curve".into())
            ),
            (15, SkipReason::BadLength("x")),
            (16, SkipReason::BadLength("x")),
            (17, SkipReason::BadEncoding("x")),
        ]
    );
    assert_eq!(
        jwks.skipped()[0].to_string(),
        "JWKS key #0 (kid \"enc\") skipped: \"use\" is \"enc\", not \"sig\""
    );
    assert!(jwks.select(Some("good"), "RS256").is_ok());
}

#[test]
fn short_ec_coordinates_are_left_padded() {
    // Find a P-256 key whose x coordinate starts with a zero byte, and publish it stripped.
    let key = (1u16..4096)
        .map(|seed| {
            let mut scalar = [0x42u8; 32];
            scalar[30..].copy_from_slice(&seed.to_be_bytes());
            p256::ecdsa::SigningKey::from_slice(&scalar).unwrap()
        })
        .find(|k| k.verifying_key().to_encoded_point(false).x().unwrap()[0] == 0)
        .expect("about 16 of 4095 keys have a leading zero byte in x");
    let point = key.verifying_key().to_encoded_point(false);
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "z",
                     "x": b64(&point.x().unwrap()[1..]), "y": b64(point.y().unwrap())});
    let jwks = Jwks::parse(&jwks_json(&[jwk])).unwrap();
    assert!(jwks.skipped().is_empty(), "{:?}", jwks.skipped());
    assert_eq!(jwks.keys()[0].key, PublicKey::P256(*key.verifying_key()));
}

#[test]
fn malformed_sets_are_errors() {
    assert!(matches!(
        Jwks::parse(b"{\"keys\": [}"),
        Err(DiscoveryError::InvalidJson { .. })
    ));
    assert_eq!(Jwks::parse(b"{}"), Err(DiscoveryError::MissingKeys));
    assert_eq!(
        Jwks::parse(b"{\"keys\": {}}"),
        Err(DiscoveryError::MissingKeys)
    );
    assert_eq!(
        Jwks::parse(b"[]"),
        Err(DiscoveryError::NotAnObject { what: "JWKS" })
    );
    // An empty set parses; it just selects nothing.
    let empty = Jwks::parse(b"{\"keys\": []}").unwrap();
    assert!(empty.is_empty());
    assert_eq!(
        empty.select(None, "RS256"),
        Err(KeyError::NoMatchingKey(Algorithm::RS256))
    );
}

#[test]
fn sets_larger_than_the_limit_keep_the_first_keys() {
    let keys: Vec<_> = (0..MAX_KEYS + 3)
        .map(|i| ed25519_jwk(&ed25519_key(), &format!("k{i}")))
        .collect();
    let jwks = Jwks::parse(&jwks_json(&keys)).unwrap();
    assert_eq!(jwks.keys().len(), MAX_KEYS);
    assert_eq!(jwks.skipped().len(), 3);
    assert!(jwks
        .skipped()
        .iter()
        .all(|s| s.reason == SkipReason::TooManyKeys));
}

#[test]
fn extend_merges_extra_sets_up_to_the_limit() {
    let mut jwks = Jwks::parse(&jwks_json(&[rsa_jwk(rsa_key(), "main")])).unwrap();
    let extra = Jwks::parse(&jwks_json(&[
        p256_jwk(&p256_key(), "extra"),
        json!({"kty": "oct", "k": "AA"}),
    ]))
    .unwrap();
    jwks.extend(extra);
    assert!(jwks.select(Some("extra"), "ES256").is_ok());
    assert!(jwks.select(Some("main"), "RS256").is_ok());
    assert_eq!(jwks.skipped().len(), 1);

    let many: Vec<_> = (0..MAX_KEYS)
        .map(|i| ed25519_jwk(&ed25519_key(), &format!("m{i}")))
        .collect();
    jwks.extend(Jwks::parse(&jwks_json(&many)).unwrap());
    assert_eq!(jwks.keys().len(), MAX_KEYS);
    assert_eq!(jwks.skipped().len(), 1 + 2);
}

#[test]
fn serde_round_trip_keeps_every_key_and_its_constraints() {
    let jwks = Jwks::parse(&mixed_set()).unwrap();
    let shared = serde_json::to_vec(&jwks).unwrap();
    let back: Jwks = serde_json::from_slice(&shared).unwrap();
    assert_eq!(back, jwks);
    // The shared form is a standard JWKS.
    assert_eq!(Jwks::parse(&shared).unwrap(), jwks);
    let doc: serde_json::Value = serde_json::from_slice(&shared).unwrap();
    assert_eq!(doc["keys"][0]["alg"], "RS256");
    assert_eq!(doc["keys"][0]["kty"], "RSA");
    assert_eq!(doc["keys"][3]["crv"], "Ed25519");
    assert!(serde_json::from_str::<Jwks>("[1]").is_err());
    assert!(serde_json::from_str::<Jwks>("{\"nokeys\":1}").is_err());
}

proptest! {
    #[test]
    fn parse_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Jwks::parse(&bytes);
    }

    #[test]
    fn parse_never_panics_on_jwk_shaped_members(
        kty in prop_oneof![Just("RSA".to_string()), Just("EC".to_string()), Just("OKP".to_string()), Just("oct".to_string()), "[A-Z]{0,4}"],
        crv in prop_oneof![Just("P-256".to_string()), Just("P-384".to_string()), Just("Ed25519".to_string()), "\\PC{0,8}"],
        alg in proptest::option::of(prop_oneof![Just("RS256".to_string()), Just("ES256".to_string()), "\\PC{0,8}"]),
        n in proptest::collection::vec(any::<u8>(), 0..300),
        e in proptest::collection::vec(any::<u8>(), 0..10),
        x in proptest::collection::vec(any::<u8>(), 0..50),
        y in proptest::collection::vec(any::<u8>(), 0..50),
    ) {
        let mut jwk = json!({"kty": kty, "crv": crv, "n": b64(&n), "e": b64(&e), "x": b64(&x), "y": b64(&y)});
        if let Some(alg) = alg {
            jwk["alg"] = json!(alg);
        }
        if let Ok(jwks) = Jwks::parse(&jwks_json(&[jwk])) {
            let _ = jwks.select(None, "RS256");
            let _ = jwks.select(Some("k"), "ES256");
            let _ = serde_json::to_vec(&jwks);
        }
    }
}
