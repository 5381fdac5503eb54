//! proxy_http_call: pause in request headers, call a real server, resume with what it said;
//! isolation between concurrent contexts; failures and timeouts; argument checks; TLS.

// A test crate: its helpers may unwrap, panic and index like its tests (clippy.toml covers
// only the #[test] functions themselves).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;

/// An IdP stand-in: echoes the `value` query parameter in `x-echo-value` and the body.
fn idp() -> TestServer {
    TestServer::start(|request| {
        let value = request.query("value").unwrap_or_default();
        TestResponse::new(200)
            .header("x-echo-value", &value)
            .body(format!("echo:{value}"))
            .trailer("x-call-trailer", "t1")
    })
}

fn dispatch_gateway(
    upstream: &TestServer,
    target: &str,
    extra: &str,
    env: &[(&str, String)],
) -> Gateway {
    let config = format!(
        r#"{{"mode": "dispatch", "upstream": "{target}", "authority": "idp.test", "timeout_ms": 5000}}"#
    );
    let mut env = env.to_vec();
    env.push(("UPSTREAM_PORT", upstream.port.to_string()));
    Gateway::start(&single_plugin_yaml(&config, extra), &env)
}

#[test]
fn pauses_dispatches_and_resumes_with_a_header_from_the_response() {
    let upstream = echo_server();
    let idp = idp();
    // The call goes to a `clusters:` name, resolved by the gateway.
    let gateway = dispatch_gateway(
        &upstream,
        "idp",
        "clusters:\n  idp: 127.0.0.1:${IDP_PORT}",
        &[("IDP_PORT", idp.port.to_string())],
    );

    let response = gateway.request("GET", "/hello", &[("x-call-value", "abc123")], b"");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-from-call"), Some("abc123"));
    let seen = response.json();
    assert_eq!(seen["path"], "/hello");
    assert_eq!(
        seen["headers"]["x-from-call"], "abc123",
        "the upstream sees the header set after resume"
    );
    assert_eq!(seen["headers"]["x-call-status"], "200");
    assert_eq!(seen["headers"]["x-call-body"], "echo:abc123");
    assert_eq!(
        seen["headers"]["x-call-trailers"], "1:t1",
        "call response trailers reach the filter"
    );
    assert_eq!(idp.request_count(), 1);
}

#[test]
fn concurrent_requests_each_get_their_own_call_result() {
    let upstream = echo_server();
    let idp = TestServer::start(|request| {
        // Answer out of order so responses interleave across contexts (jitter, not a wait:
        // the test holds in any order).
        let value = request.query("value").unwrap_or_default();
        let delay = value.bytes().map(u64::from).sum::<u64>() % 20;
        std::thread::sleep(Duration::from_millis(delay));
        TestResponse::new(200).header("x-echo-value", &value)
    });
    let gateway = Arc::new(dispatch_gateway(&upstream, &idp.address(), "", &[]));

    let threads: Vec<_> = (0..64)
        .map(|n| {
            let gateway = gateway.clone();
            std::thread::spawn(move || {
                let value = format!("client-{n}-{}", n * 7919);
                let response =
                    gateway.request("GET", &format!("/c/{n}"), &[("x-call-value", &value)], b"");
                (value, response)
            })
        })
        .collect();
    for thread in threads {
        let (value, response) = thread.join().expect("client thread");
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(
            response.header("x-from-call"),
            Some(value.as_str()),
            "response header of {value}"
        );
        assert_eq!(
            response.json()["headers"]["x-from-call"],
            value.as_str(),
            "upstream view of {value}"
        );
    }
    assert_eq!(idp.request_count(), 64);
}

#[test]
fn a_call_to_a_dead_port_calls_back_with_no_headers() {
    let upstream = echo_server();
    let port = dead_port();
    let gateway = dispatch_gateway(&upstream, &format!("127.0.0.1:{port}"), "", &[]);
    let response = gateway.request("GET", "/", &[("x-call-value", "x")], b"");
    assert_eq!(
        response.status, 502,
        "the filter answers 502 when it sees 0 headers"
    );
    assert_eq!(response.header("x-call-failed"), Some("true"));
    assert_eq!(response.header("x-call-body-size"), Some("0"));
    assert_eq!(
        upstream.request_count(),
        0,
        "a failed call never reaches the upstream"
    );
    assert!(
        gateway.stderr().contains("connection refused"),
        "{}",
        gateway.stderr()
    );
}

#[test]
fn a_call_past_its_timeout_calls_back_with_no_headers() {
    let upstream = echo_server();
    // The service answers only after the gateway answered the client: a 502 can only come
    // from the call's own timeout (without it the request would wait for the gate).
    let answer = Gate::new();
    let slow = {
        let answer = answer.clone();
        TestServer::start(move |_| {
            answer.pass();
            TestResponse::new(200).header("x-echo-value", "too late")
        })
    };
    let config = format!(
        r#"{{"mode": "dispatch", "upstream": "{}", "authority": "slow", "timeout_ms": 300}}"#,
        slow.address()
    );
    let gateway = Gateway::start(
        &single_plugin_yaml(&config, ""),
        &[("UPSTREAM_PORT", upstream.port.to_string())],
    );
    let started = Instant::now();
    let response = gateway.get("/");
    let elapsed = started.elapsed();
    assert_eq!(response.status, 502);
    assert_eq!(response.header("x-call-failed"), Some("true"));
    assert!(
        elapsed >= Duration::from_millis(250),
        "answered before the timeout: {elapsed:?}"
    );
    assert!(
        gateway.stderr().contains("timeout after 300 ms"),
        "{}",
        gateway.stderr()
    );
    answer.release();
}

#[test]
fn calls_without_method_path_or_authority_are_bad_arguments() {
    let upstream = echo_server();
    let idp = idp();
    for (omit, expected) in [
        (":method", "BadArgument"),
        (":path", "BadArgument"),
        (":authority", "BadArgument"),
        ("", "Ok"),
    ] {
        let config = format!(
            r#"{{"mode": "dispatch-bad", "upstream": "{}", "authority": "idp", "omit": "{omit}"}}"#,
            idp.address()
        );
        let env = [
            ("UPSTREAM_PORT", upstream.port.to_string()),
            ("WORKERS", "1".to_string()),
        ];
        let gateway = Gateway::start(&single_plugin_yaml(&config, ""), &env);
        let response = gateway.get("/");
        assert_eq!(response.status, 200);
        assert_eq!(
            response.header("x-dispatch-result"),
            Some(expected),
            "omitting {omit:?}"
        );
    }
    let config = r#"{"mode": "dispatch-bad", "upstream": "no such upstream!", "authority": "idp"}"#;
    let gateway = Gateway::start(
        &single_plugin_yaml(config, ""),
        &[("UPSTREAM_PORT", upstream.port.to_string())],
    );
    assert_eq!(
        gateway.get("/").header("x-dispatch-result"),
        Some("BadArgument"),
        "an unknown upstream"
    );
}

fn tls_server_config() -> Arc<rustls::ServerConfig> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixtures.join("localhost.pem"))
            .expect("read the certificate")
            .collect::<Result<_, _>>()
            .expect("parse the certificate");
    let key = PrivateKeyDer::from_pem_file(fixtures.join("localhost.key")).expect("read the key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server certificate");
    Arc::new(config)
}

#[test]
fn https_calls_use_tls_and_verify_the_certificate() {
    let upstream = echo_server();
    let idp = TestServer::start_tls(tls_server_config(), |request| {
        TestResponse::new(200).header(
            "x-echo-value",
            &format!("tls:{}", request.query("value").unwrap_or_default()),
        )
    });
    let ca = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/test-ca.pem");
    let config = format!(
        r#"{{"mode": "dispatch", "upstream": "127.0.0.1:{port}", "authority": "localhost:{port}", "scheme": "https", "timeout_ms": 5000}}"#,
        port = idp.port
    );
    let extra = format!("ca_file: {}", ca.display());
    let gateway = Gateway::start(
        &single_plugin_yaml(&config, &extra),
        &[("UPSTREAM_PORT", upstream.port.to_string())],
    );
    let response = gateway.request("GET", "/", &[("x-call-value", "v")], b"");
    assert_eq!(
        response.status,
        200,
        "{}\n{}",
        response.text(),
        gateway.stderr()
    );
    assert_eq!(response.header("x-from-call"), Some("tls:v"));

    // Without the test CA the certificate is not trusted: the call fails like any other.
    let untrusted = Gateway::start(
        &single_plugin_yaml(&config, ""),
        &[("UPSTREAM_PORT", upstream.port.to_string())],
    );
    let response = untrusted.request("GET", "/", &[("x-call-value", "v")], b"");
    assert_eq!(response.status, 502);
    assert!(
        untrusted.stderr().contains("tls handshake failure"),
        "{}",
        untrusted.stderr()
    );
}
