//! Failure handling: a trapping filter, unsupported hostcalls, and config files the gateway
//! must refuse with the file, the field path and why.

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

#[test]
fn a_trap_fails_the_request_and_the_vm_is_replaced() {
    let upstream = echo_server();
    let env = [
        ("UPSTREAM_PORT", upstream.port.to_string()),
        ("WORKERS", "1".to_string()),
    ];
    let gateway = Gateway::start(
        &single_plugin_yaml(r#"{"mode": "trap", "label": "configured"}"#, ""),
        &env,
    );
    let before = gateway.get("/");
    assert_eq!(before.status, 200);
    let first_vm = before.header("x-vm-instance").unwrap().to_string();

    let trapped = gateway.get("/trap");
    assert_eq!(trapped.status, 500);
    assert_eq!(trapped.json()["message"], "An unexpected error occurred");
    assert_eq!(
        upstream.request_count(),
        1,
        "the trapped request never went upstream"
    );

    let after = gateway.get("/");
    assert_eq!(after.status, 200, "the gateway keeps serving");
    assert_ne!(
        after.header("x-vm-instance").unwrap(),
        first_vm,
        "a new VM instance"
    );
    assert_eq!(
        after.header("x-label"),
        Some("configured"),
        "the new instance was configured"
    );
    let stderr = gateway.stderr();
    assert!(
        stderr.contains("panicked at"),
        "the filter's panic message is logged:\n{stderr}"
    );
    assert!(
        stderr.contains("proxy_on_request_headers trapped: wasm trap"),
        "{stderr}"
    );
    assert!(
        stderr.contains("VM instance replaced and reconfigured"),
        "{stderr}"
    );
    let metrics = gateway.admin("GET", "/metrics", &[], b"").text();
    assert!(
        metrics.lines().any(|l| l == "gateway_filter_traps_total 1"),
        "{metrics}"
    );
}

#[test]
fn unsupported_hostcalls_answer_a_status_instead_of_trapping() {
    let upstream = echo_server();
    let gateway = Gateway::start(
        &single_plugin_yaml(r#"{"mode": "unsupported"}"#, ""),
        &[("UPSTREAM_PORT", upstream.port.to_string())],
    );
    let response = gateway.get("/");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.header("x-unknown"),
        Some("12"),
        "UNIMPLEMENTED for an unknown import"
    );
    assert_eq!(
        response.header("x-continue-downstream"),
        Some("12"),
        "no L4 streams"
    );
    assert_eq!(response.header("x-foreign"), Some("Err(NotFound)"));
    assert_eq!(response.header("x-grpc"), Some("Err(InternalFailure)"));
}

fn refused(yaml: &str, env: &[(&str, String)]) -> String {
    let (status, stderr) = run_expecting_failure(yaml, env);
    assert!(!status.success(), "exit status {status}");
    stderr
}

const SERVICE: &str = "services:
  - id: 5fa9e468-0007-4d7e-9aeb-49ca9edd6ccd
    url: http://127.0.0.1:9
    routes:
      - id: 6fa9e468-0007-4d7e-9aeb-49ca9edd6ccd
        paths: [/]
";

#[test]
fn bad_config_files_are_refused_with_the_field_path_and_why() {
    let listen = "proxy_listen: 127.0.0.1:${PROXY_PORT}\nadmin_listen: 127.0.0.1:${ADMIN_PORT}\n";
    let plugin = |body: &str| {
        format!("{listen}{SERVICE}plugins:\n  - id: {PLUGIN_ID}\n    name: conformance\n{body}")
    };

    let stderr = refused(
        &plugin("    wasm: ${WASM}\n    service: 00000000-0000-0000-0000-000000000000\n"),
        &[],
    );
    assert!(
        stderr.contains("gateway.yaml: plugins[0].service: no service with id 00000000-0000-0000-0000-000000000000"),
        "{stderr}"
    );

    let stderr = refused(&plugin("    wasm: missing.wasm\n"), &[]);
    assert!(
        stderr.contains("gateway.yaml: plugins[0].wasm: file "),
        "{stderr}"
    );
    assert!(stderr.contains(
        "missing.wasm not found (relative paths are resolved against the config file's directory)"
    ));

    let stderr = refused(&format!("{listen}workers: two\n"), &[]);
    assert!(
        stderr.contains("gateway.yaml: workers: invalid type: string \"two\""),
        "{stderr}"
    );

    let stderr = refused(&format!("{listen}{SERVICE}    colour: red\n"), &[]);
    assert!(
        stderr.contains("gateway.yaml: services[0]: unknown field `colour`"),
        "{stderr}"
    );

    let stderr = refused("proxy_listen: 127.0.0.1:${NOT_SET_ANYWHERE}\n", &[]);
    assert!(
        stderr.contains("gateway.yaml: line 1: environment variable NOT_SET_ANYWHERE is not set"),
        "{stderr}"
    );

    let stderr = refused(&plugin("    wasm: ${WASM}\n    config: [1, 2]\n"), &[]);
    assert!(stderr.contains("plugins[0].config: must be an object (sent as JSON) or a string (sent verbatim), not an array"), "{stderr}");

    let dir = TempDir::new("notwasm");
    let fake = dir.write("fake.wasm", b"not wasm at all");
    let stderr = refused(
        &plugin("    wasm: ${FAKE}\n"),
        &[("FAKE", fake.display().to_string())],
    );
    assert!(
        stderr.contains("plugins[0].wasm:") && stderr.contains("is not a valid wasm module"),
        "{stderr}"
    );
}

#[test]
fn a_filter_that_refuses_its_startup_config_stops_the_gateway_with_its_reason() {
    let yaml = single_plugin_yaml(
        r#"{"mode": "configure", "reject": "issuer must be a URL"}"#,
        "",
    );
    let stderr = refused(&yaml, &[("UPSTREAM_PORT", "9".to_string())]);
    assert!(
        stderr.contains("plugins[0] (conformance (5f35b796)): the filter refused its configuration: issuer must be a URL"),
        "{stderr}"
    );
}

#[test]
fn readiness_is_the_gateways_own_answer_not_whoever_holds_its_admin_port() {
    // Under load the gateway compiles its filters for seconds before it binds its ports, and a
    // port picked free meanwhile can go to another test's server. That server answering
    // GET /status must not pass for the gateway (the flaky failure of a loaded
    // `cargo test -p gateway`: the test then met a closed proxy port).
    let upstream = echo_server();
    let squatter = echo_server();
    let dir = TempDir::new("squatted");
    let config = dir.write(
        "gateway.yaml",
        single_plugin_yaml(r#"{"mode": "noop"}"#, ""),
    );
    let env = [("UPSTREAM_PORT", upstream.port.to_string())];
    let mut child = spawn_gateway(&dir, &config, free_port(), squatter.port, &env, &[]);
    let ready = wait_ready(&mut child, squatter.port);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        ready.is_err(),
        "the server on the admin port was taken for the gateway"
    );
    assert!(squatter.request_count() > 0, "the probe asked the squatter");
}
