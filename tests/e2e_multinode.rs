//! Two nodes of a fleet (two host instances with the same config and IdP, no shared memory):
//! a session ended on one node, or at the IdP, is refused by every node within the session
//! check interval (`session_idp_check_interval`), and an IdP that is down ends nothing.
//!
//! Each test waits on its condition by polling (every 100 ms, with a deadline), never for a
//! fixed time; the measured time to refuse is printed (`--nocapture`) for docs/logout.md.

// A test crate: its helpers may unwrap, panic and index like its tests (clippy.toml covers
// only the #[test] functions themselves).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::http::{send, Client, Response};
use common::support::{login, seed_config};
use common::{Stack, StackOptions};
use serde_json::{json, Value};

/// Seconds between two checks of a session on a node.
const INTERVAL: u64 = 2;
/// What a check may take beyond the interval on a loaded machine: the introspection call
/// (its timeout is 10 s, but the IdP answers in milliseconds) and the polling step.
const SLACK: Duration = Duration::from_secs(4);

on_both_hosts! {

/// The user's scenario (sessions, password grant, logout with revocation), each session
/// checked at the IdP every [`INTERVAL`] seconds.
fn fleet_config() -> Value {
    let mut config = seed_config();
    config["session_idp_check_interval"] = json!(INTERVAL);
    config
}

/// Node A (with the IdP) and node B (same config, same IdP, nothing else shared).
fn two_nodes(config: Value) -> (Stack, Stack) {
    let a = Stack::start(StackOptions {
        plugin_config: config.clone(),
        ..Default::default()
    });
    let b = a.start_another_node(StackOptions {
        plugin_config: config,
        ..Default::default()
    });
    (a, b)
}

/// Logs john in on `node` (the shared password login); returns the client holding the
/// session cookie.
fn logged_in_client(node: &Stack) -> Client {
    let mut client = node.client();
    login(&mut client);
    client
}

/// A request with a copy of the cookie, on a new connection.
fn with_cookie(node: &Stack, cookie: &str) -> Response {
    send(&node.proxy(), "GET", "/anything", &[("Cookie", cookie)], b"")
}

/// Polls `node` with `cookie` until it answers `status`; returns how long that took. Every
/// answer before must be `before` (no 5xx while waiting).
fn until_status(node: &Stack, cookie: &str, status: u16, limit: Duration) -> (Duration, Response) {
    let before = if status == 200 { 401 } else { 200 };
    let started = Instant::now();
    loop {
        let response = with_cookie(node, cookie);
        if response.status == status {
            return (started.elapsed(), response);
        }
        assert_eq!(response.status, before, "unexpected answer while waiting: {}", response.text());
        assert!(
            started.elapsed() < limit,
            "still {} after {:?} (waiting for {status})",
            response.status,
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_refused_as_ended(response: &Response) {
    assert_eq!(response.status, 401, "{}", response.text());
    assert!(response.header("www-authenticate").is_some());
    let cleared = response.headers_named("set-cookie");
    assert!(
        cleared.iter().any(|c| c.starts_with("session=") && c.contains("Expires=Thu, 01 Jan 1970")),
        "the session cookie is expired: {cleared:?}"
    );
}

fn introspections(stack: &Stack) -> usize {
    stack.idp_events().iter().filter(|e| e["type"] == "introspection").count()
}

#[test]
fn a_logout_on_one_node_is_refused_by_the_other_within_the_interval() {
    let (a, b) = two_nodes(fleet_config());
    let mut client = logged_in_client(&a);
    let copy = client.cookie_header().expect("a cookie");
    // The copy opens the session on node B too (same secret, no check yet: a fresh login).
    assert_eq!(with_cookie(&b, &copy).status, 200);

    let logout = client.request("POST", "/logout", &[], b"");
    assert!(logout.status < 400, "logout: {} {}", logout.status, logout.text());
    // Node A refuses the copy at once (its ended mark).
    assert_refused_as_ended(&with_cookie(&a, &copy));

    let (took, refused) = until_status(&b, &copy, 401, Duration::from_secs(INTERVAL) + SLACK);
    assert_refused_as_ended(&refused);
    eprintln!("node B refused the logged-out session {took:?} after the logout (interval {INTERVAL} s)");
    // And keeps refusing it without asking the IdP again.
    let asked = introspections(&a);
    assert_refused_as_ended(&with_cookie(&b, &copy));
    assert_eq!(introspections(&a), asked);
}

#[test]
fn a_user_ended_at_the_idp_is_refused_by_both_nodes_within_the_interval() {
    let (a, b) = two_nodes(fleet_config());
    let client = logged_in_client(&a);
    let cookie = client.cookie_header().expect("a cookie");
    assert_eq!(with_cookie(&b, &cookie).status, 200);

    let ended = send(
        &a.idp_addr(),
        "POST",
        "/__test/end-user",
        &[("Content-Type", "application/json")],
        br#"{"sub":"user-john"}"#,
    );
    assert_eq!(ended.status, 200, "{}", ended.text());
    assert_eq!(ended.json()["grants"], 1);
    let started = Instant::now();
    let limit = Duration::from_secs(INTERVAL) + SLACK;
    for (name, node) in [("A", &a), ("B", &b)] {
        let (_, refused) = until_status(node, &cookie, 401, limit.saturating_sub(started.elapsed()));
        assert_refused_as_ended(&refused);
        eprintln!("node {name} refused the session {:?} after the IdP ended it", started.elapsed());
    }
}

#[test]
fn an_idp_that_is_down_ends_nothing_and_grace_runs_from_the_last_confirmation() {
    let grace = 6;
    let mut config = fleet_config();
    config["session_idp_check_grace"] = json!(grace);
    let (a, b) = two_nodes(config);
    let client = logged_in_client(&a);
    let cookie = client.cookie_header().expect("a cookie");
    let logged_in = Instant::now();
    a.idp_fail(json!({"endpoint": "introspection", "status": 503}));

    // Served (200) through the grace period, then refused (401) without ending the session;
    // never a 5xx.
    let (took, refused) = until_status(&b, &cookie, 401, Duration::from_secs(grace) + SLACK);
    // Times are whole seconds: the login's second may have been nearly over.
    assert!(
        logged_in.elapsed() >= Duration::from_secs(grace - 1),
        "refused after {took:?}, before the grace of {grace} s had passed"
    );
    assert!(refused.headers_named("set-cookie").is_empty(), "the session is not destroyed");
    assert!(refused.text().contains("Unauthorized"));
    // The IdP was asked a bounded number of times (one check per interval at most), not
    // once per request.
    let failed = a
        .idp_events()
        .iter()
        .filter(|e| e["type"] == "introspection" && e["status"] == 503)
        .count();
    assert!(
        (1..=(grace / INTERVAL + 2) as usize).contains(&failed),
        "{failed} introspections while the IdP was down"
    );

    // The IdP is back: the same cookie works again on both nodes.
    send(&a.idp_addr(), "DELETE", "/__test/fail", &[], b"");
    until_status(&b, &cookie, 200, Duration::from_secs(INTERVAL) + SLACK);
    assert_eq!(with_cookie(&a, &cookie).status, 200);
}

}
