//! End to end: what the filter does with bad input and a failing identity provider. Nothing
//! unauthenticated reaches the upstream, and nothing crashes.

// A test crate: its helpers may unwrap, panic and index like its tests (clippy.toml covers
// only the #[test] functions themselves).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::http::{basic, Response};
use common::support::*;
use common::{Stack, StackOptions, SESSION_SECRET};
use openid_connect::session::{SessionCodec, SessionSettings};
use serde_json::json;

// Every item below is compiled twice: `gateway::<test>` runs on our gateway, `kong::<test>`
// in Kong's Wasm engine (tests/common/hosts.rs).
on_both_hosts! {

fn stack() -> Stack {
    stack_with(seed_config())
}

fn with_session_cookie(stack: &Stack, value: &str) -> Response {
    common::http::send(
        &stack.proxy(),
        "GET",
        "/",
        &[("Cookie", &format!("session={value}"))],
        b"",
    )
}

#[test]
fn wrong_password_is_401_and_nothing_reaches_the_upstream() {
    let stack = stack();
    let before = upstream_requests(&stack);
    let response = common::http::send(
        &stack.proxy(),
        "GET",
        "/",
        &[("Authorization", &basic("john", "wrong"))],
        b"",
    );
    assert_unauthorized(&response);
    assert!(response.header("set-cookie").is_none());
    assert_eq!(upstream_requests(&stack), before);
}

/// A chunked request with a trailer, sent while the filter waits on the IdP (a password grant
/// for a wrong password), must not reach the upstream: trailers once released it (the SDK's
/// default `Continue` for `on_http_request_trailers`).
#[test]
fn request_trailers_do_not_release_a_request_the_filter_holds() {
    let stack = stack();
    let before = upstream_requests(&stack);
    let request = format!(
        "POST /admin/delete-everything HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\n\
         Transfer-Encoding: chunked\r\nTrailer: X-Trailer\r\nConnection: close\r\n\r\n\
         5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n",
        stack.proxy(),
        basic("john", "WRONG-PASSWORD"),
    );
    let response = common::http::send_raw(&stack.proxy(), request.as_bytes());
    assert_unauthorized(&response);
    assert_eq!(
        upstream_requests(&stack),
        before,
        "nothing reached the upstream"
    );

    // The right password with the same shape of request is let through, trailer and all.
    let request = request.replace(&basic("john", "WRONG-PASSWORD"), &basic("john", "doe"));
    let response = common::http::send_raw(&stack.proxy(), request.as_bytes());
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(upstream_requests(&stack), before + 1);
}

#[test]
fn no_credentials_is_401() {
    let stack = stack();
    assert_unauthorized(&common::http::send(&stack.proxy(), "GET", "/", &[], b""));
}

#[test]
fn tampered_truncated_and_wrong_secret_cookies_are_401() {
    let stack = stack();
    let mut client = stack.client();
    login(&mut client);
    let good = client.cookies.get("session").unwrap().clone();
    assert_eq!(with_session_cookie(&stack, &good).status, 200);

    let mut tampered = good.clone().into_bytes();
    let middle = tampered.len() - 20;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let truncated = &good[..good.len() - 7];
    let header_only = &good[..110];
    for (what, value) in [
        ("tampered", tampered.as_str()),
        ("truncated", truncated),
        ("header only", header_only),
        ("garbage", "%%%"),
    ] {
        let response = with_session_cookie(&stack, value);
        assert_unauthorized(&response);
        let cleared = response
            .headers_named("set-cookie")
            .iter()
            .any(|c| c.starts_with("session=;"));
        assert!(
            cleared,
            "{what}: the bad session cookie is destroyed (unauthorized_destroy_session)"
        );
    }

    // A cookie made with another secret.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let foreign = make_cookie("another-secret-entirely-0123456789", now);
    assert_unauthorized(&with_session_cookie(&stack, &foreign));
    // The same data under the right secret would work: the secret is what is refused.
    let ours = make_cookie(SESSION_SECRET, now);
    assert_eq!(with_session_cookie(&stack, &ours).status, 200);
}

#[test]
fn expired_cookies_are_401() {
    let stack = stack();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Saved 20 minutes ago: past the 900 s idling timeout.
    assert_unauthorized(&with_session_cookie(
        &stack,
        &make_cookie(SESSION_SECRET, now - 1200),
    ));
    // Created two days ago: past the absolute timeout.
    assert_unauthorized(&with_session_cookie(
        &stack,
        &make_cookie(SESSION_SECRET, now - 2 * 86400),
    ));
}

/// A session cookie as the filter writes it, saved at `saved_at`, holding a token that the
/// upstream would accept (the session is what is checked, not the token).
fn make_cookie(secret: &str, saved_at: u64) -> String {
    // Kong's defaults, which the stack's plugin config keeps.
    let codec = SessionCodec::new(SessionSettings::default(), secret.as_bytes());
    let mut session = codec.start(saved_at);
    let data = json!({
        "client": 1,
        "tokens": {"access_token": "made-up-access-token", "token_type": "Bearer", "expires_in": 3600},
        "expires": saved_at + 3600 * 24 * 3,
        "auth_method": "password",
    });
    session.set("default", data, Some("user-john".into()));
    let cookies = codec.save(&mut session, saved_at, [7u8; 32]).unwrap();
    let first = &cookies[0];
    first
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("session=")
        .unwrap()
        .to_string()
}

#[test]
fn idp_down_during_login_is_an_error_and_nothing_reaches_the_upstream() {
    let mut stack = stack();
    // Discovery happens on the first request; do one so the documents are cached, then stop the IdP.
    assert_unauthorized(&common::http::send(&stack.proxy(), "GET", "/", &[], b""));
    stack.idp.as_mut().unwrap().kill();
    let before = upstream_requests(&stack);
    let response = common::http::send(
        &stack.proxy(),
        "GET",
        "/",
        &[("Authorization", &basic("john", "doe"))],
        b"",
    );
    assert_eq!(response.status, 500, "{}", response.text());
    assert_eq!(
        response.json(),
        json!({"message": "An unexpected error occurred"})
    );
    assert_eq!(
        upstream_requests(&stack),
        before,
        "nothing reached the upstream"
    );
    assert!(
        stack.gateway_log().contains("token endpoint"),
        "the reason is logged"
    );
}

#[gateway_only = "Kong's engine (a376e67c) logs `[alert] zero size buf in writer` and closes the connection when a filter answers locally after a dispatch timeout; the filter answers 500 there too and nothing reaches the upstream"]
#[test]
fn idp_hanging_during_login_times_out_with_an_error() {
    let stack = Stack::start(StackOptions {
        plugin_config: json!({"auth_methods": ["password"], "timeout": 1000}),
        ..Default::default()
    });
    assert_unauthorized(&common::http::send(&stack.proxy(), "GET", "/", &[], b""));
    stack.idp_fail(json!({"endpoint": "token", "delay_ms": 5000, "times": 1}));
    let started = std::time::Instant::now();
    let response = common::http::send(
        &stack.proxy(),
        "GET",
        "/",
        &[("Authorization", &basic("john", "doe"))],
        b"",
    );
    assert_eq!(response.status, 500, "{}", response.text());
    assert!(
        started.elapsed().as_millis() < 4000,
        "the timeout was honoured"
    );
}

/// Sessions live in the cookie (session_storage=cookie, Kong's default), so a copy of the
/// cookie taken before logout still decrypts. The logout records the session as ended in the
/// node's shared data, so the copy is refused right after logout by every worker (issue 10,
/// part 1): 401 with its cookies expired, and nothing reaches the upstream. Each request is a
/// new connection, so the gateway's workers take turns answering.
#[test]
fn a_cookie_copied_before_logout_is_refused_by_every_worker_right_after_logout() {
    let workers = 4;
    let stack = Stack::start(StackOptions {
        plugin_config: seed_config(),
        workers,
        ..Default::default()
    });
    let mut client = stack.client();
    let echo = login(&mut client).json();
    let access_token = echo["headers"]["authorization"]
        .as_str()
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_string();
    let copy = client.cookies.get("session").unwrap().clone();
    assert_eq!(with_session_cookie(&stack, &copy).status, 200, "the copy works before logout");
    assert_eq!(client.request("POST", "/logout", &[], b"").status, 302);

    let before = upstream_requests(&stack);
    for _ in 0..workers * 3 {
        let replay = with_session_cookie(&stack, &copy);
        assert_unauthorized(&replay);
        let expired = replay.headers_named("set-cookie");
        assert!(
            expired.iter().any(|c| c.starts_with("session=;")),
            "the copy's cookie is expired: {expired:?}"
        );
    }
    assert_eq!(upstream_requests(&stack), before, "no replay reached the upstream");
    assert_eq!(
        stack.introspect(&access_token)["active"],
        false,
        "and the token it carries is revoked at the IdP"
    );
}

/// Finding 13.7: a form body the filter would have to read for credentials is refused with 413
/// above Kong's client body buffer (8 KiB), from its Content-Length, before the host buffers
/// it; nothing reaches the upstream.
#[test]
fn a_large_unauthenticated_form_is_413() {
    let stack = stack();
    let before = upstream_requests(&stack);
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let large = vec![b'a'; 1024 * 1024];
    let response = common::http::send(&stack.proxy(), "POST", "/upload", &form, &large);
    assert_eq!(response.status, 413, "{}", response.text());
    assert_eq!(upstream_requests(&stack), before);
}


/// The harness takes only the gateway it started for ready: another test's server that got
/// the same free port answers too (here as a gateway would, with its own pid), and is not it.
#[test]
fn the_harness_tells_its_gateway_from_another_server_on_the_admin_port() {
    use std::io::{Read, Write};
    let stack = stack();
    let pid = stack.gateway.id();
    assert!(common::is_the_gateway(&stack.admin(), pid));
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = squatter.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut connection, _) = squatter.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && connection.read(&mut byte).unwrap() == 1 {
            head.push(byte[0]);
        }
        let body = json!({"server": {"pid": std::process::id()}}).to_string();
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        connection.write_all(answer.as_bytes()).unwrap();
        String::from_utf8(head).unwrap()
    });
    assert!(!common::is_the_gateway(&addr, pid));
    assert!(server.join().unwrap().starts_with("GET /status "), "the squatter was asked");
}

} // on_both_hosts!
