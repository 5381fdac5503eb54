//! The suites' HTTP client: the workspace's one test client (test-support/http-client), shared
//! with the gateway's conformance tests.

// Each suite is its own crate and uses a part of these (like the rest of the harness).
#[allow(unused_imports)]
pub use test_http_client::{basic, send, send_raw, try_send, Client, Response};
