//! Translating between hyper's requests/responses and the header lists filters see, and
//! building the request sent upstream (Kong's X-Forwarded-* headers, hop-by-hop headers
//! removed, Host per `preserve_host`).

use std::net::SocketAddr;

use crate::abi::headers::HeaderList;
use crate::config::{Route, Service};

/// Connection-level headers that never pass a proxy (RFC 9110 section 7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn is_hop_by_hop(name: &[u8], listed: &[String]) -> bool {
    let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
    HOP_BY_HOP.contains(&lower.as_str()) || listed.contains(&lower)
}

/// Header names a `Connection` header lists (they are hop-by-hop too).
fn connection_listed(headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The request headers filters see: `:authority`, `:path`, `:method`, `:scheme`, then the
/// end-to-end headers (Host becomes `:authority`, as in Envoy).
pub(crate) fn request_header_list(parts: &http::request::Parts) -> HeaderList {
    let mut list = HeaderList::new();
    let authority = parts
        .headers
        .get(http::header::HOST)
        .map(|v| v.as_bytes().to_vec())
        .or_else(|| {
            parts
                .uri
                .authority()
                .map(|a| a.as_str().as_bytes().to_vec())
        })
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    list.add(b":authority", &authority);
    list.add(b":path", path.as_bytes());
    list.add(b":method", parts.method.as_str().as_bytes());
    list.add(b":scheme", b"http");
    let listed = connection_listed(&parts.headers);
    for (name, value) in &parts.headers {
        if name == http::header::HOST || is_hop_by_hop(name.as_str().as_bytes(), &listed) {
            continue;
        }
        list.add(name.as_str().as_bytes(), value.as_bytes());
    }
    list
}

/// The response headers filters see: `:status`, then the end-to-end headers.
pub(crate) fn response_header_list(
    status: http::StatusCode,
    headers: &http::HeaderMap,
) -> HeaderList {
    let mut list = HeaderList::new();
    list.add(b":status", status.as_str().as_bytes());
    let listed = connection_listed(headers);
    for (name, value) in headers {
        if is_hop_by_hop(name.as_str().as_bytes(), &listed) {
            continue;
        }
        list.add(name.as_str().as_bytes(), value.as_bytes());
    }
    list
}

/// Everything needed to address the upstream request.
pub(crate) struct UpstreamRequest {
    pub(crate) method: http::Method,
    pub(crate) path: String,
    pub(crate) headers: http::HeaderMap,
}

pub(crate) struct ForwardContext<'a> {
    pub(crate) service: &'a Service,
    pub(crate) route: &'a Route,
    pub(crate) prefix: &'a str,
    pub(crate) client: SocketAddr,
    pub(crate) listener: SocketAddr,
    /// The path the client asked for (X-Forwarded-Path).
    pub(crate) original_path: &'a str,
    /// The client is one of `trusted_ips`: its X-Forwarded-* and Forwarded headers are kept.
    pub(crate) trusted: bool,
}

/// The forwarding headers a client may only set when it is a trusted proxy (Kong's
/// `trusted_ips`); X-Forwarded-For is appended to instead, as nginx and Kong do.
pub(crate) const FORWARDING_HEADERS: [&str; 7] = [
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-path",
    "x-forwarded-prefix",
    "x-real-ip",
    "forwarded",
];

/// Removes the forwarding headers of an untrusted client before the filters see the request,
/// so that neither a filter (building a redirect URI, say) nor the upstream believes them.
pub(crate) fn strip_untrusted_forwarding(list: &mut HeaderList) {
    for name in FORWARDING_HEADERS {
        list.remove(name.as_bytes());
    }
}

/// Builds the upstream request from the headers as the filters left them.
pub(crate) fn upstream_request(
    list: &HeaderList,
    ctx: &ForwardContext<'_>,
) -> Result<UpstreamRequest, String> {
    let method_text = list.get_str(":method").unwrap_or("GET");
    let method = http::Method::from_bytes(method_text.as_bytes())
        .map_err(|_| format!("invalid :method `{method_text}`"))?;
    let request_path = list.get_str(":path").unwrap_or("/");
    let path = crate::routing::upstream_path(
        &ctx.service.path,
        request_path,
        ctx.prefix,
        ctx.route.strip_path,
    );
    path.parse::<http::uri::PathAndQuery>()
        .map_err(|_| format!("invalid upstream path `{path}`"))?;
    // The client's Host: `:authority` (Envoy), or the `host` header where `:authority` is the
    // server name (Kong's engine, `authority: server_name`).
    let authority = list
        .get_str("host")
        .or_else(|| list.get_str(":authority"))
        .unwrap_or("");
    let mut headers = http::HeaderMap::new();
    let mut forwarded_for = None;
    // What a trusted client said about the original request.
    let mut client_said: Vec<(String, String)> = Vec::new();
    for (name, value) in list.iter() {
        // The length is set from the body as the filters left it.
        if name.first() == Some(&b':')
            || name.eq_ignore_ascii_case(b"host")
            || name.eq_ignore_ascii_case(b"content-length")
            || is_hop_by_hop(name, &[])
        {
            continue;
        }
        if name.eq_ignore_ascii_case(b"x-forwarded-for") {
            forwarded_for = Some(String::from_utf8_lossy(value).into_owned());
            continue;
        }
        let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
        if FORWARDING_HEADERS.contains(&lower.as_str()) {
            if ctx.trusted {
                client_said.push((lower, String::from_utf8_lossy(value).into_owned()));
            }
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name),
            http::HeaderValue::from_bytes(value),
        ) {
            headers.append(name, value);
        }
    }
    let host = if ctx.route.preserve_host && !authority.is_empty() {
        authority.to_string()
    } else if ctx.service.port == ctx.service.scheme.default_port() {
        bracket(&ctx.service.host)
    } else {
        format!("{}:{}", bracket(&ctx.service.host), ctx.service.port)
    };
    let client_ip = ctx.client.ip().to_string();
    let forwarded_for = match forwarded_for {
        Some(existing) if !existing.trim().is_empty() => format!("{existing}, {client_ip}"),
        _ => client_ip.clone(),
    };
    let forwarded_host = host_without_port(authority).to_string();
    let said = |name: &str| {
        client_said
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let port = ctx.listener.port().to_string();
    let forwarded_path = ctx
        .original_path
        .split('?')
        .next()
        .unwrap_or("/")
        .to_string();
    let prefix =
        (ctx.route.strip_path && ctx.prefix != "/" && ctx.original_path.starts_with(ctx.prefix))
            .then(|| ctx.prefix.to_string());
    // RFC 7239: a trusted proxy's list gets our element appended; anyone else's is replaced.
    let element = format!(
        "for={};host={};proto=http",
        forwarded_node(ctx.client.ip()),
        quote_if_needed(authority)
    );
    let forwarded = match said("forwarded") {
        Some(existing) if !existing.trim().is_empty() => format!("{existing}, {element}"),
        _ => element,
    };
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = http::HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set("host", &host);
    set("x-real-ip", &said("x-real-ip").unwrap_or(client_ip));
    set("x-forwarded-for", &forwarded_for);
    set(
        "x-forwarded-proto",
        &said("x-forwarded-proto").unwrap_or_else(|| "http".to_string()),
    );
    set(
        "x-forwarded-host",
        &said("x-forwarded-host").unwrap_or(forwarded_host),
    );
    set(
        "x-forwarded-port",
        &said("x-forwarded-port").unwrap_or(port),
    );
    set(
        "x-forwarded-path",
        &said("x-forwarded-path").unwrap_or(forwarded_path),
    );
    if let Some(prefix) = said("x-forwarded-prefix").or(prefix) {
        set("x-forwarded-prefix", &prefix);
    }
    set("forwarded", &forwarded);
    Ok(UpstreamRequest {
        method,
        path,
        headers,
    })
}

/// A `for=` node: IPv6 addresses are quoted and bracketed (RFC 7239 section 6).
fn forwarded_node(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("\"[{v6}]\""),
    }
}

/// A `host=` value is a token unless it has a `:` (a port) or other separators: quote it.
fn quote_if_needed(value: &str) -> String {
    if value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        value.to_string()
    } else {
        format!("\"{}\"", value.replace(['"', '\\'], ""))
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

fn host_without_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .split(']')
            .next()
            .map(|h| &authority[..h.len() + 1])
            .unwrap_or(authority);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// Client-facing response headers from the list the filters left (pseudo-headers dropped, and
/// the length left to the body unless the response has none by definition).
pub(crate) fn response_headers(list: &HeaderList, keep_length: bool) -> http::HeaderMap {
    crate::abi::headers::http_header_map(list.iter().filter(|(name, _)| {
        name.first() != Some(&b':')
            && !is_hop_by_hop(name, &[])
            && (keep_length || !name.eq_ignore_ascii_case(b"content-length"))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Scheme;

    fn service() -> Service {
        Service {
            id: "s".into(),
            name: "s".into(),
            scheme: Scheme::Http,
            host: "127.0.0.1".into(),
            port: 9000,
            path: "/".into(),
        }
    }

    fn route() -> Route {
        Route {
            id: "r".into(),
            name: "r".into(),
            service: 0,
            paths: vec!["/".into()],
            strip_path: true,
            preserve_host: false,
        }
    }

    #[test]
    fn sets_kong_forwarding_headers() {
        let mut list = HeaderList::new();
        list.add(b":authority", b"gw.example:8000");
        list.add(b":path", b"/a?b=1");
        list.add(b":method", b"POST");
        list.add(b"x-forwarded-for", b"10.0.0.1");
        list.add(b"set-cookie", b"a=1");
        list.add(b"set-cookie", b"b=2");
        list.add(b"connection", b"close");
        list.add(b"content-length", b"999");
        let (service, route) = (service(), route());
        let ctx = ForwardContext {
            service: &service,
            route: &route,
            prefix: "/",
            client: "127.0.0.2:5555".parse().unwrap(),
            listener: "127.0.0.1:8000".parse().unwrap(),
            original_path: "/a?b=1",
            trusted: false,
        };
        let request = upstream_request(&list, &ctx).unwrap();
        assert_eq!(request.method, http::Method::POST);
        assert_eq!(request.path, "/a?b=1");
        let h = &request.headers;
        assert_eq!(h["host"], "127.0.0.1:9000");
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.2");
        assert_eq!(h["x-forwarded-host"], "gw.example");
        assert_eq!(h["x-forwarded-port"], "8000");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-real-ip"], "127.0.0.2");
        assert_eq!(h.get_all("set-cookie").iter().count(), 2);
        assert!(h.get("connection").is_none());
        assert!(
            h.get("content-length").is_none(),
            "the length follows the body the filters left"
        );
    }

    /// A request whose client claims to be forwarding for someone else.
    fn spoofing_request() -> HeaderList {
        let mut list = HeaderList::new();
        list.add(b":authority", b"gw.example:8000");
        list.add(b":path", b"/a");
        list.add(b":method", b"GET");
        list.add(b"x-forwarded-proto", b"https");
        list.add(b"x-forwarded-host", b"evil.example");
        list.add(b"x-forwarded-port", b"443");
        list.add(b"x-forwarded-path", b"/admin");
        list.add(b"x-forwarded-prefix", b"/evil");
        list.add(b"x-real-ip", b"10.9.9.9");
        list.add(b"forwarded", b"for=10.9.9.9;host=evil.example;proto=https");
        list
    }

    fn forward(list: &HeaderList, trusted: bool) -> http::HeaderMap {
        let (service, route) = (service(), route());
        let ctx = ForwardContext {
            service: &service,
            route: &route,
            prefix: "/",
            client: "127.0.0.2:5555".parse().unwrap(),
            listener: "127.0.0.1:8000".parse().unwrap(),
            original_path: "/a",
            trusted,
        };
        upstream_request(list, &ctx).unwrap().headers
    }

    #[test]
    fn an_untrusted_client_cannot_set_forwarding_headers() {
        let mut list = spoofing_request();
        // What the filters see: the claims are gone before they run.
        strip_untrusted_forwarding(&mut list);
        assert!(list.get(b"x-forwarded-prefix").is_none());
        assert!(list.get(b"forwarded").is_none());
        // What the upstream gets, even if a claim survived to here: the gateway's own values.
        for list in [list, spoofing_request()] {
            let h = forward(&list, false);
            assert_eq!(h["x-forwarded-proto"], "http");
            assert_eq!(h["x-forwarded-host"], "gw.example");
            assert_eq!(h["x-forwarded-port"], "8000");
            assert_eq!(h["x-forwarded-path"], "/a");
            assert!(h.get("x-forwarded-prefix").is_none());
            assert_eq!(h["x-real-ip"], "127.0.0.2");
            assert_eq!(
                h["forwarded"],
                "for=127.0.0.2;host=\"gw.example:8000\";proto=http"
            );
        }
    }

    #[test]
    fn a_trusted_proxy_keeps_its_forwarding_headers() {
        let h = forward(&spoofing_request(), true);
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "evil.example");
        assert_eq!(h["x-forwarded-port"], "443");
        assert_eq!(h["x-forwarded-path"], "/admin");
        assert_eq!(h["x-forwarded-prefix"], "/evil");
        assert_eq!(h["x-real-ip"], "10.9.9.9");
        assert_eq!(
            h["forwarded"],
            "for=10.9.9.9;host=evil.example;proto=https, for=127.0.0.2;host=\"gw.example:8000\";proto=http"
        );
    }

    #[test]
    fn response_headers_drop_pseudo_and_length() {
        let mut list = HeaderList::new();
        list.add(b":status", b"200");
        list.add(b"content-length", b"5");
        list.add(b"transfer-encoding", b"chunked");
        list.add(b"x-a", b"1");
        let map = response_headers(&list, false);
        assert_eq!(map.len(), 1);
        assert_eq!(response_headers(&list, true)["content-length"], "5");
    }
}
