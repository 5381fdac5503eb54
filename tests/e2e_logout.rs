//! End to end over real HTTP: the real filter in a real host (our gateway and Kong's Wasm
//! engine), the real test IdP (oidc-provider) and the echo upstream. Password login, session
//! reuse and every logout path.

// A test crate: its helpers may unwrap, panic and index like its tests (clippy.toml covers
// only the #[test] functions themselves).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::http::send;
use common::support::*;
use common::{Stack, StackOptions};
use serde_json::json;

// Every item below is compiled twice: `gateway::<test>` runs on our gateway, `kong::<test>`
// in Kong's Wasm engine (tests/common/hosts.rs).
on_both_hosts! {

#[test]
fn password_login_then_session_then_logout_with_revocation_and_end_session() {
    let stack = stack_with(seed_config());
    let mut client = stack.client();

    let echo = login(&mut client).json();
    let access_token = bearer_of(&echo);
    assert!(
        echo["headers"].get("cookie").is_none(),
        "the session cookie reached the upstream: {echo}"
    );
    assert_eq!(stack.introspect(&access_token)["active"], true);

    // The session alone authenticates; the cookie never reaches the upstream.
    let response = client.request("GET", "/again", &[("Cookie", "other=1")], b"");
    assert_eq!(response.status, 200, "{}", response.text());
    let echo = response.json();
    assert_eq!(bearer_of(&echo), access_token);
    let upstream_cookie = echo["headers"]["cookie"].as_str().unwrap_or("");
    assert!(
        !upstream_cookie.contains("session="),
        "session cookie leaked upstream: {upstream_cookie}"
    );

    stack.clear_idp_events();
    let response = client.request("POST", "/logout", &[], b"");
    assert_eq!(response.status, 302, "{}", response.text());
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert!(
        !client.cookies.contains_key("session"),
        "the session cookie was not expired: {:?}",
        response.headers
    );
    let location = response.header("location").unwrap();
    assert!(
        location.starts_with(&format!("http://127.0.0.1:{}/session/end?", stack.idp_port)),
        "{location}"
    );
    let args = query_of(location);
    let id_token_hint = &args
        .iter()
        .find(|(k, _)| k == "id_token_hint")
        .expect("id_token_hint")
        .1;
    assert_eq!(id_token_hint.split('.').count(), 3);
    assert!(
        args.iter().any(|(k, v)| k == "client_id" && v == "kong"),
        "{location}"
    );

    // Kong's order: the refresh token first, then the access token; both end up inactive.
    let events = stack.idp_events();
    let revocations = events_of(&stack, "revocation");
    assert_eq!(revocations.len(), 2, "{events:?}");
    assert_eq!(revocations[0]["token_type_hint"], "refresh_token");
    assert_eq!(revocations[1]["token_type_hint"], "access_token");
    assert_eq!(stack.introspect(&access_token)["active"], false);

    // Following the redirect ends at the IdP's logged-out page.
    let path = location
        .split_once(&format!("127.0.0.1:{}", stack.idp_port))
        .unwrap()
        .1;
    let end = common::http::send(&stack.idp_addr(), "GET", path, &[], b"");
    assert_eq!(end.status, 200, "{}", end.text());

    // No cookie any more, no credentials: 401.
    assert_unauthorized(&client.get("/"));
}

#[test]
fn logout_redirect_uri_is_sent_as_post_logout_redirect_uri() {
    let mut config = seed_config();
    config["logout_redirect_uri"] = json!(["http://127.0.0.1:1/bye"]);
    let stack = stack_with(config);
    let mut client = stack.client();
    login(&mut client);
    let response = client.request("POST", "/app/logout", &[], b"");
    assert_eq!(response.status, 302);
    let args = query_of(response.header("location").unwrap());
    assert!(
        args.iter()
            .any(|(k, v)| k == "post_logout_redirect_uri" && v == "http://127.0.0.1:1/bye"),
        "{args:?}"
    );
}

#[test]
fn logout_by_query_argument_and_by_post_argument() {
    let mut config = seed_config();
    config["logout_query_arg"] = json!("logout");
    config["logout_post_arg"] = json!("do_logout");
    let stack = stack_with(config);

    let mut client = stack.client();
    login(&mut client);
    let response = client.request("POST", "/some/page?logout", &[], b"");
    assert_eq!(
        response.status,
        302,
        "query arg logout: {}",
        response.text()
    );
    assert!(!client.cookies.contains_key("session"));

    // The POST argument counts because a suffix is configured and did not match (Kong's rule).
    let mut client = stack.client();
    login(&mut client);
    let response = client.request(
        "POST",
        "/some/page",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"do_logout=1",
    );
    assert_eq!(response.status, 302, "post arg logout: {}", response.text());
    assert!(!client.cookies.contains_key("session"));
}

#[test]
fn post_argument_alone_is_not_a_logout_without_a_suffix() {
    let config = json!({
        "auth_methods": ["session", "password"],
        "logout_methods": ["POST"],
        "logout_post_arg": "do_logout",
    });
    let stack = stack_with(config);
    let mut client = stack.client();
    login(&mut client);
    let response = client.request(
        "POST",
        "/some/page",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"do_logout=1",
    );
    assert_eq!(
        response.status, 200,
        "Kong checks the post argument only inside the suffix branch"
    );
    assert_eq!(
        response.json()["body"],
        "do_logout=1",
        "the body reached the upstream intact"
    );
}

#[test]
fn a_method_not_in_logout_methods_is_not_a_logout() {
    let stack = stack_with(seed_config());
    let mut client = stack.client();
    login(&mut client);
    let response = client.request("GET", "/logout", &[], b"");
    assert_eq!(
        response.status, 200,
        "GET is not in logout_methods: the request is proxied"
    );
    assert_eq!(response.json()["path"], "/logout");
    assert!(client.cookies.contains_key("session"));
}

#[test]
fn without_end_session_endpoint_logout_redirects_to_logout_redirect_uri_or_answers_204() {
    let stack = Stack::start(StackOptions {
        plugin_config: seed_config(),
        idp_args: vec!["--no-end-session"],
        ..Default::default()
    });
    let mut client = stack.client();
    login(&mut client);
    let response = client.request("POST", "/logout", &[], b"");
    assert_eq!(response.status, 204, "{:?}", response.headers);
    assert!(response.body.is_empty());
    assert!(!client.cookies.contains_key("session"));

    let patched = stack.patch_config(json!({"logout_redirect_uri": ["http://127.0.0.1:1/bye"]}));
    assert_eq!(patched.status, 200, "{}", patched.text());
    let mut client = stack.client();
    login(&mut client);
    let response = client.request("POST", "/logout", &[], b"");
    assert_eq!(response.status, 302);
    assert_eq!(response.header("location"), Some("http://127.0.0.1:1/bye"));
}

#[test]
fn revocation_failure_still_logs_out() {
    let stack = stack_with(seed_config());
    let mut client = stack.client();
    login(&mut client);
    stack.idp_fail(json!({"endpoint": "revocation", "status": 503, "times": 2}));
    let response = client.request("POST", "/logout", &[], b"");
    assert_eq!(response.status, 302, "{}", response.text());
    assert!(!client.cookies.contains_key("session"));
    assert!(
        stack.gateway_log().contains("revocation failed"),
        "the failure is logged"
    );
    assert_unauthorized(&client.get("/"));
}

#[test]
fn logout_without_a_session_still_redirects() {
    let stack = stack_with(seed_config());
    let mut client = stack.client();
    let response = client.request("POST", "/logout", &[], b"");
    assert_eq!(response.status, 302);
    let args = query_of(response.header("location").unwrap());
    assert!(
        !args.iter().any(|(k, _)| k == "id_token_hint"),
        "no session, no hint"
    );
    assert!(args.iter().any(|(k, v)| k == "client_id" && v == "kong"));
    assert!(stack.idp_events().iter().all(|e| e["type"] != "revocation"));
}

#[gateway_only = "reads the gateway's Prometheus /metrics; nginx has no such endpoint"]
#[test]
fn metrics_count_logins_session_hits_logouts_and_revocations() {
    let stack = stack_with(seed_config());
    let mut client = stack.client();
    login(&mut client);
    assert_eq!(client.get("/").status, 200);
    assert_eq!(client.request("POST", "/logout", &[], b"").status, 302);
    assert_eq!(client.get("/").status, 401);

    let metrics = common::http::send(&stack.admin(), "GET", "/metrics", &[], b"").text();
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains(name))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .map(|v| v as u64)
            .sum()
    };
    assert_eq!(value("openid_connect_logins_total"), 1, "{metrics}");
    assert_eq!(value("openid_connect_session_hits_total"), 1, "{metrics}");
    assert_eq!(value("openid_connect_logouts_total"), 1, "{metrics}");
    assert_eq!(value("openid_connect_revocations_ok_total"), 2, "{metrics}");
    assert_eq!(
        value("openid_connect_rejections_no_credentials_total"),
        1,
        "{metrics}"
    );
}

#[test]
fn an_http10_logout_also_gets_pragma_no_cache() {
    use std::io::{Read, Write};
    let stack = stack_with(seed_config());
    let mut stream = std::net::TcpStream::connect(stack.proxy()).unwrap();
    write!(
        stream,
        "POST /logout HTTP/1.0\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
        stack.proxy()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let head = raw.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    assert!(head.contains(" 302 "), "{head}");
    assert!(head.contains("cache-control: no-store"), "{head}");
    assert!(head.contains("pragma: no-cache"), "{head}");
}

#[test]
fn the_idp_ending_its_session_ends_the_gateway_session_by_back_channel_logout() {
    let stack = Stack::start(StackOptions {
        plugin_config: json!({
            "auth_methods": ["authorization_code", "session"],
            "logout_backchannel_uri_suffix": "/backchannel-logout",
        }),
        idp_args: vec![
            "--backchannel-logout-uri",
            "http://127.0.0.1:{proxy_port}/backchannel-logout",
        ],
        ..Default::default()
    });
    let mut browser = Browser::new(&stack);
    browser.login("/p");
    let cookie = browser.app.cookie_header().expect("the session cookie");
    let proxy = stack.proxy();
    let with_cookie = || send(&proxy, "GET", "/p", &[("Cookie", cookie.as_str())], b"");
    assert_eq!(with_cookie().status, 200, "the session works before");
    stack.clear_idp_events();

    // The user logs out at the IdP itself: it POSTs the logout token to the gateway and
    // answers only after the gateway answered.
    let ended = browser.idp.get("/session/end?client_id=kong");
    assert_eq!(ended.status, 200, "{}", ended.text());
    let events = stack.idp_events();
    let sent = events_of(&stack, "backchannel_logout");
    assert_eq!(sent.len(), 1, "{events:?}");
    assert_eq!(sent[0]["ok"], true, "the gateway answered 200: {:?}", sent[0]);

    // The cookie taken before no longer opens the session, at once: with the code flow
    // enabled, a request without a usable session is sent to log in again (302 to the IdP;
    // with session-only auth it is 401, see flows::backchannel_tests), and nothing is
    // forwarded.
    let echo_before = upstream_requests(&stack);
    let refused = with_cookie();
    assert_eq!(refused.status, 302, "{}", refused.text());
    let location = refused.header("location").unwrap_or_default();
    assert!(
        location.starts_with(&format!("http://{}/auth?", stack.idp_addr())),
        "a new login at the IdP: {location}"
    );
    assert_eq!(upstream_requests(&stack), echo_before, "nothing reached the upstream");

    // A forged logout token from anyone else is 400 and never reaches the upstream.
    let forged = send(
        &proxy,
        "POST",
        "/backchannel-logout",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"logout_token=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyLWpvaG4ifQ.",
    );
    assert_eq!(forged.status, 400, "{}", forged.text());
    assert_eq!(forged.json()["error"], "invalid_request");
}


// RFC 8414 fallback (issue 10 part 4). These tests use no helper of this file, so they stand
// whatever the shared helpers look like.

/// The seed's plugin configuration, with the test IdP started with `idp_flag`.
fn rfc8414_stack(idp_flag: &'static str) -> crate::common::Stack {
    crate::common::Stack::start(crate::common::StackOptions {
        plugin_config: serde_json::json!({
            "auth_methods": ["session", "password"],
            "logout_uri_suffix": "/logout",
            "logout_methods": ["POST"],
            "logout_revoke": true,
        }),
        idp_args: vec![idp_flag],
        ..Default::default()
    })
}

/// The seed's password login, then the seed's logout; the logout's answer.
fn rfc8414_login_then_logout(
    stack: &crate::common::Stack,
    before_logout: impl FnOnce(),
) -> crate::common::http::Response {
    let mut client = stack.client();
    let authorization = crate::common::http::basic("john", "doe");
    let login = client.request("GET", "/anything", &[("Authorization", &authorization)], b"");
    assert_eq!(login.status, 200, "login failed: {}", login.text());
    assert!(client.cookies.contains_key("session"), "{:?}", login.headers);
    before_logout();
    let logout = client.request("POST", "/logout", &[], b"");
    assert!(
        !client.cookies.contains_key("session"),
        "the session cookie was not expired: {:?}",
        logout.headers
    );
    logout
}

/// The gateway's log once it has a line containing `text` (the provider documents may be
/// published by the root context's refresh, logged asynchronously); fails after 10 s.
fn rfc8414_log_with(stack: &crate::common::Stack, text: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let log = stack.gateway_log();
        if log.contains(text) {
            return log;
        }
        assert!(std::time::Instant::now() < deadline, "no log line with {text:?}:\n{log}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn logout_revokes_at_the_endpoint_only_the_rfc_8414_metadata_names() {
    let stack = rfc8414_stack("--revocation-only-in-oauth-metadata");
    let response = rfc8414_login_then_logout(&stack, || {
        // Discovery lacked the endpoint, so the filter read the RFC 8414 document.
        let events = stack.idp_events();
        let asked: Vec<&serde_json::Value> =
            events.iter().filter(|e| e["type"] == "oauth_metadata").collect();
        assert!(!asked.is_empty(), "RFC 8414 metadata not fetched: {events:?}");
        assert!(asked.iter().all(|e| e["status"] == 200), "{asked:?}");
        stack.clear_idp_events();
    });
    assert_eq!(response.status, 302, "{}", response.text());
    assert_eq!(response.header("cache-control"), Some("no-store"));

    // Both tokens revoked, in Kong's order, at the endpoint discovery did not name.
    let events = stack.idp_events();
    let revocations: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["type"] == "revocation").collect();
    assert_eq!(revocations.len(), 2, "{events:?}");
    assert_eq!(revocations[0]["token_type_hint"], "refresh_token");
    assert_eq!(revocations[1]["token_type_hint"], "access_token");
    // The IdP knew the refresh token (revoking it ends its grant, and so the access token).
    assert_eq!(revocations[0]["found"], true, "{revocations:?}");
    assert!(revocations.iter().all(|e| e["status"] == 200), "{revocations:?}");
    assert!(!stack.gateway_log().contains("no revocation_endpoint"));
}

#[test]
fn without_any_revocation_endpoint_logout_still_works_and_the_gap_is_said_once() {
    // No revocation endpoint in discovery, nor in the RFC 8414 document oidc-provider serves.
    let stack = rfc8414_stack("--no-revocation");
    let gap = "no revocation_endpoint is configured or published";
    for _ in 0..2 {
        let response = rfc8414_login_then_logout(&stack, || {});
        assert_eq!(response.status, 302, "{}", response.text());
    }
    let log = rfc8414_log_with(&stack, gap);
    let said: Vec<&str> = log.lines().filter(|l| l.contains(gap)).collect();
    assert_eq!(said.len(), 1, "said once per node, not per fetch or logout: {said:?}");
    assert!(said[0].contains("RFC 8414 metadata: it has none"), "{}", said[0]);
    // Each logout's skipped revocations are info lines now, not a warning per logout.
    let skipped: Vec<&str> = log.lines().filter(|l| l.contains("revocation skipped")).collect();
    assert!(!skipped.is_empty(), "{log}");
    assert!(skipped.iter().all(|l| !l.contains("[warn]")), "{skipped:?}");
    let events = stack.idp_events();
    assert!(events.iter().any(|e| e["type"] == "oauth_metadata"), "{events:?}");
    assert!(events.iter().all(|e| e["type"] != "revocation"), "{events:?}");

    if crate::common::Host::of_this_test() == crate::common::Host::Gateway {
        // Kong's engine has no metrics endpoint; our gateway serves them at /metrics.
        let metrics = crate::common::http::send(&stack.admin(), "GET", "/metrics", &[], b"").text();
        let name = "openid_connect_revocation_endpoint_missing_total";
        let counted: u64 = metrics
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains(name))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .map(|v| v as u64)
            .sum();
        assert_eq!(counted, 1, "{metrics}");
    }
}

} // on_both_hosts!
