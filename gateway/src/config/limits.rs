//! The gateway's defensive settings: client connection limits, trusted proxies, admin API
//! access, and the per-instance VM limits. Defaults follow nginx and Kong where they have one.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// A setting that cannot be used: (field, why).
type FieldError = (String, String);

/// nginx's `client_header_timeout`, `client_body_timeout`, `keepalive_timeout` (all 60 s by
/// default) and `worker_connections` (Kong's "auto" gives up to 16384 per worker).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientLimits {
    /// The whole request head must arrive within this time (408 / close, as nginx).
    pub(crate) header_timeout: Duration,
    /// Each read of the request body must make progress within this time (408, as nginx).
    pub(crate) body_timeout: Duration,
    /// An idle keep-alive connection is closed after this time; zero turns keep-alive off.
    pub(crate) keepalive_timeout: Duration,
    /// Open client connections per worker; beyond it new connections are closed at once.
    pub(crate) worker_connections: usize,
}

pub(crate) const DEFAULT_WORKER_CONNECTIONS: usize = 16_384;

impl ClientLimits {
    pub(crate) fn from_raw(
        header_ms: Option<u64>,
        body_ms: Option<u64>,
        keepalive_ms: Option<u64>,
        worker_connections: Option<usize>,
    ) -> Result<ClientLimits, FieldError> {
        let positive = |field: &str, value: Option<u64>| match value {
            Some(0) => Err((field.to_string(), "must be greater than 0".to_string())),
            Some(ms) => Ok(Duration::from_millis(ms)),
            None => Ok(Duration::from_secs(60)),
        };
        let worker_connections = match worker_connections {
            Some(0) => {
                return Err((
                    "worker_connections".to_string(),
                    "must be at least 1".to_string(),
                ))
            }
            Some(n) => n,
            None => DEFAULT_WORKER_CONNECTIONS,
        };
        Ok(ClientLimits {
            header_timeout: positive("client_header_timeout_ms", header_ms)?,
            body_timeout: positive("client_body_timeout_ms", body_ms)?,
            keepalive_timeout: keepalive_ms.map_or(Duration::from_secs(60), Duration::from_millis),
            worker_connections,
        })
    }
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            header_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(60),
            worker_connections: DEFAULT_WORKER_CONNECTIONS,
        }
    }
}

/// Kong's `trusted_ips`: addresses or CIDR blocks of the proxies in front of the gateway.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustedIps {
    blocks: Vec<(IpAddr, u8)>,
}

impl TrustedIps {
    /// Parses `["10.0.0.0/8", "127.0.0.1", "::1/128"]`; errors name the entry's index.
    pub(crate) fn parse(entries: &[String]) -> Result<TrustedIps, (usize, String)> {
        let mut blocks = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let bad = || {
                (
                    index,
                    format!("`{entry}` is not an IP address or CIDR block"),
                )
            };
            let (address, bits) = match entry.split_once('/') {
                Some((address, bits)) => (address, Some(bits)),
                None => (entry.as_str(), None),
            };
            let address: IpAddr = address.trim().parse().map_err(|_| bad())?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(bits) => bits.trim().parse::<u8>().map_err(|_| bad())?,
                None => max,
            };
            if bits > max {
                return Err(bad());
            }
            blocks.push((address, bits));
        }
        Ok(TrustedIps { blocks })
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub(crate) fn contains(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        self.blocks
            .iter()
            .any(|(network, bits)| match (network, peer) {
                (IpAddr::V4(net), IpAddr::V4(ip)) => {
                    prefix_matches(&net.octets(), &ip.octets(), *bits)
                }
                (IpAddr::V6(net), IpAddr::V6(ip)) => {
                    prefix_matches(&net.octets(), &ip.octets(), *bits)
                }
                _ => false,
            })
    }
}

fn prefix_matches(network: &[u8], address: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    let rest = bits % 8;
    // `bits` was checked against the address length when the CIDR was parsed.
    if network.get(..full).is_none() || network.get(..full) != address.get(..full) {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    match (network.get(full), address.get(full)) {
        (Some(n), Some(a)) => (n & mask) == (a & mask),
        _ => false,
    }
}

/// Who may use the admin API: a Host check against DNS rebinding and an optional token.
#[derive(Debug, Clone, Default)]
pub(crate) struct AdminAccess {
    /// Required in the `Kong-Admin-Token` header when set.
    pub(crate) token: Option<String>,
    /// Host names (lower case, without port) accepted besides the listener's own address.
    pub(crate) hosts: Vec<String>,
}

pub(crate) const ADMIN_TOKEN_HEADER: &str = "kong-admin-token";

impl AdminAccess {
    pub(crate) fn new(
        listen: SocketAddr,
        token: Option<String>,
        hosts: Vec<String>,
    ) -> Result<AdminAccess, FieldError> {
        let token = token.filter(|t| !t.is_empty());
        if token.is_none() && !listen.ip().is_loopback() {
            return Err((
                "admin_token".to_string(),
                format!(
                    "is required when admin_listen ({listen}) is not a loopback address: \
                     anyone who reaches it could read and change the plugins"
                ),
            ));
        }
        let mut names = Vec::new();
        for (index, host) in hosts.iter().enumerate() {
            let name = host.trim().to_ascii_lowercase();
            if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '/') {
                return Err((
                    format!("admin_hosts[{index}]"),
                    format!("`{host}` is not a host name"),
                ));
            }
            names.push(name);
        }
        Ok(AdminAccess {
            token,
            hosts: names,
        })
    }
}

/// wasmtime limits per VM instance: a deadline for each callback and a linear-memory cap.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VmLimits {
    pub(crate) callback_timeout: Duration,
    pub(crate) memory_limit_bytes: usize,
}

impl VmLimits {
    pub(crate) fn from_raw(
        timeout_ms: Option<u64>,
        memory: Option<usize>,
    ) -> Result<VmLimits, FieldError> {
        let callback_timeout = match timeout_ms {
            Some(0) => {
                return Err((
                    "vm_callback_timeout_ms".to_string(),
                    "must be greater than 0".to_string(),
                ))
            }
            Some(ms) => Duration::from_millis(ms),
            None => VmLimits::default().callback_timeout,
        };
        let memory_limit_bytes = match memory {
            Some(bytes) if bytes < 1 << 20 => {
                return Err((
                    "vm_memory_limit_bytes".to_string(),
                    "must be at least 1048576 (1 MiB)".to_string(),
                ))
            }
            Some(bytes) => bytes,
            None => VmLimits::default().memory_limit_bytes,
        };
        Ok(VmLimits {
            callback_timeout,
            memory_limit_bytes,
        })
    }
}

impl Default for VmLimits {
    fn default() -> Self {
        VmLimits {
            callback_timeout: Duration::from_secs(10),
            memory_limit_bytes: 512 << 20,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_blocks_match_by_prefix() {
        let ips = TrustedIps::parse(&[
            "10.0.0.0/8".to_string(),
            "192.168.1.7".to_string(),
            "fd00::/8".to_string(),
        ])
        .unwrap();
        assert!(ips.contains("10.200.3.4".parse().unwrap()));
        assert!(ips.contains("::ffff:10.1.1.1".parse().unwrap()));
        assert!(!ips.contains("11.0.0.1".parse().unwrap()));
        assert!(ips.contains("192.168.1.7".parse().unwrap()));
        assert!(!ips.contains("192.168.1.8".parse().unwrap()));
        assert!(ips.contains("fd12::1".parse().unwrap()));
        assert!(!ips.contains("fe80::1".parse().unwrap()));
        assert!(TrustedIps::parse(&["10.0.0.0/33".to_string()]).is_err());
        assert!(TrustedIps::parse(&["example.com".to_string()]).is_err());
        assert!(TrustedIps::default().is_empty());
    }

    #[test]
    fn a_public_admin_listener_needs_a_token() {
        let public: SocketAddr = "0.0.0.0:8001".parse().unwrap();
        assert!(AdminAccess::new(public, None, vec![]).is_err());
        assert!(AdminAccess::new(public, Some("t".into()), vec![]).is_ok());
        let local: SocketAddr = "127.0.0.1:8001".parse().unwrap();
        assert!(AdminAccess::new(local, None, vec![]).is_ok());
    }
}
