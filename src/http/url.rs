//! Splitting request targets and URLs into the pieces the flows and the adapter need.
//!
//! # Why not the `url` crate
//!
//! The design named `url` (2.5). [`HttpUrl::parse`] was measured on `url::Url::parse`, on the
//! commit whose module was 1,030,438 bytes (`make wasm`, cap 1 MiB = 1,048,576):
//!
//! - with `idna`'s default Unicode back end (ICU4X tables): 1,244,397 bytes (+213,959);
//! - with `idna_adapter` pinned to 1.0.0 (no Unicode back end, ASCII hosts only, a Cargo.lock
//!   pin that any `cargo update` undoes): 1,112,515 bytes (+82,077).
//!
//! Both are over the cap, for four small functions. The rest would not use it anyway:
//! [`split_path_query`] and [`normalize_path`] work on request targets, not absolute URLs, and
//! WHATWG parsing neither merges repeated slashes nor decodes unreserved `%XX`; [`append_query`]
//! follows Kong's string rule (`?` or `&`, then the arguments), where `query_pairs_mut`
//! re-serialises the whole URL. WHATWG parsing also changes what goes on the wire: it lowercases
//! the host, drops a default port from the authority, resolves `.`/`..` in the path and accepts
//! `http:host` and backslashes, where [`HttpUrl`] keeps the authority as written.

/// Splits a request target (`/path?query`) into its path and its query (without `?`).
pub fn split_path_query(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

/// An absolute `http(s)` URL taken apart for an outbound call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub scheme: String,
    /// `host[:port]` exactly as written in the URL.
    pub authority: String,
    /// Path and query, at least `/`.
    pub path_and_query: String,
}

impl HttpUrl {
    /// Parses `http://host[:port]/path?query`; `None` for anything else (other schemes,
    /// no host, user info, fragments are dropped as they never go on the wire).
    pub fn parse(url: &str) -> Option<HttpUrl> {
        let (scheme, rest) = url.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return None;
        }
        let rest = rest.split('#').next().unwrap_or_default();
        let split_at = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(split_at);
        if authority.is_empty()
            || authority.contains('@')
            || authority.contains(char::is_whitespace)
        {
            return None;
        }
        let path_and_query = if tail.is_empty() {
            "/".to_string()
        } else if tail.starts_with('?') {
            format!("/{tail}")
        } else {
            tail.to_string()
        };
        Some(HttpUrl {
            scheme,
            authority: authority.to_string(),
            path_and_query,
        })
    }

    /// The host without the port (IPv6 brackets kept).
    pub fn host(&self) -> &str {
        host_of(&self.authority)
    }
}

/// The host part of an authority (`host[:port]`, `[v6]:port`).
pub fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => authority.get(..=end).unwrap_or(authority),
            None => authority,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// Appends `name=value` pairs to a URL as query arguments, with `&` when the URL already has
/// a query and `?` otherwise (Kong's rule for the end-session redirect).
pub fn append_query(url: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return url.to_string();
    }
    let encoded = super::form::encode(pairs.iter().copied());
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_with_and_without_ports() {
        let u = HttpUrl::parse("https://idp.example.com:8443/token?x=1#frag").unwrap();
        assert_eq!(u.scheme, "https");
        assert_eq!(u.authority, "idp.example.com:8443");
        assert_eq!(u.path_and_query, "/token?x=1");
        assert_eq!(u.host(), "idp.example.com");
        let u = HttpUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(u.path_and_query, "/");
        assert_eq!(
            HttpUrl::parse("http://h?q=1").unwrap().path_and_query,
            "/?q=1"
        );
        assert_eq!(HttpUrl::parse("HTTP://[::1]:80/x").unwrap().host(), "[::1]");
    }

    #[test]
    fn rejects_what_is_not_an_http_url() {
        for bad in [
            "ftp://h/x",
            "http://",
            "http:///x",
            "h/x",
            "http://u:p@h/",
            "http://a b/",
        ] {
            assert_eq!(HttpUrl::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn appends_query_arguments() {
        assert_eq!(
            append_query("http://h/end", &[("a", "1 2"), ("b", "/x")]),
            "http://h/end?a=1+2&b=%2Fx"
        );
        assert_eq!(
            append_query("http://h/end?s=1", &[("a", "1")]),
            "http://h/end?s=1&a=1"
        );
        assert_eq!(append_query("http://h/end", &[]), "http://h/end");
        assert_eq!(split_path_query("/a?b=c?d"), ("/a", Some("b=c?d")));
    }
}

/// Normalises a request path the way a proxy compares paths: percent-decoded unreserved
/// characters, repeated slashes merged, `.` and `..` segments resolved. Used for the logout
/// suffix, so `/app//./logout` and `/app/%6Cogout` are still seen as `/app/logout`.
pub fn normalize_path(path: &str) -> String {
    let decoded = decode_unreserved(path);
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let trailing = decoded.ends_with('/') && !segments.is_empty();
    let mut out = format!("/{}", segments.join("/"));
    if trailing {
        out.push('/');
    }
    out
}

/// Decodes `%XX` only where it stands for an unreserved character (RFC 3986 section 2.3), which
/// never changes what the path means.
fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match (bytes.get(i), bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(b'%'), Some(&h), Some(&l)) => {
                hex_pair(h, l).filter(|c| c.is_ascii_alphanumeric() || b"-._~".contains(c))
            }
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(char::from(c));
                i += 3;
            }
            None => {
                let ch = path
                    .get(i..)
                    .and_then(|rest| rest.chars().next())
                    .unwrap_or('\u{fffd}');
                out.push(ch);
                i += ch.len_utf8().max(1);
            }
        }
    }
    out
}

fn hex_pair(high: u8, low: u8) -> Option<u8> {
    let digit = |b: u8| char::from(b).to_digit(16);
    u8::try_from(digit(high)? * 16 + digit(low)?).ok()
}

#[cfg(test)]
mod normalize_tests {
    use super::normalize_path;
    use proptest::prelude::*;

    #[test]
    fn normalises_paths() {
        assert_eq!(normalize_path("/app//./logout"), "/app/logout");
        assert_eq!(normalize_path("/app/x/../%6Cogout"), "/app/logout");
        assert_eq!(
            normalize_path("/a/%2Fb"),
            "/a/%2Fb",
            "reserved characters stay encoded"
        );
        assert_eq!(normalize_path("/logout/"), "/logout/");
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("/../.."), "/");
        assert_eq!(normalize_path("/é/%7e"), "/é/~");
    }

    proptest! {
        #[test]
        fn never_panics(input in ".*") {
            let out = normalize_path(&input);
            prop_assert!(out.starts_with('/'));
        }
    }
}
