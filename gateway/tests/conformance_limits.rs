//! Limits that keep one client or one filter from taking a worker: client connection timeouts
//! and the connection cap (Slowloris), and the per-callback deadline and memory cap of VMs.

// A test crate: its helpers may unwrap, panic and index like its tests (clippy.toml covers
// only the #[test] functions themselves).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::*;

fn start(upstream: &TestServer, config: &str, extra: &str) -> Gateway {
    Gateway::start(
        &single_plugin_yaml(config, extra),
        &[
            ("UPSTREAM_PORT", upstream.port.to_string()),
            ("WORKERS", "1".to_string()),
        ],
    )
}

/// A connection that sent part of a request head and keeps trickling bytes.
struct Slow {
    stream: TcpStream,
    connected_at: Instant,
    closed_at: Option<Instant>,
}

/// The header timeout of this test: a slow connection closed sooner after it connected can
/// only have been refused by the connection cap, however loaded the machine is.
const HEADER_TIMEOUT: Duration = Duration::from_secs(3);

#[test]
fn slowloris_connections_are_capped_and_timed_out_while_a_normal_client_is_served() {
    let upstream = echo_server();
    let gateway = start(
        &upstream,
        r#"{"mode": "noop"}"#,
        "client_header_timeout_ms: 3000\nworker_connections: 64",
    );
    let port = gateway.proxy_port;
    let started = Instant::now();
    let mut slow: Vec<Slow> = (0..200)
        .filter_map(|_| {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
            let connected_at = Instant::now();
            stream
                .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nx-slow: ")
                .ok()?;
            stream.set_nonblocking(true).ok()?;
            Some(Slow {
                stream,
                connected_at,
                closed_at: None,
            })
        })
        .collect();
    assert!(slow.len() >= 190, "opened {} slow connections", slow.len());

    // A normal client keeps trying meanwhile; it must be served while the slow clients are
    // still at it (they never give up: the loop below feeds them for 15 s).
    let client = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(12);
        while Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let sent = stream
                    .write_all(b"GET /normal HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
                let mut answer = Vec::new();
                if sent.is_ok()
                    && stream.read_to_end(&mut answer).is_ok()
                    && answer.starts_with(b"HTTP/1.1 200")
                {
                    return Some(started.elapsed());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    });

    let feed_until = started + Duration::from_secs(15);
    while Instant::now() < feed_until && slow.iter().any(|s| s.closed_at.is_none()) {
        for connection in slow.iter_mut().filter(|s| s.closed_at.is_none()) {
            let mut buffer = [0u8; 256];
            let closed = match connection.stream.read(&mut buffer) {
                Ok(_) => true, // EOF or an answer (408): either way the gateway is done with it
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    connection.stream.write_all(b"a").is_err()
                }
                Err(_) => true,
            };
            if closed {
                connection.closed_at = Some(Instant::now());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let served = client.join().unwrap();
    assert!(served.is_some(), "the normal client was never served");
    let lived = |s: &Slow| s.closed_at.map(|t| t - s.connected_at);
    let refused_at_once = slow
        .iter()
        .filter(|s| lived(s).is_some_and(|t| t < HEADER_TIMEOUT))
        .count();
    assert!(
        refused_at_once >= slow.len() - 64 - 5,
        "only {refused_at_once} of {} connections beyond worker_connections were closed at once",
        slow.len()
    );
    let still_open = slow.iter().filter(|s| s.closed_at.is_none()).count();
    assert_eq!(
        still_open, 0,
        "slow request heads outlived client_header_timeout"
    );
    assert!(
        gateway.stderr().contains("worker_connections"),
        "{}",
        gateway.stderr()
    );
}

#[test]
fn a_stalled_request_body_gets_408_and_an_idle_connection_is_closed() {
    let upstream = echo_server();
    let gateway = start(
        &upstream,
        r#"{"mode": "noop"}"#,
        "client_body_timeout_ms: 500\nkeepalive_timeout_ms: 500",
    );
    let port = gateway.proxy_port;

    let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stalled
        .write_all(b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabc")
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = stalled.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(upstream.request_count(), 0);

    // Keep-alive: after its response, an idle connection is closed by the gateway.
    let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    idle.write_all(b"GET /once HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let mut all = Vec::new();
    let read = idle.read_to_end(&mut all);
    assert!(
        read.is_ok(),
        "the gateway closed the idle connection: {read:?}"
    );
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed after {:?}",
        started.elapsed()
    );
}

#[test]
fn a_callback_past_its_deadline_or_memory_cap_fails_the_request_and_replaces_the_vm() {
    let upstream = echo_server();
    let gateway = start(
        &upstream,
        r#"{"mode": "trap"}"#,
        "vm_callback_timeout_ms: 300\nvm_memory_limit_bytes: 67108864",
    );
    let before = gateway.get("/");
    assert_eq!(before.status, 200);
    let first_vm = before.header("x-vm-instance").unwrap().to_string();

    let started = Instant::now();
    let spun = gateway.get("/spin");
    assert_eq!(spun.status, 500, "{}", spun.text());
    assert!(started.elapsed() < Duration::from_secs(5));
    let after = gateway.get("/");
    assert_eq!(after.status, 200, "the worker still serves");
    let second_vm = after.header("x-vm-instance").unwrap().to_string();
    assert_ne!(second_vm, first_vm, "the interrupted instance was replaced");
    assert!(
        gateway.stderr().contains("vm_callback_timeout_ms"),
        "{}",
        gateway.stderr()
    );

    // 8 MiB leaked per request: within the 64 MiB cap a few requests pass, then one fails.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let status = gateway.get("/leak").status;
        statuses.push(status);
        if status == 500 {
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&500), "{statuses:?}");
    assert!(
        statuses.iter().filter(|s| **s == 200).count() >= 2,
        "{statuses:?}"
    );
    let recovered = gateway.get("/");
    assert_eq!(recovered.status, 200);
    assert_ne!(recovered.header("x-vm-instance").unwrap(), second_vm);
    assert!(
        gateway.stderr().contains("vm_memory_limit_bytes"),
        "{}",
        gateway.stderr()
    );
}
