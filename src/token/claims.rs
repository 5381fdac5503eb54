//! Registered claim checks (RFC 7519 section 4.1, OpenID Connect Core 3.1.3.7): times with
//! leeway, issuer, audience, nonce.

use serde_json::{Map, Value};

use super::{clip, TokenError, VerifyPolicy};

/// At most this many audiences are quoted in an error message.
const AUDIENCES_IN_ERRORS: usize = 5;

/// Checks the claims the policy asks for; `now` is in seconds since the Unix epoch.
pub(super) fn check_claims(
    claims: &Map<String, Value>,
    policy: &VerifyPolicy,
    now: u64,
) -> Result<(), TokenError> {
    check_times(claims, policy, now)?;
    check_issuer(claims, policy)?;
    check_audience(claims, policy)?;
    check_nonce(claims, policy)
}

fn check_times(
    claims: &Map<String, Value>,
    policy: &VerifyPolicy,
    now: u64,
) -> Result<(), TokenError> {
    let now_secs = i64::try_from(now).unwrap_or(i64::MAX);
    let leeway = i64::try_from(policy.leeway).unwrap_or(i64::MAX);
    match numeric_date(claims, "exp")? {
        // Valid strictly before exp (RFC 7519 4.1.4), extended by the leeway.
        Some(exp) if now_secs >= exp.saturating_add(leeway) => {
            return Err(TokenError::Expired { exp, now })
        }
        Some(_) => {}
        None if policy.require_exp => return Err(TokenError::MissingClaim("exp")),
        None => {}
    }
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if now_secs.saturating_add(leeway) < nbf {
            return Err(TokenError::NotYetValid { nbf, now });
        }
    }
    if let Some(iat) = numeric_date(claims, "iat")? {
        if iat > now_secs.saturating_add(leeway) {
            return Err(TokenError::IssuedInFuture { iat, now });
        }
    }
    Ok(())
}

/// A NumericDate claim in whole seconds. Fractions are allowed by RFC 7519 and truncated toward
/// the past; values beyond the i64 range saturate.
fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, TokenError> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let Value::Number(number) = value else {
        return Err(TokenError::InvalidClaim(name));
    };
    if let Some(whole) = number.as_i64() {
        return Ok(Some(whole));
    }
    if number.as_u64().is_some() {
        return Ok(Some(i64::MAX));
    }
    match number.as_f64() {
        // `as` saturates for out-of-range floats.
        Some(seconds) if seconds.is_finite() => Ok(Some(seconds.floor() as i64)),
        _ => Err(TokenError::InvalidClaim(name)),
    }
}

fn check_issuer(claims: &Map<String, Value>, policy: &VerifyPolicy) -> Result<(), TokenError> {
    if policy.issuers_allowed.is_empty() {
        return Err(TokenError::NoIssuersAllowed);
    }
    let iss = match claims.get("iss") {
        None => return Err(TokenError::MissingClaim("iss")),
        Some(Value::String(iss)) => iss,
        Some(_) => return Err(TokenError::InvalidClaim("iss")),
    };
    if policy
        .issuers_allowed
        .iter()
        .any(|allowed| same_issuer(allowed, iss))
    {
        Ok(())
    } else {
        Err(TokenError::IssuerNotAllowed(clip(iss)))
    }
}

/// Issuers compare exactly, except that one trailing slash is not significant: providers and
/// configurations disagree about it more often than about anything else.
fn same_issuer(allowed: &str, iss: &str) -> bool {
    allowed == iss || allowed.trim_end_matches('/') == iss.trim_end_matches('/')
}

fn check_audience(claims: &Map<String, Value>, policy: &VerifyPolicy) -> Result<(), TokenError> {
    if policy.audiences.is_empty() {
        return Ok(());
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        None => return Err(TokenError::MissingClaim("aud")),
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(items)) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<&str>>>()
            .ok_or(TokenError::InvalidClaim("aud"))?,
        Some(_) => return Err(TokenError::InvalidClaim("aud")),
    };
    if audiences
        .iter()
        .any(|aud| policy.audiences.iter().any(|wanted| wanted == aud))
    {
        Ok(())
    } else {
        Err(TokenError::AudienceMismatch {
            token_audiences: audiences
                .iter()
                .take(AUDIENCES_IN_ERRORS)
                .map(|aud| clip(aud))
                .collect(),
        })
    }
}

fn check_nonce(claims: &Map<String, Value>, policy: &VerifyPolicy) -> Result<(), TokenError> {
    let Some(expected) = &policy.nonce else {
        return Ok(());
    };
    match claims.get("nonce") {
        None => Err(TokenError::MissingClaim("nonce")),
        Some(Value::String(nonce)) if nonce == expected => Ok(()),
        Some(Value::String(_)) => Err(TokenError::NonceMismatch),
        Some(_) => Err(TokenError::InvalidClaim("nonce")),
    }
}
