//! JWS compact serialisation (RFC 7515 section 7.1): `header.payload.signature`, each part
//! base64url without padding. Decoding only; nothing here says whether a token is trustworthy.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::{clip, JsonObject, TokenError};

/// Tokens longer than this are refused before any decoding. Real ID and access tokens are a few
/// kilobytes even with many group claims; this bounds the work an attacker can cause.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// A decoded, not yet verified JWS.
pub(super) struct CompactJws<'a> {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    /// `header.payload` exactly as received: what the signature covers.
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
    pub alg: String,
    pub kid: Option<String>,
}

/// The three parts of a compact JWS, still encoded.
struct Parts<'a> {
    header: &'a str,
    payload: &'a str,
    signing_input: &'a str,
    signature: &'a str,
}

fn split(token: &str) -> Result<Parts<'_>, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::TooLarge {
            len: token.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    match token.bytes().filter(|b| *b == b'.').count() {
        2 => {}
        4 => {
            return Err(TokenError::Malformed(
                "the token has five parts: encrypted tokens (JWE) are not supported".into(),
            ))
        }
        n => {
            return Err(TokenError::Malformed(format!(
                "a JWT has three dot-separated parts, this token has {}",
                n.saturating_add(1)
            )))
        }
    }
    let malformed = || TokenError::Malformed("a JWT has three dot-separated parts".into());
    let (signing_input, signature) = token.rsplit_once('.').ok_or_else(malformed)?;
    let (header, payload) = signing_input.split_once('.').ok_or_else(malformed)?;
    Ok(Parts {
        header,
        payload,
        signing_input,
        signature,
    })
}

fn decode_part(part: &str, name: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed(format!("the {name} is not valid base64url")))
}

fn decode_object(part: &str, name: &str) -> Result<Map<String, Value>, TokenError> {
    let bytes = decode_part(part, name)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(TokenError::Malformed(format!(
            "the {name} is not a JSON object"
        ))),
        Err(_) => Err(TokenError::Malformed(format!(
            "the {name} is not valid JSON"
        ))),
    }
}

/// Decodes every part and reads the header members verification depends on.
pub(super) fn parse(token: &str) -> Result<CompactJws<'_>, TokenError> {
    let parts = split(token)?;
    let header = decode_object(parts.header, "header")?;
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg.clone(),
        _ => {
            return Err(TokenError::Malformed(
                "the header has no \"alg\" string".into(),
            ))
        }
    };
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => {
            return Err(TokenError::Malformed(
                "the header's \"kid\" is not a string".into(),
            ))
        }
    };
    // RFC 7515 section 4.1.11: a verifier must reject extensions it does not understand, and the
    // filter understands none.
    if let Some(crit) = header.get("crit") {
        return Err(TokenError::Malformed(format!(
            "the header marks extensions as critical ({}), none are supported",
            clip(&crit.to_string())
        )));
    }
    let claims = decode_object(parts.payload, "payload")?;
    let signature = decode_part(parts.signature, "signature")?;
    Ok(CompactJws {
        header,
        claims,
        signing_input: parts.signing_input,
        signature,
        alg,
        kid,
    })
}

/// Whether `token` has the shape of a JWT (three base64url parts, a JSON object header), as
/// opposed to an opaque token. Says nothing about validity.
pub fn looks_like_jwt(token: &str) -> bool {
    let Ok(parts) = split(token) else {
        return false;
    };
    !parts.payload.is_empty()
        && decode_object(parts.header, "header").is_ok()
        && decode_part(parts.payload, "payload").is_ok()
        && decode_part(parts.signature, "signature").is_ok()
}

/// The header and claims of a JWT, without verifying anything: for callers that only read
/// claims of a token they already trust (e.g. one just received from the token endpoint).
pub fn decode_unverified(token: &str) -> Result<(JsonObject, JsonObject), TokenError> {
    let jws = parse(token)?;
    Ok((jws.header, jws.claims))
}
