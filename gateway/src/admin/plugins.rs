//! `/plugins` of Kong's Admin API: the plugin entity's JSON, and PATCH, which merges the given
//! fields into the current config and reconfigures the filter live in every worker.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use tokio::sync::oneshot;

use crate::admin::form::{self, Violations};
use crate::config::{json_kind, PluginScope};
use crate::gateway::WorkerMessage;
use crate::gateway::{config_text, unix_now, Gateway, PluginRuntime};

/// Kong's plugin entity.
pub(crate) fn plugin_json(gateway: &Gateway, plugin: &PluginRuntime) -> Value {
    let state = plugin.snapshot();
    let (service, route) = match plugin.spec.scope {
        PluginScope::Global => (Value::Null, Value::Null),
        PluginScope::Service(index) => (
            gateway
                .config
                .services
                .get(index)
                .map_or(Value::Null, |service| json!({ "id": service.id })),
            Value::Null,
        ),
        PluginScope::Route(index) => (
            Value::Null,
            gateway
                .config
                .routes
                .get(index)
                .map_or(Value::Null, |route| json!({ "id": route.id })),
        ),
    };
    json!({
        "id": plugin.spec.id,
        "name": plugin.spec.name,
        "instance_name": null,
        "service": service,
        "route": route,
        "consumer": null,
        "enabled": plugin.enabled(),
        "config": crate::admin::secrets::redact(&state.config),
        "protocols": ["grpc", "grpcs", "http", "https"],
        "created_at": plugin.created_at,
        "updated_at": state.updated_at,
        "tags": state.tags,
        "ordering": null,
    })
}

pub(crate) fn list_json(gateway: &Gateway) -> Value {
    let data: Vec<Value> = gateway
        .plugins
        .iter()
        .map(|p| plugin_json(gateway, p))
        .collect();
    json!({ "data": data, "next": null })
}

/// What an admin answer is: a status and a JSON body.
pub(crate) type Answer = (http::StatusCode, Value);

fn not_found() -> Answer {
    (
        http::StatusCode::NOT_FOUND,
        json!({ "message": "Not found" }),
    )
}

fn violation(violations: Violations) -> Answer {
    (http::StatusCode::BAD_REQUEST, violations.to_kong_json())
}

/// A PATCH body, decoded and checked.
struct Changes {
    config: Option<Value>,
    enabled: Option<bool>,
    tags: Option<Option<Vec<String>>>,
}

/// Reads a form (coerced with the filter's schema) or JSON body into changes.
fn read_changes(
    plugin: &PluginRuntime,
    content_type: &str,
    body: &[u8],
) -> Result<Changes, Answer> {
    let is_json = content_type.starts_with("application/json")
        || (content_type.is_empty()
            && body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'));
    if content_type.starts_with("multipart/") {
        return Err((
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({ "message": "send application/x-www-form-urlencoded or application/json" }),
        ));
    }
    let (fields, from_form) = if is_json {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => (map, false),
            Ok(other) => {
                return Err((
                    http::StatusCode::BAD_REQUEST,
                    json!({ "message": format!("the body must be a JSON object, not {}", json_kind(&other)) }),
                ))
            }
            Err(e) => {
                return Err((
                    http::StatusCode::BAD_REQUEST,
                    json!({ "message": format!("Cannot parse JSON body: {e}") }),
                ))
            }
        }
    } else {
        (form::decode(body).map_err(violation)?, true)
    };
    changes_from(plugin, fields, from_form).map_err(violation)
}

fn changes_from(
    plugin: &PluginRuntime,
    fields: Map<String, Value>,
    from_form: bool,
) -> Result<Changes, Violations> {
    let mut violations = Violations::default();
    let mut changes = Changes {
        config: None,
        enabled: None,
        tags: None,
    };
    for (key, value) in fields {
        let path = vec![key.clone()];
        match key.as_str() {
            "config" => {
                let value = if from_form {
                    form::coerce(
                        value,
                        plugin.schema.as_ref(),
                        &mut vec!["config".to_string()],
                        &mut violations,
                    )
                } else {
                    value
                };
                match value {
                    Value::Object(_) | Value::String(_) | Value::Null => {
                        changes.config = Some(value)
                    }
                    other => violations.add(
                        &path,
                        format!("expected a record, not {}", json_kind(&other)),
                    ),
                }
            }
            "enabled" => match value {
                Value::Bool(b) => changes.enabled = Some(b),
                Value::String(s) if from_form && (s == "true" || s == "false") => {
                    changes.enabled = Some(s == "true")
                }
                _ => violations.add(&path, "expected a boolean"),
            },
            "tags" => match value {
                Value::Null => changes.tags = Some(None),
                Value::String(s) => changes.tags = Some(Some(vec![s])),
                Value::Array(items) if items.iter().all(Value::is_string) => {
                    changes.tags = Some(Some(
                        items
                            .iter()
                            .filter_map(|t| t.as_str().map(str::to_string))
                            .collect(),
                    ))
                }
                _ => violations.add(&path, "expected a set of strings"),
            },
            "id" | "name" => {
                let current = if key == "id" {
                    &plugin.spec.id
                } else {
                    &plugin.spec.name
                };
                if value.as_str() != Some(current.as_str()) {
                    violations.add(&path, "cannot be changed");
                }
            }
            // Accepted for compatibility with clients that send the whole entity back.
            "protocols" | "created_at" | "updated_at" | "instance_name" | "ordering"
            | "consumer" | "service" | "route" => {}
            _ => violations.add(&path, "unknown field"),
        }
    }
    if violations.is_empty() {
        Ok(changes)
    } else {
        Err(violations)
    }
}

pub(crate) async fn patch(
    gateway: &Arc<Gateway>,
    id: &str,
    content_type: &str,
    body: &[u8],
) -> Answer {
    let Some((index, plugin)) = gateway.plugin_by_id(id) else {
        return not_found();
    };
    let changes = match read_changes(plugin, content_type, body) {
        Ok(changes) => changes,
        Err(answer) => return answer,
    };
    let _serialized = gateway.admin_lock.lock().await;
    let current = plugin.snapshot();
    if let Some(patch) = changes.config {
        let mut merged = match (&current.config, patch) {
            (Value::Object(_), Value::Object(patch)) => {
                form::merge(current.config.clone(), Value::Object(patch))
            }
            (_, replacement) => replacement,
        };
        // Secrets answered as the marker may come back as the marker: keep the stored ones.
        if let Err(reason) = crate::admin::secrets::restore(&mut merged, &current.config) {
            let mut violations = Violations::default();
            violations.add(&["config".to_string()], reason);
            return violation(violations);
        }
        let applied = match crate::admin::export::active() {
            // Admin-only mode: another host runs the filter (see export.rs).
            Some(export) => crate::admin::export::apply(export, &current.config, &merged)
                .await
                .map(|()| store_config(gateway, index, &merged)),
            None => reconfigure(gateway, index, &merged).await,
        };
        if let Err(reason) = applied {
            let mut violations = Violations::default();
            violations.add(&["config".to_string()], reason);
            return violation(violations);
        }
    }
    if let Some(enabled) = changes.enabled {
        plugin
            .enabled
            .store(enabled, std::sync::atomic::Ordering::Relaxed);
    }
    {
        let mut state = plugin.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tags) = changes.tags {
            state.tags = tags;
        }
        state.updated_at = unix_now().max(state.updated_at);
    }
    (http::StatusCode::OK, plugin_json(gateway, plugin))
}

/// Stores a config another host applied (admin-only mode).
fn store_config(gateway: &Gateway, plugin: usize, config: &Value) {
    if let Some(runtime) = gateway.plugins.get(plugin) {
        runtime.set_config(config);
    }
}

/// Tries `config` in every worker; if all accept, stores it and makes it live, else rolls back
/// and returns the filter's reason.
async fn reconfigure(gateway: &Arc<Gateway>, plugin: usize, config: &Value) -> Result<(), String> {
    let workers = gateway.workers.get().ok_or("the workers are not running")?;
    let text = config_text(config);
    let mut replies = Vec::new();
    for worker in workers {
        let (reply, answer) = oneshot::channel();
        if worker
            .send(WorkerMessage::Prepare {
                plugin,
                config: text.clone(),
                reply,
            })
            .is_ok()
        {
            replies.push(answer);
        }
    }
    let mut refusal = None;
    if replies.len() != workers.len() {
        refusal = Some("a worker is not running".to_string());
    }
    for answer in replies {
        let outcome = answer
            .await
            .unwrap_or_else(|_| Err("a worker stopped".to_string()));
        if let Err(reason) = outcome {
            refusal.get_or_insert(reason);
        }
    }
    if refusal.is_none() {
        // Stored before commit, so an instance re-created after a trap gets the new config.
        if let Some(runtime) = gateway.plugins.get(plugin) {
            runtime.set_config(config);
        }
    }
    let mut done = Vec::new();
    for worker in workers {
        let (reply, answer) = oneshot::channel();
        let message = if refusal.is_none() {
            WorkerMessage::Commit { plugin, reply }
        } else {
            WorkerMessage::Abort { plugin, reply }
        };
        if worker.send(message).is_ok() {
            done.push(answer);
        }
    }
    for answer in done {
        let _ = answer.await;
    }
    match refusal {
        None => Ok(()),
        Some(reason) => Err(reason),
    }
}
