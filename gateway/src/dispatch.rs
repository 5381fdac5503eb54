//! HTTP calls filters make with proxy_http_call: checking the request (Envoy's rules), finding
//! the target, and carrying the call out with its timeout.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;

use crate::abi::headers::{HeaderList, Pairs};
use crate::abi::Status;
use crate::config::{parse_host_port, Scheme};
use crate::http::body::OutBody;
use crate::http::client::{HttpClient, Target};

/// An HTTP call's answer, visible during proxy_on_http_call_response.
#[derive(Debug, Default)]
pub(crate) struct CallResult {
    /// Empty when the call failed (Envoy's convention: num_headers 0).
    pub(crate) headers: HeaderList,
    pub(crate) body: Vec<u8>,
    pub(crate) trailers: HeaderList,
    /// What proxy_get_status reports: 0 and "" on success, BrokenConnection and the reason on
    /// failure.
    pub(crate) status_code: u32,
    pub(crate) status_message: String,
}

/// A checked call, ready to send.
#[derive(Debug)]
pub(crate) struct CallRequest {
    pub(crate) upstream: String,
    pub(crate) target: Target,
    pub(crate) method: http::Method,
    pub(crate) path: String,
    pub(crate) authority: String,
    /// Regular headers (no pseudo-headers, no Host or hop-by-hop headers).
    pub(crate) headers: HeaderList,
    pub(crate) body: Bytes,
    pub(crate) trailers: HeaderList,
    pub(crate) timeout: Duration,
}

/// Why a call was refused with BAD_ARGUMENT.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct CallRejected(pub(crate) String);

/// Headers the host sets or that only make sense hop by hop; a filter's values are dropped.
const DROPPED_HEADERS: [&str; 9] = [
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "upgrade",
    "content-length",
    "trailer",
];

/// Checks a call the way Envoy does: `:method`, `:path` and `:authority` are required, the
/// upstream is a `clusters:` name or a `host[:port]`; `:scheme: https` selects TLS.
pub(crate) fn build_call(
    clusters: &HashMap<String, String>,
    upstream: &str,
    headers: Pairs,
    body: Vec<u8>,
    trailers: Pairs,
    timeout_ms: u32,
    default_timeout: Duration,
) -> Result<CallRequest, CallRejected> {
    let headers = HeaderList::from_pairs(headers);
    let text = |name: &str| {
        headers
            .get_str(name)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let method =
        text(":method").ok_or_else(|| CallRejected("the call has no :method header".into()))?;
    let path = text(":path").ok_or_else(|| CallRejected("the call has no :path header".into()))?;
    let authority = text(":authority")
        .ok_or_else(|| CallRejected("the call has no :authority header".into()))?;
    let scheme = match text(":scheme").as_deref() {
        None | Some("http") => Scheme::Http,
        Some("https") => Scheme::Https,
        Some(other) => {
            return Err(CallRejected(format!(
                ":scheme `{other}` is neither http nor https"
            )))
        }
    };
    let method = http::Method::from_bytes(method.as_bytes())
        .map_err(|_| CallRejected(format!(":method `{method}` is not a valid method")))?;
    if !path.starts_with('/') || path.parse::<http::uri::PathAndQuery>().is_err() {
        return Err(CallRejected(format!(
            ":path `{path}` is not a valid request path"
        )));
    }
    if http::uri::Authority::try_from(authority.as_str()).is_err() {
        return Err(CallRejected(format!(
            ":authority `{authority}` is not a valid authority"
        )));
    }
    let address = clusters
        .get(upstream)
        .map(String::as_str)
        .unwrap_or(upstream);
    let (host, port) = parse_host_port(address, scheme.default_port()).map_err(|_| {
        CallRejected(format!(
            "upstream `{upstream}` is neither a configured cluster nor a host:port"
        ))
    })?;
    let mut regular = HeaderList::new();
    for (name, value) in headers.iter() {
        let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
        if lower.starts_with(':') || DROPPED_HEADERS.contains(&lower.as_str()) {
            continue;
        }
        regular.add(name, value);
    }
    let timeout = if timeout_ms == 0 {
        default_timeout
    } else {
        Duration::from_millis(u64::from(timeout_ms))
    };
    Ok(CallRequest {
        upstream: upstream.to_string(),
        target: Target {
            scheme,
            host,
            port,
            tls_name: authority_host(&authority),
        },
        method,
        path,
        authority,
        headers: regular,
        body: Bytes::from(body),
        trailers: HeaderList::from_pairs(trailers),
        timeout,
    })
}

/// The host part of an authority (`host`, `host:port`, `[v6]:port`).
fn authority_host(authority: &str) -> String {
    match parse_host_port(authority, 0) {
        Ok((host, _)) => host,
        Err(_) => authority.to_string(),
    }
}

/// Performs the call within its timeout. Failures (refused, TLS, timeout, too large) become a
/// result with no headers, which is how the filter learns of them.
pub(crate) async fn perform(
    client: &Rc<HttpClient>,
    call: &CallRequest,
    max_body: usize,
) -> CallResult {
    match tokio::time::timeout(call.timeout, exchange(client, call, max_body)).await {
        Ok(Ok(result)) => result,
        Ok(Err(reason)) => failed(reason),
        Err(_) => failed(format!("timeout after {} ms", call.timeout.as_millis())),
    }
}

fn failed(reason: String) -> CallResult {
    CallResult {
        status_code: Status::BrokenConnection as u32,
        status_message: reason,
        ..CallResult::default()
    }
}

async fn exchange(
    client: &Rc<HttpClient>,
    call: &CallRequest,
    max_body: usize,
) -> Result<CallResult, String> {
    let build = || {
        let mut builder = http::Request::builder()
            .method(call.method.clone())
            .uri(call.path.as_str())
            .header(http::header::HOST, call.authority.as_str());
        for (name, value) in call.headers.iter() {
            builder = builder.header(name, value);
        }
        let trailers = to_header_map(&call.trailers);
        builder
            .body(OutBody::new(call.body.clone(), Some(trailers)))
            .unwrap_or_else(|_| http::Request::new(OutBody::empty()))
    };
    let (response, lease) = client
        .send(&call.target, build)
        .await
        .map_err(|e| format!("{}: {e}", e.reason()))?;
    let mut headers = HeaderList::new();
    headers.add(b":status", response.status().as_str().as_bytes());
    for (name, value) in response.headers() {
        headers.add(name.as_str().as_bytes(), value.as_bytes());
    }
    let mut body = response.into_body();
    let mut data = Vec::new();
    let mut trailers = HeaderList::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("broken connection: {e}"))?;
        match frame.into_data() {
            Ok(chunk) => {
                if data.len() + chunk.len() > max_body {
                    return Err(format!("response body larger than {max_body} bytes"));
                }
                data.extend_from_slice(&chunk);
            }
            Err(frame) => {
                if let Ok(map) = frame.into_trailers() {
                    for (name, value) in &map {
                        trailers.add(name.as_str().as_bytes(), value.as_bytes());
                    }
                }
            }
        }
    }
    lease.release();
    Ok(CallResult {
        headers,
        body: data,
        trailers,
        status_code: 0,
        status_message: String::new(),
    })
}

/// Converts header pairs to an http::HeaderMap, skipping pairs http cannot represent.
pub(crate) fn to_header_map(list: &HeaderList) -> http::HeaderMap {
    crate::abi::headers::http_header_map(list.iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        list.iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    fn build(upstream: &str, headers: &[(&str, &str)]) -> Result<CallRequest, CallRejected> {
        let clusters = HashMap::from([("idp".to_string(), "127.0.0.1:8080".to_string())]);
        build_call(
            &clusters,
            upstream,
            pairs(headers),
            Vec::new(),
            Vec::new(),
            0,
            Duration::from_secs(9),
        )
    }

    const OK: [(&str, &str); 4] = [
        (":method", "GET"),
        (":path", "/x"),
        (":authority", "idp"),
        ("Host", "evil"),
    ];

    #[test]
    fn requires_method_path_and_authority() {
        for missing in [":method", ":path", ":authority"] {
            let headers: Vec<_> = OK.iter().copied().filter(|(n, _)| *n != missing).collect();
            let error = build("idp", &headers).unwrap_err();
            assert!(error.0.contains(missing), "{error}");
        }
    }

    #[test]
    fn resolves_clusters_and_addresses() {
        let call = build("idp", &OK).unwrap();
        assert_eq!(
            call.target,
            Target {
                scheme: Scheme::Http,
                host: "127.0.0.1".into(),
                port: 8080,
                tls_name: "idp".into(),
            }
        );
        assert_eq!(call.timeout, Duration::from_secs(9));
        assert!(
            call.headers.get(b"host").is_none(),
            "a filter's Host header is dropped"
        );
        let mut https = OK.to_vec();
        https.push((":scheme", "https"));
        let call = build("example.com", &https).unwrap();
        assert_eq!(
            (call.target.host.as_str(), call.target.port),
            ("example.com", 443)
        );
        assert!(build("not a host", &OK).is_err());
        let mut bad_scheme = OK.to_vec();
        bad_scheme.push((":scheme", "ftp"));
        assert!(build("idp", &bad_scheme).is_err());
    }
}
