//! Sending the core's [`OutboundRequest`]s with `dispatch_http_call` and reading the answers.

use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType, Status};

use crate::flows::outbound::CallError;
use crate::flows::Settings;
use crate::proxy::host;
use crate::step::{CallResponse, OutboundRequest};

/// Why a call to the identity provider was not sent.
#[derive(Debug, thiserror::Error)]
pub(super) enum DispatchError {
    /// The core could not build it.
    #[error(transparent)]
    Unbuilt(#[from] CallError),
    #[error("dispatch to {authority} refused by the host: {status:?}")]
    Refused { authority: String, status: Status },
}

/// Dispatches the call; the token identifies the answer (tokens may be 0 on Kong).
pub(super) fn send(settings: &Settings, request: &OutboundRequest) -> Result<u32, DispatchError> {
    let mut headers: Vec<(&str, &str)> = vec![
        (":method", request.method.as_str()),
        (":path", request.path.as_str()),
        (":authority", request.authority.as_str()),
        (":scheme", request.scheme.as_str()),
    ];
    headers.extend(
        request
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str())),
    );
    let content_length = request.body.len().to_string();
    if !request.body.is_empty() {
        headers.push(("content-length", content_length.as_str()));
    }
    let body = (!request.body.is_empty()).then_some(request.body.as_slice());
    hostcalls::dispatch_http_call(
        // An Envoy cluster name from `dispatch_clusters`, else the authority (Kong takes host:port).
        settings
            .config
            .dispatch_target(&request.scheme, &request.authority),
        headers,
        body,
        Vec::new(),
        Duration::from_millis(request.timeout_ms.max(1)),
    )
    .map_err(|status| DispatchError::Refused {
        authority: request.authority.clone(),
        status,
    })
}

/// Reads the answer of a finished call. Hosts report a failed call as an answer without
/// headers; any answer without a valid `:status` counts as failed.
pub(super) fn read_response(body_size: usize) -> CallResponse {
    let headers = host::headers(MapType::HttpCallResponseHeaders);
    let status = headers
        .iter()
        .find(|(n, _)| n == ":status")
        .and_then(|(_, v)| v.trim().parse::<u16>().ok())
        .filter(|s| (100..=599).contains(s));
    let body = if body_size > 0 {
        host::buffer(BufferType::HttpCallResponseBody, body_size)
    } else {
        Vec::new()
    };
    CallResponse {
        status,
        headers,
        body,
    }
}

/// The answer given to the core when the host refused to send a call at all.
pub(super) fn refused(reason: &str) -> CallResponse {
    CallResponse {
        status: None,
        headers: vec![(":dispatch_status".into(), reason.into())],
        body: Vec::new(),
    }
}
