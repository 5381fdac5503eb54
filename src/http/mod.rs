//! Small HTTP helpers shared by the flows: URL pieces, query and form encoding, Basic
//! credentials, the Cookie header, and the client's request as the core sees it. Standard encodings come from well-kept crates
//! (`form_urlencoded`, `base64`); these wrappers only give them the shapes the flows need.

pub mod basic;
pub mod cookies;
pub mod form;
pub mod request;
pub mod url;
