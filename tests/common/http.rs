//! The suites' HTTP client: the workspace's one test client (test-support/http-client), shared
//! with the gateway's conformance tests.

pub use test_http_client::{basic, send, send_raw, try_send, Client, Response};
