//! Every rule of OpenID Connect Core 2, 3.1.3.7 and 12.2 with a token that breaks only it
//! (after the OpenID Foundation's relying-party certification cases). Each token is signed
//! correctly, so a refusal can only come from the rule under test.

use serde_json::{json, Value};

use super::testkeys::*;
use super::*;
use crate::discovery::{Algorithm, Jwks};

const CLIENT: &str = "kong";
const ACCESS_TOKEN: &str = "an-access-token-issued-with-the-id-token";

fn keys() -> Jwks {
    Jwks::parse(&jwks_json(&[
        rsa_jwk(rsa_key(), "rsa-1"),
        p256_jwk(&p256_key(), "ec-256"),
    ]))
    .unwrap()
}

fn policy() -> VerifyPolicy {
    VerifyPolicy {
        nonce: Some("n-0S6_WzA2Mj".into()),
        ..VerifyPolicy::for_issuer(ISSUER)
    }
}

fn rules() -> IdTokenRules {
    IdTokenRules {
        client_id: CLIENT.into(),
        trusted_audiences: vec!["trusted-api".into()],
        algorithms: vec![Algorithm::RS256, Algorithm::ES256],
        max_age: Some(600),
        access_token: Some(ACCESS_TOKEN.into()),
        original: None,
    }
}

/// An ID token that passes every rule at NOW.
fn claims() -> Value {
    let mut claims = good_claims();
    claims["auth_time"] = json!(NOW - 60);
    claims["at_hash"] = json!(token_hash(Algorithm::RS256, ACCESS_TOKEN).unwrap());
    claims
}

fn rs256(claims: &Value) -> String {
    token(
        Algorithm::RS256,
        Some("rsa-1"),
        claims,
        &Signer::Rsa(rsa_key()),
    )
}

fn check_with(claims: &Value, rules: &IdTokenRules) -> Result<VerifiedJwt, TokenError> {
    verify_id_token(&rs256(claims), &keys(), &policy(), rules, NOW)
}

fn check(claims: &Value) -> Result<VerifiedJwt, TokenError> {
    check_with(claims, &rules())
}

fn with(name: &str, value: Value) -> Value {
    let mut c = claims();
    c[name] = value;
    c
}

fn without(name: &str) -> Value {
    let mut c = claims();
    c.as_object_mut().unwrap().remove(name);
    c
}

#[test]
fn a_valid_id_token_passes_every_rule() {
    let verified = check(&claims()).unwrap();
    assert_eq!(verified.claim_str("sub"), Some("alice"));
    // Several audiences are fine when the others are trusted and azp names the client.
    let mut several = with("aud", json!([CLIENT, "trusted-api"]));
    several["azp"] = json!(CLIENT);
    assert!(check(&several).is_ok());
}

#[test]
fn core_2_required_claims() {
    for name in ["iss", "sub", "aud", "exp", "iat"] {
        assert_eq!(
            check(&without(name)).unwrap_err(),
            TokenError::MissingClaim(name),
            "{name}"
        );
    }
    assert_eq!(
        check(&with("sub", json!(""))).unwrap_err(),
        TokenError::InvalidClaim("sub")
    );
    assert_eq!(
        check(&with("sub", json!(42))).unwrap_err(),
        TokenError::InvalidClaim("sub")
    );
    assert_eq!(
        check(&with("sub", json!("x".repeat(256)))).unwrap_err(),
        TokenError::InvalidClaim("sub")
    );
    assert!(check(&with("sub", json!("x".repeat(255)))).is_ok());
    assert_eq!(
        check(&with("aud", json!([]))).unwrap_err(),
        TokenError::InvalidClaim("aud")
    );
    assert_eq!(
        check(&with("iat", json!("now"))).unwrap_err(),
        TokenError::InvalidClaim("iat")
    );
}

#[test]
fn rule_2_the_issuer_matches_exactly() {
    // The generic check forgives a trailing slash; an ID token's issuer may not differ at all.
    let slash = with("iss", json!(format!("{ISSUER}/")));
    assert!(verify_jwt(&rs256(&slash), &keys(), &policy(), NOW).is_ok());
    assert!(matches!(
        check(&slash),
        Err(TokenError::IssuerNotAllowed(_))
    ));
    assert!(matches!(
        check(&with("iss", json!("http://evil.example"))),
        Err(TokenError::IssuerNotAllowed(_))
    ));
}

#[test]
fn rule_3_the_audience_contains_the_client_and_only_trusted_others() {
    assert!(matches!(
        check(&with("aud", json!("someone-else"))),
        Err(TokenError::AudienceMismatch { .. })
    ));
    let mut untrusted = with("aud", json!([CLIENT, "stranger"]));
    untrusted["azp"] = json!(CLIENT);
    assert_eq!(
        check(&untrusted).unwrap_err(),
        TokenError::UntrustedAudience("stranger".into())
    );
}

#[test]
fn rules_4_and_5_the_authorized_party() {
    let several = with("aud", json!([CLIENT, "trusted-api"]));
    assert_eq!(
        check(&several).unwrap_err(),
        TokenError::MissingClaim("azp")
    );
    let mut other = several.clone();
    other["azp"] = json!("trusted-api");
    assert_eq!(
        check(&other).unwrap_err(),
        TokenError::AuthorizedPartyMismatch("trusted-api".into())
    );
    // With one audience azp may be absent, but if present it must be the client.
    assert_eq!(
        check(&with("azp", json!("other"))).unwrap_err(),
        TokenError::AuthorizedPartyMismatch("other".into())
    );
    assert!(check(&with("azp", json!(CLIENT))).is_ok());
}

#[test]
fn rules_6_to_8_the_signature_and_its_algorithm() {
    // A token signed by another key.
    let forged = token(
        Algorithm::RS256,
        Some("rsa-1"),
        &claims(),
        &Signer::Rsa(other_rsa_key()),
    );
    assert_eq!(
        verify_id_token(&forged, &keys(), &policy(), &rules(), NOW).unwrap_err(),
        TokenError::BadSignature
    );
    // A correctly signed ES256 token when the client only accepts RS256.
    let mut es = claims();
    es["at_hash"] = json!(token_hash(Algorithm::ES256, ACCESS_TOKEN).unwrap());
    let es256 = token(
        Algorithm::ES256,
        Some("ec-256"),
        &es,
        &Signer::P256(&p256_key()),
    );
    assert!(verify_id_token(&es256, &keys(), &policy(), &rules(), NOW).is_ok());
    let rs_only = IdTokenRules {
        algorithms: vec![Algorithm::RS256],
        ..rules()
    };
    assert_eq!(
        verify_id_token(&es256, &keys(), &policy(), &rs_only, NOW).unwrap_err(),
        TokenError::AlgorithmNotAllowed(Algorithm::ES256)
    );
    // alg none, even with signature checks off.
    let header = b64(br#"{"alg":"none"}"#);
    let body = b64(claims().to_string().as_bytes());
    let unsigned = format!("{header}.{body}.");
    let lax = VerifyPolicy {
        verify_signature: false,
        ..policy()
    };
    assert!(matches!(
        verify_id_token(&unsigned, &keys(), &lax, &rules(), NOW),
        Err(TokenError::UnsupportedAlgorithm(_))
    ));
    // HS256 with the client secret only when HS signatures are enabled.
    let secret = b"client-secret-of-32-bytes-or-so!";
    let mut hs = claims();
    hs["at_hash"] = json!(token_hash(Algorithm::HS256, ACCESS_TOKEN).unwrap());
    let hs256 = token(Algorithm::HS256, None, &hs, &Signer::Hmac(secret));
    let any_alg = IdTokenRules {
        algorithms: Vec::new(),
        ..rules()
    };
    assert_eq!(
        verify_id_token(&hs256, &keys(), &policy(), &any_alg, NOW).unwrap_err(),
        TokenError::HsSignaturesDisabled(Algorithm::HS256)
    );
    let hs_policy = VerifyPolicy {
        enable_hs_signatures: true,
        hs_secret: Some(secret.to_vec()),
        ..policy()
    };
    assert!(verify_id_token(&hs256, &keys(), &hs_policy, &any_alg, NOW).is_ok());
}

#[test]
fn rules_9_and_10_expiry_and_issue_time() {
    assert!(matches!(
        check(&with("exp", json!(NOW))),
        Err(TokenError::Expired { .. })
    ));
    assert!(matches!(
        check(&with("iat", json!(NOW + 60))),
        Err(TokenError::IssuedInFuture { .. })
    ));
}

#[test]
fn rule_11_the_nonce_sent_comes_back() {
    assert_eq!(
        check(&without("nonce")).unwrap_err(),
        TokenError::MissingClaim("nonce")
    );
    assert_eq!(
        check(&with("nonce", json!("replayed"))).unwrap_err(),
        TokenError::NonceMismatch
    );
}

#[test]
fn rule_13_auth_time_when_max_age_was_requested() {
    assert_eq!(
        check(&without("auth_time")).unwrap_err(),
        TokenError::MissingClaim("auth_time")
    );
    assert!(matches!(
        check(&with("auth_time", json!(NOW - 601))),
        Err(TokenError::AuthenticationTooOld { max_age: 600, .. })
    ));
    // Without max_age, auth_time is optional.
    let no_max_age = IdTokenRules {
        max_age: None,
        ..rules()
    };
    assert!(check_with(&without("auth_time"), &no_max_age).is_ok());
    assert!(check_with(&with("auth_time", json!(NOW - 100_000)), &no_max_age).is_ok());
}

#[test]
fn at_hash_binds_the_access_token() {
    let other = IdTokenRules {
        access_token: Some("a-different-access-token".into()),
        ..rules()
    };
    assert_eq!(
        check_with(&claims(), &other).unwrap_err(),
        TokenError::AccessTokenHashMismatch
    );
    assert_eq!(
        check(&with("at_hash", json!("bm90IHRoZSBoYXNo"))).unwrap_err(),
        TokenError::AccessTokenHashMismatch
    );
    // at_hash is optional in the code flow.
    assert!(check(&without("at_hash")).is_ok());
    // Left halves of SHA-256/384/512, base64url (checked with Python's hashlib).
    let value = "jHkWEdUXMU1BwAsC4vtUsZwnNTfW8OHJ5Xi5C1BnyFuMQ";
    for (alg, expected) in [
        (Algorithm::RS256, "Gh9RUytS11X_lX3DNtfSEg"),
        (Algorithm::ES384, "KU6JatBk9aiH5SA2DV9Lb7-GTX311Nnl"),
        (
            Algorithm::PS512,
            "tojf6-X_GAcNG1gMOc09Qyqqd5ZYqGCtnVbusyJuwAc",
        ),
    ] {
        assert_eq!(token_hash(alg, value).as_deref(), Some(expected), "{alg}");
    }
}

#[test]
fn section_12_2_a_refreshed_id_token_describes_the_same_authentication() {
    let original = claims().as_object().unwrap().clone();
    let refresh = IdTokenRules {
        original: Some(original.clone()),
        max_age: None,
        ..rules()
    };
    let policy = VerifyPolicy {
        nonce: None,
        issuers_allowed: vec![ISSUER.into(), "http://other-issuer".into()],
        ..policy()
    };
    let check = |claims: &Value| verify_id_token(&rs256(claims), &keys(), &policy, &refresh, NOW);
    let mut same = claims();
    same["iat"] = json!(NOW - 1);
    same.as_object_mut().unwrap().remove("nonce");
    assert!(check(&same).is_ok());
    let changed = |name: &str, value: Value| {
        let mut c = same.clone();
        c[name] = value;
        c
    };
    assert_eq!(
        check(&changed("iss", json!("http://other-issuer"))).unwrap_err(),
        TokenError::ChangedOnRefresh("iss")
    );
    assert_eq!(
        check(&changed("sub", json!("mallory"))).unwrap_err(),
        TokenError::ChangedOnRefresh("sub")
    );
    let mut more_aud = changed("aud", json!([CLIENT, "trusted-api"]));
    more_aud["azp"] = json!(CLIENT);
    assert_eq!(
        check(&more_aud).unwrap_err(),
        TokenError::ChangedOnRefresh("aud")
    );
    assert_eq!(
        check(&changed("azp", json!(CLIENT))).unwrap_err(),
        TokenError::ChangedOnRefresh("azp")
    );
    assert_eq!(
        check(&changed("auth_time", json!(NOW - 5))).unwrap_err(),
        TokenError::ChangedOnRefresh("auth_time")
    );
}
