//! The decisions the sans-IO core hands to the adapter.
//!
//! A flow never performs I/O: it answers every input with a [`Step`]. The proxy-wasm adapter
//! carries the step out (edit headers and let the request through, answer locally, or call the
//! identity provider) and, for a call, feeds the answer back as a [`CallResponse`].

/// What the filter decided to do with the current request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Let the request through to the upstream after applying these edits.
    Forward(Forward),
    /// Do not proxy: answer the client with this response.
    Respond(LocalResponse),
    /// Ask the identity provider something, then resume the flow with its answer.
    Call(OutboundRequest),
    /// Send all these calls at once, in this order, and resume the flow with every answer (in
    /// the same order) once the last one arrived. For independent calls such as a logout's
    /// two revocations: Kong's engine breaks when a stream dispatches a call with a body from
    /// the answer of another one with a body, so they must not be chained.
    CallAll(Vec<OutboundRequest>),
}

/// A line for the log, with its weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    Info(String),
    Warn(String),
}

/// Edits applied to a request that is let through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forward {
    /// Request headers to set (replacing any existing value), in order.
    pub set_request_headers: Vec<(String, String)>,
    /// Request headers to remove (case-insensitive names).
    pub remove_request_headers: Vec<String>,
    /// A replacement for the request's `:path` (e.g. callback arguments stripped).
    pub new_path: Option<String>,
    /// A replacement for the buffered request body (a `form_post` callback's arguments stripped).
    pub new_body: Option<Vec<u8>>,
    /// Headers to add to the upstream's response on its way back (e.g. `Set-Cookie`).
    pub add_response_headers: Vec<(String, String)>,
}

/// A response the filter sends itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResponse {
    pub status: u16,
    /// Header pairs; a name may repeat (several `Set-Cookie`).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Why the filter answered this way, for the log (never sent to the client).
    pub reason: String,
}

/// An HTTP request to the identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    pub method: String,
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]` as in the URL; the adapter maps it to a dispatch target (Envoy cluster).
    pub authority: String,
    /// Path and query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout_ms: u64,
}

/// The identity provider's answer to an [`OutboundRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallResponse {
    /// `None` when the call failed (refused, timed out, no `:status`): hosts report that as an
    /// answer without headers.
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl CallResponse {
    /// The value of the first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The reason a host gave for a failed call (Kong's `:dispatch_status`), for the log.
    pub fn failure_reason(&self) -> String {
        self.header(":dispatch_status")
            .unwrap_or("no response")
            .to_string()
    }
}
