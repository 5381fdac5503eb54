//! proxy_get_property: the host attributes a filter can read, named and encoded as Envoy does
//! (strings as bytes, integers as 8 little-endian bytes, booleans as one byte, maps in the ABI's
//! pair serialization). Paths arrive as NUL-separated segments (`request\0path`).

use crate::abi::headers::HeaderList;
use crate::vm::exchange::Exchange;
use crate::vm::state::HostState;

pub(crate) fn split_path(bytes: &[u8]) -> Vec<String> {
    let trimmed = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if trimmed.is_empty() {
        return Vec::new();
    }
    trimmed
        .split(|b| *b == 0)
        .map(|segment| String::from_utf8_lossy(segment).into_owned())
        .collect()
}

/// The dotted form of a path (`request.path`), the key of properties set by filters.
pub(crate) fn dotted(segments: &[String]) -> String {
    segments.join(".")
}

fn int(value: i64) -> Vec<u8> {
    value.to_le_bytes().to_vec()
}

pub(crate) fn lookup(state: &HostState, path: &[String]) -> Option<Vec<u8>> {
    let segments: Vec<&str> = path.iter().map(String::as_str).collect();
    match segments.as_slice() {
        ["plugin_name"] => return Some(state.plugin.name.clone().into_bytes()),
        ["plugin_root_id"] => return Some(state.plugin.root_id.clone().into_bytes()),
        ["plugin_vm_id"] => return Some(state.plugin.vm_id.clone().into_bytes()),
        ["node", "id"] => return Some(state.gateway.config.node_id.clone().into_bytes()),
        _ => {}
    }
    let binding = state.effective_stream()?;
    let exchange = binding.exchange.borrow();
    if let Some(value) = exchange.properties.get(&dotted(path)) {
        return Some(value.clone());
    }
    stream_property(&exchange, &segments)
}

fn stream_property(exchange: &Exchange, path: &[&str]) -> Option<Vec<u8>> {
    let request = &exchange.request_headers;
    let info = &exchange.info;
    let header = |list: &HeaderList, name: &str| list.get(name.as_bytes()).map(<[u8]>::to_vec);
    let request_path = request.get_str(":path").unwrap_or("");
    Some(match path {
        ["request", "path"] => request_path.as_bytes().to_vec(),
        ["request", "url_path"] => request_path
            .split('?')
            .next()
            .unwrap_or("")
            .as_bytes()
            .to_vec(),
        ["request", "query"] => request_path
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or("")
            .as_bytes()
            .to_vec(),
        ["request", "host"] => header(request, ":authority")?,
        ["request", "scheme"] => header(request, ":scheme")?,
        ["request", "method"] => header(request, ":method")?,
        ["request", "referer"] => header(request, "referer")?,
        ["request", "useragent"] => header(request, "user-agent")?,
        ["request", "id"] => info.request_id.clone().into_bytes(),
        ["request", "protocol"] => info.protocol.as_bytes().to_vec(),
        ["request", "time"] => int(nanos(info.started)),
        ["request", "size"] => int(request.get_str("content-length")?.parse().ok()?),
        ["request", "headers"] => request.serialize(),
        ["request", "headers", name] => header(request, name)?,
        ["response", "code"] => int(exchange.response_headers.get_str(":status")?.parse().ok()?),
        ["response", "headers"] => exchange.response_headers.serialize(),
        ["response", "headers", name] => header(&exchange.response_headers, name)?,
        ["source", "address"] => info.client.to_string().into_bytes(),
        ["source", "port"] => int(i64::from(info.client.port())),
        ["destination", "address"] => info.local.to_string().into_bytes(),
        ["destination", "port"] => int(i64::from(info.local.port())),
        ["connection", "mtls"] => vec![0],
        ["connection", "requested_server_name"] => Vec::new(),
        ["connection", "id"] | ["connection_id"] => info.connection_id.to_le_bytes().to_vec(),
        ["route_name"] => info.route_name.clone().into_bytes(),
        ["cluster_name"] => info.service_name.clone().into_bytes(),
        _ => return None,
    })
}

fn nanos(time: std::time::SystemTime) -> i64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_nul_separated_paths() {
        assert_eq!(split_path(b"request\0path"), vec!["request", "path"]);
        assert_eq!(split_path(b"node\0id\0"), vec!["node", "id"]);
        assert!(split_path(b"").is_empty());
        assert_eq!(dotted(&split_path(b"a\0b")), "a.b");
    }
}
