//! Token revocation (RFC 7009) at logout: which token, and what an answer means. A verdict
//! never stops the logout. The request itself is built by `flows::revocation`.

use crate::step::CallResponse;

/// One token to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub token: String,
    /// `refresh_token` or `access_token`.
    pub hint: &'static str,
}

/// What a revocation call came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationOutcome {
    Revoked,
    /// A 302: Kong follows it once with GET.
    Redirected(String),
    Failed(String),
}

/// 200 and 204 are success; a 302 with a Location is followed once; anything else failed.
pub fn revocation_outcome(response: &CallResponse) -> RevocationOutcome {
    match response.status {
        Some(200) | Some(204) => RevocationOutcome::Revoked,
        Some(302) => match response.header("location") {
            Some(location) => RevocationOutcome::Redirected(location.to_string()),
            None => RevocationOutcome::Failed(
                "invalid status code received from the token revocation endpoint (302)".into(),
            ),
        },
        Some(status) => RevocationOutcome::Failed(format!(
            "invalid status code received from the token revocation endpoint ({status})"
        )),
        None => RevocationOutcome::Failed(format!(
            "the token revocation endpoint could not be reached ({})",
            response.failure_reason()
        )),
    }
}
