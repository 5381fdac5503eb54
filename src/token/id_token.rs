//! ID token validation, OpenID Connect Core 1.0 section 2 (the claims an ID token must carry)
//! and 3.1.3.7 (how a relying party validates one), rule by rule, plus 12.2 (an ID token from a
//! refresh must describe the same authentication as the original).
//!
//! [`verify_id_token`] runs the generic JWT checks of [`verify_jwt`](super::verify_jwt)
//! (signature, `exp`, `nbf`, `iat`, issuer list, nonce) and then the rules only ID tokens have.
//! Each rule names its section, so that a refusal can be traced to the text that requires it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::discovery::{Algorithm, Jwks};

use super::{clip, compact, TokenError, VerifiedJwt, VerifyPolicy};

/// Core 2: "`sub` ... MUST NOT exceed 255 ASCII characters in length".
const MAX_SUBJECT_LEN: usize = 255;

/// What an ID token must satisfy besides the generic [`VerifyPolicy`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdTokenRules {
    /// This relying party's client id: `aud` must contain it (3.1.3.7 rule 3), and `azp`,
    /// when present, must equal it (rule 5).
    pub client_id: String,
    /// Audiences besides the client id that this client trusts (rule 3: an ID token with any
    /// other audience is refused).
    pub trusted_audiences: Vec<String>,
    /// Signing algorithms accepted (rule 7: the registered `id_token_signed_response_alg`,
    /// or what discovery says the provider uses). Empty: any algorithm a key fits; `none` is
    /// never accepted.
    pub algorithms: Vec<Algorithm>,
    /// The `max_age` sent with the authorization request: `auth_time` is then required and
    /// must be recent enough (rule 13).
    pub max_age: Option<u64>,
    /// The access token issued with the ID token: checked against `at_hash` when the ID token
    /// has one (3.1.3.8, 3.2.2.9).
    pub access_token: Option<String>,
    /// The claims of the ID token of the original authentication, for an ID token returned by
    /// a refresh (12.2): `iss`, `sub`, `aud`, `azp` and `auth_time` must not change.
    pub original: Option<Map<String, Value>>,
}

/// Verifies an ID token: the generic checks of `policy` (which must require `exp` and carry
/// the nonce when one was sent), then the ID token rules. The policy's `audiences` are not
/// used: `rules.client_id` is the audience.
pub fn verify_id_token(
    token: &str,
    keys: &Jwks,
    policy: &VerifyPolicy,
    rules: &IdTokenRules,
    now: u64,
) -> Result<VerifiedJwt, TokenError> {
    // Rule 7 concerns the header, and holds even when the signature is not checked.
    let jws = compact::parse(token)?;
    check_algorithm(&jws.alg, rules)?;
    let policy = VerifyPolicy {
        audiences: Vec::new(),
        require_exp: true,
        ..policy.clone()
    };
    let verified = super::verify_jwt(token, keys, &policy, now)?;
    if policy.verify_claims {
        check_claims(&verified.claims, &jws.alg, &policy, rules, now)?;
    }
    Ok(verified)
}

/// 3.1.3.7 rule 7 (and 6, 8: `none` never; HS only as the generic policy allows).
fn check_algorithm(alg: &str, rules: &IdTokenRules) -> Result<(), TokenError> {
    let parsed = Algorithm::from_name(alg);
    match parsed {
        None => Err(TokenError::UnsupportedAlgorithm(clip(alg))),
        Some(alg) if rules.algorithms.is_empty() || rules.algorithms.contains(&alg) => Ok(()),
        Some(alg) => Err(TokenError::AlgorithmNotAllowed(alg)),
    }
}

fn check_claims(
    claims: &Map<String, Value>,
    alg: &str,
    policy: &VerifyPolicy,
    rules: &IdTokenRules,
    now: u64,
) -> Result<(), TokenError> {
    check_exact_issuer(claims, policy)?;
    check_subject(claims)?;
    required_number(claims, "iat")?;
    let audiences = audiences(claims)?;
    check_audiences(&audiences, rules)?;
    check_azp(claims, &audiences, rules)?;
    check_auth_time(claims, policy, rules, now)?;
    check_at_hash(claims, alg, rules)?;
    if let Some(original) = &rules.original {
        check_same_authentication(claims, original)?;
    }
    Ok(())
}

/// Rule 2: the issuer "MUST exactly match" (the generic check forgives a trailing slash).
fn check_exact_issuer(
    claims: &Map<String, Value>,
    policy: &VerifyPolicy,
) -> Result<(), TokenError> {
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if policy.issuers_allowed.iter().any(|allowed| allowed == iss) {
        Ok(())
    } else {
        Err(TokenError::IssuerNotAllowed(clip(iss)))
    }
}

/// Core 2: `sub` is REQUIRED, a non-empty string of at most 255 ASCII characters.
fn check_subject(claims: &Map<String, Value>) -> Result<(), TokenError> {
    match claims.get("sub") {
        None => Err(TokenError::MissingClaim("sub")),
        Some(Value::String(sub))
            if !sub.is_empty() && sub.len() <= MAX_SUBJECT_LEN && sub.is_ascii() =>
        {
            Ok(())
        }
        Some(_) => Err(TokenError::InvalidClaim("sub")),
    }
}

/// Core 2: a REQUIRED NumericDate claim (the generic check validates its value when present).
fn required_number(claims: &Map<String, Value>, name: &'static str) -> Result<f64, TokenError> {
    match claims.get(name) {
        None => Err(TokenError::MissingClaim(name)),
        Some(Value::Number(n)) => n.as_f64().ok_or(TokenError::InvalidClaim(name)),
        Some(_) => Err(TokenError::InvalidClaim(name)),
    }
}

/// Core 2: `aud` is REQUIRED, a string or an array of strings.
fn audiences(claims: &Map<String, Value>) -> Result<Vec<String>, TokenError> {
    match claims.get("aud") {
        None => Err(TokenError::MissingClaim("aud")),
        Some(Value::String(aud)) => Ok(vec![aud.clone()]),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .ok_or(TokenError::InvalidClaim("aud")),
        Some(_) => Err(TokenError::InvalidClaim("aud")),
    }
}

/// Rule 3: `aud` contains the client id, and no audience the client does not trust.
fn check_audiences(audiences: &[String], rules: &IdTokenRules) -> Result<(), TokenError> {
    if !audiences.contains(&rules.client_id) {
        return Err(TokenError::AudienceMismatch {
            token_audiences: audiences.iter().take(5).map(|a| clip(a)).collect(),
        });
    }
    match audiences
        .iter()
        .find(|aud| **aud != rules.client_id && !rules.trusted_audiences.contains(aud))
    {
        Some(untrusted) => Err(TokenError::UntrustedAudience(clip(untrusted))),
        None => Ok(()),
    }
}

/// Rules 4 and 5: with several audiences `azp` must be present; when present, it must be
/// this client.
fn check_azp(
    claims: &Map<String, Value>,
    audiences: &[String],
    rules: &IdTokenRules,
) -> Result<(), TokenError> {
    match claims.get("azp") {
        None if audiences.len() > 1 => Err(TokenError::MissingClaim("azp")),
        None => Ok(()),
        Some(Value::String(azp)) if *azp == rules.client_id => Ok(()),
        Some(Value::String(azp)) => Err(TokenError::AuthorizedPartyMismatch(clip(azp))),
        Some(_) => Err(TokenError::InvalidClaim("azp")),
    }
}

/// Rule 13: with `max_age` requested, `auth_time` is required and no older than `max_age`
/// (with the leeway). Without it, an `auth_time` present must still be a number.
fn check_auth_time(
    claims: &Map<String, Value>,
    policy: &VerifyPolicy,
    rules: &IdTokenRules,
    now: u64,
) -> Result<(), TokenError> {
    let Some(max_age) = rules.max_age else {
        return match claims.get("auth_time") {
            None | Some(Value::Number(_)) => Ok(()),
            Some(_) => Err(TokenError::InvalidClaim("auth_time")),
        };
    };
    let auth_time = required_number(claims, "auth_time")?;
    let oldest = now as f64 - max_age as f64 - policy.leeway as f64;
    if auth_time < oldest {
        Err(TokenError::AuthenticationTooOld {
            auth_time: auth_time.floor() as i64,
            max_age,
        })
    } else {
        Ok(())
    }
}

/// 3.1.3.8 / 3.2.2.9: `at_hash`, when present, is the left half of the access token's hash
/// (the hash of the ID token's algorithm), base64url-encoded.
fn check_at_hash(
    claims: &Map<String, Value>,
    alg: &str,
    rules: &IdTokenRules,
) -> Result<(), TokenError> {
    let Some(at_hash) = claims.get("at_hash") else {
        return Ok(());
    };
    let Value::String(at_hash) = at_hash else {
        return Err(TokenError::InvalidClaim("at_hash"));
    };
    let Some(access_token) = rules.access_token.as_deref() else {
        // No access token came with this ID token: nothing to bind it to.
        return Ok(());
    };
    let expected = Algorithm::from_name(alg).and_then(|alg| token_hash(alg, access_token));
    match expected {
        Some(expected) if expected == *at_hash => Ok(()),
        _ => Err(TokenError::AccessTokenHashMismatch),
    }
}

/// The OpenID Connect token hash (`at_hash`, `c_hash`): the left-most half of the hash of the
/// ASCII value, with the hash function of the JWS algorithm. EdDSA over Ed25519 uses SHA-512
/// (OpenID Connect errata and common practice).
pub fn token_hash(alg: Algorithm, value: &str) -> Option<String> {
    use Algorithm::*;
    let digest: Vec<u8> = match alg {
        HS256 | RS256 | PS256 | ES256 => Sha256::digest(value.as_bytes()).to_vec(),
        HS384 | RS384 | PS384 | ES384 => Sha384::digest(value.as_bytes()).to_vec(),
        HS512 | RS512 | PS512 | EdDSA => Sha512::digest(value.as_bytes()).to_vec(),
    };
    let half = digest.get(..digest.len() / 2)?;
    Some(URL_SAFE_NO_PAD.encode(half))
}

/// 12.2: `iss`, `sub`, `aud` the same as in the original ID token; `auth_time` and `azp` the
/// same when the original had them (and no `azp` when it had none).
fn check_same_authentication(
    claims: &Map<String, Value>,
    original: &Map<String, Value>,
) -> Result<(), TokenError> {
    for name in ["iss", "sub", "aud"] {
        if claims.get(name) != original.get(name) || claims.get(name).is_none() {
            return Err(TokenError::ChangedOnRefresh(name));
        }
    }
    if claims.get("azp") != original.get("azp") {
        return Err(TokenError::ChangedOnRefresh("azp"));
    }
    if let Some(original_time) = original.get("auth_time") {
        if claims.get("auth_time").is_some_and(|t| t != original_time) {
            return Err(TokenError::ChangedOnRefresh("auth_time"));
        }
    }
    Ok(())
}
