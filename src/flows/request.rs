//! The client's request, modelled in [`crate::http::request`] (the logout decisions read it
//! too, and they sit below the flows); the flows name it from here.

pub use crate::http::request::IncomingRequest;
