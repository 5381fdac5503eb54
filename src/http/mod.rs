//! Small HTTP helpers shared by the flows: URL pieces, query and form encoding, Basic
//! credentials and the Cookie header. Standard encodings come from well-kept crates
//! (`form_urlencoded`, `base64`); these wrappers only give them the shapes the flows need.

pub mod basic;
pub mod cookies;
pub mod form;
pub mod url;
