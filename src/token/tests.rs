//! verify_jwt with real keys and real signatures: every supported algorithm, the usual
//! forgeries, every claim rule, and no panic on arbitrary input.

use proptest::prelude::*;
use rsa::pkcs1::EncodeRsaPublicKey as _;
use serde_json::{json, Value};

use super::testkeys::*;
use super::*;
use crate::discovery::{Algorithm, Jwks};

/// A JWKS like the test IdP's: an RSA key (no `alg`, as oidc-provider may publish), plus EC,
/// Ed25519 keys.
fn provider_jwks() -> Jwks {
    Jwks::parse(&jwks_json(&[
        with(rsa_jwk(rsa_key(), "rsa-1"), json!({"use": "sig"})),
        p256_jwk(&p256_key(), "ec-256"),
        p384_jwk(&p384_key(), "ec-384"),
        ed25519_jwk(&ed25519_key(), "ed-1"),
    ]))
    .unwrap()
}

fn policy() -> VerifyPolicy {
    VerifyPolicy::for_issuer(ISSUER)
}

fn rs256(claims: &Value) -> String {
    token(
        Algorithm::RS256,
        Some("rsa-1"),
        claims,
        &Signer::Rsa(rsa_key()),
    )
}

fn verify(token: &str) -> Result<VerifiedJwt, TokenError> {
    verify_jwt(token, &provider_jwks(), &policy(), NOW)
}

/// The same token with one claim changed.
fn claims_with(name: &str, value: Value) -> Value {
    let mut claims = good_claims();
    claims[name] = value;
    claims
}

fn claims_without(name: &str) -> Value {
    let mut claims = good_claims();
    claims.as_object_mut().unwrap().remove(name);
    claims
}

// ---- signatures that verify ------------------------------------------------------------------

#[test]
fn rs256_token_from_the_provider_verifies_and_returns_its_claims() {
    let raw = rs256(&good_claims());
    let verified = verify(&raw).unwrap();
    assert_eq!(verified.raw, raw);
    assert_eq!(verified.claim_str("sub"), Some("alice"));
    assert_eq!(verified.claim_str("email"), Some("alice@example.com"));
    assert_eq!(verified.header.get("kid"), Some(&json!("rsa-1")));
    assert_eq!(verified.header.get("alg"), Some(&json!("RS256")));
}

#[test]
fn every_rsa_algorithm_verifies_with_the_rsa_key() {
    use Algorithm::*;
    for alg in [RS256, RS384, RS512, PS256, PS384, PS512] {
        let raw = token(alg, Some("rsa-1"), &good_claims(), &Signer::Rsa(rsa_key()));
        assert!(verify(&raw).is_ok(), "{alg}");
    }
}

#[test]
fn ec_and_eddsa_tokens_verify_with_their_keys() {
    let (k256, k384, ked) = (p256_key(), p384_key(), ed25519_key());
    let cases = [
        (Algorithm::ES256, "ec-256", Signer::P256(&k256)),
        (Algorithm::ES384, "ec-384", Signer::P384(&k384)),
        (Algorithm::EdDSA, "ed-1", Signer::Ed25519(&ked)),
    ];
    for (alg, kid, signer) in &cases {
        let raw = token(*alg, Some(kid), &good_claims(), signer);
        assert!(verify(&raw).is_ok(), "{alg}");
        // Without a kid the key is found by algorithm.
        let raw = token(*alg, None, &good_claims(), signer);
        assert!(verify(&raw).is_ok(), "{alg} without kid");
    }
}

#[test]
fn without_kid_every_fitting_key_is_tried() {
    let jwks = Jwks::parse(&jwks_json(&[
        rsa_jwk(other_rsa_key(), "old"),
        rsa_jwk(rsa_key(), "new"),
    ]))
    .unwrap();
    let raw = token(
        Algorithm::RS256,
        None,
        &good_claims(),
        &Signer::Rsa(rsa_key()),
    );
    assert!(verify_jwt(&raw, &jwks, &policy(), NOW).is_ok());
}

#[test]
fn hs256_verifies_with_the_client_secret_only_when_enabled() {
    let secret = b"client-secret-of-32-bytes-or-so!";
    let raw = token(
        Algorithm::HS256,
        None,
        &good_claims(),
        &Signer::Hmac(secret),
    );

    let disabled = verify_jwt(&raw, &provider_jwks(), &policy(), NOW);
    assert_eq!(
        disabled,
        Err(TokenError::HsSignaturesDisabled(Algorithm::HS256))
    );

    let mut enabled = policy();
    enabled.enable_hs_signatures = true;
    assert_eq!(
        verify_jwt(&raw, &provider_jwks(), &enabled, NOW),
        Err(TokenError::MissingHsSecret(Algorithm::HS256))
    );
    enabled.hs_secret = Some(Vec::new());
    assert_eq!(
        verify_jwt(&raw, &provider_jwks(), &enabled, NOW),
        Err(TokenError::MissingHsSecret(Algorithm::HS256))
    );
    enabled.hs_secret = Some(secret.to_vec());
    assert!(verify_jwt(&raw, &provider_jwks(), &enabled, NOW).is_ok());
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let raw = token(alg, None, &good_claims(), &Signer::Hmac(secret));
        assert!(
            verify_jwt(&raw, &provider_jwks(), &enabled, NOW).is_ok(),
            "{alg}"
        );
    }
    enabled.hs_secret = Some(b"another-secret".to_vec());
    assert_eq!(
        verify_jwt(&raw, &provider_jwks(), &enabled, NOW),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn hs_keys_published_in_the_jwks_are_never_used() {
    let secret = b"published-oct-secret";
    let jwks = Jwks::parse(&jwks_json(&[
        json!({"kty": "oct", "kid": "hs", "k": b64(secret), "alg": "HS256"}),
        rsa_jwk(rsa_key(), "rsa-1"),
    ]))
    .unwrap();
    let raw = token(
        Algorithm::HS256,
        Some("hs"),
        &good_claims(),
        &Signer::Hmac(secret),
    );
    let mut enabled = policy();
    enabled.enable_hs_signatures = true;
    assert_eq!(
        verify_jwt(&raw, &jwks, &enabled, NOW),
        Err(TokenError::MissingHsSecret(Algorithm::HS256))
    );
}

// ---- forgeries --------------------------------------------------------------------------------

#[test]
fn alg_none_is_rejected_even_without_signature_verification() {
    for alg in ["none", "None", "NONE"] {
        let header = b64(json!({"alg": alg}).to_string().as_bytes());
        let payload = b64(good_claims().to_string().as_bytes());
        for raw in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}.AAAA"),
        ] {
            assert_eq!(
                verify(&raw),
                Err(TokenError::UnsupportedAlgorithm(alg.to_string()))
            );
            let mut lax = policy();
            lax.verify_signature = false;
            assert!(verify_jwt(&raw, &provider_jwks(), &lax, NOW).is_err());
        }
    }
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_rejected() {
    let public = rsa_key().to_public_key();
    let secrets = [
        public.to_pkcs1_der().unwrap().as_bytes().to_vec(),
        serde_json::to_vec(&rsa_jwk(rsa_key(), "rsa-1")).unwrap(),
    ];
    for secret in &secrets {
        // The attacker names the RSA key's kid, hoping its material is used as the HMAC secret.
        let raw = token(
            Algorithm::HS256,
            Some("rsa-1"),
            &good_claims(),
            &Signer::Hmac(secret),
        );
        assert_eq!(
            verify(&raw),
            Err(TokenError::HsSignaturesDisabled(Algorithm::HS256))
        );
        // Even with HS enabled, only the configured client secret is used.
        let mut enabled = policy();
        enabled.enable_hs_signatures = true;
        enabled.hs_secret = Some(b"the-real-client-secret".to_vec());
        assert_eq!(
            verify_jwt(&raw, &provider_jwks(), &enabled, NOW),
            Err(TokenError::BadSignature)
        );
    }
}

#[test]
fn unknown_kid_is_reported_for_a_refetch() {
    let raw = token(
        Algorithm::RS256,
        Some("rotated-2"),
        &good_claims(),
        &Signer::Rsa(rsa_key()),
    );
    let err = verify(&raw).unwrap_err();
    assert_eq!(err, TokenError::UnknownKid("rotated-2".into()));
    assert!(err.is_key_miss());
    assert!(err.to_string().contains("\"rotated-2\""), "{err}");
}

#[test]
fn alg_that_does_not_fit_the_named_key_is_rejected() {
    // ES256 header naming the RSA key: the key decides, and an RSA key cannot verify ES256.
    let k256 = p256_key();
    let raw = token(
        Algorithm::ES256,
        Some("rsa-1"),
        &good_claims(),
        &Signer::P256(&k256),
    );
    assert_eq!(
        verify(&raw),
        Err(TokenError::NoMatchingKey {
            alg: Algorithm::ES256,
            kid: Some("rsa-1".into())
        })
    );
}

#[test]
fn a_key_pinned_to_one_algorithm_verifies_no_other() {
    let jwks = Jwks::parse(&jwks_json(&[with(
        rsa_jwk(rsa_key(), "rsa-1"),
        json!({"alg": "RS256"}),
    )]))
    .unwrap();
    let raw = token(
        Algorithm::PS256,
        Some("rsa-1"),
        &good_claims(),
        &Signer::Rsa(rsa_key()),
    );
    assert!(matches!(
        verify_jwt(&raw, &jwks, &policy(), NOW),
        Err(TokenError::NoMatchingKey {
            alg: Algorithm::PS256,
            ..
        })
    ));
    let raw = token(
        Algorithm::RS256,
        Some("rsa-1"),
        &good_claims(),
        &Signer::Rsa(rsa_key()),
    );
    assert!(verify_jwt(&raw, &jwks, &policy(), NOW).is_ok());
}

#[test]
fn a_token_signed_by_another_key_with_the_same_kid_is_rejected() {
    let raw = token(
        Algorithm::RS256,
        Some("rsa-1"),
        &good_claims(),
        &Signer::Rsa(other_rsa_key()),
    );
    assert_eq!(verify(&raw), Err(TokenError::BadSignature));
    let raw = token(
        Algorithm::RS256,
        None,
        &good_claims(),
        &Signer::Rsa(other_rsa_key()),
    );
    assert_eq!(verify(&raw), Err(TokenError::BadSignature));
}

#[test]
fn unsupported_algorithms_are_named() {
    let raw = sign_compact(
        &json!({"alg": "ES512", "kid": "ec-256"}),
        &good_claims(),
        &Signer::P256(&p256_key()),
        Algorithm::ES256,
    );
    assert_eq!(
        verify(&raw),
        Err(TokenError::UnsupportedAlgorithm("ES512".into()))
    );
}

#[test]
fn tampered_payload_is_rejected() {
    let raw = rs256(&good_claims());
    let parts: Vec<&str> = raw.split('.').collect();
    let forged_claims = claims_with("sub", json!("admin"));
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(forged_claims.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(verify(&forged), Err(TokenError::BadSignature));
}

#[test]
fn tampered_signatures_are_rejected_for_every_key_type() {
    let (k256, k384, ked) = (p256_key(), p384_key(), ed25519_key());
    let cases = [
        (Algorithm::RS256, "rsa-1", Signer::Rsa(rsa_key())),
        (Algorithm::PS256, "rsa-1", Signer::Rsa(rsa_key())),
        (Algorithm::ES256, "ec-256", Signer::P256(&k256)),
        (Algorithm::ES384, "ec-384", Signer::P384(&k384)),
        (Algorithm::EdDSA, "ed-1", Signer::Ed25519(&ked)),
    ];
    for (alg, kid, signer) in &cases {
        let raw = token(*alg, Some(kid), &good_claims(), signer);
        let (input, sig) = raw.rsplit_once('.').unwrap();
        let mut sig = URL_SAFE_NO_PAD_decode(sig);
        sig[5] ^= 0x01;
        let flipped = format!("{input}.{}", b64(&sig));
        assert_eq!(verify(&flipped), Err(TokenError::BadSignature), "{alg}");
        let short = format!("{input}.{}", b64(&sig[..sig.len() - 1]));
        assert_eq!(verify(&short), Err(TokenError::BadSignature), "{alg} short");
        let empty = format!("{input}.");
        assert_eq!(verify(&empty), Err(TokenError::BadSignature), "{alg} empty");
    }
}

#[allow(non_snake_case)]
fn URL_SAFE_NO_PAD_decode(part: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap()
}

#[test]
fn truncated_and_garbled_tokens_are_malformed() {
    let raw = rs256(&good_claims());
    let (header, rest) = raw.split_once('.').unwrap();
    let payload = rest.split_once('.').unwrap().0;
    let cases = [
        String::new(),
        ".".into(),
        "..".into(),
        header.to_string(),
        format!("{header}.{payload}"),
        "not a token".into(),
        format!("{header}.{payload}.sig.extra"),
        "@@@.###.$$$".into(),
        format!("{header}.!!!!.{}", rest.rsplit_once('.').unwrap().1),
        format!("{}.{payload}.AAAA", b64(b"[\"alg\"]")),
        format!("{}.{payload}.AAAA", b64(b"{\"alg\":5}")),
        format!("{header}.{}.AAAA", b64(b"\"just a string\"")),
        format!("{header}.{}.AAAA", b64(b"{not json")),
    ];
    for case in &cases {
        assert!(
            matches!(verify(case), Err(TokenError::Malformed(_))),
            "{case:?}: {:?}",
            verify(case)
        );
    }
}

#[test]
fn truncated_tokens_are_rejected_wherever_they_are_cut() {
    let raw = rs256(&good_claims());
    for cut in 0..raw.len() {
        let truncated = &raw[..cut];
        assert!(
            matches!(
                verify(truncated),
                Err(TokenError::Malformed(_) | TokenError::BadSignature)
            ),
            "cut at {cut}: {:?}",
            verify(truncated)
        );
    }
}

#[test]
fn encrypted_tokens_are_named_as_such() {
    let err = verify("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d").unwrap_err();
    assert!(err.to_string().contains("JWE"), "{err}");
}

#[test]
fn huge_tokens_are_refused_before_decoding() {
    let huge = format!("{}.{}.{}", "a".repeat(40_000), "b".repeat(40_000), "c");
    assert_eq!(
        verify(&huge),
        Err(TokenError::TooLarge {
            len: huge.len(),
            max: MAX_TOKEN_LEN
        })
    );
    // A big but legal token (many groups) still verifies.
    let groups: Vec<String> = (0..1000).map(|i| format!("group-{i}")).collect();
    let raw = rs256(&claims_with("groups", json!(groups)));
    assert!(raw.len() > 16 * 1024 && raw.len() < MAX_TOKEN_LEN);
    assert!(verify(&raw).is_ok());
}

#[test]
fn critical_header_extensions_are_rejected() {
    let raw = sign_compact(
        &json!({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"], "exp": 1}),
        &good_claims(),
        &Signer::Rsa(rsa_key()),
        Algorithm::RS256,
    );
    assert!(matches!(verify(&raw), Err(TokenError::Malformed(m)) if m.contains("critical")));
}

// ---- claims -----------------------------------------------------------------------------------

#[test]
fn wrong_or_missing_issuer_is_rejected() {
    let raw = rs256(&claims_with("iss", json!("https://evil.example")));
    assert_eq!(
        verify(&raw),
        Err(TokenError::IssuerNotAllowed("https://evil.example".into()))
    );
    assert_eq!(
        verify(&rs256(&claims_without("iss"))),
        Err(TokenError::MissingClaim("iss"))
    );
    assert_eq!(
        verify(&rs256(&claims_with("iss", json!(["x"])))),
        Err(TokenError::InvalidClaim("iss"))
    );
}

#[test]
fn issuer_trailing_slash_is_not_significant_but_prefixes_are() {
    assert!(verify(&rs256(&claims_with("iss", json!(format!("{ISSUER}/"))))).is_ok());
    assert!(verify(&rs256(&claims_with("iss", json!(format!("{ISSUER}0"))))).is_err());
    assert!(verify(&rs256(&claims_with("iss", json!("http://127.0.0.1:300")))).is_err());
}

#[test]
fn any_of_several_allowed_issuers_is_accepted() {
    let mut p = policy();
    p.issuers_allowed = vec!["https://a.example".into(), "https://b.example".into()];
    let raw = rs256(&claims_with("iss", json!("https://b.example")));
    assert!(verify_jwt(&raw, &provider_jwks(), &p, NOW).is_ok());
}

#[test]
fn an_empty_issuer_list_rejects_everything() {
    let mut p = policy();
    p.issuers_allowed.clear();
    assert_eq!(
        verify_jwt(&rs256(&good_claims()), &provider_jwks(), &p, NOW),
        Err(TokenError::NoIssuersAllowed)
    );
}

#[test]
fn expiry_is_enforced_with_leeway() {
    let raw = rs256(&claims_with("exp", json!(NOW - 5)));
    assert_eq!(
        verify(&raw),
        Err(TokenError::Expired {
            exp: (NOW - 5) as i64,
            now: NOW
        })
    );
    // Exactly at exp the token is no longer valid.
    assert!(matches!(
        verify(&rs256(&claims_with("exp", json!(NOW)))),
        Err(TokenError::Expired { .. })
    ));
    let mut lenient = policy();
    lenient.leeway = 10;
    assert!(verify_jwt(&raw, &provider_jwks(), &lenient, NOW).is_ok());
    lenient.leeway = 5;
    assert!(verify_jwt(&raw, &provider_jwks(), &lenient, NOW).is_err());
}

#[test]
fn exp_is_required_unless_the_policy_says_otherwise() {
    let raw = rs256(&claims_without("exp"));
    assert_eq!(verify(&raw), Err(TokenError::MissingClaim("exp")));
    let mut p = policy();
    p.require_exp = false;
    assert!(verify_jwt(&raw, &provider_jwks(), &p, NOW).is_ok());
}

#[test]
fn not_yet_valid_tokens_are_rejected_with_leeway() {
    let raw = rs256(&claims_with("nbf", json!(NOW + 30)));
    assert_eq!(
        verify(&raw),
        Err(TokenError::NotYetValid {
            nbf: (NOW + 30) as i64,
            now: NOW
        })
    );
    let mut lenient = policy();
    lenient.leeway = 30;
    assert!(verify_jwt(&raw, &provider_jwks(), &lenient, NOW).is_ok());
    assert!(verify(&rs256(&claims_with("nbf", json!(NOW)))).is_ok());
}

#[test]
fn tokens_issued_in_the_future_beyond_leeway_are_rejected() {
    let raw = rs256(&claims_with("iat", json!(NOW + 120)));
    assert_eq!(
        verify(&raw),
        Err(TokenError::IssuedInFuture {
            iat: (NOW + 120) as i64,
            now: NOW
        })
    );
    let mut lenient = policy();
    lenient.leeway = 119;
    assert!(verify_jwt(&raw, &provider_jwks(), &lenient, NOW).is_err());
    lenient.leeway = 120;
    assert!(verify_jwt(&raw, &provider_jwks(), &lenient, NOW).is_ok());
}

#[test]
fn numeric_dates_may_be_fractional_but_not_strings() {
    assert!(verify(&rs256(&claims_with("exp", json!((NOW + 60) as f64 + 0.5)))).is_ok());
    assert!(matches!(
        verify(&rs256(&claims_with("exp", json!((NOW - 60) as f64 + 0.5)))),
        Err(TokenError::Expired { .. })
    ));
    assert_eq!(
        verify(&rs256(&claims_with("exp", json!("tomorrow")))),
        Err(TokenError::InvalidClaim("exp"))
    );
    assert_eq!(
        verify(&rs256(&claims_with("nbf", json!(null)))),
        Err(TokenError::InvalidClaim("nbf"))
    );
    // Huge and negative values do not overflow.
    assert!(verify(&rs256(&claims_with("exp", json!(u64::MAX)))).is_ok());
    assert!(verify(&rs256(&claims_with("exp", json!(1e300)))).is_ok());
    assert!(matches!(
        verify(&rs256(&claims_with("exp", json!(i64::MIN)))),
        Err(TokenError::Expired { .. })
    ));
    assert!(matches!(
        verify(&rs256(&claims_with("iat", json!(u64::MAX)))),
        Err(TokenError::IssuedInFuture { .. })
    ));
}

#[test]
fn audience_must_match_when_required() {
    let mut p = policy();
    p.audiences = vec!["kong".into(), "other-client".into()];
    for aud in [
        json!("kong"),
        json!(["api", "kong"]),
        json!(["other-client"]),
    ] {
        let raw = rs256(&claims_with("aud", aud.clone()));
        assert!(verify_jwt(&raw, &provider_jwks(), &p, NOW).is_ok(), "{aud}");
    }
    let raw = rs256(&claims_with("aud", json!(["api", "billing"])));
    assert_eq!(
        verify_jwt(&raw, &provider_jwks(), &p, NOW),
        Err(TokenError::AudienceMismatch {
            token_audiences: vec!["api".into(), "billing".into()]
        })
    );
    assert_eq!(
        verify_jwt(&rs256(&claims_without("aud")), &provider_jwks(), &p, NOW),
        Err(TokenError::MissingClaim("aud"))
    );
    assert_eq!(
        verify_jwt(
            &rs256(&claims_with("aud", json!(["kong", 7]))),
            &provider_jwks(),
            &p,
            NOW
        ),
        Err(TokenError::InvalidClaim("aud"))
    );
    // Without a required audience any aud is fine.
    assert!(verify(&rs256(&claims_with("aud", json!("anything")))).is_ok());
}

#[test]
fn nonce_must_match_when_expected() {
    let mut p = policy();
    p.nonce = Some("n-0S6_WzA2Mj".into());
    assert!(verify_jwt(&rs256(&good_claims()), &provider_jwks(), &p, NOW).is_ok());
    assert_eq!(
        verify_jwt(
            &rs256(&claims_with("nonce", json!("replayed"))),
            &provider_jwks(),
            &p,
            NOW
        ),
        Err(TokenError::NonceMismatch)
    );
    assert_eq!(
        verify_jwt(&rs256(&claims_without("nonce")), &provider_jwks(), &p, NOW),
        Err(TokenError::MissingClaim("nonce"))
    );
}

#[test]
fn verify_signature_false_skips_only_the_signature() {
    let mut p = policy();
    p.verify_signature = false;
    let foreign = token(
        Algorithm::RS256,
        Some("nobody"),
        &good_claims(),
        &Signer::Rsa(other_rsa_key()),
    );
    assert!(verify_jwt(&foreign, &provider_jwks(), &p, NOW).is_ok());
    let expired = token(
        Algorithm::RS256,
        Some("nobody"),
        &claims_with("exp", json!(NOW - 1)),
        &Signer::Rsa(other_rsa_key()),
    );
    assert!(matches!(
        verify_jwt(&expired, &provider_jwks(), &p, NOW),
        Err(TokenError::Expired { .. })
    ));
}

#[test]
fn verify_claims_false_skips_only_the_claims() {
    let mut p = policy();
    p.verify_claims = false;
    let expired = rs256(&claims_with("exp", json!(NOW - 1000)));
    assert!(verify_jwt(&expired, &provider_jwks(), &p, NOW).is_ok());
    let forged = token(
        Algorithm::RS256,
        Some("rsa-1"),
        &good_claims(),
        &Signer::Rsa(other_rsa_key()),
    );
    assert_eq!(
        verify_jwt(&forged, &provider_jwks(), &p, NOW),
        Err(TokenError::BadSignature)
    );
}

// ---- helpers for callers ------------------------------------------------------------------------

#[test]
fn decode_unverified_reads_without_checking() {
    let raw = token(
        Algorithm::RS256,
        Some("nobody"),
        &good_claims(),
        &Signer::Rsa(other_rsa_key()),
    );
    let (header, claims) = decode_unverified(&raw).unwrap();
    assert_eq!(header.get("kid"), Some(&json!("nobody")));
    assert_eq!(claims.get("sub"), Some(&json!("alice")));
    assert!(matches!(
        decode_unverified("abc"),
        Err(TokenError::Malformed(_))
    ));
}

#[test]
fn looks_like_jwt_tells_jwts_from_opaque_tokens() {
    assert!(looks_like_jwt(&rs256(&good_claims())));
    let header = b64(br#"{"alg":"none"}"#);
    assert!(looks_like_jwt(&format!("{header}.{}.", b64(b"{}"))));
    for opaque in [
        "",
        "2YotnFZFEjr1zCsicMWpAA",
        "a.b.c",
        "eyJhbGciOiJSUzI1NiJ9..sig",
        "eyJhbGciOiJSUzI1NiJ9.e30",
        "x.y.z.w.v",
    ] {
        assert!(!looks_like_jwt(opaque), "{opaque}");
    }
}

#[test]
fn errors_read_well_and_map_to_invalid_token() {
    let cases = [
        (
            TokenError::Expired { exp: 10, now: 20 },
            "the token expired at 10 (now 20)",
        ),
        (
            TokenError::HsSignaturesDisabled(Algorithm::HS256),
            "the token is signed with HS256, but HS signatures are disabled (enable_hs_signatures)",
        ),
        (
            TokenError::NoMatchingKey {
                alg: Algorithm::ES256,
                kid: Some("k".into()),
            },
            "no key in the provider's JWKS can verify ES256 with key id \"k\"",
        ),
        (
            TokenError::MissingClaim("nonce"),
            "the token has no \"nonce\" claim",
        ),
    ];
    for (err, text) in cases {
        assert_eq!(err.to_string(), text);
        assert_eq!(err.error_code(), "invalid_token");
    }
    assert!(!TokenError::BadSignature.is_key_miss());
}

#[test]
fn token_values_in_errors_are_clipped_and_escaped() {
    let long_kid = format!("{}\r\nInjected: yes", "k".repeat(100));
    let raw = token(
        Algorithm::RS256,
        Some(&long_kid),
        &good_claims(),
        &Signer::Rsa(rsa_key()),
    );
    let text = verify(&raw).unwrap_err().to_string();
    assert!(!text.contains('\n') && !text.contains('\r'), "{text}");
    assert!(text.len() < 140, "{text}");
}

#[test]
fn policy_debug_hides_the_secret() {
    let mut p = policy();
    p.hs_secret = Some(b"s3cr3t".to_vec());
    let text = format!("{p:?}");
    assert!(!text.contains("s3cr3t") && !text.contains("115"), "{text}");
}

// ---- no panic on any input ------------------------------------------------------------------------

fn b64_part() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_-]{0,80}",
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|b| b64(&b)),
        "\\PC{0,40}".prop_map(|s| b64(format!("{{\"alg\":\"{s}\"}}").as_bytes())),
        Just(b64(br#"{"alg":"RS256","kid":"rsa-1"}"#)),
        Just(b64(br#"{"alg":"ES256"}"#)),
        Just(b64(br#"{"alg":"HS256","kid":"rsa-1"}"#)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn verify_never_panics_on_arbitrary_strings(token in "\\PC{0,300}") {
        let jwks = provider_jwks();
        let mut lax = policy();
        lax.verify_signature = false;
        lax.enable_hs_signatures = true;
        lax.hs_secret = Some(b"x".to_vec());
        let _ = verify_jwt(&token, &jwks, &policy(), NOW);
        let _ = verify_jwt(&token, &jwks, &lax, NOW);
        let _ = decode_unverified(&token);
        let _ = looks_like_jwt(&token);
    }

    #[test]
    fn verify_never_panics_on_jwt_shaped_strings(
        header in b64_part(),
        payload in b64_part(),
        signature in b64_part(),
        now in any::<u64>(),
        leeway in any::<u64>(),
    ) {
        let token = format!("{header}.{payload}.{signature}");
        let mut p = policy();
        p.leeway = leeway;
        p.enable_hs_signatures = true;
        p.hs_secret = Some(b"k".to_vec());
        p.audiences = vec!["kong".into()];
        p.nonce = Some("n".into());
        let _ = verify_jwt(&token, &provider_jwks(), &p, now);
        let _ = decode_unverified(&token);
    }

    #[test]
    fn verify_never_panics_on_arbitrary_claims(
        exp in prop_oneof![any::<i64>().prop_map(Value::from), any::<f64>().prop_map(Value::from), Just(Value::Null)],
        aud in prop_oneof![Just(json!("kong")), Just(json!([1, "kong"])), Just(json!({})), Just(json!([]))],
        now in any::<u64>(),
        leeway in any::<u64>(),
    ) {
        let mut claims = good_claims();
        claims["exp"] = exp.clone();
        claims["nbf"] = exp.clone();
        claims["iat"] = exp;
        claims["aud"] = aud;
        let raw = rs256(&claims);
        let mut p = policy();
        p.leeway = leeway;
        p.audiences = vec!["kong".into()];
        let _ = verify_jwt(&raw, &provider_jwks(), &p, now);
    }
}
