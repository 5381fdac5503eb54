//! The URLs of a browser login: the request's own URL as Kong computes it, which is both where
//! the login started and, unless `redirect_uri` says otherwise, where the identity provider
//! sends the browser back.

use crate::flows::request::IncomingRequest;
use crate::flows::settings::Settings;
use crate::http::url;

/// `scheme://host[:port]/path` of the request, without its query; the port is left out when it
/// is the scheme's default (Kong's `get_redirect_uri`). `None` when the request names no host.
pub fn current_url(request: &IncomingRequest) -> Option<String> {
    let scheme = if request.scheme.is_empty() {
        "http".to_string()
    } else {
        request.scheme.to_ascii_lowercase()
    };
    let authority = request.authority.trim();
    if authority.is_empty() || authority.contains(|c: char| c.is_whitespace() || "/?#@".contains(c))
    {
        return None;
    }
    let host = url::host_of(authority);
    let port = authority
        .get(host.len()..)
        .and_then(|rest| rest.strip_prefix(':'))
        .filter(|p| !p.is_empty());
    let default_port = if scheme == "https" { "443" } else { "80" };
    let path = request.path_only();
    let path = if path.starts_with('/') { path } else { "/" };
    Some(match port {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}{path}"),
        _ => format!("{scheme}://{host}{path}"),
    })
}

/// Where the identity provider sends the browser back: `redirect_uri`, else the current URL.
pub fn redirect_uri(settings: &Settings, request: &IncomingRequest) -> Option<String> {
    match settings.config.redirect_uri() {
        Some(configured) => Some(configured.to_string()),
        None => current_url(request),
    }
}

/// The query of the request, as sent (for `preserve_query_args`).
pub fn raw_query(request: &IncomingRequest) -> Option<String> {
    url::split_path_query(&request.path)
        .1
        .filter(|q| !q.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(scheme: &str, authority: &str, path: &str) -> IncomingRequest {
        IncomingRequest {
            scheme: scheme.into(),
            authority: authority.into(),
            path: path.into(),
            ..Default::default()
        }
    }

    #[test]
    fn current_url_as_kong_computes_it() {
        assert_eq!(
            current_url(&request("http", "app.test:8000", "/a/b?x=1")).unwrap(),
            "http://app.test:8000/a/b"
        );
        assert_eq!(
            current_url(&request("http", "app.test:80", "/")).unwrap(),
            "http://app.test/"
        );
        assert_eq!(
            current_url(&request("https", "app.test:443", "/p")).unwrap(),
            "https://app.test/p"
        );
        assert_eq!(
            current_url(&request("https", "app.test:80", "/p")).unwrap(),
            "https://app.test:80/p"
        );
        assert_eq!(
            current_url(&request("HTTPS", "[::1]:8443", "/p")).unwrap(),
            "https://[::1]:8443/p"
        );
        assert_eq!(
            current_url(&request("", "app.test", "*")).unwrap(),
            "http://app.test/"
        );
        for bad in ["", "a b", "evil.test/x", "user@host"] {
            assert_eq!(current_url(&request("http", bad, "/")), None, "{bad:?}");
        }
    }

    #[test]
    fn raw_query_is_kept_as_sent() {
        assert_eq!(
            raw_query(&request("http", "h", "/p?b=2&a=%20")).as_deref(),
            Some("b=2&a=%20")
        );
        assert_eq!(raw_query(&request("http", "h", "/p?")), None);
        assert_eq!(raw_query(&request("http", "h", "/p")), None);
    }
}
