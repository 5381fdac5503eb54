//! The fields of Kong's openid-connect plugin (3.10) that this filter recognises but does not
//! implement, with Kong's types and defaults; and the deprecated shorthand names Kong still
//! accepts. Users paste the config Kong's Admin API shows, full of defaults: such a field is
//! accepted when absent, null or at Kong's default, and refused otherwise.
//!
//! Source: the schema files of Kong/developer.konghq.com,
//! `app/_schemas/gateway/plugins/3.9/OpenidConnect.json` (commit e20da1a5) and
//! `.../3.11/OpenidConnect.json` (commit 0963c02a). Our stored copy of that repository has no
//! 3.10 file; its two neighbours list the same config fields with the same types and defaults,
//! so 3.10 (between them) does too. The shorthands are the `shorthand_fields` of the 3.9 file;
//! where each one leads, and that `off` means `Lax`/`Default`, is from Kong's Lua plugin schema.
//! Transcribed once into this table. `testdata/kong-3.10-defaults.json` is the same schema
//! written out as Kong's Admin API shows a plugin at its defaults; tests hold the two together.
//!
//! The fields the filter implements are not listed here: their types and defaults are the
//! typed fields of [`Config`](super::Config).

use serde_json::Value;

use super::error::{FieldProblem, Problem};
use super::value::describe;

/// A Kong field's type, as Kong's schema declares it.
#[derive(Debug, Clone, Copy)]
pub enum FieldType {
    String,
    Boolean,
    /// Kong `number`: any JSON number.
    Number,
    /// Kong `integer`.
    Integer,
    /// A string from a closed set.
    OneOf(&'static [&'static str]),
    /// An array of values of one type (a single value stands for an array of one).
    ArrayOf(&'static FieldType),
    /// A nested record with its own fields.
    Record(&'static [KongField]),
    /// A free-form object (a JWK, a Redis node).
    Object,
}

/// A Kong field's default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KongDefault {
    /// No default: Kong shows `null`.
    Null,
    Bool(bool),
    Number(f64),
    Str(&'static str),
    /// A list of strings; compared as a set (the order of a pasted default does not matter).
    List(&'static [&'static str]),
    /// A record's default is the defaults of its fields.
    Record,
}

/// One Kong field this filter does not implement.
#[derive(Debug, Clone, Copy)]
pub struct KongField {
    pub name: &'static str,
    pub ty: FieldType,
    pub default: KongDefault,
}

/// A deprecated field name Kong still accepts and rewrites.
#[derive(Debug, Clone, Copy)]
pub struct Shorthand {
    pub name: &'static str,
    pub ty: FieldType,
    pub target: ShorthandTarget,
}

/// What Kong does with a shorthand's value.
#[derive(Debug, Clone, Copy)]
pub enum ShorthandTarget {
    /// Kong moves the value to this field (`record.field` for a nested one); a value `off`
    /// becomes `off_means` first, where given.
    Field {
        path: &'static str,
        off_means: Option<&'static str>,
    },
    /// Kong drops the value (the option no longer exists since lua-resty-session 4).
    Dropped,
}

const fn field(name: &'static str, ty: FieldType, default: KongDefault) -> KongField {
    KongField { name, ty, default }
}

const STRING: FieldType = FieldType::String;
const BOOLEAN: FieldType = FieldType::Boolean;
const NUMBER: FieldType = FieldType::Number;
const INTEGER: FieldType = FieldType::Integer;
const STRINGS: FieldType = FieldType::ArrayOf(&FieldType::String);
const OBJECTS: FieldType = FieldType::ArrayOf(&FieldType::Object);
const fn one_of(values: &'static [&'static str]) -> FieldType {
    FieldType::OneOf(values)
}
use KongDefault::{Bool, List, Null, Number, Str};

const AUTH_METHODS: &[&str] = &[
    "authorization_code",
    "bearer",
    "client_credentials",
    "introspection",
    "kong_oauth2",
    "password",
    "refresh_token",
    "session",
    "userinfo",
];
const CLIENT_AUTH_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_jwt",
    "client_secret_post",
    "none",
    "private_key_jwt",
    "self_signed_tls_client_auth",
    "tls_client_auth",
];
const GRANT_LOCATIONS: &[&str] = &["body", "header", "query"];
const CLIENT_ALGORITHMS: &[&str] = &[
    "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512", "PS256", "PS384", "PS512",
    "RS256", "RS384", "RS512",
];
const CONSUMER_FIELDS: &[&str] = &["custom_id", "id", "username"];
const SIGNATURE_SKIPPABLE: &[&str] = &[
    "authorization_code",
    "client_credentials",
    "introspection",
    "password",
    "refresh_token",
    "session",
    "userinfo",
];
const SESSION_HEADERS: &[&str] = &[
    "absolute-timeout",
    "audience",
    "id",
    "idling-timeout",
    "rolling-timeout",
    "subject",
    "timeout",
];
const TOKEN_HEADER_GRANTS: &[&str] = &[
    "authorization_code",
    "client_credentials",
    "password",
    "refresh_token",
];
const PROOF_OF_POSSESSION: &[&str] = &["off", "optional", "strict"];
const GRANT_LOCATIONS_DEFAULT: KongDefault = List(GRANT_LOCATIONS);

/// Arrays of values from a closed set.
const AUTH_METHOD_LIST: FieldType = FieldType::ArrayOf(&FieldType::OneOf(AUTH_METHODS));
const GRANT_LOCATION_LIST: FieldType = FieldType::ArrayOf(&FieldType::OneOf(GRANT_LOCATIONS));
const CLIENT_ALGORITHM_LIST: FieldType = FieldType::ArrayOf(&FieldType::OneOf(CLIENT_ALGORITHMS));
const CONSUMER_FIELD_LIST: FieldType = FieldType::ArrayOf(&FieldType::OneOf(CONSUMER_FIELDS));
const SIGNATURE_SKIPPABLE_LIST: FieldType =
    FieldType::ArrayOf(&FieldType::OneOf(SIGNATURE_SKIPPABLE));
const SESSION_HEADER_LIST: FieldType = FieldType::ArrayOf(&FieldType::OneOf(SESSION_HEADERS));
const TOKEN_HEADER_GRANT_LIST: FieldType =
    FieldType::ArrayOf(&FieldType::OneOf(TOKEN_HEADER_GRANTS));

/// The fields of a Redis connection record, with Kong's defaults. The last three are the
/// record's own 3.9 shorthands (no default: Kong shows none).
macro_rules! redis_fields {
    ($($extra:expr),* $(,)?) => {
        &[
            field("cluster_max_redirections", INTEGER, Number(5.0)),
            field("cluster_nodes", OBJECTS, Null),
            field("connect_timeout", INTEGER, Number(2000.0)),
            field("connection_is_proxied", BOOLEAN, Bool(false)),
            field("database", INTEGER, Number(0.0)),
            field("host", STRING, Str("127.0.0.1")),
            field("keepalive_backlog", INTEGER, Null),
            field("keepalive_pool_size", INTEGER, Number(256.0)),
            field("password", STRING, Null),
            field("port", INTEGER, Number(6379.0)),
            field("read_timeout", INTEGER, Number(2000.0)),
            field("send_timeout", INTEGER, Number(2000.0)),
            field("sentinel_master", STRING, Null),
            field("sentinel_nodes", OBJECTS, Null),
            field("sentinel_password", STRING, Null),
            field("sentinel_role", one_of(&["any", "master", "slave"]), Null),
            field("sentinel_username", STRING, Null),
            field("server_name", STRING, Null),
            field("ssl", BOOLEAN, Bool(false)),
            field("ssl_verify", BOOLEAN, Bool(false)),
            field("username", STRING, Null),
            $($extra,)*
            field("cluster_addresses", STRINGS, Null),
            field("sentinel_addresses", STRINGS, Null),
            field("timeout", INTEGER, Null),
        ]
    };
}

const SESSION_REDIS: &[KongField] =
    redis_fields![field("prefix", STRING, Null), field("socket", STRING, Null)];
const CLUSTER_CACHE_REDIS: &[KongField] = redis_fields![];

/// Every Kong 3.10 field the filter does not implement, in name order.
pub static NOT_IMPLEMENTED: &[KongField] = &[
    field("anonymous", STRING, Null),
    field("authenticated_groups_claim", STRINGS, Null),
    field("authorization_query_args_client", STRINGS, Null),
    field("authorization_query_args_names", STRINGS, Null),
    field("authorization_query_args_values", STRINGS, Null),
    field("by_username_ignore_case", BOOLEAN, Bool(false)),
    field("cache_token_exchange", BOOLEAN, Bool(true)),
    field("cache_ttl_max", NUMBER, Null),
    field("cache_ttl_min", NUMBER, Null),
    field("cache_ttl_neg", NUMBER, Null),
    field("cache_ttl_resurrect", NUMBER, Null),
    field("claims_forbidden", STRINGS, Null),
    field("client_alg", CLIENT_ALGORITHM_LIST, Null),
    field("client_arg", STRING, Str("client_id")),
    field("client_jwk", OBJECTS, Null),
    field(
        "cluster_cache_redis",
        FieldType::Record(CLUSTER_CACHE_REDIS),
        KongDefault::Record,
    ),
    field(
        "cluster_cache_strategy",
        one_of(&["off", "redis"]),
        Str("off"),
    ),
    field(
        "consumer_by",
        CONSUMER_FIELD_LIST,
        List(&["custom_id", "username"]),
    ),
    field("consumer_claim", STRINGS, Null),
    field("consumer_optional", BOOLEAN, Bool(false)),
    field("credential_claim", STRINGS, List(&["sub"])),
    field("discovery_headers_names", STRINGS, Null),
    field("discovery_headers_values", STRINGS, Null),
    field("domains", STRINGS, Null),
    field("downstream_access_token_header", STRING, Null),
    field("downstream_access_token_jwk_header", STRING, Null),
    field("downstream_headers_claims", STRINGS, Null),
    field("downstream_headers_names", STRINGS, Null),
    field("downstream_id_token_header", STRING, Null),
    field("downstream_id_token_jwk_header", STRING, Null),
    field("downstream_introspection_header", STRING, Null),
    field("downstream_introspection_jwt_header", STRING, Null),
    field("downstream_refresh_token_header", STRING, Null),
    field("downstream_session_id_header", STRING, Null),
    field("downstream_user_info_header", STRING, Null),
    field("downstream_user_info_jwt_header", STRING, Null),
    field("dpop_proof_lifetime", NUMBER, Number(300.0)),
    field("dpop_use_nonce", BOOLEAN, Bool(false)),
    field("extra_jwks_uris", STRINGS, Null),
    field("forbidden_destroy_session", BOOLEAN, Bool(true)),
    field("forbidden_redirect_uri", STRINGS, Null),
    field("http_proxy", STRING, Null),
    field("http_proxy_authorization", STRING, Null),
    field("http_version", NUMBER, Number(1.1)),
    field("https_proxy", STRING, Null),
    field("https_proxy_authorization", STRING, Null),
    field("id_token_param_name", STRING, Null),
    field(
        "id_token_param_type",
        GRANT_LOCATION_LIST,
        GRANT_LOCATIONS_DEFAULT,
    ),
    field("ignore_signature", SIGNATURE_SKIPPABLE_LIST, List(&[])),
    field(
        "introspection_accept",
        one_of(&[
            "application/json",
            "application/jwt",
            "application/token-introspection+jwt",
        ]),
        Str("application/json"),
    ),
    field("introspection_headers_client", STRINGS, Null),
    field("introspection_headers_names", STRINGS, Null),
    field("introspection_headers_values", STRINGS, Null),
    field("introspection_post_args_client", STRINGS, Null),
    field("introspection_post_args_client_headers", STRINGS, Null),
    field("introspection_post_args_names", STRINGS, Null),
    field("introspection_post_args_values", STRINGS, Null),
    field("jwt_session_claim", STRING, Str("sid")),
    field("jwt_session_cookie", STRING, Null),
    field("keepalive", BOOLEAN, Bool(true)),
    field(
        "login_methods",
        AUTH_METHOD_LIST,
        List(&["authorization_code"]),
    ),
    field("max_age", NUMBER, Null),
    field("mtls_introspection_endpoint", STRING, Null),
    field("mtls_revocation_endpoint", STRING, Null),
    field("mtls_token_endpoint", STRING, Null),
    field("no_proxy", STRING, Null),
    field(
        "proof_of_possession_auth_methods_validation",
        BOOLEAN,
        Bool(true),
    ),
    field(
        "proof_of_possession_dpop",
        one_of(PROOF_OF_POSSESSION),
        Str("off"),
    ),
    field(
        "proof_of_possession_mtls",
        one_of(PROOF_OF_POSSESSION),
        Str("off"),
    ),
    field("pushed_authorization_request_endpoint", STRING, Null),
    field(
        "pushed_authorization_request_endpoint_auth_method",
        one_of(CLIENT_AUTH_METHODS),
        Null,
    ),
    field(
        "redis",
        FieldType::Record(SESSION_REDIS),
        KongDefault::Record,
    ),
    field("require_pushed_authorization_requests", BOOLEAN, Null),
    field("require_signed_request_object", BOOLEAN, Null),
    field("resolve_distributed_claims", BOOLEAN, Bool(false)),
    field("response_type", STRINGS, List(&["code"])),
    field("reverify", BOOLEAN, Bool(false)),
    field("run_on_preflight", BOOLEAN, Bool(true)),
    field("search_user_info", BOOLEAN, Bool(false)),
    field("session_enforce_same_subject", BOOLEAN, Bool(false)),
    field("session_hash_storage_key", BOOLEAN, Bool(false)),
    field("session_hash_subject", BOOLEAN, Bool(false)),
    field("session_memcached_host", STRING, Str("127.0.0.1")),
    field("session_memcached_port", INTEGER, Number(11211.0)),
    field("session_memcached_prefix", STRING, Null),
    field("session_memcached_socket", STRING, Null),
    field("session_remember", BOOLEAN, Bool(false)),
    field(
        "session_remember_absolute_timeout",
        NUMBER,
        Number(2592000.0),
    ),
    field("session_remember_cookie_name", STRING, Str("remember")),
    field("session_remember_rolling_timeout", NUMBER, Number(604800.0)),
    field("session_request_headers", SESSION_HEADER_LIST, Null),
    field("session_response_headers", SESSION_HEADER_LIST, Null),
    field(
        "session_storage",
        one_of(&["cookie", "memcache", "memcached", "redis"]),
        Str("cookie"),
    ),
    field("session_store_metadata", BOOLEAN, Bool(false)),
    field("ssl_verify", BOOLEAN, Bool(false)),
    field("tls_client_auth_cert_id", STRING, Null),
    field("tls_client_auth_ssl_verify", BOOLEAN, Bool(true)),
    field("token_exchange_endpoint", STRING, Null),
    field("token_headers_client", STRINGS, Null),
    field("token_headers_grants", TOKEN_HEADER_GRANT_LIST, Null),
    field("token_headers_names", STRINGS, Null),
    field("token_headers_prefix", STRING, Null),
    field("token_headers_replay", STRINGS, Null),
    field("token_headers_values", STRINGS, Null),
    field("token_post_args_client", STRINGS, Null),
    field("token_post_args_names", STRINGS, Null),
    field("token_post_args_values", STRINGS, Null),
    field("unauthorized_destroy_session", BOOLEAN, Bool(true)),
    field("unexpected_redirect_uri", STRINGS, Null),
    field("upstream_access_token_jwk_header", STRING, Null),
    field("upstream_id_token_jwk_header", STRING, Null),
    field("upstream_introspection_jwt_header", STRING, Null),
    field("upstream_refresh_token_header", STRING, Null),
    field("upstream_session_id_header", STRING, Null),
    field("upstream_user_info_jwt_header", STRING, Null),
    field(
        "userinfo_accept",
        one_of(&["application/json", "application/jwt"]),
        Str("application/json"),
    ),
    field("userinfo_headers_client", STRINGS, Null),
    field("userinfo_headers_names", STRINGS, Null),
    field("userinfo_headers_values", STRINGS, Null),
    field("userinfo_query_args_client", STRINGS, Null),
    field("userinfo_query_args_names", STRINGS, Null),
    field("userinfo_query_args_values", STRINGS, Null),
    field("using_pseudo_issuer", BOOLEAN, Bool(false)),
    field("verify_parameters", BOOLEAN, Bool(false)),
];

const fn renamed(name: &'static str, ty: FieldType, path: &'static str) -> Shorthand {
    Shorthand {
        name,
        ty,
        target: ShorthandTarget::Field {
            path,
            off_means: None,
        },
    }
}

const fn dropped(name: &'static str, ty: FieldType) -> Shorthand {
    Shorthand {
        name,
        ty,
        target: ShorthandTarget::Dropped,
    }
}

/// Kong's deprecated names for config fields (renamed when Kong 3.2 moved to
/// lua-resty-session 4, and when 3.8 grouped the Redis options), in name order.
pub static SHORTHANDS: &[Shorthand] = &[
    renamed(
        "authorization_cookie_httponly",
        BOOLEAN,
        "authorization_cookie_http_only",
    ),
    renamed(
        "authorization_cookie_lifetime",
        NUMBER,
        "authorization_rolling_timeout",
    ),
    Shorthand {
        name: "authorization_cookie_samesite",
        ty: STRING,
        target: ShorthandTarget::Field {
            path: "authorization_cookie_same_site",
            off_means: Some("Default"),
        },
    },
    dropped("session_compressor", STRING),
    renamed(
        "session_cookie_httponly",
        BOOLEAN,
        "session_cookie_http_only",
    ),
    renamed("session_cookie_idletime", NUMBER, "session_idling_timeout"),
    renamed("session_cookie_lifetime", NUMBER, "session_rolling_timeout"),
    dropped("session_cookie_maxsize", INTEGER),
    dropped("session_cookie_renew", NUMBER),
    Shorthand {
        name: "session_cookie_samesite",
        ty: STRING,
        target: ShorthandTarget::Field {
            path: "session_cookie_same_site",
            off_means: Some("Lax"),
        },
    },
    renamed("session_memcache_host", STRING, "session_memcached_host"),
    renamed("session_memcache_port", INTEGER, "session_memcached_port"),
    renamed(
        "session_memcache_prefix",
        STRING,
        "session_memcached_prefix",
    ),
    renamed(
        "session_memcache_socket",
        STRING,
        "session_memcached_socket",
    ),
    renamed(
        "session_redis_cluster_max_redirections",
        INTEGER,
        "redis.cluster_max_redirections",
    ),
    renamed(
        "session_redis_cluster_nodes",
        OBJECTS,
        "redis.cluster_nodes",
    ),
    renamed(
        "session_redis_connect_timeout",
        INTEGER,
        "redis.connect_timeout",
    ),
    renamed("session_redis_host", STRING, "redis.host"),
    renamed("session_redis_password", STRING, "redis.password"),
    renamed("session_redis_port", INTEGER, "redis.port"),
    renamed("session_redis_prefix", STRING, "redis.prefix"),
    renamed("session_redis_read_timeout", INTEGER, "redis.read_timeout"),
    renamed("session_redis_send_timeout", INTEGER, "redis.send_timeout"),
    renamed("session_redis_server_name", STRING, "redis.server_name"),
    renamed("session_redis_socket", STRING, "redis.socket"),
    renamed("session_redis_ssl", BOOLEAN, "redis.ssl"),
    renamed("session_redis_ssl_verify", BOOLEAN, "redis.ssl_verify"),
    renamed("session_redis_username", STRING, "redis.username"),
    dropped("session_strategy", STRING),
];

/// The not-implemented field called `name`.
pub fn not_implemented(name: &str) -> Option<&'static KongField> {
    NOT_IMPLEMENTED.iter().find(|f| f.name == name)
}

/// The shorthand called `name`.
pub fn shorthand(name: &str) -> Option<&'static Shorthand> {
    SHORTHANDS.iter().find(|s| s.name == name)
}

/// The not-implemented field at `path` (`name` or `record.name`).
pub fn not_implemented_at(path: &str) -> Option<&'static KongField> {
    match path.split_once('.') {
        None => not_implemented(path),
        Some((record, name)) => match not_implemented(record)?.ty {
            FieldType::Record(fields) => fields.iter().find(|f| f.name == name),
            _ => None,
        },
    }
}

/// Checks a value given for a field the filter does not implement. `path` names the field in
/// messages. Null or Kong's default is accepted; otherwise a problem is added: a wrong type or
/// value (as Kong would refuse it) or, for a value Kong accepts, "not supported yet".
pub(crate) fn check(
    field: &KongField,
    value: &Value,
    path: &str,
    problems: &mut Vec<FieldProblem>,
) {
    if value.is_null() {
        return;
    }
    if let FieldType::Record(fields) = field.ty {
        check_record(fields, value, path, problems);
        return;
    }
    if let Err(problem) = fits(field.ty, value) {
        problems.push(FieldProblem::new(path, problem));
    } else if !is_default(field.default, value) {
        problems.push(FieldProblem::new(path, Problem::not_supported_yet()));
    }
}

fn check_record(fields: &[KongField], value: &Value, path: &str, problems: &mut Vec<FieldProblem>) {
    let Value::Object(entries) = value else {
        let got = describe(value);
        problems.push(FieldProblem::new(
            path,
            Problem::WrongType {
                expected: "an object".to_string(),
                got,
            },
        ));
        return;
    };
    for (name, value) in entries {
        let nested = format!("{path}.{name}");
        match fields.iter().find(|f| f.name == name) {
            Some(field) => check(field, value, &nested, problems),
            None => problems.push(FieldProblem::new(
                nested,
                Problem::UnknownField { hint: "" },
            )),
        }
    }
}

/// Whether `value` has the type Kong's schema gives the field (null aside).
pub(crate) fn fits(ty: FieldType, value: &Value) -> Result<(), Problem> {
    let wrong = |expected: &str| Problem::WrongType {
        expected: expected.to_string(),
        got: describe(value),
    };
    match ty {
        FieldType::String if value.is_string() => Ok(()),
        FieldType::String => Err(wrong("a string")),
        FieldType::Boolean if value.is_boolean() => Ok(()),
        FieldType::Boolean => Err(wrong("a boolean")),
        FieldType::Number if value.is_number() => Ok(()),
        FieldType::Number => Err(wrong("a number")),
        FieldType::Integer if value.as_f64().is_some_and(|n| n.fract() == 0.0) => Ok(()),
        FieldType::Integer => Err(wrong("a whole number")),
        FieldType::OneOf(allowed) if value.as_str().is_some_and(|s| allowed.contains(&s)) => Ok(()),
        FieldType::OneOf(allowed) => Err(Problem::NotOneOf {
            allowed: allowed.to_vec(),
            got: describe(value),
        }),
        FieldType::ArrayOf(item) => match value {
            Value::Array(items) => items.iter().try_for_each(|v| fits(*item, v)),
            single => fits(*item, single),
        },
        FieldType::Record(_) | FieldType::Object if value.is_object() => Ok(()),
        FieldType::Record(_) | FieldType::Object => Err(wrong("an object")),
    }
}

/// Whether a value of the right type equals Kong's default. An empty array equals a null
/// default: it asks for nothing either.
fn is_default(default: KongDefault, value: &Value) -> bool {
    match default {
        KongDefault::Null => value.as_array().is_some_and(Vec::is_empty),
        KongDefault::Bool(b) => value.as_bool() == Some(b),
        KongDefault::Number(n) => value.as_f64() == Some(n),
        KongDefault::Str(s) => value.as_str() == Some(s),
        KongDefault::List(items) => {
            string_set(value).is_some_and(|given| given == sorted_set(items.iter().copied()))
        }
        KongDefault::Record => false,
    }
}

/// The strings of an array (or of a single string) as a sorted set; `None` if any is not a string.
pub(crate) fn string_set(value: &Value) -> Option<Vec<&str>> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<_>>>()
            .map(sorted_set),
        Value::String(s) => Some(vec![s.as_str()]),
        _ => None,
    }
}

fn sorted_set<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut set: Vec<&str> = items.into_iter().collect();
    set.sort_unstable();
    set.dedup();
    set
}

/// A default as the JSON Kong shows; `None` for a record (its fields carry the defaults).
pub fn default_json(default: KongDefault) -> Option<Value> {
    match default {
        KongDefault::Null => Some(Value::Null),
        KongDefault::Bool(b) => Some(Value::Bool(b)),
        KongDefault::Number(n) => Some(number_json(n)),
        KongDefault::Str(s) => Some(Value::String(s.to_string())),
        KongDefault::List(items) => Some(Value::Array(
            items.iter().map(|s| Value::String(s.to_string())).collect(),
        )),
        KongDefault::Record => None,
    }
}

/// A number as Kong writes it: integral values without a fraction.
fn number_json(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems_for(name: &str, value: Value) -> Vec<String> {
        let field = not_implemented(name).unwrap();
        let mut problems = Vec::new();
        check(field, &value, name, &mut problems);
        problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn tables_are_in_name_order_without_duplicates() {
        for pair in NOT_IMPLEMENTED.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} / {}",
                pair[0].name,
                pair[1].name
            );
        }
        for pair in SHORTHANDS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} / {}",
                pair[0].name,
                pair[1].name
            );
        }
    }

    #[test]
    fn null_or_default_is_accepted() {
        assert!(problems_for("ssl_verify", json!(false)).is_empty());
        assert!(problems_for("ssl_verify", Value::Null).is_empty());
        assert!(problems_for("http_version", json!(1.1)).is_empty());
        assert!(problems_for("dpop_proof_lifetime", json!(300.0)).is_empty());
        assert!(
            problems_for("consumer_by", json!(["username", "custom_id"])).is_empty(),
            "a set, any order"
        );
        assert!(
            problems_for("response_type", json!("code")).is_empty(),
            "a single value for a list"
        );
        assert!(
            problems_for("extra_jwks_uris", json!([])).is_empty(),
            "empty list for a null default"
        );
        assert!(problems_for("ignore_signature", json!([])).is_empty());
    }

    #[test]
    fn other_values_are_not_supported_yet() {
        assert_eq!(
            problems_for("ssl_verify", json!(true)),
            ["ssl_verify: not supported yet"]
        );
        assert_eq!(
            problems_for("anonymous", json!("guest")),
            ["anonymous: not supported yet"]
        );
        assert_eq!(
            problems_for("consumer_by", json!(["id"])),
            ["consumer_by: not supported yet"]
        );
        assert_eq!(
            problems_for("extra_jwks_uris", json!(["https://x"])),
            ["extra_jwks_uris: not supported yet"]
        );
    }

    #[test]
    fn values_kong_refuses_are_named_as_such() {
        assert_eq!(
            problems_for("ssl_verify", json!("yes")),
            ["ssl_verify: expected a boolean, got \"yes\""]
        );
        assert_eq!(
            problems_for("session_storage", json!("disk")),
            ["session_storage: expected one of cookie, memcache, memcached, redis, got \"disk\""]
        );
        assert_eq!(
            problems_for("session_memcached_port", json!(1.5)),
            ["session_memcached_port: expected a whole number, got 1.5"]
        );
    }

    #[test]
    fn records_are_checked_field_by_field() {
        let at_defaults =
            json!({"host": "127.0.0.1", "port": 6379, "password": null, "ssl": false});
        assert!(problems_for("redis", at_defaults).is_empty());
        assert_eq!(
            problems_for("redis", json!({"host": "redis.internal", "bogus": 1})),
            [
                "redis.bogus: unknown field",
                "redis.host: not supported yet"
            ]
        );
        assert_eq!(
            problems_for("redis", json!("redis://x")),
            ["redis: expected an object, got \"redis://x\""]
        );
    }

    #[test]
    fn shorthand_targets_exist() {
        for shorthand in SHORTHANDS {
            if let ShorthandTarget::Field { path, .. } = shorthand.target {
                let implemented =
                    super::super::schema::implemented_field_names().contains(&path.to_string());
                assert!(
                    implemented || not_implemented_at(path).is_some(),
                    "{} leads to {path}, which is no field",
                    shorthand.name
                );
            }
        }
    }

    #[test]
    fn defaults_render_as_kong_shows_them() {
        assert_eq!(default_json(Number(600.0)), Some(json!(600)));
        assert_eq!(default_json(Number(1.1)), Some(json!(1.1)));
        assert_eq!(default_json(List(&["aud"])), Some(json!(["aud"])));
        assert_eq!(default_json(KongDefault::Record), None);
    }
}
