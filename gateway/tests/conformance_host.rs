//! Host emulation: where Envoy and Kong's engine legitimately differ, `host_profile` (and the
//! per-behaviour `host_behaviour` switches) make the gateway behave as either, so a filter can
//! be tested against both. One test per switch, each run under both profiles.

// A test crate: its helpers may unwrap, panic and index like its tests (clippy.toml covers
// only the #[test] functions themselves).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

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

#[test]
fn cas_zero_is_no_check_in_envoy_and_only_if_absent_in_kong() {
    let upstream = echo_server();
    let envoy = start(&upstream, r#"{"mode": "shared-data"}"#, "");
    let answer = envoy.get("/set-zero");
    assert_eq!(answer.header("x-first"), Some("Ok(())"));
    assert_eq!(answer.header("x-second"), Some("Ok(())"));

    let kong = start(
        &upstream,
        r#"{"mode": "shared-data"}"#,
        "host_profile: kong",
    );
    let answer = kong.get("/set-zero");
    assert_eq!(answer.header("x-first"), Some("Ok(())"));
    assert_eq!(answer.header("x-second"), Some("Err(CasMismatch)"));

    let switched = start(
        &upstream,
        r#"{"mode": "shared-data"}"#,
        "host_behaviour:\n  cas_zero: if_absent",
    );
    assert_eq!(
        switched.get("/set-zero").header("x-second"),
        Some("Err(CasMismatch)")
    );
}

#[test]
fn authority_is_the_host_in_envoy_and_the_server_name_in_kong() {
    let upstream = echo_server();
    let envoy = start(&upstream, r#"{"mode": "headers"}"#, "");
    let seen = envoy.get("/a").json();
    assert_eq!(
        seen["headers"]["x-seen-authority"],
        format!("127.0.0.1:{}", envoy.proxy_port)
    );

    let kong = start(
        &upstream,
        r#"{"mode": "headers"}"#,
        "host_profile: kong\nhost_behaviour:\n  server_name: vm",
    );
    let seen = kong.get("/a").json();
    let headers = &seen["headers"];
    assert_eq!(
        headers["x-seen-authority"],
        format!("vm:{}", kong.proxy_port)
    );
    assert_eq!(
        headers["x-forwarded-host"], "127.0.0.1",
        "the upstream still gets the client's Host"
    );
}

#[test]
fn local_responses_keep_every_set_cookie_in_envoy_and_only_the_last_in_kong() {
    let upstream = echo_server();
    let config = r#"{"mode": "local-response", "status": 200, "cookies": ["a=1", "b=2", "c=3"]}"#;
    let envoy = start(&upstream, config, "");
    assert_eq!(
        envoy.get("/").headers_named("set-cookie"),
        vec!["a=1", "b=2", "c=3"]
    );
    let kong = start(&upstream, config, "host_profile: kong");
    assert_eq!(kong.get("/").headers_named("set-cookie"), vec!["c=3"]);
    let switched = start(
        &upstream,
        config,
        "host_behaviour:\n  local_response_headers: last",
    );
    assert_eq!(switched.get("/").headers_named("set-cookie"), vec!["c=3"]);
}

#[test]
fn removing_the_cookie_header_works_in_envoy_and_is_ignored_in_kong() {
    let upstream = echo_server();
    let headers = [("x-drop-cookie", "1"), ("cookie", "session=s3cret")];
    let envoy = start(&upstream, r#"{"mode": "headers"}"#, "");
    let seen = envoy.request("GET", "/a", &headers, b"").json();
    assert!(seen["headers"].get("cookie").is_none(), "{seen}");

    let kong = start(&upstream, r#"{"mode": "headers"}"#, "host_profile: kong");
    let seen = kong.request("GET", "/a", &headers, b"").json();
    assert_eq!(seen["headers"]["cookie"], "session=s3cret");

    let switched = start(
        &upstream,
        r#"{"mode": "headers"}"#,
        "host_behaviour:\n  remove_cookie_header: ignored",
    );
    let seen = switched.request("GET", "/a", &headers, b"").json();
    assert_eq!(seen["headers"]["cookie"], "session=s3cret");
}

#[test]
fn a_dispatch_from_a_call_answer_works_in_envoy_and_fails_loudly_in_kong() {
    let upstream = echo_server();
    let idp = TestServer::start(|_| TestResponse::new(200).header("x-echo-value", "v"));
    let config = format!(
        r#"{{"mode": "dispatch", "upstream": "127.0.0.1:{}", "authority": "idp.test", "timeout_ms": 5000, "chain": true}}"#,
        idp.port
    );
    let envoy = start(&upstream, &config, "");
    let answer = envoy.get("/a");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(idp.request_count(), 2);

    let kong = start(&upstream, &config, "host_profile: kong");
    let answer = kong.get("/a");
    assert_eq!(answer.status, 500, "{}", answer.text());
    assert_eq!(idp.request_count(), 3, "the second call was never sent");
    assert!(
        kong.stderr().contains("chained_dispatch: fail"),
        "{}",
        kong.stderr()
    );
    assert_eq!(
        upstream.request_count(),
        1,
        "only Envoy's request went upstream"
    );
}
