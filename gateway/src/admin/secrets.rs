//! Secrets never leave the admin API: in every plugin config it answers, a secret field's value
//! is replaced by [`MARKER`] (Kong's Admin API returns them; the session secret alone forges
//! any session). A PATCH may leave secrets out, or send the marker back unchanged: either way
//! the stored secret stays.
//!
//! A field is secret when its name is `client_secret` or `session_secret`, ends in `secret` or
//! `password` (`redis.password`, `session_redis_password`, ...), or holds private keys
//! (`client_jwk`, `*private_key*`).

use serde_json::Value;

pub(crate) const MARKER: &str = "<redacted>";

pub(crate) fn is_secret_field(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.ends_with("secret")
        || name.ends_with("password")
        || name == "client_jwk"
        || name.contains("private_key")
}

/// A copy of `config` with every non-null secret value (each element of an array) replaced.
pub(crate) fn redact(config: &Value) -> Value {
    match config {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    let value = if is_secret_field(key) {
                        mask(value)
                    } else {
                        redact(value)
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

fn mask(value: &Value) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::Array(items) => Value::Array(items.iter().map(mask).collect()),
        _ => Value::String(MARKER.to_string()),
    }
}

/// Puts the stored secret back wherever `merged` (the config a PATCH produced) still holds the
/// marker. Returns the dotted path of a marker with no stored secret behind it.
pub(crate) fn restore(merged: &mut Value, current: &Value) -> Result<(), String> {
    restore_at(merged, Some(current), false, &mut Vec::new())
}

fn restore_at(
    value: &mut Value,
    current: Option<&Value>,
    in_secret: bool,
    path: &mut Vec<String>,
) -> Result<(), String> {
    match value {
        Value::String(text) if in_secret && text == MARKER => match current {
            Some(stored) if !stored.is_null() && !is_marker_free_array(stored) => {
                *value = stored.clone();
                Ok(())
            }
            _ => Err(format!(
                "{}: `{MARKER}` stands for the stored secret, and there is none",
                path.join(".")
            )),
        },
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                path.push(key.clone());
                let stored = current.and_then(|c| c.get(key));
                restore_at(child, stored, in_secret || is_secret_field(key), path)?;
                path.pop();
            }
            Ok(())
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                path.push(index.to_string());
                let stored = current.and_then(|c| c.get(index));
                restore_at(item, stored, in_secret, path)?;
                path.pop();
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// An array cannot stand in for one of its own elements.
fn is_marker_free_array(value: &Value) -> bool {
    value.is_array()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored() -> Value {
        json!({
            "client_id": ["app"],
            "client_secret": ["s3cret"],
            "session_secret": "0123456789abcdef",
            "redis": { "password": "r", "host": "h" },
            "session_redis_password": null,
            "issuer": "http://idp"
        })
    }

    #[test]
    fn answers_never_contain_a_secret() {
        let shown = redact(&stored());
        assert_eq!(shown["client_secret"], json!([MARKER]));
        assert_eq!(shown["session_secret"], MARKER);
        assert_eq!(shown["redis"]["password"], MARKER);
        assert_eq!(shown["redis"]["host"], "h");
        assert_eq!(shown["session_redis_password"], Value::Null);
        assert_eq!(shown["client_id"], json!(["app"]));
        let text = shown.to_string();
        assert!(!text.contains("s3cret") && !text.contains("0123456789abcdef"));
    }

    #[test]
    fn the_marker_sent_back_keeps_the_stored_secret() {
        let mut merged = redact(&stored());
        merged["issuer"] = json!("http://other");
        restore(&mut merged, &stored()).unwrap();
        assert_eq!(merged["client_secret"], json!(["s3cret"]));
        assert_eq!(merged["session_secret"], "0123456789abcdef");
        assert_eq!(merged["redis"]["password"], "r");
        assert_eq!(merged["issuer"], "http://other");
    }

    #[test]
    fn a_marker_without_a_stored_secret_is_refused() {
        let mut merged = json!({ "session_redis_password": MARKER });
        let error = restore(&mut merged, &stored()).unwrap_err();
        assert!(error.starts_with("session_redis_password:"), "{error}");
        // Outside a secret field the marker is just text.
        let mut merged = json!({ "issuer": MARKER });
        assert!(restore(&mut merged, &stored()).is_ok());
    }
}
