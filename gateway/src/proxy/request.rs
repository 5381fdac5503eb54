//! What the filters see of a request before the chain runs: the route's enabled plugins,
//! the request's properties, and its headers as filters get them.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::SystemTime;

use http::request::Parts;

use crate::abi::headers::HeaderList;
use crate::config::host::Authority;
use crate::config::{Route, Service};
use crate::gateway::Gateway;
use crate::proxy::forward;
use crate::proxy::resources::Worker;
use crate::routing::RouteMatch;
use crate::vm::exchange::RequestInfo;
use crate::vm::slot::PluginSlot;

/// The client connection a request came on.
pub(crate) struct Connection {
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) id: u64,
}

/// The route's enabled plugins, as this worker's VM slots.
pub(crate) fn chain(
    gateway: &Gateway,
    worker: &Worker,
    matched: &RouteMatch,
) -> Vec<Rc<PluginSlot>> {
    gateway
        .router
        .chain(matched.route)
        .iter()
        .filter(|p| gateway.plugins.get(**p).is_some_and(|p| p.enabled()))
        .filter_map(|p| worker.slots.get(*p).cloned())
        .collect()
}

/// The request's properties as filters read them.
pub(crate) fn request_info(
    parts: &Parts,
    connection: &Connection,
    route: &Route,
    service: &Service,
) -> RequestInfo {
    let request_id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(new_request_id);
    RequestInfo {
        client: connection.peer,
        local: connection.local,
        connection_id: connection.id,
        request_id,
        protocol: if parts.version == http::Version::HTTP_10 {
            "HTTP/1.0"
        } else {
            "HTTP/1.1"
        },
        started: SystemTime::now(),
        route_name: route.name.clone(),
        service_name: service.name.clone(),
    }
}

/// The request headers as filters see them: `:authority` per the host profile, forwarding
/// headers of untrusted clients removed, and the normalised path that routing used and that
/// goes upstream.
pub(crate) fn filter_view(
    gateway: &Gateway,
    parts: &Parts,
    connection: &Connection,
    original_path: &str,
) -> HeaderList {
    let mut headers = forward::request_header_list(parts);
    if gateway.config.host.authority == Authority::ServerName {
        // Kong's engine: `:authority` is the server name and port; Host stays a header.
        let host = headers.get(b":authority").map(<[u8]>::to_vec);
        let server = format!(
            "{}:{}",
            gateway.config.host.server_name,
            connection.local.port()
        );
        headers.replace(b":authority", server.as_bytes());
        if let Some(host) = host {
            headers.add(b"host", &host);
        }
    }
    if !gateway.config.trusted_ips.contains(connection.peer.ip()) {
        forward::strip_untrusted_forwarding(&mut headers);
    }
    headers.replace(b":path", original_path.as_bytes());
    headers
}

/// A random (version 4) UUID for `request.id` when the client sent no x-request-id.
fn new_request_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::getrandom(&mut bytes).is_err() {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes = nanos.to_le_bytes();
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let (a, rest) = hex.split_at(8);
    let (b, rest) = rest.split_at(4);
    let (c, rest) = rest.split_at(4);
    let (d, e) = rest.split_at(4);
    format!("{a}-{b}-{c}-{d}-{e}")
}
