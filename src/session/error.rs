//! Why a session cookie could not be read or written.
//!
//! The `Display` texts are lua-resty-session's own messages where the library has one, so logs
//! read the same as Kong's.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SessionError {
    /// The request carries no cookie with the session cookie name.
    #[error("missing session cookie")]
    NotFound,
    /// The cookie is shorter than the 110-character header.
    #[error("invalid session header")]
    InvalidHeader,
    #[error("unable to base64url decode session header")]
    HeaderEncoding,
    #[error("invalid session cookie type")]
    InvalidCookieType,
    /// The header says the data lives in server-side storage, which this codec does not use.
    #[error("invalid session flags")]
    InvalidFlags,
    /// More than 2^32-1 seconds since creation: the rolling offset could not be written.
    #[error("session lifetime exceeded")]
    LifetimeExceeded,
    #[error("session absolute timeout exceeded")]
    AbsoluteTimeout,
    #[error("session rolling timeout exceeded")]
    RollingTimeout,
    #[error("session idling timeout exceeded")]
    IdlingTimeout,
    /// The header was not written with this secret (nor a fallback secret), or was altered.
    #[error("invalid session message authentication code")]
    InvalidMac,
    /// The data needs more than 9 cookies of 4096 characters.
    #[error("cookie size limit exceeded")]
    SizeLimitExceeded,
    #[error("missing session cookie chunk")]
    MissingChunk,
    /// The payload length differs from the size the header announces.
    #[error("invalid session payload")]
    InvalidPayload,
    #[error("unable to base64url decode session data")]
    PayloadEncoding,
    #[error("unable to decrypt session data")]
    Decrypt,
    #[error("unable to inflate session data")]
    Inflate,
    #[error("unable to json decode session data")]
    JsonDecode,
    /// Valid JSON, but not the `[[data, audience, subject?], ...]` shape.
    #[error("invalid session data: {0}")]
    InvalidData(&'static str),
    /// The session was read, but holds nothing for the requested audience.
    #[error("missing session audience")]
    MissingAudience,
    /// `refresh`/`touch` on a session that was never read from nor written to a cookie.
    #[error("unable to refresh nonexistent session")]
    NotPersisted,
    /// `save` on a session without any audience: clear the cookie instead.
    #[error("unable to save a session without audience data; clear the session cookie instead")]
    NothingToSave,
    #[error("session maximum rolling offset exceeded")]
    RollingOffsetOverflow,
    #[error("session maximum creation time exceeded")]
    CreationTimeOverflow,
    /// Key derivation or encryption failed (not expected with valid key sizes).
    #[error("unable to {0}")]
    Crypto(&'static str),
}
