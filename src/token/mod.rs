//! JWT verification: signature against the provider's keys, then the registered claims.
//!
//! [`verify_jwt`] is the one entry point for trust decisions. [`decode_unverified`] and
//! [`looks_like_jwt`] only read tokens, for callers that already trust the source or need to tell
//! a JWT from an opaque token.

mod claims;
mod compact;
mod id_token;
mod signature;

#[cfg(test)]
mod id_token_tests;
#[cfg(test)]
pub(crate) mod testkeys;
#[cfg(test)]
mod tests;

use std::fmt;

use serde_json::{Map, Value};

use crate::discovery::{Algorithm, Jwks};

pub use compact::{decode_unverified, looks_like_jwt, MAX_TOKEN_LEN};
pub use id_token::{token_hash, verify_id_token, IdTokenRules};

/// A decoded JWT header or claim set.
pub type JsonObject = Map<String, Value>;

/// What a token must satisfy. Field names follow Kong's configuration where Kong has one.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// Accepted `iss` values (Kong `issuers_allowed`, by default the discovered issuer). Must not
    /// be empty when claims are verified: an empty list rejects every token.
    pub issuers_allowed: Vec<String>,
    /// When not empty, `aud` must contain one of these (Kong `audience_required`/client ids).
    pub audiences: Vec<String>,
    /// Seconds of clock skew tolerated on `exp`, `nbf` and `iat` (Kong `leeway`).
    pub leeway: u64,
    /// Kong `verify_signature`: `false` skips only the signature check.
    pub verify_signature: bool,
    /// Kong `verify_claims`: `false` skips every claim check.
    pub verify_claims: bool,
    /// Kong `enable_hs_signatures`: accept HS256/384/512, verified with `hs_secret`.
    pub enable_hs_signatures: bool,
    /// The client secret HS tokens are verified with; never a key from the JWKS.
    pub hs_secret: Option<Vec<u8>>,
    /// When set, the `nonce` claim must equal it (ID tokens of the authorization code flow).
    pub nonce: Option<String>,
    /// Whether a token without `exp` is rejected (required for ID tokens).
    pub require_exp: bool,
}

impl VerifyPolicy {
    /// The default policy for tokens of `issuer`: signature and claims verified, `exp` required,
    /// no audience or nonce requirement, no HS signatures, no leeway.
    pub fn for_issuer(issuer: impl Into<String>) -> VerifyPolicy {
        VerifyPolicy {
            issuers_allowed: vec![issuer.into()],
            ..VerifyPolicy::default()
        }
    }
}

impl Default for VerifyPolicy {
    /// Everything verified, `exp` required; `issuers_allowed` is empty and must be filled.
    fn default() -> Self {
        VerifyPolicy {
            issuers_allowed: Vec::new(),
            audiences: Vec::new(),
            leeway: 0,
            verify_signature: true,
            verify_claims: true,
            enable_hs_signatures: false,
            hs_secret: None,
            nonce: None,
            require_exp: true,
        }
    }
}

impl fmt::Debug for VerifyPolicy {
    /// Never prints the HS secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyPolicy")
            .field("issuers_allowed", &self.issuers_allowed)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .field("verify_signature", &self.verify_signature)
            .field("verify_claims", &self.verify_claims)
            .field("enable_hs_signatures", &self.enable_hs_signatures)
            .field("hs_secret", &self.hs_secret.as_ref().map(|_| "<redacted>"))
            .field("nonce", &self.nonce)
            .field("require_exp", &self.require_exp)
            .finish()
    }
}

/// A token that passed [`verify_jwt`].
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedJwt {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    /// The token as received, e.g. to forward upstream or keep in the session.
    pub raw: String,
}

impl VerifiedJwt {
    /// A string claim, if present and a string.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }
}

/// Why a token was not accepted. Texts quote token values clipped and escaped, since they come
/// from whoever sent the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is {len} bytes, more than the {max} bytes accepted")]
    TooLarge { len: usize, max: usize },
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("the token's algorithm {0:?} is not accepted")]
    UnsupportedAlgorithm(String),
    #[error("the token is signed with {0}, but HS signatures are disabled (enable_hs_signatures)")]
    HsSignaturesDisabled(Algorithm),
    #[error("the token is signed with {0}, but no client secret is configured to verify it")]
    MissingHsSecret(Algorithm),
    #[error("the token's key id {0:?} is not in the provider's JWKS")]
    UnknownKid(String),
    #[error("no key in the provider's JWKS can verify {alg}{}", kid.as_ref().map(|k| format!(" with key id {k:?}")).unwrap_or_default())]
    NoMatchingKey { alg: Algorithm, kid: Option<String> },
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token expired at {exp} (now {now})")]
    Expired { exp: i64, now: u64 },
    #[error("the token is not valid before {nbf} (now {now})")]
    NotYetValid { nbf: i64, now: u64 },
    #[error("the token was issued in the future, at {iat} (now {now})")]
    IssuedInFuture { iat: i64, now: u64 },
    #[error("the token's issuer {0:?} is not allowed (issuers_allowed)")]
    IssuerNotAllowed(String),
    #[error("no issuer is allowed: issuers_allowed is empty and no issuer was discovered")]
    NoIssuersAllowed,
    #[error("the token's audience {token_audiences:?} does not include a required audience")]
    AudienceMismatch { token_audiences: Vec<String> },
    #[error("the token's nonce does not match the one sent with the authorization request")]
    NonceMismatch,
    #[error("the token has no {0:?} claim")]
    MissingClaim(&'static str),
    #[error("the token's {0:?} claim has the wrong type")]
    InvalidClaim(&'static str),
    #[error("the ID token is signed with {0}, which this client does not accept for ID tokens")]
    AlgorithmNotAllowed(Algorithm),
    #[error("the ID token's audience {0:?} is not trusted by this client")]
    UntrustedAudience(String),
    #[error("the ID token's authorized party (azp) {0:?} is not this client")]
    AuthorizedPartyMismatch(String),
    #[error("the user authenticated at {auth_time}, longer ago than max_age ({max_age} s)")]
    AuthenticationTooOld { auth_time: i64, max_age: u64 },
    #[error("the ID token's at_hash does not match the access token")]
    AccessTokenHashMismatch,
    #[error("the refreshed ID token's {0:?} differs from the original ID token's")]
    ChangedOnRefresh(&'static str),
}

impl TokenError {
    /// The RFC 6750 error code for the `WWW-Authenticate` header.
    pub fn error_code(&self) -> &'static str {
        "invalid_token"
    }

    /// Whether the provider may have rotated its keys since the JWKS was fetched, so that one
    /// (rate-limited, see `JwksRefetchGate`) refetch could make the token verify.
    pub fn is_key_miss(&self) -> bool {
        matches!(
            self,
            TokenError::UnknownKid(_) | TokenError::NoMatchingKey { .. }
        )
    }
}

/// Verifies `token` against the provider's `keys` and the `policy`; `now` is in seconds since
/// the Unix epoch. Unsigned tokens (`alg: none`) are rejected even when the policy skips
/// signature verification.
pub fn verify_jwt(
    token: &str,
    keys: &Jwks,
    policy: &VerifyPolicy,
    now: u64,
) -> Result<VerifiedJwt, TokenError> {
    let jws = compact::parse(token)?;
    if jws.alg.eq_ignore_ascii_case("none") {
        return Err(TokenError::UnsupportedAlgorithm(clip(&jws.alg)));
    }
    if policy.verify_signature {
        signature::verify_signature(&jws, keys, policy)?;
    }
    if policy.verify_claims {
        claims::check_claims(&jws.claims, policy, now)?;
    }
    Ok(VerifiedJwt {
        header: jws.header,
        claims: jws.claims,
        raw: token.to_string(),
    })
}

/// At most this many characters of a token-supplied value go into an error text.
const CLIP_CHARS: usize = 64;

/// A token-supplied value shortened for an error message (Display then escapes it with `{:?}`).
fn clip(value: &str) -> String {
    let mut chars = value.chars();
    let mut clipped: String = chars.by_ref().take(CLIP_CHARS).collect();
    if chars.next().is_some() {
        clipped.push('…');
    }
    clipped
}
