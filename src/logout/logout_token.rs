//! The logout token of OpenID Connect Back-Channel Logout 1.0 (section 2.4), validated as its
//! section 2.6 requires. The identity provider POSTs it to the relying party when a user's
//! session at the provider ends; it names the session (`sid`), the user (`sub`), or both.
//!
//! Validation, rule by rule (each has a test with a token that breaks only it):
//! 1. a signed JWT (never `alg: none`), verified with the provider's JWKS like an ID token;
//! 2. `iss` is the provider's issuer, `aud` contains our client id;
//! 3. `iat` and `exp` present, `exp` not passed and `iat` not in the future (with leeway);
//! 4. `iat` no older than [`MAX_AGE`]: a token kept by an attacker is worthless soon after;
//! 5. `jti` present (the caller refuses a `jti` seen before: replay);
//! 6. `events` is an object with the member `http://schemas.openid.net/event/backchannel-logout`
//!    whose value is an object;
//! 7. `sub` or `sid` present (strings);
//! 8. no `nonce` (it would let an ID token pass as a logout token).
//!
//! A `typ` header other than `logout+jwt` (or a JWT media type) is refused too (section 2.4
//! recommends explicit typing; an ID token has `typ: JWT` or none, and rule 6 refuses it).

use crate::discovery::Jwks;
use crate::token::{verify_jwt, TokenError, VerifyPolicy};

/// The `events` member that makes a JWT a logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How old (by `iat`) a logout token may be when it arrives.
pub const MAX_AGE: u64 = 300;

/// What a valid logout token ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutClaims {
    /// The provider's session id: sessions logged in with that `sid` end.
    pub sid: Option<String>,
    /// The user: every session of that user at this issuer ends.
    pub sub: Option<String>,
    /// The token's id, remembered until `exp` to refuse replays.
    pub jti: String,
    /// When the provider issued it.
    pub iat: u64,
    /// When it stops being valid.
    pub exp: u64,
}

/// Why a logout token was refused (answered with 400 `invalid_request`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoutTokenError {
    #[error("{0}")]
    Token(#[from] TokenError),
    #[error("the logout token's typ {0:?} is not logout+jwt")]
    WrongType(String),
    #[error("the logout token has no {0:?} claim")]
    Missing(&'static str),
    #[error("the logout token's {0:?} claim has the wrong type")]
    WrongClaimType(&'static str),
    #[error("the logout token has no back-channel logout event")]
    NoLogoutEvent,
    #[error("the logout token names neither a session (sid) nor a user (sub)")]
    NoSubject,
    #[error("the logout token carries a nonce, which logout tokens must not")]
    HasNonce,
    #[error("the logout token was issued at {iat}, more than {MAX_AGE} s before now ({now})")]
    TooOld { iat: u64, now: u64 },
}

/// Checks `token` against the provider's keys; `issuer` and `client_id` are ours.
pub fn verify_logout_token(
    token: &str,
    keys: &Jwks,
    issuer: &str,
    client_id: &str,
    leeway: u64,
    now: u64,
) -> Result<LogoutClaims, LogoutTokenError> {
    let policy = VerifyPolicy {
        issuers_allowed: vec![issuer.to_string()],
        audiences: vec![client_id.to_string()],
        leeway,
        require_exp: true,
        ..VerifyPolicy::default()
    };
    let verified = verify_jwt(token, keys, &policy, now)?;
    if let Some(typ) = verified.header.get("typ") {
        let typ = typ
            .as_str()
            .ok_or(LogoutTokenError::WrongClaimType("typ"))?;
        let typ = typ.to_ascii_lowercase();
        let typ = typ.strip_prefix("application/").unwrap_or(&typ);
        if typ != "logout+jwt" && typ != "jwt" {
            return Err(LogoutTokenError::WrongType(typ.to_string()));
        }
    }
    let claims = &verified.claims;
    let number = |name: &'static str| -> Result<u64, LogoutTokenError> {
        let value = claims.get(name).ok_or(LogoutTokenError::Missing(name))?;
        value
            .as_u64()
            .or_else(|| value.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .ok_or(LogoutTokenError::WrongClaimType(name))
    };
    let optional_string = |name: &'static str| -> Result<Option<String>, LogoutTokenError> {
        match claims.get(name) {
            None => Ok(None),
            Some(value) => value
                .as_str()
                .filter(|s| !s.is_empty())
                .map(|s| Some(s.to_string()))
                .ok_or(LogoutTokenError::WrongClaimType(name)),
        }
    };
    let iat = number("iat")?;
    let exp = number("exp")?;
    if iat.saturating_add(MAX_AGE).saturating_add(leeway) < now {
        return Err(LogoutTokenError::TooOld { iat, now });
    }
    let jti = optional_string("jti")?.ok_or(LogoutTokenError::Missing("jti"))?;
    let events = claims
        .get("events")
        .ok_or(LogoutTokenError::Missing("events"))?
        .as_object()
        .ok_or(LogoutTokenError::WrongClaimType("events"))?;
    if !events
        .get(BACKCHANNEL_LOGOUT_EVENT)
        .is_some_and(|event| event.is_object())
    {
        return Err(LogoutTokenError::NoLogoutEvent);
    }
    if claims.contains_key("nonce") {
        return Err(LogoutTokenError::HasNonce);
    }
    let sid = optional_string("sid")?;
    let sub = optional_string("sub")?;
    if sid.is_none() && sub.is_none() {
        return Err(LogoutTokenError::NoSubject);
    }
    Ok(LogoutClaims {
        sid,
        sub,
        jti,
        iat,
        exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::Algorithm;
    use crate::token::testkeys::{
        jwks_json, other_rsa_key, rsa_jwk, rsa_key, sign_compact, Signer, ISSUER, NOW,
    };
    use serde_json::{json, Value};

    const CLIENT: &str = "kong";

    fn keys() -> Jwks {
        Jwks::parse(&jwks_json(&[rsa_jwk(rsa_key(), "k1")])).unwrap()
    }

    fn good() -> Value {
        json!({
            "iss": ISSUER, "aud": CLIENT, "iat": NOW - 5, "exp": NOW + 120,
            "jti": "bWJq", "sid": "08a5019c-17e1-4977-8f42-65a12843ea02", "sub": "john",
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}}
        })
    }

    fn sign(claims: &Value) -> String {
        sign_with(
            json!({"alg": "RS256", "kid": "k1", "typ": "logout+jwt"}),
            claims,
        )
    }

    fn sign_with(header: Value, claims: &Value) -> String {
        sign_compact(&header, claims, &Signer::Rsa(rsa_key()), Algorithm::RS256)
    }

    fn check(token: &str) -> Result<LogoutClaims, LogoutTokenError> {
        verify_logout_token(token, &keys(), ISSUER, CLIENT, 0, NOW)
    }

    fn without(name: &str) -> Value {
        let mut claims = good();
        claims.as_object_mut().unwrap().remove(name);
        claims
    }

    fn with(name: &str, value: Value) -> Value {
        let mut claims = good();
        claims[name] = value;
        claims
    }

    #[test]
    fn a_valid_logout_token_names_the_session_and_the_user() {
        let claims = check(&sign(&good())).unwrap();
        assert_eq!(
            claims.sid.as_deref(),
            Some("08a5019c-17e1-4977-8f42-65a12843ea02")
        );
        assert_eq!(claims.sub.as_deref(), Some("john"));
        assert_eq!(claims.jti, "bWJq");
        assert_eq!((claims.iat, claims.exp), (NOW - 5, NOW + 120));
        // sid alone, sub alone, and the plain JWT type are fine too.
        assert!(check(&sign(&without("sub"))).is_ok());
        assert!(check(&sign(&without("sid"))).is_ok());
        let plain = json!({"alg": "RS256", "kid": "k1", "typ": "JWT"});
        assert!(check(&sign_with(plain, &good())).is_ok());
    }

    #[test]
    fn each_rule_refuses_a_token_that_breaks_only_it() {
        let other_key = sign_compact(
            &json!({"alg": "RS256", "kid": "k1"}),
            &good(),
            &Signer::Rsa(other_rsa_key()),
            Algorithm::RS256,
        );
        let unsigned = {
            let token = sign(&good());
            let mut parts: Vec<&str> = token.split('.').collect();
            let header = crate::token::testkeys::b64(br#"{"alg":"none"}"#);
            parts[0] = &header;
            format!("{}.{}.", parts[0], parts[1])
        };
        let cases: Vec<(&str, String)> = vec![
            ("signed by another key", other_key),
            ("alg none", unsigned),
            (
                "other issuer",
                sign(&with("iss", json!("https://evil.example"))),
            ),
            ("other audience", sign(&with("aud", json!("someone-else")))),
            ("expired", sign(&with("exp", json!(NOW - 1)))),
            ("issued in the future", sign(&with("iat", json!(NOW + 60)))),
            ("too old", sign(&with("iat", json!(NOW - MAX_AGE - 1)))),
            ("no iat", sign(&without("iat"))),
            ("no exp", sign(&without("exp"))),
            ("no jti", sign(&without("jti"))),
            ("jti not a string", sign(&with("jti", json!(7)))),
            ("no events", sign(&without("events"))),
            (
                "events not an object",
                sign(&with("events", json!([BACKCHANNEL_LOGOUT_EVENT]))),
            ),
            (
                "other event",
                sign(&with("events", json!({"urn:other": {}}))),
            ),
            (
                "event not an object",
                sign(&with("events", json!({BACKCHANNEL_LOGOUT_EVENT: "x"}))),
            ),
            ("nonce", sign(&with("nonce", json!("n-0S6")))),
            (
                "neither sid nor sub",
                sign(&{
                    let mut claims = without("sid");
                    claims.as_object_mut().unwrap().remove("sub");
                    claims
                }),
            ),
            ("sid not a string", sign(&with("sid", json!(12)))),
            (
                "empty sub",
                sign(&{
                    let mut claims = with("sub", json!(""));
                    claims.as_object_mut().unwrap().remove("sid");
                    claims
                }),
            ),
            (
                "typ of an access token",
                sign_with(
                    json!({"alg": "RS256", "kid": "k1", "typ": "at+jwt"}),
                    &good(),
                ),
            ),
            ("not a JWT", "not-a-jwt".to_string()),
        ];
        for (what, token) in cases {
            assert!(check(&token).is_err(), "{what}: accepted");
        }
    }

    #[test]
    fn an_id_token_is_not_a_logout_token() {
        let id_token = json!({
            "iss": ISSUER, "aud": CLIENT, "iat": NOW - 5, "exp": NOW + 120,
            "sub": "john", "sid": "s1", "nonce": "n"
        });
        assert_eq!(
            check(&sign_with(json!({"alg": "RS256", "kid": "k1"}), &id_token)),
            Err(LogoutTokenError::Missing("jti"))
        );
    }

    #[test]
    fn leeway_applies_to_the_clock_checks() {
        let late = sign(&with("exp", json!(NOW - 10)));
        assert!(check(&late).is_err());
        assert!(verify_logout_token(&late, &keys(), ISSUER, CLIENT, 30, NOW).is_ok());
    }
}
