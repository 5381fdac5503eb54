//! Request and response handling: header maps and pseudo-headers, properties, local responses,
//! body buffering, pause timeouts, proxying, and logs.

// A test crate: its helpers may unwrap, panic and index like its tests (clippy.toml covers
// only the #[test] functions themselves).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::{Duration, Instant};

use support::*;

fn start(config: &str, upstream: &TestServer, extra: &str) -> Gateway {
    Gateway::start(
        &single_plugin_yaml(config, extra),
        &[("UPSTREAM_PORT", upstream.port.to_string())],
    )
}

#[test]
fn filters_read_and_edit_headers_and_pseudo_headers() {
    let upstream = echo_server();
    let gateway = start(
        r#"{"mode": "headers", "rewrite_path": "/rewritten?x=1"}"#,
        &upstream,
        "",
    );
    let response = gateway.request(
        "GET",
        "/original?q=2",
        &[("x-replaced", "old"), ("x-remove-me", "1"), ("x-keep", "k")],
        b"",
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let seen = response.json();
    let headers = &seen["headers"];
    assert_eq!(
        seen["path"], "/rewritten?x=1",
        "a :path set by the filter is what goes upstream"
    );
    assert_eq!(headers["x-seen-method"], "GET");
    assert_eq!(headers["x-seen-path"], "/original?q=2");
    assert_eq!(
        headers["x-seen-authority"],
        format!("127.0.0.1:{}", gateway.proxy_port)
    );
    assert_eq!(headers["x-seen-scheme"], "http");
    assert_eq!(
        headers["x-headers-eos"], "true",
        "a GET without body ends with its headers"
    );
    assert_eq!(headers["x-added"], serde_json::json!(["1", "2"]));
    assert_eq!(headers["x-replaced"], "new");
    assert!(headers.get("x-remove-me").is_none());
    assert_eq!(headers["x-keep"], "k");
    assert_eq!(
        headers["x-roundtrip"], "yes",
        "set_header_map_pairs replaced the map"
    );
    // 4 pseudo-headers + host-less regular headers the client sent + the filter's additions.
    let pairs: usize = headers["x-pair-count"].as_str().unwrap().parse().unwrap();
    assert!(pairs >= 4 + 3, "pair count {pairs}");

    assert_eq!(response.header("x-upstream-status"), Some("200"));
    assert_eq!(response.headers_named("x-resp-added"), vec!["a", "b"]);
    assert_eq!(response.header("x-resp-replaced"), Some("new"));
    assert_eq!(response.header("x-response-eos"), Some("false"));
    assert!(
        response.header("x-upstream-secret").is_none(),
        "removed by the filter"
    );
}

#[test]
fn properties_follow_envoy_names_and_encodings() {
    let upstream = echo_server();
    let gateway = start(r#"{"mode": "properties"}"#, &upstream, "node_id: test-node");
    let response = gateway.request(
        "GET",
        "/p/q?a=1",
        &[("x-request-id", "rid-42"), ("x-prop", "pv")],
        b"",
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let p = response.json();
    assert_eq!(p["request.path"], "/p/q?a=1");
    assert_eq!(p["request.url_path"], "/p/q");
    assert_eq!(p["request.query"], "a=1");
    assert_eq!(p["request.method"], "GET");
    assert_eq!(p["request.scheme"], "http");
    assert_eq!(
        p["request.host"],
        format!("127.0.0.1:{}", gateway.proxy_port)
    );
    assert_eq!(p["request.id"], "rid-42");
    assert_eq!(p["request.protocol"], "HTTP/1.1");
    assert_eq!(p["request.headers.x-prop"], "pv");
    assert!(p["source.address"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    let source_port = p["source.port"].as_i64().expect("an 8-byte integer");
    assert!(p["source.address"]
        .as_str()
        .unwrap()
        .ends_with(&format!(":{source_port}")));
    assert_eq!(
        p["destination.address"],
        format!("127.0.0.1:{}", gateway.proxy_port)
    );
    assert_eq!(p["destination.port"], i64::from(gateway.proxy_port));
    assert_eq!(p["connection.mtls"], false);
    assert_eq!(p["plugin_name"], "conformance");
    assert_eq!(p["plugin_root_id"], "conformance");
    assert_eq!(p["plugin_vm_id"], "");
    assert_eq!(p["node.id"], "test-node");
    assert_eq!(p["no.such.property"], serde_json::Value::Null);
    assert_eq!(
        p["conformance.marker"], "set-by-filter",
        "set_property then get_property"
    );

    let generated = gateway.get("/").json();
    let id = generated["request.id"].as_str().unwrap();
    assert_eq!(
        id.len(),
        36,
        "a UUID is generated without x-request-id: {id}"
    );
}

#[test]
fn local_responses_keep_every_set_cookie() {
    let upstream = echo_server();
    let config = r#"{"mode": "local-response", "status": 302, "body": "see elsewhere",
                    "cookies": ["a=1; Path=/", "b=2; HttpOnly", "c=3; SameSite=Lax"]}"#;
    let gateway = start(config, &upstream, "");
    let response = gateway.get("/login");
    assert_eq!(response.status, 302);
    assert_eq!(
        response.headers_named("set-cookie"),
        vec!["a=1; Path=/", "b=2; HttpOnly", "c=3; SameSite=Lax"]
    );
    assert_eq!(response.header("x-local"), Some("yes"));
    assert_eq!(response.header("content-type"), Some("text/plain"));
    assert_eq!(response.text(), "see elsewhere");
    assert_eq!(upstream.request_count(), 0);
}

#[test]
fn bodies_are_buffered_while_a_filter_pauses() {
    let upstream = echo_server();
    let gateway = start(r#"{"mode": "body"}"#, &upstream, "");
    let chunks: [&[u8]; 3] = [b"hello ", b"streamed ", b"world"];
    let response = request_chunked(
        gateway.proxy_port,
        "/raw",
        &[("content-type", "text/plain")],
        &chunks,
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "resp(req(hello streamed world))");
    let calls: u32 = response
        .header("x-request-body-calls")
        .unwrap()
        .parse()
        .unwrap();
    assert!(calls >= 1, "on_request_body ran");

    let sized = gateway.request("POST", "/raw", &[], b"0123456789");
    assert_eq!(sized.text(), "resp(req(0123456789))");
    assert_eq!(
        sized.header("content-length"),
        Some("21"),
        "the length follows the rewritten body"
    );
}

#[test]
fn a_paused_request_that_is_never_resumed_gets_500() {
    let upstream = echo_server();
    let gateway = start(
        r#"{"mode": "pause-forever"}"#,
        &upstream,
        "pause_timeout_ms: 300",
    );
    let started = Instant::now();
    let response = gateway.get("/");
    assert_eq!(response.status, 500);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(response.json()["message"], "An unexpected error occurred");
    assert!(
        gateway.stderr().contains("paused the request in proxy_on_request_headers and neither resumed nor answered it within 300 ms"),
        "{}",
        gateway.stderr()
    );
    assert_eq!(upstream.request_count(), 0);
}

#[test]
fn proxying_sets_forwarded_headers_and_reports_upstream_failures() {
    let upstream = echo_server();
    let yaml = format!(
        "proxy_listen: 127.0.0.1:${{PROXY_PORT}}
admin_listen: 127.0.0.1:${{ADMIN_PORT}}
workers: 2
services:
  - id: {SERVICE_ID}
    url: http://127.0.0.1:${{UPSTREAM_PORT}}/base
    routes:
      - id: {ROUTE_ID}
        paths: [/api]
  - id: 7fa9e468-0007-4d7e-9aeb-49ca9edd6ccd
    url: http://127.0.0.1:${{DEAD_PORT}}
    routes:
      - id: 8fa9e468-0007-4d7e-9aeb-49ca9edd6ccd
        paths: [/dead]
"
    );
    let env = [
        ("UPSTREAM_PORT", upstream.port.to_string()),
        ("DEAD_PORT", dead_port().to_string()),
    ];
    let gateway = Gateway::start(&yaml, &env);
    let response = gateway.request(
        "POST",
        "/api/users?x=1",
        &[
            ("x-forwarded-for", "10.1.2.3"),
            ("connection", "close, x-hop"),
            ("x-hop", "1"),
            ("te", "trailers"),
        ],
        b"payload",
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let seen = response.json();
    let h = &seen["headers"];
    assert_eq!(seen["method"], "POST");
    assert_eq!(
        seen["path"], "/base/users?x=1",
        "strip_path and the service path, as Kong"
    );
    assert_eq!(seen["body"], "payload");
    assert_eq!(h["x-forwarded-for"], "10.1.2.3, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "127.0.0.1");
    assert_eq!(h["x-forwarded-port"], gateway.proxy_port.to_string());
    assert_eq!(h["x-forwarded-prefix"], "/api");
    assert_eq!(h["x-real-ip"], "127.0.0.1");
    assert_eq!(h["host"], format!("127.0.0.1:{}", upstream.port));
    assert!(
        h.get("x-hop").is_none() && h.get("te").is_none(),
        "hop-by-hop headers are dropped: {h}"
    );
    assert_eq!(response.header("x-upstream-secret"), Some("s3cret"));

    let failed = gateway.get("/dead/x");
    assert_eq!(failed.status, 502);
    assert_eq!(
        failed.json()["message"],
        "An invalid response was received from the upstream server"
    );
    assert!(
        gateway.stderr().contains("upstream http://127.0.0.1:"),
        "{}",
        gateway.stderr()
    );

    let missing = gateway.get("/nowhere");
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json()["message"],
        "no Route matched with those values"
    );
    assert!(
        wait_until(Duration::from_secs(5), || gateway
            .stdout()
            .contains("\"GET /dead/x HTTP/1.1\" 502")),
        "access log: {}",
        gateway.stdout()
    );
}

#[test]
fn filter_logs_go_to_stderr_at_the_gateway_level_and_access_logs_to_stdout() {
    let upstream = echo_server();
    let gateway = start(r#"{"mode": "log"}"#, &upstream, "log_level: info");
    let response = gateway.request("GET", "/log", &[("x-log-marker", "m-77")], b"");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-log-level"), Some("Ok(Info)"));
    let now: u64 = response.header("x-now").unwrap().parse().unwrap();
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.abs_diff(wall) < 60,
        "proxy_get_current_time_nanoseconds is wall-clock time"
    );
    assert!(wait_until(Duration::from_secs(5), || gateway
        .stdout()
        .contains("\"GET /log HTTP/1.1\" 200")));
    let stderr = gateway.stderr();
    for level in ["info", "warn", "error", "critical"] {
        let line = format!("[{level}] filter conformance (5f35b796) worker");
        assert!(
            stderr.lines().any(|l| l.contains(&line) && l.ends_with(&format!("conformance-log {level} m-77"))),
            "no {level} line in:\n{stderr}"
        );
    }
    assert!(!stderr.contains("conformance-log debug"), "below the level");
    assert!(!stderr.contains("conformance-log trace"));
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("[info]") && l.ends_with("conformance-stdout m-77")),
        "fd_write(1)"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("[error]") && l.ends_with("conformance-stderr m-77")),
        "fd_write(2)"
    );
}

#[test]
fn a_filter_holding_the_headers_gets_no_body_callback_until_it_resumes() {
    // Envoy's default (and Kong): a headers Pause is StopAllIterationAndWatermark, so a filter
    // that waits in its headers callback for the body waits for ever (here: the pause timeout).
    let upstream = echo_server();
    let gateway = start(
        r#"{"mode": "hold-headers-for-body"}"#,
        &upstream,
        "pause_timeout_ms: 500",
    );
    let response = request_chunked(gateway.proxy_port, "/login", &[], &[b"user=john"]);
    assert_eq!(response.status, 500, "{}", response.text());
    assert_eq!(upstream.request_count(), 0);
    assert!(
        gateway
            .stderr()
            .contains("paused the request in proxy_on_request_headers"),
        "{}",
        gateway.stderr()
    );
}

#[test]
fn with_allow_on_headers_stop_iteration_a_filter_holding_the_headers_sees_the_body() {
    let upstream = echo_server();
    let gateway = start(
        r#"{"mode": "hold-headers-for-body"}"#,
        &upstream,
        "host_behaviour:\n  allow_on_headers_stop_iteration: true",
    );
    let chunks: [&[u8]; 3] = [b"user=john", b"&password=", b"doe"];
    let response = request_chunked(
        gateway.proxy_port,
        "/login",
        &[("content-type", "application/x-www-form-urlencoded")],
        &chunks,
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let seen = response.json();
    let header = seen["headers"]["x-body-seen-with-headers"]
        .as_str()
        .expect("the header set from the body callback");
    assert!(header.ends_with(":user=john&password=doe"), "{header}");
    assert_eq!(
        seen["body"], "user=john&password=doe",
        "the body went upstream intact"
    );
    let size: usize = response
        .header("x-response-body-size")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        size,
        response.message.body.len(),
        "response headers held until the body was seen"
    );
}

#[test]
fn paths_are_normalised_before_routing_and_forwarded_normalised() {
    let upstream = echo_server();
    let yaml = format!(
        "proxy_listen: 127.0.0.1:${{PROXY_PORT}}
admin_listen: 127.0.0.1:${{ADMIN_PORT}}
workers: 1
services:
  - id: {SERVICE_ID}
    url: http://127.0.0.1:${{UPSTREAM_PORT}}
    routes:
      - id: {ROUTE_ID}
        paths: [/public]
        strip_path: false
  - id: 7fa9e468-0007-4d7e-9aeb-49ca9edd6ccd
    url: http://127.0.0.1:${{UPSTREAM_PORT}}
    routes:
      - id: 8fa9e468-0007-4d7e-9aeb-49ca9edd6ccd
        paths: [/secret]
plugins:
  - id: {PLUGIN_ID}
    name: guard
    wasm: ${{WASM}}
    service: 7fa9e468-0007-4d7e-9aeb-49ca9edd6ccd
    config: {{\"mode\": \"local-response\", \"status\": 401, \"body\": \"guarded\"}}
"
    );
    let gateway = Gateway::start(&yaml, &[("UPSTREAM_PORT", upstream.port.to_string())]);
    for sneaky in [
        "/public/../secret",
        "/public/%2e%2e/secret",
        "/public/.%2E/secret/x",
        "/public//..//secret",
        "/public/./../secret",
    ] {
        let response = gateway.get(sneaky);
        assert_eq!(
            (response.status, response.text()),
            (401, "guarded".to_string()),
            "{sneaky} must reach /secret's route and its plugin"
        );
    }
    assert_eq!(upstream.request_count(), 0);

    let seen = gateway.get("/public/%7Euser/./a%2Fb/%61?q=/../%2e").json();
    assert_eq!(
        seen["path"], "/public/~user/a%2Fb/a?q=/../%2e",
        "unreserved characters decoded, reserved ones kept encoded, the query untouched"
    );
    assert_eq!(seen["headers"]["x-forwarded-path"], "/public/~user/a%2Fb/a");

    for bad in [
        "/../etc/passwd",
        "/public/%2e%2e/%2e%2e/x",
        "/public/a%zz",
        "/public/%00",
    ] {
        let response = gateway.get(bad);
        assert_eq!(response.status, 400, "{bad}: {}", response.text());
        assert_eq!(response.json()["message"], "Bad request");
    }
    assert_eq!(upstream.request_count(), 1);
}

#[test]
fn the_access_log_never_shows_credential_arguments() {
    let upstream = echo_server();
    let gateway = start(r#"{"mode": "noop"}"#, &upstream, "");
    let response = gateway
        .get("/cb?code=c0de-value&state=st4te&access_token=t0ken&password=pa55&keep=visible");
    assert_eq!(response.status, 200);
    assert!(
        wait_until(Duration::from_secs(5), || gateway
            .stdout()
            .contains("keep=visible")),
        "{}",
        gateway.stdout()
    );
    let log = gateway.stdout();
    for secret in ["c0de-value", "st4te", "t0ken", "pa55"] {
        assert!(!log.contains(secret), "{secret} logged: {log}");
    }
    assert!(log.contains("access_token=REDACTED"), "{log}");
}
