//! Kong's Wasm engine under sustained load with the seed's config: sessions, the password grant,
//! logout with revocation, and the provider documents refreshed in the background every few
//! seconds. Two nginx workers; clients on loopback for `KONG_LOAD_SECONDS` (60 by default, which
//! `make test` uses; shorten it while developing). Passes when every request got an answer, no
//! worker crashed (error.log: "exited on signal"), nothing was logged at `[alert]` or `[emerg]`,
//! and the engine still answers afterwards.

// A test crate: its helpers may unwrap, panic and index like its tests (clippy.toml covers
// only the #[test] functions themselves).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::http::basic;
use common::{Host, Stack, StackOptions};
use serde_json::json;

/// Client threads: enough to keep both workers busy on a 2-core machine. The first logs jane in
/// and out over and over; the others keep john's sessions (a logout ends the user's sessions
/// that share its tokens, so only one client logs out per user).
const CLIENTS: usize = 4;
/// Session requests between a login and its logout.
const REQUESTS_PER_SESSION: usize = 50;

fn load_seconds() -> u64 {
    std::env::var("KONG_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
}

/// One request on a fresh connection; `Err` for anything but a complete HTTP answer within 10 s.
fn request(addr: &str, head: &str) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(head.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "no status line in {:?}",
                text.chars().take(80).collect::<String>()
            )
        })?;
    Ok((status, text))
}

/// The `session=...` cookie a login answer sets.
fn session_cookie(answer: &str) -> Option<String> {
    answer.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.eq_ignore_ascii_case("set-cookie") {
            return None;
        }
        let pair = value.trim().split(';').next()?;
        pair.starts_with("session=").then(|| pair.to_string())
    })
}

#[derive(Default)]
struct Tally {
    answered: AtomicU64,
    unexpected: AtomicU64,
    failed: AtomicU64,
    logouts: AtomicU64,
    first_problem: std::sync::Mutex<Option<String>>,
}

impl Tally {
    fn problem(&self, counter: &AtomicU64, what: String) {
        counter.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_problem.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(what);
    }
}

/// Login, session requests, logout (when `logs_out`; else the session goes on), until `until`.
fn client_loop(addr: String, until: Instant, tally: Arc<Tally>, user: &str, logs_out: bool) {
    let host = format!("Host: {addr}\r\n");
    let login = format!(
        "GET / HTTP/1.1\r\n{host}Authorization: {}\r\nConnection: close\r\n\r\n",
        basic(user, "doe")
    );
    while Instant::now() < until {
        let cookie = match request(&addr, &login) {
            Ok((200, answer)) => {
                tally.answered.fetch_add(1, Ordering::Relaxed);
                match session_cookie(&answer) {
                    Some(cookie) => cookie,
                    None => {
                        tally.problem(&tally.unexpected, "a login set no session cookie".into());
                        continue;
                    }
                }
            }
            Ok((status, _)) => {
                tally.problem(&tally.unexpected, format!("login answered {status}"));
                continue;
            }
            Err(e) => {
                tally.problem(&tally.failed, format!("login: {e}"));
                continue;
            }
        };
        let get = format!("GET / HTTP/1.1\r\n{host}Cookie: {cookie}\r\nConnection: close\r\n\r\n");
        let mut requests = 0;
        while !logs_out || requests < REQUESTS_PER_SESSION {
            requests += 1;
            if Instant::now() >= until {
                break;
            }
            match request(&addr, &get) {
                Ok((200, _)) => {
                    tally.answered.fetch_add(1, Ordering::Relaxed);
                }
                Ok((status, _)) => tally.problem(
                    &tally.unexpected,
                    format!("a session request of {user} answered {status}"),
                ),
                Err(e) => tally.problem(&tally.failed, format!("session request: {e}")),
            }
        }
        if !logs_out {
            break;
        }
        let logout = format!(
            "POST /logout HTTP/1.1\r\n{host}Cookie: {cookie}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        match request(&addr, &logout) {
            Ok((302, _)) => {
                tally.answered.fetch_add(1, Ordering::Relaxed);
                tally.logouts.fetch_add(1, Ordering::Relaxed);
            }
            Ok((status, _)) => {
                tally.problem(&tally.unexpected, format!("logout answered {status}"))
            }
            Err(e) => tally.problem(&tally.failed, format!("logout: {e}")),
        }
    }
}

#[test]
fn kong_engine_survives_a_minute_of_seed_traffic_without_crash_hang_or_alert() {
    let stack = Stack::start(StackOptions {
        plugin_config: json!({
            "auth_methods": ["session", "password"],
            "logout_uri_suffix": "/logout",
            "logout_methods": ["POST"],
            "logout_revoke": true,
            // The background provider refresh (discovery, then JWKS) every 5 s instead of 30.
            "rediscovery_lifetime": 5,
        }),
        workers: 2,
        host: Some(Host::Kong),
        ..Default::default()
    });
    let seconds = load_seconds();
    let until = Instant::now() + Duration::from_secs(seconds);
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|index| {
            let (addr, tally) = (stack.proxy(), tally.clone());
            let (user, logs_out) = if index == 0 {
                ("jane", true)
            } else {
                ("john", false)
            };
            std::thread::spawn(move || client_loop(addr, until, tally, user, logs_out))
        })
        .collect();
    for client in clients {
        client.join().expect("a client thread panicked");
    }

    // Still answering afterwards: not hung.
    let after = request(
        &stack.proxy(),
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let answered = tally.answered.load(Ordering::Relaxed);
    let unexpected = tally.unexpected.load(Ordering::Relaxed);
    let failed = tally.failed.load(Ordering::Relaxed);
    let first = tally
        .first_problem
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    eprintln!(
        "{seconds} s, {CLIENTS} clients: {answered} answered as expected ({} logouts), \
         {unexpected} unexpected statuses, {failed} without an answer; first problem: {first:?}",
        tally.logouts.load(Ordering::Relaxed)
    );
    let failures = stack.engine_failures();
    assert!(
        failures.is_empty(),
        "error.log shows crashed workers or alerts ({} lines), first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(
        failed, 0,
        "requests without an answer; first problem: {first:?}"
    );
    assert_eq!(
        unexpected, 0,
        "unexpected statuses; first problem: {first:?}"
    );
    assert!(answered > 0, "no request was answered");
    assert!(
        tally.logouts.load(Ordering::Relaxed) > 0,
        "no logout completed in {seconds} s"
    );
    assert!(
        matches!(after, Ok((401, _))),
        "the engine no longer answers after the load: {after:?}"
    );
}
