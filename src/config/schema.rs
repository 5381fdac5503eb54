//! The JSON Schema of the configuration, for Kong and for our gateway's Admin API.
//!
//! Kong loads `<filter>.meta.json` beside the `.wasm` (`{"config_schema": ...}`) and validates
//! JSON configs against it with a draft-4 validator (lua-resty-ljsonschema, after checking the
//! schema against the draft-4 meta-schema). Our gateway uses the same schema to coerce form
//! values (strings to booleans and numbers, one value to an array), so the types are exact.
//!
//! Generated, never written by hand: schemars describes [`Config`] (types, value sets, defaults,
//! descriptions from the doc comments); that draft-7 output is rewritten into draft 4; and every
//! other Kong field ([`kong_fields`]) is added with Kong's type and default, so that a pasted
//! Kong config passes while a misspelt field name does not. `filter-config/openid_connect.meta.json`
//! is this schema; a test fails when the committed file differs
//! (`UPDATE_SCHEMA=1 cargo test --lib config::schema` rewrites it).

use schemars::generate::SchemaSettings;
use schemars::{json_schema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::kong_fields::{
    self, FieldType, KongDefault, ShorthandTarget, NOT_IMPLEMENTED, SHORTHANDS,
};
use super::types::ParamType;
use super::value::MAX_WHOLE_NUMBER;
use super::Config;

const DRAFT_4: &str = "http://json-schema.org/draft-04/schema#";

/// The file Kong loads beside `openid_connect.wasm`: `{"config_schema": <kong_config_schema()>}`.
pub fn kong_filter_meta() -> Value {
    json!({ "config_schema": kong_config_schema() })
}

/// The JSON Schema (draft 4) of the filter's configuration object.
pub fn kong_config_schema() -> Value {
    let mut properties = implemented_properties();
    for field in NOT_IMPLEMENTED {
        properties.insert(field.name.to_string(), not_implemented_schema(field));
    }
    for shorthand in SHORTHANDS {
        let description = match shorthand.target {
            ShorthandTarget::Field { path, .. } => format!("Deprecated Kong name of {path}."),
            ShorthandTarget::Dropped => {
                "Deprecated Kong option without effect since Kong 3.2.".to_string()
            }
        };
        let mut schema = nullable(type_schema(shorthand.ty));
        insert(&mut schema, "description", Value::String(description));
        properties.insert(shorthand.name.to_string(), schema);
    }
    canonical(json!({
        "$schema": DRAFT_4,
        "title": "openid-connect filter configuration",
        "description": "The config of Kong's openid-connect plugin (3.4-3.10) as far as this filter implements it; \
                        Kong's other fields are accepted at their defaults. dispatch_clusters, logout_backchannel_uri_suffix and the session_idp_check_* fields are the filter's own.",
        "type": "object",
        "required": ["issuer"],
        "properties": properties,
        "additionalProperties": false,
    }))
}

/// The names of the fields [`Config`] implements.
#[cfg(test)]
pub(crate) fn implemented_field_names() -> Vec<String> {
    implemented_properties().keys().cloned().collect()
}

/// Schema of `password_param_type`: Kong allows every location but `cookie` there.
pub(crate) fn grant_locations(_: &mut SchemaGenerator) -> Schema {
    let locations: Vec<&str> = ParamType::GRANT_LOCATIONS
        .iter()
        .map(|l| l.as_str())
        .collect();
    json_schema!({ "type": "array", "items": { "type": "string", "enum": locations } })
}

/// The properties schemars derives from [`Config`], rewritten into draft 4 and made to say
/// exactly what [`Config::parse`] accepts: null for every optional field (it means the
/// default), non-empty strings, whole numbers up to [`MAX_WHOLE_NUMBER`].
fn implemented_properties() -> Map<String, Value> {
    let generator = SchemaSettings::draft07()
        .with(|settings| {
            settings.inline_subschemas = true;
            settings.meta_schema = None;
        })
        .into_generator();
    let mut root = generator.into_root_schema_for::<Config>().to_value();
    let required: Vec<Value> = root
        .get("required")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(Value::Object(properties)) = root.get_mut("properties").map(Value::take) else {
        return Map::new();
    };
    properties
        .into_iter()
        .map(|(name, mut schema)| {
            to_draft_4(&mut schema);
            if let Some(fields) = schema.as_object_mut() {
                // Kong shows no default (null) where ours is an empty value.
                if fields.get("default").is_some_and(is_empty_value) {
                    fields.remove("default");
                }
            }
            let is_required = required.iter().any(|r| r.as_str() == Some(name.as_str()));
            let schema = if is_required {
                schema
            } else {
                nullable(schema)
            };
            (name, schema)
        })
        .collect()
}

fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        _ => false,
    }
}

/// Rewrites a schemars (draft 7) schema into draft 4, recursively: `const` becomes a one-value
/// `enum`, `format` (schemars' `uint64` and the like) and `examples` go, an `anyOf` of a schema
/// and null (schemars' `Option`) becomes that schema with null allowed; strings get Kong's
/// minimum length, integers our maximum.
fn to_draft_4(schema: &mut Value) {
    let Some(fields) = schema.as_object_mut() else {
        return;
    };
    fields.remove("format");
    fields.remove("examples");
    if let Some(constant) = fields.remove("const") {
        fields.insert("enum".to_string(), Value::Array(vec![constant]));
    }
    for keyword in ["items", "additionalProperties", "not"] {
        if let Some(sub) = fields.get_mut(keyword) {
            to_draft_4(sub);
        }
    }
    if let Some(Value::Object(properties)) = fields.get_mut("properties") {
        properties.values_mut().for_each(to_draft_4);
    }
    for keyword in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(subs)) = fields.get_mut(keyword) {
            subs.iter_mut().for_each(to_draft_4);
        }
    }
    let null = json!({"type": "null"});
    let optional = match fields
        .get("anyOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        Some([some, none] | [none, some]) if *none == null && *some != null => Some(some.clone()),
        _ => None,
    };
    if let Some(Value::Object(merged)) = optional.map(nullable) {
        fields.remove("anyOf");
        fields.extend(merged);
    }
    if let Some(Value::String(text)) = fields.get_mut("description") {
        *text = unwrap_lines(text);
    }
    match non_null_type(fields.get("type")) {
        Some("string") if !fields.contains_key("enum") => {
            fields.insert("minLength".to_string(), json!(1));
        }
        Some("integer") => {
            fields.insert("minimum".to_string(), json!(0));
            fields.insert("maximum".to_string(), json!(MAX_WHOLE_NUMBER));
        }
        _ => {}
    }
}

/// The type a schema's `type` names besides null (`"string"`, `["string", "null"]`).
fn non_null_type(types: Option<&Value>) -> Option<&str> {
    match types? {
        Value::String(single) => Some(single.as_str()),
        Value::Array(several) => several
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null"),
        _ => None,
    }
}

/// A doc comment as one paragraph per blank-line-separated block (rustdoc wraps lines).
fn unwrap_lines(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| paragraph.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The same schema with null allowed as well.
fn nullable(mut schema: Value) -> Value {
    let Some(fields) = schema.as_object_mut() else {
        return schema;
    };
    match fields.get_mut("type") {
        Some(Value::String(single)) if single != "null" => {
            let single = std::mem::take(single);
            fields.insert("type".to_string(), json!([single, "null"]));
        }
        Some(Value::Array(types)) if !types.contains(&json!("null")) => types.push(json!("null")),
        _ => {}
    }
    if let Some(Value::Array(values)) = fields.get_mut("enum") {
        if !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
    }
    schema
}

/// A field the filter does not implement: Kong's type (null allowed) and default.
fn not_implemented_schema(field: &kong_fields::KongField) -> Value {
    let mut schema = nullable(type_schema(field.ty));
    if let Some(default) = kong_fields::default_json(field.default).filter(|d| !d.is_null()) {
        insert(&mut schema, "default", default);
    }
    if field.default != KongDefault::Record {
        let description =
            "Kong field not implemented by this filter: only null or Kong's default is accepted.";
        insert(
            &mut schema,
            "description",
            Value::String(description.to_string()),
        );
    }
    schema
}

/// Kong's type as a JSON Schema (without null).
fn type_schema(ty: FieldType) -> Value {
    match ty {
        FieldType::String => json!({ "type": "string" }),
        FieldType::Boolean => json!({ "type": "boolean" }),
        FieldType::Number => json!({ "type": "number" }),
        FieldType::Integer => json!({ "type": "integer" }),
        FieldType::OneOf(values) => json!({ "type": "string", "enum": values }),
        FieldType::ArrayOf(item) => json!({ "type": "array", "items": type_schema(*item) }),
        FieldType::Record(fields) => {
            let properties: Map<String, Value> = fields
                .iter()
                .map(|f| (f.name.to_string(), not_implemented_schema(f)))
                .collect();
            json!({ "type": "object", "properties": properties, "additionalProperties": false })
        }
        FieldType::Object => json!({ "type": "object" }),
    }
}

fn insert(schema: &mut Value, keyword: &str, value: Value) {
    if let Some(fields) = schema.as_object_mut() {
        fields.insert(keyword.to_string(), value);
    }
}

/// The same JSON with every object's keys in order, whatever map serde_json is built with.
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(fields) => {
            let mut sorted: Vec<(String, Value)> = fields.into_iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(sorted.into_iter().map(|(k, v)| (k, canonical(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const META_JSON: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/filter-config/openid_connect.meta.json"
    );

    fn generated_meta_json() -> String {
        serde_json::to_string_pretty(&kong_filter_meta()).unwrap() + "\n"
    }

    #[test]
    fn committed_meta_json_is_generated_from_the_types() {
        let generated = generated_meta_json();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(META_JSON, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(META_JSON).unwrap_or_default();
        assert!(
            committed == generated,
            "filter-config/openid_connect.meta.json differs from the schema the config types give: \
             run `UPDATE_SCHEMA=1 cargo test --lib config::schema` and commit the file"
        );
    }

    fn property(name: &str) -> Value {
        kong_config_schema()["properties"][name].clone()
    }

    #[test]
    fn implemented_fields_have_exact_types_value_sets_and_defaults() {
        assert_eq!(
            property("issuer"),
            json!({
                "type": "string", "minLength": 1,
                "description": property("issuer")["description"],
            })
        );
        let same_site = property("session_cookie_same_site");
        assert_eq!(same_site["type"], json!(["string", "null"]));
        assert_eq!(
            same_site["enum"],
            json!(["Default", "Lax", "None", "Strict", null])
        );
        assert_eq!(same_site["default"], json!("Lax"));
        let timeout = property("session_idling_timeout");
        assert_eq!(timeout["type"], json!(["integer", "null"]));
        assert_eq!(timeout["default"], json!(900));
        assert_eq!(timeout["maximum"], json!(4294967295u64));
        let methods = property("logout_methods");
        assert_eq!(methods["items"]["enum"], json!(["DELETE", "GET", "POST"]));
        assert_eq!(methods["default"], json!(["DELETE", "POST"]));
        assert_eq!(
            property("password_param_type")["items"]["enum"],
            json!(["body", "header", "query"])
        );
        let auth = property("token_endpoint_auth_method");
        assert_eq!(auth["type"], json!(["string", "null"]));
        assert!(auth["enum"].as_array().unwrap().contains(&Value::Null));
        assert_eq!(
            property("client_id").get("default"),
            None,
            "Kong has no default client"
        );
        assert_eq!(
            property("session_cookie_secure")["type"],
            json!(["boolean", "null"])
        );
        assert_eq!(property("session_secret")["minLength"], json!(1));
        assert!(!property("session_secret")["description"]
            .as_str()
            .unwrap()
            .contains('\n'));
        assert_eq!(
            property("dispatch_clusters")["additionalProperties"],
            json!({"type": "string", "minLength": 1})
        );
        assert_eq!(
            property("upstream_access_token_header")["default"],
            json!("authorization:bearer")
        );
    }

    #[test]
    fn other_kong_fields_are_listed_permissively() {
        let ssl_verify = property("ssl_verify");
        assert_eq!(ssl_verify["type"], json!(["boolean", "null"]));
        assert_eq!(ssl_verify["default"], json!(false));
        assert_eq!(
            property("session_storage")["enum"],
            json!(["cookie", "memcache", "memcached", "redis", null])
        );
        assert_eq!(
            property("redis")["properties"]["port"]["default"],
            json!(6379)
        );
        assert_eq!(
            property("session_cookie_lifetime")["type"],
            json!(["number", "null"])
        );
        let schema = kong_config_schema();
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(schema["required"], json!(["issuer"]));
        assert_eq!(schema["$schema"], json!(DRAFT_4));
    }

    /// Only draft-4 keywords, anywhere (Kong checks the schema against the draft-4 meta-schema).
    #[test]
    fn only_draft_4_keywords_are_used() {
        fn walk(schema: &Value, path: &str) {
            let allowed = [
                "$schema",
                "title",
                "description",
                "type",
                "enum",
                "default",
                "properties",
                "required",
                "additionalProperties",
                "items",
                "minLength",
                "minimum",
                "maximum",
            ];
            let fields = schema
                .as_object()
                .unwrap_or_else(|| panic!("{path} is not a schema object"));
            for (keyword, value) in fields {
                assert!(
                    allowed.contains(&keyword.as_str()),
                    "{path}: keyword {keyword}"
                );
                match keyword.as_str() {
                    "properties" => {
                        for (name, sub) in value.as_object().unwrap() {
                            walk(sub, &format!("{path}.{name}"));
                        }
                    }
                    "items" => walk(value, &format!("{path}[]")),
                    "additionalProperties" if value.is_object() => {
                        walk(value, &format!("{path}{{}}"))
                    }
                    "required" => assert!(
                        !value.as_array().unwrap().is_empty(),
                        "{path}: empty required"
                    ),
                    _ => {}
                }
            }
        }
        walk(&kong_config_schema(), "config");
    }

    const KONG_DEFAULTS: &str = include_str!("testdata/kong-3.10-defaults.json");

    fn validator() -> jsonschema::Validator {
        jsonschema::draft4::new(&kong_config_schema()).unwrap()
    }

    fn refusals(config: Value) -> Vec<String> {
        validator()
            .iter_errors(&config)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect()
    }

    #[test]
    fn the_schema_is_valid_draft_4() {
        if let Err(error) = jsonschema::draft4::meta::validate(&kong_config_schema()) {
            panic!("not a draft-4 schema: {error} at {}", error.instance_path());
        }
    }

    #[test]
    fn kong_configs_at_their_defaults_and_the_seed_config_validate() {
        let kong: Value = serde_json::from_str(KONG_DEFAULTS).unwrap();
        assert_eq!(refusals(kong), Vec::<String>::new());
        let seed = json!({
            "issuer": "http://127.0.0.1:8080", "client_id": ["kong"], "client_secret": ["secret"],
            "session_secret": "s", "auth_methods": ["session", "password"], "logout_uri_suffix": "/logout",
            "logout_methods": ["POST"], "logout_revoke": true, "dispatch_clusters": {"127.0.0.1:8080": "idp"},
            "session_cookie_lifetime": 3600, "session_cookie_name": null,
        });
        assert_eq!(refusals(seed), Vec::<String>::new());
    }

    #[test]
    fn misspelt_fields_and_wrong_types_are_refused() {
        for (config, why) in [
            (json!({}), "issuer is required"),
            (
                json!({"issuer": "http://idp", "sesion_secret": "x"}),
                "unknown field",
            ),
            (
                json!({"issuer": "http://idp", "logout_revoke": "true"}),
                "a string for a boolean",
            ),
            (
                json!({"issuer": "http://idp", "session_cookie_same_site": "lax"}),
                "outside the value set",
            ),
            (
                json!({"issuer": "http://idp", "timeout": -1}),
                "a negative duration",
            ),
            (
                json!({"issuer": "http://idp", "session_cookie_name": ""}),
                "an empty string",
            ),
            (
                json!({"issuer": "http://idp", "password_param_type": ["cookie"]}),
                "cookie for a password",
            ),
            (
                json!({"issuer": "http://idp", "redis": {"hots": "x"}}),
                "unknown record field",
            ),
            (
                json!({"issuer": "http://idp", "ssl_verify": "no"}),
                "wrong type of an unimplemented field",
            ),
        ] {
            assert!(!refusals(config).is_empty(), "accepted: {why}");
        }
    }
}
