//! Kong's Admin API for plugins: listing, and PATCH with form or JSON bodies that reconfigures
//! the filter live in every worker (or is refused with Kong's schema-violation error).

// A test crate: its helpers may unwrap, panic and index like its tests (clippy.toml covers
// only the #[test] functions themselves).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::collections::HashSet;

use serde_json::json;
use support::*;

/// The configure-mode filter copied into a temp dir with a Kong meta.json schema beside it.
fn gateway_with_schema(upstream: &TestServer) -> Gateway {
    let dir = TempDir::new("admin");
    std::fs::copy(conformance_wasm(), dir.path.join("conformance.wasm")).expect("copy the filter");
    let schema = json!({
        "config_schema": {
            "type": "object",
            "properties": {
                "mode": {"type": "string"},
                "label": {"type": "string"},
                "methods": {"type": "array", "items": {"type": "string"}},
                "revoke": {"type": "boolean"},
                "leeway": {"type": "integer"},
                "session": {"type": "object", "properties": {"secure": {"type": "boolean"}}}
            }
        }
    });
    dir.write("conformance.meta.json", schema.to_string());
    let yaml = single_plugin_yaml(
        r#"{"mode": "configure", "label": "initial", "session": {"secure": true}}"#,
        "",
    )
    .replace("${WASM}", "conformance.wasm");
    Gateway::start_with(
        dir,
        &yaml,
        &[("UPSTREAM_PORT", upstream.port.to_string())],
        &[],
    )
}

/// The config text every worker's VM answers with, over enough connections to reach both.
fn live_configs(gateway: &Gateway) -> HashSet<(String, String)> {
    (0..8)
        .map(|_| {
            let response = gateway.get("/");
            (
                response.header("x-vm-instance").unwrap().to_string(),
                response.text(),
            )
        })
        .collect()
}

fn assert_every_vm_runs(gateway: &Gateway, expected: &serde_json::Value) {
    let configs = live_configs(gateway);
    let instances: HashSet<&String> = configs.iter().map(|(vm, _)| vm).collect();
    assert_eq!(instances.len(), 2, "both workers answered");
    for (vm, text) in &configs {
        let config: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(&config, expected, "VM {vm}");
    }
}

#[test]
fn lists_and_shows_plugins_in_kong_shape() {
    let upstream = echo_server();
    let gateway = gateway_with_schema(&upstream);
    let list = gateway.admin("GET", "/plugins", &[], b"");
    assert_eq!(list.status, 200);
    let list = list.json();
    assert_eq!(list["next"], serde_json::Value::Null);
    let plugin = &list["data"][0];
    assert_eq!(plugin["id"], PLUGIN_ID);
    assert_eq!(plugin["name"], "conformance");
    assert_eq!(plugin["service"], json!({"id": SERVICE_ID}));
    assert_eq!(plugin["route"], serde_json::Value::Null);
    assert_eq!(plugin["enabled"], true);
    assert_eq!(plugin["tags"], serde_json::Value::Null);
    assert_eq!(plugin["config"]["label"], "initial");
    assert!(plugin["created_at"].as_u64().unwrap() > 1_600_000_000);
    let one = gateway.admin("GET", &format!("/plugins/{PLUGIN_ID}"), &[], b"");
    assert_eq!(&one.json(), plugin);
    let missing = gateway.admin(
        "GET",
        "/plugins/00000000-0000-0000-0000-000000000000",
        &[],
        b"",
    );
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["message"], "Not found");
    assert_eq!(gateway.admin("GET", "/", &[], b"").status, 200);
}

#[test]
fn a_form_patch_is_coerced_with_the_schema_merged_and_applied_in_every_worker() {
    let upstream = echo_server();
    let gateway = gateway_with_schema(&upstream);
    let form = "config.label=patched&config.methods=POST&config.methods=GET&config.revoke=true\
                &config.leeway=30&config.session.secure=false";
    let response = gateway.admin(
        "PATCH",
        &format!("/plugins/{PLUGIN_ID}"),
        &[(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        form.as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let expected = json!({
        "mode": "configure",
        "label": "patched",
        "methods": ["POST", "GET"],
        "revoke": true,
        "leeway": 30,
        "session": {"secure": false}
    });
    let body = response.json();
    assert_eq!(body["config"], expected);
    assert_eq!(body["id"], PLUGIN_ID);
    assert_eq!(body["service"]["id"], SERVICE_ID);
    assert_every_vm_runs(&gateway, &expected);
    let shown = gateway
        .admin("GET", &format!("/plugins/{PLUGIN_ID}"), &[], b"")
        .json();
    assert_eq!(shown["config"], expected);

    // A single value for an array field still becomes an array.
    let response = gateway.admin(
        "PATCH",
        &format!("/plugins/{PLUGIN_ID}"),
        &[("content-type", "application/x-www-form-urlencoded")],
        b"config.methods=PUT",
    );
    assert_eq!(response.json()["config"]["methods"], json!(["PUT"]));
}

#[test]
fn a_json_patch_merges_nested_config() {
    let upstream = echo_server();
    let gateway = gateway_with_schema(&upstream);
    let response = gateway.admin(
        "PATCH",
        &format!("/plugins/{PLUGIN_ID}"),
        &[("content-type", "application/json")],
        br#"{"config": {"label": "json", "session": {"cookie": "c"}}}"#,
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let expected =
        json!({"mode": "configure", "label": "json", "session": {"secure": true, "cookie": "c"}});
    assert_eq!(response.json()["config"], expected);
    assert_every_vm_runs(&gateway, &expected);
}

#[test]
fn a_config_the_filter_refuses_is_a_400_and_the_old_config_stays() {
    let upstream = echo_server();
    let gateway = gateway_with_schema(&upstream);
    let response = gateway.admin(
        "PATCH",
        &format!("/plugins/{PLUGIN_ID}"),
        &[("content-type", "application/json")],
        br#"{"config": {"label": "bad", "reject": "issuer is required"}}"#,
    );
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json(),
        json!({
            "code": 2,
            "name": "schema violation",
            "message": "schema violation (config: issuer is required)",
            "fields": {"config": "issuer is required"}
        })
    );
    assert_every_vm_runs(
        &gateway,
        &json!({"mode": "configure", "label": "initial", "session": {"secure": true}}),
    );
    let shown = gateway
        .admin("GET", &format!("/plugins/{PLUGIN_ID}"), &[], b"")
        .json();
    assert_eq!(shown["config"]["label"], "initial");
}

#[test]
fn form_values_that_do_not_fit_the_schema_are_refused() {
    let upstream = echo_server();
    let gateway = gateway_with_schema(&upstream);
    let response = gateway.admin(
        "PATCH",
        &format!("/plugins/{PLUGIN_ID}"),
        &[("content-type", "application/x-www-form-urlencoded")],
        b"config.revoke=maybe&colour=red",
    );
    assert_eq!(response.status, 400);
    let body = response.json();
    assert_eq!(body["name"], "schema violation");
    assert_eq!(body["fields"]["config"]["revoke"], "expected a boolean");
    assert_eq!(body["fields"]["colour"], "unknown field");
}

#[test]
fn disabling_a_plugin_takes_it_out_of_the_chain() {
    let upstream = echo_server();
    let gateway = gateway_with_schema(&upstream);
    assert!(
        gateway.get("/").header("x-vm-instance").is_some(),
        "the filter answers"
    );
    let response = gateway.admin(
        "PATCH",
        &format!("/plugins/{PLUGIN_ID}"),
        &[("content-type", "application/x-www-form-urlencoded")],
        b"enabled=false",
    );
    assert_eq!(response.json()["enabled"], false);
    let proxied = gateway.get("/");
    assert_eq!(
        proxied.json()["path"],
        "/",
        "the request reached the upstream"
    );
}

/// The configure-mode filter holding secrets, with an optional admin token.
fn gateway_with_secrets(upstream: &TestServer, extra: &str) -> Gateway {
    Gateway::start(
        &single_plugin_yaml(
            r#"{"mode": "configure", "label": "initial", "client_secret": ["cs-0123"], "session_secret": "ss-4567", "redis": {"password": "rp-89"}}"#,
            extra,
        ),
        &[
            ("UPSTREAM_PORT", upstream.port.to_string()),
            ("WORKERS", "1".to_string()),
        ],
    )
}

fn live_config(gateway: &Gateway) -> serde_json::Value {
    serde_json::from_str(&gateway.get("/").text()).unwrap()
}

#[test]
fn the_admin_api_never_answers_a_secret_and_keeps_it_across_patches() {
    let upstream = echo_server();
    let gateway = gateway_with_secrets(&upstream, "");
    for path in ["/plugins", &format!("/plugins/{PLUGIN_ID}")] {
        let answer = gateway.admin("GET", path, &[], b"");
        assert_eq!(answer.status, 200);
        let text = answer.text();
        for secret in ["cs-0123", "ss-4567", "rp-89"] {
            assert!(!text.contains(secret), "{path} leaked {secret}: {text}");
        }
    }
    let shown = gateway
        .admin("GET", &format!("/plugins/{PLUGIN_ID}"), &[], b"")
        .json();
    assert_eq!(shown["config"]["client_secret"], json!(["<redacted>"]));
    assert_eq!(shown["config"]["session_secret"], "<redacted>");
    assert_eq!(shown["config"]["redis"]["password"], "<redacted>");

    // A PATCH that leaves the secrets out keeps them.
    let form = gateway.admin(
        "PATCH",
        &format!("/plugins/{PLUGIN_ID}"),
        &[("content-type", "application/x-www-form-urlencoded")],
        b"config.label=second",
    );
    assert_eq!(form.status, 200, "{}", form.text());
    assert!(!form.text().contains("ss-4567"));
    let live = live_config(&gateway);
    assert_eq!(live["label"], "second");
    assert_eq!(live["session_secret"], "ss-4567");

    // Sending back what GET answered (markers included) keeps them too.
    let mut config = shown["config"].clone();
    config["label"] = json!("third");
    let body = json!({ "config": config }).to_string();
    let echoed = gateway.admin(
        "PATCH",
        &format!("/plugins/{PLUGIN_ID}"),
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(echoed.status, 200, "{}", echoed.text());
    let live = live_config(&gateway);
    assert_eq!(live["label"], "third");
    assert_eq!(live["client_secret"], json!(["cs-0123"]));
    assert_eq!(live["session_secret"], "ss-4567");
    assert_eq!(live["redis"]["password"], "rp-89");

    // A new secret replaces the old one; the marker with nothing stored is refused.
    let rotated = gateway.admin(
        "PATCH",
        &format!("/plugins/{PLUGIN_ID}"),
        &[("content-type", "application/json")],
        br#"{"config": {"session_secret": "ss-new"}}"#,
    );
    assert_eq!(rotated.status, 200, "{}", rotated.text());
    assert_eq!(live_config(&gateway)["session_secret"], "ss-new");
    let bogus = gateway.admin(
        "PATCH",
        &format!("/plugins/{PLUGIN_ID}"),
        &[("content-type", "application/json")],
        br#"{"config": {"other_secret": "<redacted>"}}"#,
    );
    assert_eq!(bogus.status, 400, "{}", bogus.text());
}

#[test]
fn the_admin_api_refuses_foreign_hosts_and_requires_its_token_when_set() {
    let upstream = echo_server();
    let gateway = gateway_with_secrets(&upstream, "");
    let port = gateway.admin_port;
    // DNS rebinding: the browser sends the attacker's host name.
    let rebound = raw_request(
        port,
        &format!("GET /plugins HTTP/1.1\r\nhost: evil.example:{port}\r\nconnection: close\r\n\r\n"),
        b"",
    );
    assert_eq!(rebound.status, 421, "{}", rebound.text());
    assert!(!rebound.text().contains("initial"));
    let no_host = raw_request(port, "GET /plugins HTTP/1.0\r\n\r\n", b"");
    assert_eq!(no_host.status, 421);
    // What HTTPie sends for `http :8001/plugins` (the seed) passes.
    let local = raw_request(
        port,
        &format!("GET /plugins HTTP/1.1\r\nhost: localhost:{port}\r\nconnection: close\r\n\r\n"),
        b"",
    );
    assert_eq!(local.status, 200, "{}", local.text());

    let guarded = gateway_with_secrets(&upstream, "admin_token: t0ken");
    assert_eq!(guarded.admin("GET", "/plugins", &[], b"").status, 401);
    assert_eq!(
        guarded
            .admin("GET", "/plugins", &[("kong-admin-token", "wrong")], b"")
            .status,
        401
    );
    assert_eq!(
        guarded
            .admin("GET", "/plugins", &[("kong-admin-token", "t0ken")], b"")
            .status,
        200
    );

    // A listener beyond loopback without a token is refused at start.
    let (status, stderr) = run_expecting_failure(
        &single_plugin_yaml(r#"{"mode": "noop"}"#, "")
            .replace("admin_listen: 127.0.0.1:", "admin_listen: 0.0.0.0:"),
        &[("UPSTREAM_PORT", upstream.port.to_string())],
    );
    assert!(!status.success());
    assert!(stderr.contains("admin_token: is required"), "{stderr}");
}
