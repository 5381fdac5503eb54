//! Kong-style form bodies for the admin API (`http -f patch ... config.name=value`): dotted
//! keys build nested objects, a repeated key (or `key[]`, `key[1]`) builds an array, and
//! values, which are all strings on the wire, are coerced with the filter's config schema.

use serde_json::{Map, Value};

/// Schema violations collected while reading a request, rendered in Kong's error shape.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Violations {
    pub(crate) items: Vec<(Vec<String>, String)>,
}

impl Violations {
    pub(crate) fn add(&mut self, path: &[String], message: impl Into<String>) {
        self.items.push((path.to_vec(), message.into()));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `{"code":2,"name":"schema violation","message":"...","fields":{...}}`.
    pub(crate) fn to_kong_json(&self) -> Value {
        let mut fields = Map::new();
        for (path, message) in &self.items {
            insert_nested(&mut fields, path, Value::String(message.clone()));
        }
        let details: Vec<String> = self
            .items
            .iter()
            .map(|(p, m)| format!("{}: {m}", p.join(".")))
            .collect();
        let message = match details.len() {
            1 => format!("schema violation ({})", details.join("; ")),
            n => format!("{n} schema violations ({})", details.join("; ")),
        };
        serde_json::json!({
            "code": 2,
            "name": "schema violation",
            "message": message,
            "fields": Value::Object(fields),
        })
    }
}

fn insert_nested(map: &mut Map<String, Value>, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            map.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = map
                .entry(first.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(inner) = entry {
                insert_nested(inner, rest, value);
            }
        }
    }
}

/// One form key: the object path and whether it names an array element (`[]`, `[n]`).
fn parse_key(key: &str) -> (Vec<String>, bool) {
    let mut segments = Vec::new();
    let mut array = false;
    for segment in key.split('.') {
        let (name, marker) = match segment.find('[') {
            Some(at) if segment.ends_with(']') => (&segment[..at], true),
            _ => (segment, false),
        };
        segments.push(name.to_string());
        array = marker;
    }
    (segments, array)
}

/// Decodes a urlencoded body into nested JSON of strings (arrays for repeated keys, null for
/// an empty value), before any schema coercion.
pub(crate) fn decode(body: &[u8]) -> Result<Map<String, Value>, Violations> {
    let mut root = Map::new();
    let mut violations = Violations::default();
    for (key, value) in form_urlencoded::parse(body) {
        let (path, array) = parse_key(&key);
        if path.iter().any(String::is_empty) {
            violations.add(&path, format!("`{key}` is not a valid field name"));
            continue;
        }
        place(&mut root, &path, value.into_owned(), array, &mut violations);
    }
    if violations.is_empty() {
        Ok(root)
    } else {
        Err(violations)
    }
}

fn place(
    map: &mut Map<String, Value>,
    path: &[String],
    value: String,
    array: bool,
    violations: &mut Violations,
) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = map;
    for (depth, name) in parents.iter().enumerate() {
        let entry = current
            .entry(name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        match entry {
            Value::Object(inner) => current = inner,
            _ => {
                let field = path.get(..=depth).unwrap_or(path);
                violations.add(field, "is set both as a value and as a record");
                return;
            }
        }
    }
    let slot = current.entry(last.clone()).or_insert(Value::Null);
    let fresh = slot.is_null();
    match (slot, array) {
        (slot, true) if fresh => {
            *slot = Value::Array(if value.is_empty() {
                Vec::new()
            } else {
                vec![Value::String(value)]
            });
        }
        (slot, false) if fresh => {
            *slot = if value.is_empty() {
                Value::Null
            } else {
                Value::String(value)
            };
        }
        (Value::Array(items), _) => {
            if !value.is_empty() {
                items.push(Value::String(value));
            }
        }
        (slot @ Value::String(_), _) => {
            let first = slot.take();
            *slot = Value::Array(vec![first, Value::String(value)]);
        }
        _ => violations.add(path, "is set both as a record and as a value"),
    }
}

/// The JSON Schema type a value should have (`type`, first non-null entry of a type list,
/// else implied by `properties`/`items`).
fn schema_type(schema: &Value) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null"),
        _ if schema.get("properties").is_some() => Some("object"),
        _ if schema.get("items").is_some() => Some("array"),
        _ => None,
    }
}

/// Coerces form strings to the types the schema gives; values of other kinds pass through.
pub(crate) fn coerce(
    value: Value,
    schema: Option<&Value>,
    path: &mut Vec<String>,
    violations: &mut Violations,
) -> Value {
    let Some(schema) = schema else { return value };
    match (schema_type(schema), value) {
        (_, Value::Null) => Value::Null,
        (Some("boolean"), Value::String(text)) => match text.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => {
                violations.add(path, "expected a boolean");
                Value::String(text)
            }
        },
        (Some("integer"), Value::String(text)) => match text.trim().parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => {
                violations.add(path, "expected an integer");
                Value::String(text)
            }
        },
        (Some("number"), Value::String(text)) => match text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            Some(n) => Value::Number(n),
            None => {
                violations.add(path, "expected a number");
                Value::String(text)
            }
        },
        (Some("array"), Value::String(text)) => Value::Array(vec![coerce(
            Value::String(text),
            schema.get("items"),
            path,
            violations,
        )]),
        (Some("array"), Value::Array(items)) => Value::Array(
            items
                .into_iter()
                .map(|item| coerce(item, schema.get("items"), path, violations))
                .collect(),
        ),
        (Some("object"), Value::Object(map)) => {
            let properties = schema.get("properties");
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let coerced = map
                .into_iter()
                .map(|(key, item)| {
                    let field_schema = properties.and_then(|p| p.get(&key)).or(additional);
                    path.push(key.clone());
                    let item = coerce(item, field_schema, path, violations);
                    path.pop();
                    (key, item)
                })
                .collect();
            Value::Object(coerced)
        }
        (Some("object"), Value::String(_)) => {
            violations.add(path, "expected a record (set its fields with dotted keys)");
            Value::Null
        }
        (_, value) => value,
    }
}

/// Kong's PATCH semantics for records: nested objects merge field by field; anything else
/// (scalars, arrays, null) replaces.
pub(crate) fn merge(current: Value, patch: Value) -> Value {
    match (current, patch) {
        (Value::Object(mut base), Value::Object(changes)) => {
            for (key, change) in changes {
                let merged = match base.remove(&key) {
                    Some(old) => merge(old, change),
                    None => change,
                };
                base.insert(key, merged);
            }
            Value::Object(base)
        }
        (_, patch) => patch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn coerce_config(form: &str, schema: &Value) -> (Value, Violations) {
        let mut decoded = decode(form.as_bytes()).unwrap();
        let config = decoded.remove("config").unwrap_or(Value::Null);
        let mut violations = Violations::default();
        let value = coerce(
            config,
            Some(schema),
            &mut vec!["config".to_string()],
            &mut violations,
        );
        (value, violations)
    }

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "auth_methods": {"type": "array", "items": {"type": "string"}},
                "logout_methods": {"type": "array", "items": {"type": "string"}},
                "logout_revoke": {"type": "boolean"},
                "leeway": {"type": "integer"},
                "ratio": {"type": ["number", "null"]},
                "session": {"type": "object", "properties": {"secure": {"type": "boolean"}}}
            }
        })
    }

    #[test]
    fn the_seed_patch_decodes_with_types() {
        let form = "config.auth_methods=session&config.auth_methods=password&config.logout_uri_suffix=%2Flogout\
                    &config.logout_methods=POST&config.logout_revoke=true&config.leeway=5&config.ratio=0.5\
                    &config.session.secure=false";
        let (value, violations) = coerce_config(form, &schema());
        assert!(violations.is_empty(), "{violations:?}");
        assert_eq!(
            value,
            json!({
                "auth_methods": ["session", "password"],
                "logout_uri_suffix": "/logout",
                "logout_methods": ["POST"],
                "logout_revoke": true,
                "leeway": 5,
                "ratio": 0.5,
                "session": {"secure": false}
            })
        );
    }

    /// The seed's `http -f patch` against the OIDC filter's real Kong schema.
    #[test]
    fn the_seed_patch_against_the_openid_connect_schema() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../filter-config/openid_connect.meta.json"
        );
        let meta: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let form = "config.auth_methods=session&config.auth_methods=password&config.logout_uri_suffix=%2Flogout\
                    &config.logout_methods=POST&config.logout_revoke=true";
        let (value, violations) = coerce_config(form, &meta["config_schema"]);
        assert!(violations.is_empty(), "{violations:?}");
        assert_eq!(
            value,
            json!({
                "auth_methods": ["session", "password"],
                "logout_uri_suffix": "/logout",
                "logout_methods": ["POST"],
                "logout_revoke": true
            })
        );
    }

    #[test]
    fn without_a_schema_values_stay_strings() {
        let decoded = decode(b"config.a=1&config.b=x&config.b=y&config.c[]=z&config.d=").unwrap();
        assert_eq!(
            decoded["config"],
            json!({"a": "1", "b": ["x", "y"], "c": ["z"], "d": null})
        );
    }

    #[test]
    fn bad_values_are_schema_violations() {
        let (_, violations) =
            coerce_config("config.logout_revoke=yes&config.leeway=soon", &schema());
        let body = violations.to_kong_json();
        assert_eq!(body["code"], 2);
        assert_eq!(
            body["fields"]["config"]["logout_revoke"],
            "expected a boolean"
        );
        assert_eq!(body["fields"]["config"]["leeway"], "expected an integer");
        assert!(body["message"]
            .as_str()
            .unwrap()
            .starts_with("2 schema violations (config."));
    }

    #[test]
    fn conflicting_keys_are_reported() {
        assert!(decode(b"config.a=1&config.a.b=2").is_err());
        assert!(decode(b"config..a=1").is_err());
    }

    #[test]
    fn merge_is_deep_for_records_only() {
        let current = json!({"a": 1, "s": {"x": 1, "y": 2}, "list": [1, 2]});
        let patch = json!({"s": {"y": 3}, "list": [9], "b": null});
        assert_eq!(
            merge(current, patch),
            json!({"a": 1, "s": {"x": 1, "y": 3}, "list": [9], "b": null})
        );
    }
}
