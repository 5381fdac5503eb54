//! Who may talk to the admin API.
//!
//! - DNS rebinding: a web page on `evil.example` whose name is made to resolve to 127.0.0.1
//!   can make the victim's browser send requests to the admin listener, with
//!   `Host: evil.example`. Only a Host naming the listener itself (the address the client
//!   connected to, `localhost` on a loopback listener) or one of `admin_hosts` is answered.
//! - A token: with `admin_token` set, every request needs it in `Kong-Admin-Token` (the header
//!   Kong Enterprise uses). It is required when the listener is not on loopback (config.rs).

use std::net::{IpAddr, SocketAddr};

use crate::config::limits::{AdminAccess, ADMIN_TOKEN_HEADER};

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 421 Misdirected Request: the Host is not this listener.
    Host(String),
    /// 401: the token is missing or wrong.
    Token,
}

/// Checks one request's Host and token against the admin access settings; `local` is the
/// address the client connected to.
pub(crate) fn check(
    access: &AdminAccess,
    local: SocketAddr,
    host: Option<&str>,
    token: Option<&[u8]>,
    tokenless: bool,
) -> Result<(), Refusal> {
    let host = host.unwrap_or("").trim();
    if !host_allowed(access, local, host) {
        return Err(Refusal::Host(host.to_string()));
    }
    if tokenless {
        return Ok(());
    }
    if let Some(expected) = &access.token {
        let given = token.unwrap_or(b"");
        if !constant_time_eq(given, expected.as_bytes()) {
            return Err(Refusal::Token);
        }
    }
    Ok(())
}

pub(crate) fn token_header() -> &'static str {
    ADMIN_TOKEN_HEADER
}

fn host_allowed(access: &AdminAccess, local: SocketAddr, host: &str) -> bool {
    let (name, port) = split_host(host);
    let name = name.to_ascii_lowercase();
    if name.is_empty() {
        return false;
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(port) if port == local.port() => {}
            // A configured name may sit behind a port-mapping proxy: only its name counts.
            _ => return access.hosts.contains(&name),
        }
    }
    if access.hosts.contains(&name) {
        return true;
    }
    match name.parse::<IpAddr>() {
        Ok(ip) => ip == local.ip() || (local.ip().is_unspecified() && ip.is_loopback()),
        Err(_) => name == "localhost" && local.ip().is_loopback(),
    }
}

/// `name[:port]`, `[v6][:port]`.
fn split_host(host: &str) -> (&str, Option<&str>) {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((name, after)) => (name, after.strip_prefix(':')),
            None => ("", None),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (name, Some(port)),
        Some(_) => ("", None),
        None => (host, None),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(token: Option<&str>, hosts: &[&str]) -> AdminAccess {
        AdminAccess {
            token: token.map(str::to_string),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
        }
    }

    #[test]
    fn only_the_listeners_own_names_pass_the_host_check() {
        let local: SocketAddr = "127.0.0.1:8001".parse().unwrap();
        let open = access(None, &[]);
        for host in [
            "localhost:8001",
            "127.0.0.1:8001",
            "localhost",
            "LOCALHOST:8001",
        ] {
            assert_eq!(
                check(&open, local, Some(host), None, false),
                Ok(()),
                "{host}"
            );
        }
        for host in [
            "evil.example:8001",
            "evil.example",
            "localhost:9999",
            "127.0.0.2:8001",
            "",
            "[::1]:8001",
        ] {
            assert!(
                check(&open, local, Some(host), None, false).is_err(),
                "{host}"
            );
        }
        assert!(check(&open, local, None, None, false).is_err());
        let named = access(None, &["admin.internal"]);
        assert_eq!(
            check(&named, local, Some("admin.internal:443"), None, false),
            Ok(())
        );
        let v6: SocketAddr = "[::1]:8001".parse().unwrap();
        assert_eq!(check(&open, v6, Some("[::1]:8001"), None, false), Ok(()));
    }

    #[test]
    fn the_token_must_match_exactly() {
        let local: SocketAddr = "10.0.0.5:8001".parse().unwrap();
        let guarded = access(Some("s3cret"), &[]);
        let host = Some("10.0.0.5:8001");
        assert_eq!(check(&guarded, local, host, Some(b"s3cret"), false), Ok(()));
        assert_eq!(
            check(&guarded, local, host, Some(b"s3cre"), false),
            Err(Refusal::Token)
        );
        assert_eq!(
            check(&guarded, local, host, None, false),
            Err(Refusal::Token)
        );
        assert_eq!(check(&guarded, local, host, None, true), Ok(()));
    }
}
