//! One HTTP request/response pair as the filters of its chain see it. The request driver owns
//! it; hostcalls reach it through the stream context's binding and leave signals (continue,
//! local response, reset) that the driver acts on once the VM call has returned, so the host
//! never re-enters a VM from inside a hostcall.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::SystemTime;

use tokio::sync::Notify;

use crate::abi::headers::HeaderList;
use crate::abi::MapType;

/// Which maps and buffers a filter may touch right now, as in the spec's "can be read/modified
/// in callback X (or for as long as processing is paused from it)". A bit is set before a
/// callback and cleared when that filter lets the phase continue.
pub(crate) mod access {
    pub(crate) const REQUEST_HEADERS: u8 = 1;
    pub(crate) const REQUEST_BODY: u8 = 1 << 1;
    pub(crate) const REQUEST_TRAILERS: u8 = 1 << 2;
    pub(crate) const RESPONSE_HEADERS: u8 = 1 << 3;
    pub(crate) const RESPONSE_BODY: u8 = 1 << 4;
    pub(crate) const RESPONSE_TRAILERS: u8 = 1 << 5;
    /// proxy_on_log: every header map readable, none writable.
    pub(crate) const LOG: u8 = 1 << 6;
}

/// Facts about the request that properties expose.
#[derive(Debug, Clone)]
pub(crate) struct RequestInfo {
    pub(crate) client: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) connection_id: u64,
    pub(crate) request_id: String,
    /// `HTTP/1.0` or `HTTP/1.1`, as the client spoke (the `request.protocol` property).
    pub(crate) protocol: &'static str,
    pub(crate) started: SystemTime,
    pub(crate) route_name: String,
    pub(crate) service_name: String,
}

/// A response a filter asked for with proxy_send_local_response.
#[derive(Debug, Clone)]
pub(crate) struct LocalResponse {
    pub(crate) status: u16,
    pub(crate) headers: HeaderList,
    pub(crate) body: Vec<u8>,
    pub(crate) details: String,
    /// The filter (chain index) that sent it.
    pub(crate) filter: usize,
}

/// What filters asked for since the driver last looked.
#[derive(Debug, Default)]
pub(crate) struct Signals {
    /// proxy_continue_stream(HTTP_REQUEST) from these chain indexes, not yet acted on.
    pub(crate) continue_request: Vec<usize>,
    pub(crate) continue_response: Vec<usize>,
    pub(crate) local_response: Option<LocalResponse>,
    /// proxy_close_stream: drop the connection without an answer.
    pub(crate) reset: bool,
    /// The VM of a filter in this chain trapped; the request must fail.
    pub(crate) failure: Option<String>,
}

pub(crate) struct Exchange {
    pub(crate) info: RequestInfo,
    pub(crate) request_headers: HeaderList,
    pub(crate) request_trailers: Option<HeaderList>,
    /// The request body buffer visible to the filter being called (or paused in the body).
    pub(crate) request_body: Option<Vec<u8>>,
    pub(crate) response_headers: HeaderList,
    pub(crate) response_trailers: Option<HeaderList>,
    pub(crate) response_body: Option<Vec<u8>>,
    /// Per chain index: the `access` bits currently granted.
    pub(crate) access: Vec<u8>,
    /// Values set with proxy_set_property, by dotted path (Envoy's filter state).
    pub(crate) properties: HashMap<String, Vec<u8>>,
    pub(crate) signals: Signals,
    pub(crate) notify: Rc<Notify>,
}

impl Exchange {
    pub(crate) fn new(info: RequestInfo, request_headers: HeaderList, filters: usize) -> Exchange {
        Exchange {
            info,
            request_headers,
            request_trailers: None,
            request_body: None,
            response_headers: HeaderList::new(),
            response_trailers: None,
            response_body: None,
            access: vec![0; filters],
            properties: HashMap::new(),
            signals: Signals::default(),
            notify: Rc::new(Notify::new()),
        }
    }

    pub(crate) fn grant(&mut self, filter: usize, bits: u8) {
        if let Some(slot) = self.access.get_mut(filter) {
            *slot |= bits;
        }
    }

    pub(crate) fn revoke(&mut self, filter: usize, bits: u8) {
        if let Some(slot) = self.access.get_mut(filter) {
            *slot &= !bits;
        }
    }

    pub(crate) fn allowed(&self, filter: usize, bits: u8) -> bool {
        self.access
            .get(filter)
            .is_some_and(|granted| granted & bits != 0)
    }

    /// The header map `map` if `filter` may read it now.
    pub(crate) fn readable_map(&self, filter: usize, map: MapType) -> Option<&HeaderList> {
        let (bit, list) = match map {
            MapType::HttpRequestHeaders => (access::REQUEST_HEADERS, Some(&self.request_headers)),
            MapType::HttpRequestTrailers => {
                (access::REQUEST_TRAILERS, self.request_trailers.as_ref())
            }
            MapType::HttpResponseHeaders => {
                (access::RESPONSE_HEADERS, Some(&self.response_headers))
            }
            MapType::HttpResponseTrailers => {
                (access::RESPONSE_TRAILERS, self.response_trailers.as_ref())
            }
            _ => return None,
        };
        if self.allowed(filter, bit | access::LOG) {
            list
        } else {
            None
        }
    }

    /// The header map `map` if `filter` may modify it now. Trailers can be added from the
    /// last body callback when the message has none (the spec's rule), so they are created
    /// on demand while the body bit is held.
    pub(crate) fn writable_map(&mut self, filter: usize, map: MapType) -> Option<&mut HeaderList> {
        match map {
            MapType::HttpRequestHeaders if self.allowed(filter, access::REQUEST_HEADERS) => {
                Some(&mut self.request_headers)
            }
            MapType::HttpRequestTrailers
                if self.allowed(filter, access::REQUEST_TRAILERS | access::REQUEST_BODY) =>
            {
                Some(self.request_trailers.get_or_insert_with(HeaderList::new))
            }
            MapType::HttpResponseHeaders if self.allowed(filter, access::RESPONSE_HEADERS) => {
                Some(&mut self.response_headers)
            }
            MapType::HttpResponseTrailers
                if self.allowed(filter, access::RESPONSE_TRAILERS | access::RESPONSE_BODY) =>
            {
                Some(self.response_trailers.get_or_insert_with(HeaderList::new))
            }
            _ => None,
        }
    }

    /// The request (or response) body buffer visible to filters.
    pub(crate) fn body_mut(&mut self, request: bool) -> &mut Option<Vec<u8>> {
        if request {
            &mut self.request_body
        } else {
            &mut self.response_body
        }
    }

    pub(crate) fn trailers_mut(&mut self, request: bool) -> &mut Option<HeaderList> {
        if request {
            &mut self.request_trailers
        } else {
            &mut self.response_trailers
        }
    }

    pub(crate) fn wake(&self) {
        self.notify.notify_one();
    }
}
