//! Ports for the servers a test starts.
//!
//! Not from the kernel: a port that `bind(127.0.0.1:0)` handed out and the test released can be
//! handed out again (to another test's `bind(0)`, or as the local port of one of the many
//! connections the tests open) before the server it was meant for binds it, and that server
//! then fails with "Address already in use" (seen in CI). The kernel only hands out ports of
//! its ephemeral range (`net.ipv4.ip_local_port_range`, 32768-60999 by default), so these come
//! from below it; a process-wide counter keeps one test binary's picks apart, and a start that
//! depends on the process id keeps concurrent binaries apart.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// Ports handed out: [`FIRST`, `FIRST` + `COUNT`), below the ephemeral range.
const FIRST: u32 = 10_000;
const COUNT: u32 = 22_000;

/// A port that is free now and that no other call in this process returned.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    // The first call starts at a place that depends on the process id (7919 is prime, so
    // consecutive ids land far apart).
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % COUNT,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..COUNT {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % COUNT;
        let port = u16::try_from(FIRST + offset).expect("ports stay below 65536");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{}", FIRST + COUNT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_distinct_and_outside_the_ephemeral_range() {
        let ports: Vec<u16> = (0..200).map(|_| free_port()).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len());
        for port in ports {
            assert!((10_000..32_000).contains(&port), "{port}");
            TcpListener::bind(("127.0.0.1", port)).unwrap();
        }
    }
}
