//! What stops a request before its normal end (a local response, a gateway error, a reset),
//! the answers the gateway makes itself (Kong's `{"message": ...}` shape), and how a filtered
//! head becomes the hyper response sent to the client.

use http::{Response, StatusCode};

use crate::abi::headers::HeaderList;
use crate::config::host::LocalResponseHeaders;
use crate::dispatch::to_header_map;
use crate::http::body::OutBody;
use crate::proxy::forward;
use crate::vm::exchange::LocalResponse;

pub(crate) const UNEXPECTED: &str = "An unexpected error occurred";

/// Why a request stops before the upstream's answer passed every filter.
pub(crate) enum Stop {
    /// A filter answered with proxy_send_local_response.
    Local(LocalResponse),
    /// The gateway answers (a trap, a timeout, an upstream failure, a size limit).
    Error(HostError),
    /// A filter closed the stream: the connection is closed without an answer.
    Reset,
}

/// A response the gateway makes itself.
pub(crate) struct HostError {
    pub(crate) status: StatusCode,
    /// Kong's JSON `message` for the client.
    pub(crate) message: &'static str,
    /// The log line (why).
    pub(crate) log: String,
    /// Upstream failures go through the filters' response callbacks like a local reply;
    /// filter failures (traps, pause timeouts) do not.
    pub(crate) through_filters: bool,
}

impl HostError {
    /// A 500 the filters do not see: a filter failed, so calling filters again is pointless.
    pub(crate) fn unexpected(log: String) -> HostError {
        HostError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: UNEXPECTED,
            log,
            through_filters: false,
        }
    }
}

/// The head and body of a local response; a body without a content type is text/plain. With
/// `local_response_headers: last` (Kong's engine) a repeated header keeps only its last value.
pub(crate) fn local_parts(
    local: LocalResponse,
    repeated: LocalResponseHeaders,
) -> (HeaderList, Vec<u8>) {
    let mut head = HeaderList::new();
    head.add(b":status", local.status.to_string().as_bytes());
    for (name, value) in local.headers.iter() {
        if name.first() == Some(&b':') {
            continue;
        }
        match repeated {
            LocalResponseHeaders::All => head.add(name, value),
            LocalResponseHeaders::Last => head.replace(name, value),
        }
    }
    if !local.body.is_empty() && head.get(b"content-type").is_none() {
        head.add(b"content-type", b"text/plain");
    }
    (head, local.body)
}

/// Kong's error shape: `{"message": "..."}`.
pub(crate) fn kong_error_parts(status: StatusCode, message: &str) -> (HeaderList, Vec<u8>) {
    let mut head = HeaderList::new();
    head.add(b":status", status.as_str().as_bytes());
    head.add(b"content-type", b"application/json; charset=utf-8");
    let body = serde_json::json!({ "message": message })
        .to_string()
        .into_bytes();
    (head, body)
}

/// A Kong error sent before any filter ran (bad path, no route).
pub(crate) fn kong_error(status: StatusCode, message: &str) -> Response<OutBody> {
    let (_, body) = kong_error_parts(status, message);
    let mut response = Response::new(OutBody::new(body, None));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// The client's response from a head that went through the filters (`:status` and headers),
/// its body and trailers. A `:status` that is missing or invalid is a 502.
pub(crate) fn build_response(
    method: &http::Method,
    head: &HeaderList,
    body: Vec<u8>,
    trailers: Option<HeaderList>,
) -> Response<OutBody> {
    let status = head
        .get_str(":status")
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let keep_length = method == http::Method::HEAD || status == StatusCode::NOT_MODIFIED;
    let headers = forward::response_headers(head, keep_length);
    let mut response = Response::new(OutBody::new(body, trailers.as_ref().map(to_header_map)));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}
