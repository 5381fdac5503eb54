//! How much of a request body the flows read (finding 13.7).
//!
//! A form or JSON body may carry credentials, the logout argument or a `form_post` callback's
//! arguments, so the flows read it before deciding; before anyone is authenticated. Kong reads
//! such bodies only from nginx's client body buffer (`nginx_http_client_body_buffer_size`,
//! 8k by default; a larger body goes to a temporary file that the plugin's argument lookup
//! does not read). The filter holds the same line: a body it would have to read that is larger
//! than [`MAX_ARGUMENT_BODY`] is refused with 413 as soon as its size is known (its
//! `Content-Length`, or the bytes the host buffered so far), so no megabytes are ever
//! buffered or parsed in the filter for an unauthenticated client. Bodies the flows do not
//! read (other content types, requests that carry a token in a header) are not limited here.

use crate::flows::request::IncomingRequest;
use crate::step::LocalResponse;

/// Kong's default `nginx_http_client_body_buffer_size` (8k).
pub const MAX_ARGUMENT_BODY: usize = 8 * 1024;

/// Whether the request announces a body larger than the flows read.
pub fn declared_too_large(request: &IncomingRequest) -> bool {
    request
        .header("content-length")
        .and_then(|length| length.trim().parse::<u64>().ok())
        .is_some_and(|length| length > MAX_ARGUMENT_BODY as u64)
}

/// Whether `received` bytes of body are more than the flows read.
pub fn too_large(received: usize) -> bool {
    received > MAX_ARGUMENT_BODY
}

/// The 413 answer (the JSON shape of Kong's own error answers).
pub fn refusal() -> LocalResponse {
    LocalResponse {
        status: 413,
        headers: vec![(
            "content-type".into(),
            "application/json; charset=utf-8".into(),
        )],
        body: br#"{"message":"Request body too large"}"#.to_vec(),
        reason: format!(
            "body_too_large: the request body the filter must read for credentials is larger than {MAX_ARGUMENT_BODY} bytes"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_length(value: &str) -> IncomingRequest {
        IncomingRequest {
            method: "POST".into(),
            headers: vec![("content-length".into(), value.into())],
            ..Default::default()
        }
    }

    #[test]
    fn bodies_above_kongs_client_body_buffer_are_refused() {
        assert!(!declared_too_large(&with_length("8192")));
        assert!(declared_too_large(&with_length("8193")));
        assert!(declared_too_large(&with_length(" 16777216 ")));
        assert!(!declared_too_large(&with_length("junk")));
        assert!(!declared_too_large(&IncomingRequest::default()));
        assert!(!too_large(8192));
        assert!(too_large(8193));
        let response = refusal();
        assert_eq!(response.status, 413);
        assert!(response.reason.starts_with("body_too_large"));
    }
}
