//! The deployment examples are checked, not just written: envoy/envoy.yaml against Envoy's API
//! (PyPI envoy-data-plane, generated from Envoy's protos) and filter-config/kong.yaml against
//! the filter's Kong schema (filter-config/openid_connect.meta.json); the filter config inside
//! each must also be accepted by the filter's own parser.

// A test crate: its helpers may unwrap, panic and index like its tests (clippy.toml covers
// only the #[test] functions themselves).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::process::Command;

use openid_connect::config::{kong_filter_meta, Config};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let venv = root().join("tests/.venv/bin/python");
    if !venv.exists() {
        let status = Command::new("make")
            .arg("py-deps")
            .current_dir(root())
            .status()
            .expect("make py-deps");
        assert!(
            status.success(),
            "installing the Python test dependencies failed"
        );
    }
    venv
}

#[test]
fn envoy_example_is_valid_envoy_config_and_a_valid_filter_config() {
    let output = Command::new(python())
        .arg(root().join("tests/configs/check_envoy.py"))
        .arg(root().join("envoy/envoy.yaml"))
        .output()
        .expect("run check_envoy.py");
    assert!(
        output.status.success(),
        "envoy.yaml rejected: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let filter_config = String::from_utf8(output.stdout).unwrap();
    Config::parse(filter_config.trim().as_bytes())
        .unwrap_or_else(|e| panic!("the filter refuses envoy.yaml's config: {e}"));
}

#[test]
fn envoy_check_rejects_what_envoy_rejects() {
    let original = std::fs::read_to_string(root().join("envoy/envoy.yaml")).unwrap();
    for (what, broken) in [
        (
            "unknown field",
            original.replace("stat_prefix:", "stat_prefx:"),
        ),
        (
            "fail open",
            original.replace("fail_open: false", "fail_open: true"),
        ),
        (
            "unknown cluster",
            original.replace(
                "\"idp.example.com\": \"idp\"",
                "\"idp.example.com\": \"nope\"",
            ),
        ),
    ] {
        assert_ne!(broken, original, "{what}: the mutation must apply");
        let path = std::env::temp_dir().join(format!(
            "envoy-broken-{}-{}.yaml",
            std::process::id(),
            what.replace(' ', "-")
        ));
        std::fs::write(&path, broken).unwrap();
        let output = Command::new(python())
            .arg(root().join("tests/configs/check_envoy.py"))
            .arg(&path)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(!output.status.success(), "{what} was accepted");
    }
}

#[test]
fn kong_example_matches_the_filter_schema_and_the_filter_accepts_it() {
    let text = std::fs::read_to_string(root().join("filter-config/kong.yaml")).unwrap();
    let document: Value = yaml_to_json(&text);
    assert_eq!(document["_format_version"], "3.0");
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("filter-config/openid_connect.meta.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        meta,
        kong_filter_meta(),
        "meta.json is generated from the config types"
    );
    let validator = jsonschema::draft4::new(&meta["config_schema"])
        .expect("meta.json config_schema is draft 4");
    let chains = document["filter_chains"].as_array().expect("filter_chains");
    let mut checked = 0;
    for chain in chains {
        assert!(
            chain["service"].is_string() ^ chain["route"].is_string(),
            "a chain is on exactly one service or route"
        );
        for filter in chain["filters"].as_array().expect("filters") {
            assert_eq!(
                filter["name"], "openid_connect",
                "Kong names the filter after openid_connect.wasm"
            );
            let config = &filter["config"];
            let errors: Vec<String> = validator
                .iter_errors(config)
                .map(|e| e.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "kong.yaml config violates meta.json: {errors:?}"
            );
            Config::parse(config.to_string().as_bytes())
                .unwrap_or_else(|e| panic!("the filter refuses kong.yaml's config: {e}"));
            checked += 1;
        }
    }
    assert_eq!(checked, 1);
}

/// Reads the YAML example with Python's YAML parser (already a test dependency for the Envoy
/// check), so no YAML crate is needed here.
fn yaml_to_json(text: &str) -> Value {
    let output = Command::new(python())
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("python yaml");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
