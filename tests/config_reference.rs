//! docs/configuration.md is generated from the filter's Kong schema (the same Rust types the
//! parser uses), so the reference cannot drift from the code. Regenerate with
//! `UPDATE_DOCS=1 cargo test --test config_reference`.

// A test crate: its helpers may unwrap, panic and index like its tests (clippy.toml covers
// only the #[test] functions themselves).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use openid_connect::config::kong_config_schema;
use serde_json::Value;

fn type_of(property: &Value) -> String {
    let types: Vec<String> = match &property["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .map(str::to_string)
            .collect(),
        _ => vec!["any".into()],
    };
    let mut text = types.join(" or ");
    if text == "array" {
        if let Some(items) = property["items"].get("enum").and_then(Value::as_array) {
            let values: Vec<String> = items
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| format!("`{}`", v.as_str().unwrap_or_default()))
                .collect();
            text = format!("array of {}", values.join(", "));
        } else if let Some(item_type) = property["items"]["type"].as_str() {
            text = format!("array of {item_type}");
        }
    } else if let Some(values) = property.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| {
                format!(
                    "`{}`",
                    v.as_str().map(str::to_string).unwrap_or(v.to_string())
                )
            })
            .collect();
        text = format!("one of {}", values.join(", "));
    }
    text
}

fn default_of(property: &Value) -> String {
    match property.get("default") {
        None | Some(Value::Null) => "—".into(),
        Some(value) => format!("`{value}`"),
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn generate() -> String {
    let schema = kong_config_schema();
    let properties = schema["properties"].as_object().expect("properties");
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let not_implemented = |p: &Value| {
        p["description"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Kong field not implemented")
    };
    let mut implemented: Vec<(&String, &Value)> = properties
        .iter()
        .filter(|(_, p)| !not_implemented(p))
        .collect();
    implemented.sort_by_key(|(name, _)| name.as_str());
    let mut pending: Vec<&String> = properties
        .iter()
        .filter(|(_, p)| not_implemented(p))
        .map(|(n, _)| n)
        .collect();
    pending.sort();

    let mut out = String::new();
    out.push_str("# Configuration reference\n\n");
    out.push_str("Generated from the filter's Kong schema (`filter-config/openid_connect.meta.json`, itself generated from the\n");
    out.push_str("Rust config types) by `UPDATE_DOCS=1 cargo test --test config_reference`. Do not edit by hand.\n\n");
    out.push_str("Field names, types, value sets and defaults are Kong's openid-connect plugin's. Arrays also accept a single\n");
    out.push_str("value. `null` means the default.\n\n");
    out.push_str(
        "## Implemented fields\n\n| field | type | default | description |\n|---|---|---|---|\n",
    );
    for (name, property) in implemented {
        let name = if required.contains(&name.as_str()) {
            format!("`{name}` (required)")
        } else {
            format!("`{name}`")
        };
        out.push_str(&format!(
            "| {name} | {} | {} | {} |\n",
            cell(&type_of(property)),
            cell(&default_of(property)),
            cell(property["description"].as_str().unwrap_or_default())
        ));
    }
    out.push_str("\n## Kong fields not implemented yet\n\n");
    out.push_str("These are accepted when absent, `null` or at Kong's default (so a config copied from Kong's Admin API loads);\n");
    out.push_str("any other value is refused with `<field>: not supported yet`.\n\n");
    let names: Vec<String> = pending.iter().map(|n| format!("`{n}`")).collect();
    out.push_str(&names.join(", "));
    out.push('\n');
    out
}

#[test]
fn configuration_reference_is_up_to_date() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
    let generated = generate();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/configuration.md is stale: run `UPDATE_DOCS=1 cargo test --test config_reference`"
    );
}
