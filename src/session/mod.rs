//! Session cookies in the format of lua-resty-session v4.0.5, which Kong 3.2-3.10 uses, so a
//! session started by Kong opens here and the other way round (given the same secret).
//!
//! [`SessionCodec`] is the entry point: `open` a request's cookies, `save` a modified session,
//! `refresh` an unmodified one, `clear` on logout. The submodules hold one piece each of the
//! format and are public so tests can check each against the real library's vectors.
//! A codec remembers the cookies it verified (`verified_cookies`), so a client's repeated
//! cookie costs no decryption.

pub mod attributes;
pub mod base64url;
pub mod chunking;
pub mod codec;
pub mod compression;
pub mod crypto;
pub mod ended;
pub mod error;
pub mod header;
pub mod keys;
pub mod liveness;
pub mod payload;
pub mod plaintext;
pub mod request_cookies;
pub mod settings;
pub mod state;
pub mod timeouts;
pub mod verified_cookies;

pub use codec::SessionCodec;
pub use error::SessionError;
pub use payload::SessionPayload;
pub use plaintext::AudienceEntry;
pub use settings::{SameSite, SessionSettings};
pub use state::Session;

#[cfg(test)]
mod tests;
