//! Whole-configuration tests: Kong's defaults, pasted Kong configs, every kind of error, and
//! that no input makes the parser panic.

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::kong_fields::{self, KongDefault, NOT_IMPLEMENTED};
use super::schema::implemented_field_names;
use super::*;

/// Kong 3.10's openid-connect config at its defaults, as the Admin API shows it, written from
/// the schema file independently of the Rust tables (see `kong_fields` for the source).
const KONG_DEFAULTS: &str = include_str!("testdata/kong-3.10-defaults.json");

/// The seed scenario's plugin config (shared/seeds/openid-connect-logout.md).
const SEED: &str = r#"{"issuer":"http://127.0.0.1:8080","client_id":["kong"],"client_secret":["secret"],
    "session_secret":"a-session-secret-of-some-length","auth_methods":["session","password"],
    "logout_uri_suffix":"/logout","logout_methods":["POST"],"logout_revoke":true}"#;

/// Fields we implement that Kong 3.10 does not have.
const NOT_IN_KONG_3_10: &[&str] = &[
    "dispatch_clusters",
    "jwks_endpoint",
    "logout_backchannel_uri_suffix",
    "session_idp_check_interval",
    "session_idp_check_failure",
    "session_idp_check_grace",
];

fn parse(value: Value) -> Result<Config, ConfigError> {
    Config::parse(value.to_string().as_bytes())
}

fn problems(value: Value) -> Vec<String> {
    match parse(value) {
        Ok(config) => panic!("accepted: {config:?}"),
        Err(error) => error.problems().iter().map(ToString::to_string).collect(),
    }
}

fn with_issuer(mut fields: Value) -> Value {
    fields["issuer"] = json!("https://idp.example.com/realms/demo");
    fields
}

fn kong_defaults() -> Value {
    serde_json::from_str(KONG_DEFAULTS).unwrap()
}

#[test]
fn seed_config_parses() {
    let config = Config::parse(SEED.as_bytes()).unwrap();
    assert_eq!(config.issuer, "http://127.0.0.1:8080");
    assert_eq!(config.client_id(), Some("kong"));
    assert_eq!(config.client_secret(), Some("secret"));
    assert_eq!(
        config.session_secret.as_deref(),
        Some("a-session-secret-of-some-length")
    );
    assert_eq!(
        config.auth_methods,
        [AuthMethod::Session, AuthMethod::Password]
    );
    assert!(config.enabled(AuthMethod::Session) && config.enabled(AuthMethod::Password));
    assert!(!config.enabled(AuthMethod::Bearer));
    assert_eq!(config.logout_uri_suffix.as_deref(), Some("/logout"));
    assert_eq!(config.logout_methods, [HttpMethod::Post]);
    assert!(
        config.logout_revoke
            && config.logout_revoke_access_token
            && config.logout_revoke_refresh_token
    );
}

#[test]
fn defaults_are_kongs() {
    let config = parse(json!({"issuer": "http://127.0.0.1:8080"})).unwrap();
    // Spot checks against the 3.10 schema file's defaults, written out literally.
    assert_eq!(config.auth_methods.len(), 9);
    assert_eq!(
        config.password_param_type,
        [ParamType::Body, ParamType::Header, ParamType::Query]
    );
    assert_eq!(config.scopes, ["openid"]);
    assert!(
        config.audience.is_empty() && config.client_id.is_empty() && config.client_auth.is_empty()
    );
    assert_eq!(config.session_cookie_name, "session");
    assert_eq!(config.session_cookie_path, "/");
    assert_eq!(config.session_cookie_domain, None);
    assert_eq!(config.session_cookie_same_site, SameSite::Lax);
    assert!(config.session_cookie_http_only);
    assert_eq!(config.session_cookie_secure, None);
    assert_eq!(config.session_rolling_timeout, 3600);
    assert_eq!(config.session_absolute_timeout, 86400);
    assert_eq!(config.session_idling_timeout, 900);
    assert_eq!(config.session_audience, "default");
    // Ours: the provider checks are off by default, as Kong never makes them.
    assert_eq!(config.session_idp_check_interval, None);
    assert_eq!(config.session_idp_check_failure, IdpCheckFailure::Grace);
    assert_eq!(config.session_idp_check_grace, 300);
    assert_eq!(
        config.session_secret, None,
        "Kong would generate one; the adapter decides"
    );
    assert_eq!(
        config.logout_methods,
        [HttpMethod::Delete, HttpMethod::Post]
    );
    assert!(!config.logout_revoke);
    assert!(config.logout_revoke_access_token && config.logout_revoke_refresh_token);
    assert_eq!(config.revocation_token_param_name, "token");
    assert_eq!(config.rediscovery_lifetime, 30);
    assert_eq!(config.timeout, 10000);
    assert!(config.refresh_tokens && !config.hide_credentials);
    assert_eq!(config.leeway, 0);
    assert!(config.verify_signature && config.verify_claims);
    assert_eq!(
        config.upstream_access_token_header.as_deref(),
        Some("authorization:bearer")
    );
    assert_eq!(config.upstream_id_token_header, None);
    assert_eq!(config.unauthorized_error_message, "Unauthorized");
    assert_eq!(config.forbidden_error_message, "Forbidden");
    assert!(!config.display_errors && config.expose_error_code);
    assert!(config.dispatch_clusters.is_empty());
}

/// Every implemented field's default, as JSON, equals the value Kong shows at its defaults
/// (Kong's null standing for our empty list).
#[test]
fn implemented_defaults_match_the_kong_schema() {
    let kong = kong_defaults();
    let config = parse(json!({"issuer": kong["issuer"]})).unwrap();
    let ours = serde_json::to_value(&config).unwrap();
    for name in implemented_field_names() {
        if NOT_IN_KONG_3_10.contains(&name.as_str()) {
            continue;
        }
        let kong_value = &kong[&name];
        let our_value = &ours[&name];
        let same = our_value == kong_value
            || (kong_value.is_null() && our_value.as_array().is_some_and(Vec::is_empty))
            || kong_fields::string_set(our_value)
                .is_some_and(|s| Some(s) == kong_fields::string_set(kong_value));
        assert!(same, "{name}: ours {our_value}, Kong's {kong_value}");
    }
}

#[test]
fn the_field_tables_cover_kong_3_10_exactly() {
    let kong: BTreeSet<String> = kong_defaults()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let implemented: BTreeSet<String> = implemented_field_names()
        .into_iter()
        .filter(|n| !NOT_IN_KONG_3_10.contains(&n.as_str()))
        .collect();
    let catalogued: BTreeSet<String> = NOT_IMPLEMENTED.iter().map(|f| f.name.to_string()).collect();
    assert!(
        implemented.is_disjoint(&catalogued),
        "both: {:?}",
        implemented.intersection(&catalogued)
    );
    let ours: BTreeSet<String> = implemented.union(&catalogued).cloned().collect();
    assert_eq!(
        ours.difference(&kong).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "not Kong 3.10 fields"
    );
    assert_eq!(
        kong.difference(&ours).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "Kong fields we do not know"
    );
}

#[test]
fn catalogued_defaults_match_the_kong_schema() {
    let kong = kong_defaults();
    for field in NOT_IMPLEMENTED {
        let kong_value = &kong[field.name];
        match (field.default, field.ty) {
            (KongDefault::Record, kong_fields::FieldType::Record(subfields)) => {
                for (name, value) in kong_value.as_object().unwrap() {
                    let sub = subfields.iter().find(|f| f.name == name).unwrap();
                    assert_eq!(
                        kong_fields::default_json(sub.default).as_ref(),
                        Some(value),
                        "{}.{name}",
                        field.name
                    );
                }
            }
            (default, _) => assert_eq!(
                kong_fields::default_json(default).as_ref(),
                Some(kong_value),
                "{}",
                field.name
            ),
        }
    }
}

#[test]
fn a_pasted_kong_config_at_its_defaults_parses_to_the_defaults() {
    let kong = kong_defaults();
    let pasted = parse(kong.clone()).unwrap();
    let minimal = parse(json!({"issuer": kong["issuer"]})).unwrap();
    assert_eq!(pasted, minimal);
    assert!(pasted.enabled(AuthMethod::Password) && pasted.enabled(AuthMethod::Session));
    assert!(!pasted.enabled(AuthMethod::KongOauth2));
}

#[test]
fn a_pasted_kong_config_with_the_seed_settings_parses() {
    let mut kong = kong_defaults();
    let seed: Value = serde_json::from_str(SEED).unwrap();
    for (name, value) in seed.as_object().unwrap() {
        kong[name] = value.clone();
    }
    let config = parse(kong).unwrap();
    assert_eq!(config, Config::parse(SEED.as_bytes()).unwrap());
}

#[test]
fn a_changed_unimplemented_field_is_refused_in_a_pasted_config() {
    let mut kong = kong_defaults();
    kong["ssl_verify"] = json!(true);
    kong["redis"]["port"] = json!(6380);
    kong["consumer_by"] = json!(["id"]);
    assert_eq!(
        problems(kong),
        [
            "consumer_by: not supported yet",
            "redis.port: not supported yet",
            "ssl_verify: not supported yet"
        ]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let found = problems(json!({
        "issuer": "idp.example.com",
        "session_cookie_same_site": "lax2",
        "logout_revoke": "yes",
        "timeout": 1.5,
        "sesion_secret": "typo",
        "anonymous": "guest",
    }));
    assert_eq!(
        found,
        [
            "anonymous: not supported yet",
            "issuer: expected an http or https URL, got \"idp.example.com\"",
            "logout_revoke: expected a boolean, got \"yes\"",
            "sesion_secret: unknown field",
            "session_cookie_same_site: expected one of Default, Lax, None, Strict, got \"lax2\"",
            "timeout: expected a whole number from 0 to 4294967295, got 1.5",
        ]
    );
}

#[test]
fn each_kind_of_error_names_its_field() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "config: not valid JSON"),
        (b"[\"issuer\"]".to_vec(), "config: expected a JSON object, got an array"),
        (br#"{"client_id":["kong"]}"#.to_vec(), "issuer: required"),
        (br#"{"issuer":null}"#.to_vec(), "issuer: required"),
        (with_issuer(json!({"scope": ["openid"]})).to_string().into_bytes(), "scope: unknown field"),
        (with_issuer(json!({"config": {}})).to_string().into_bytes(), "config: unknown field (give the plugin's"),
        (with_issuer(json!({"leeway": -1})).to_string().into_bytes(), "leeway: expected a whole number"),
        (with_issuer(json!({"scopes": [1]})).to_string().into_bytes(), "scopes: expected a string, got 1"),
        (with_issuer(json!({"session_cookie_name": ""})).to_string().into_bytes(), "session_cookie_name: must not be empty"),
        (with_issuer(json!({"session_cookie_name": "a b"})).to_string().into_bytes(), "session_cookie_name: a cookie name"),
        (with_issuer(json!({"session_cookie_path": "/;x"})).to_string().into_bytes(), "session_cookie_path: must not contain"),
        (with_issuer(json!({"logout_methods": ["PUT"]})).to_string().into_bytes(), "logout_methods: expected one of DELETE, GET, POST, got \"PUT\""),
        (with_issuer(json!({"password_param_type": ["cookie"]})).to_string().into_bytes(), "password_param_type: expected one of body, header, query, got \"cookie\""),
        (with_issuer(json!({"client_auth": "client_secret_magic"})).to_string().into_bytes(), "client_auth: expected one of client_secret_basic"),
        (with_issuer(json!({"auth_methods": ["kong_oauth2"]})).to_string().into_bytes(), "auth_methods: kong_oauth2 not supported: it validates tokens of Kong's oauth2 plugin, which does not exist outside Kong"),
        (with_issuer(json!({"client_id": ["a", "b"]})).to_string().into_bytes(), "client_id: 2 values given: more than one client (chosen by client_arg) is not supported yet"),
        (with_issuer(json!({"client_secret": ["a", "b"]})).to_string().into_bytes(), "client_secret: 2 values given"),
        (with_issuer(json!({"token_endpoint": "ftp://idp/token"})).to_string().into_bytes(), "token_endpoint: expected an http or https URL"),
        (with_issuer(json!({"end_session_endpoint": "https:///logout"})).to_string().into_bytes(), "end_session_endpoint: the URL has no host"),
        (with_issuer(json!({"logout_redirect_uri": ["/home"]})).to_string().into_bytes(), "logout_redirect_uri: expected an absolute URL"),
        (with_issuer(json!({"upstream_headers_names": ["x user"]})).to_string().into_bytes(), "upstream_headers_names: \"x user\" is not a header name"),
        (with_issuer(json!({"dispatch_clusters": {"idp:8080": 3}})).to_string().into_bytes(), "dispatch_clusters: expected a string for \"idp:8080\", got 3"),
        (with_issuer(json!({"client_secret": "{vault://env/oidc-secret}"})).to_string().into_bytes(), "client_secret: vault references are not supported"),
        (with_issuer(json!({"session_storage": "redis"})).to_string().into_bytes(), "session_storage: not supported yet"),
        (with_issuer(json!({"logout_backchannel_uri_suffix": "/"})).to_string().into_bytes(), "logout_backchannel_uri_suffix: must name a path below the root"),
        (with_issuer(json!({"session_idp_check_failure": "ignore"})).to_string().into_bytes(), "session_idp_check_failure: expected one of"),
        (with_issuer(json!({"session_idp_check_interval": -5})).to_string().into_bytes(), "session_idp_check_interval: expected a whole number"),
        (with_issuer(json!({"session_idp_check_grace": "5m"})).to_string().into_bytes(), "session_idp_check_grace: expected a whole number"),
        (with_issuer(json!({"dispatch_clusters": {"http://idp": "c"}})).to_string().into_bytes(), "dispatch_clusters: \"http://idp\" is not an authority"),
        (with_issuer(json!({"client_credentials_param_type": ["query", "cookie"]})).to_string().into_bytes(), "client_credentials_param_type: expected one of body, header, query, got \"cookie\""),
        (with_issuer(json!({"client_auth": [null]})).to_string().into_bytes(), "client_auth: expected one of client_secret_basic"),
        (json!({"issuer": null, "leeway": 5}).to_string().into_bytes(), "issuer: required"),
        (with_issuer(json!({"redis": {"hots": "x"}})).to_string().into_bytes(), "redis.hots: unknown field"),
        (with_issuer(json!({"session_cookie_samesite": 1})).to_string().into_bytes(), "session_cookie_samesite: expected a string, got 1"),
    ];
    for (input, expected) in cases {
        let error = Config::parse(&input).expect_err(expected);
        let shown = error.to_string();
        assert!(
            shown.starts_with(expected),
            "{}\n  gave: {shown}\n  want: {expected}",
            String::from_utf8_lossy(&input)
        );
    }
}

/// Parsing is derived from the declarations in `Config`: a field declared there is read (not
/// refused as unknown), with its type's rules, and nothing else needs writing for it.
#[test]
fn every_declared_field_is_read_with_its_type() {
    for name in implemented_field_names() {
        let mut config = with_issuer(json!({}));
        config[name.as_str()] = json!([[1]]);
        let error = parse(config).expect_err(&name);
        let problems: Vec<&FieldProblem> = error
            .problems()
            .iter()
            .filter(|p| p.field == name)
            .collect();
        assert!(
            matches!(
                problems.as_slice(),
                [FieldProblem {
                    problem: Problem::WrongType { .. } | Problem::NotOneOf { .. },
                    ..
                }]
            ),
            "{name}: {error}"
        );
    }
}

#[test]
fn secrets_are_not_repeated_in_messages() {
    let error = parse(with_issuer(
        json!({"client_secret": 98765, "session_secret": ["s3cr3t-value"]}),
    ))
    .unwrap_err();
    let shown = error.to_string();
    assert!(
        !shown.contains("98765") && !shown.contains("s3cr3t"),
        "{shown}"
    );
    assert!(error.mentions("client_secret") && error.mentions("session_secret"));
    let config = Config::parse(SEED.as_bytes()).unwrap();
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("\"secret\"") && !debug.contains("a-session-secret"),
        "{debug}"
    );
    assert!(debug.contains("<redacted>") && debug.contains("kong"));
}

#[test]
fn arrays_take_a_single_value_as_kong_forms_send_it() {
    let config = parse(with_issuer(json!({
        "client_id": "kong", "client_secret": "secret", "auth_methods": "session",
        "logout_methods": "POST", "scopes": "openid", "client_auth": "client_secret_post",
    })))
    .unwrap();
    assert_eq!(config.client_id(), Some("kong"));
    assert_eq!(config.auth_methods, [AuthMethod::Session]);
    assert_eq!(config.logout_methods, [HttpMethod::Post]);
    assert_eq!(config.client_auth, [ClientAuthMethod::ClientSecretPost]);
}

#[test]
fn null_means_the_default_except_where_it_is_the_only_way_to_say_none() {
    let config = parse(with_issuer(json!({
        "session_cookie_name": null, "scopes": null, "timeout": null, "auth_methods": null,
        "upstream_access_token_header": null,
    })))
    .unwrap();
    assert_eq!(config.session_cookie_name, "session");
    assert_eq!(config.scopes, ["openid"]);
    assert_eq!(config.timeout, 10000);
    assert_eq!(config.auth_methods.len(), 9);
    assert_eq!(config.upstream_access_token_header, None);
}

#[test]
fn numbers_may_be_written_with_a_fraction_of_zero() {
    let config = parse(with_issuer(
        json!({"session_idling_timeout": 0.0, "timeout": 2500.0}),
    ))
    .unwrap();
    assert_eq!(config.session_idling_timeout, 0);
    assert_eq!(config.timeout, 2500);
}

#[test]
fn enabled_methods_are_listed_and_implemented() {
    let defaults = parse(with_issuer(json!({}))).unwrap();
    let enabled: Vec<_> = AuthMethod::ALL
        .iter()
        .filter(|m| defaults.enabled(**m))
        .collect();
    let all_but_kong_oauth2: Vec<_> = AuthMethod::ALL
        .iter()
        .filter(|m| **m != AuthMethod::KongOauth2)
        .collect();
    assert_eq!(enabled, all_but_kong_oauth2);
    let session_only = parse(with_issuer(json!({"auth_methods": ["session"]}))).unwrap();
    assert!(
        session_only.enabled(AuthMethod::Session) && !session_only.enabled(AuthMethod::Password)
    );
    let written_out = parse(with_issuer(json!({"auth_methods": AuthMethod::ALL}))).unwrap();
    assert_eq!(
        written_out.auth_methods,
        AuthMethod::ALL,
        "Kong's default written out is the default"
    );
    let none = parse(with_issuer(json!({"auth_methods": []}))).unwrap();
    assert!(AuthMethod::ALL.iter().all(|m| !none.enabled(*m)));
}

#[test]
fn deprecated_kong_names_are_rewritten_as_kong_does() {
    let config = parse(with_issuer(json!({
        "session_cookie_lifetime": 7200, "session_cookie_idletime": 60, "session_cookie_samesite": "off",
        "session_cookie_httponly": false, "session_compressor": "zlib", "session_cookie_renew": 600,
        "session_redis_port": 6379, "session_memcache_host": "127.0.0.1", "authorization_cookie_samesite": "off",
    })))
    .unwrap();
    assert_eq!(config.session_rolling_timeout, 7200);
    assert_eq!(config.session_idling_timeout, 60);
    assert_eq!(config.session_cookie_same_site, SameSite::Lax);
    assert!(!config.session_cookie_http_only);

    let agreeing = parse(with_issuer(
        json!({"session_cookie_lifetime": 3600, "session_rolling_timeout": 3600.0}),
    ));
    assert_eq!(agreeing.unwrap().session_rolling_timeout, 3600);
    assert_eq!(
        problems(with_issuer(json!({"session_cookie_lifetime": 10, "session_rolling_timeout": 20}))),
        ["session_cookie_lifetime: deprecated name of session_rolling_timeout, which is given with another value"]
    );
    assert_eq!(
        problems(with_issuer(json!({"session_cookie_idletime": 1.5}))),
        ["session_cookie_idletime: expected a whole number from 0 to 4294967295, got 1.5"]
    );
    assert_eq!(
        problems(with_issuer(json!({"session_redis_host": "redis.internal"}))),
        ["session_redis_host: not supported yet"]
    );
    assert_eq!(config.authorization_cookie_same_site, SameSite::Default);
    let renamed = parse(with_issuer(
        json!({"authorization_cookie_lifetime": 60, "authorization_cookie_httponly": false}),
    ));
    let renamed = renamed.unwrap();
    assert_eq!(renamed.authorization_rolling_timeout, 60);
    assert!(!renamed.authorization_cookie_http_only);
}

#[test]
fn dispatch_targets_default_to_the_authority() {
    let config = parse(with_issuer(json!({
        "dispatch_clusters": {"idp:8080": "idp_cluster", "secure.example.com:443": "secure", "plain.example.com": "plain"}
    })))
    .unwrap();
    assert_eq!(config.dispatch_target("http", "idp:8080"), "idp_cluster");
    assert_eq!(config.dispatch_target("http", "other:8080"), "other:8080");
    assert_eq!(
        config.dispatch_target("https", "secure.example.com"),
        "secure"
    );
    assert_eq!(
        config.dispatch_target("http", "plain.example.com:80"),
        "plain"
    );
    assert_eq!(
        config.dispatch_target("https", "plain.example.com:443"),
        "plain",
        "443 is https's port"
    );
    assert_eq!(
        config.dispatch_target("http", "plain.example.com:8080"),
        "plain.example.com:8080"
    );
    assert_eq!(config.dispatch_target("http", "idp:9090"), "idp:9090");
    assert_eq!(config.dispatch_target("http", "[::1]"), "[::1]");
}

/// Values that could go into a config: the JSON kinds, and strings that mean something to it.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "http://127.0.0.1:8080",
            "https://idp/x",
            "session",
            "password",
            "bearer",
            "kong_oauth2",
            "POST",
            "Lax",
            "off",
            "cookie",
            "{vault://env/x}",
            "",
            "client_secret_basic",
            "authorization:bearer",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Field names the parser knows (implemented, catalogued, shorthands, nested) and a few it does not.
fn field_name() -> impl Strategy<Value = String> {
    let mut names = implemented_field_names();
    names.extend(NOT_IMPLEMENTED.iter().map(|f| f.name.to_string()));
    names.extend(kong_fields::SHORTHANDS.iter().map(|s| s.name.to_string()));
    names.extend(["config", "bogus", "redis"].map(String::from));
    prop::sample::select(names)
}

proptest! {
    #[test]
    fn parse_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = Config::parse(&bytes);
    }

    #[test]
    fn parse_never_panics_on_json(value in json_value()) {
        let _ = Config::parse(value.to_string().as_bytes());
    }

    #[test]
    fn parse_never_panics_on_configs_with_real_field_names(
        fields in prop::collection::btree_map(field_name(), json_value(), 0..12),
        with_issuer in any::<bool>(),
    ) {
        let mut object: serde_json::Map<String, Value> = fields.into_iter().collect();
        if with_issuer {
            object.insert("issuer".to_string(), json!("http://127.0.0.1:8080"));
        }
        match Config::parse(Value::Object(object).to_string().as_bytes()) {
            Ok(config) => prop_assert!(!config.issuer.is_empty()),
            Err(error) => prop_assert!(!error.problems().is_empty()),
        }
    }
}

/// A field with a value in the form a JSON config carries it (arrays as arrays, whole numbers
/// without a fraction), of the JSON type the schema gives the field: what Kong's Admin API
/// validates before it hands a config to the filter. Values are ones configs really hold.
fn canonical_field(schema: &Value) -> impl Strategy<Value = (String, Value)> {
    let pool = vec![
        Value::Null,
        json!(true),
        json!(false),
        json!(0),
        json!(5),
        json!(30),
        json!(600),
        json!(2000),
        json!(3600),
        json!(6379),
        json!(1.1),
        json!("session"),
        json!("Lax"),
        json!("off"),
        json!("cookie"),
        json!("query"),
        json!("token"),
        json!("127.0.0.1"),
        json!("application/json"),
        json!("client_secret_post"),
        json!("http://127.0.0.1:9000/x"),
        json!("/logout"),
        json!("x-user"),
        json!(["session", "password"]),
        json!(["POST"]),
        json!(["body", "header", "query"]),
        json!(["openid"]),
        json!(["code"]),
        json!(["kong"]),
        json!([]),
        json!({}),
        json!({"idp:8080": "idp"}),
        json!({"host": "127.0.0.1", "port": 6379}),
    ];
    let mut fields = Vec::new();
    let mut defaults = Vec::new();
    for (name, property) in schema["properties"].as_object().unwrap() {
        let types: Vec<&str> = match &property["type"] {
            Value::Array(types) => types.iter().filter_map(Value::as_str).collect(),
            Value::String(single) => vec![single.as_str()],
            _ => Vec::new(),
        };
        let fits = |value: &Value| match value {
            Value::Null => true,
            Value::Bool(_) => types.contains(&"boolean"),
            Value::Number(n) => {
                types.contains(&"number") || (types.contains(&"integer") && n.is_u64())
            }
            Value::String(_) => types.contains(&"string"),
            Value::Array(_) => types.contains(&"array"),
            Value::Object(_) => types.contains(&"object"),
        };
        for value in pool.iter().filter(|v| fits(v)) {
            fields.push((name.clone(), value.clone()));
        }
        defaults.push((
            name.clone(),
            property.get("default").cloned().unwrap_or(Value::Null),
        ));
    }
    // Configs are full of defaults: three picks in four are one.
    prop_oneof![3 => prop::sample::select(defaults), 1 => prop::sample::select(fields)]
}

proptest! {
    /// Kong's Admin API must never refuse a config the filter would run with.
    #[test]
    fn every_config_the_parser_accepts_passes_the_kong_schema(
        fields in prop::collection::vec(canonical_field(&super::schema::kong_config_schema()), 1..6),
    ) {
        let mut object: serde_json::Map<String, Value> = fields.into_iter().collect();
        object.insert("issuer".to_string(), json!("http://127.0.0.1:8080"));
        let config = Value::Object(object);
        if Config::parse(config.to_string().as_bytes()).is_ok() {
            let schema = super::schema::kong_config_schema();
            let validator = jsonschema::draft4::new(&schema).unwrap();
            let refusals: Vec<String> = validator.iter_errors(&config).map(|e| e.to_string()).collect();
            prop_assert!(refusals.is_empty(), "{config}: {refusals:?}");
        }
    }
}

#[test]
fn browser_login_fields_are_typed_and_checked() {
    let config = parse(with_issuer(json!({
        "redirect_uri": "https://app.example.com/callback", "response_mode": "form_post",
        "login_action": "redirect", "login_tokens": [], "login_redirect_mode": "query",
        "unauthorized_redirect_uri": ["https://app.example.com/denied"], "verify_nonce": false,
        "require_proof_key_for_code_exchange": true, "preserve_query_args": true,
    })))
    .unwrap();
    assert_eq!(
        config.redirect_uri(),
        Some("https://app.example.com/callback")
    );
    assert_eq!(config.response_mode, ResponseMode::FormPost);
    assert_eq!(config.login_action, LoginAction::Redirect);
    assert!(
        config.login_tokens.is_empty(),
        "an empty list means no tokens, not the default"
    );
    assert_eq!(config.login_redirect_mode, LoginRedirectMode::Query);
    assert_eq!(
        config.unauthorized_redirect_uri(),
        Some("https://app.example.com/denied")
    );
    assert!(!config.verify_nonce && config.preserve_query_args);
    assert_eq!(config.require_proof_key_for_code_exchange, Some(true));

    let defaults = parse(with_issuer(json!({"login_tokens": null}))).unwrap();
    assert_eq!(defaults.login_tokens, [LoginToken::IdToken]);
    assert_eq!(defaults.response_mode, ResponseMode::Query);
    assert_eq!(defaults.authorization_rolling_timeout, 600);

    assert_eq!(
        problems(with_issuer(json!({"response_mode": "fragment"}))),
        ["response_mode: fragment not supported yet: use query or form_post"]
    );
    assert_eq!(
        problems(with_issuer(json!({"authorization_cookie_name": "Session"}))),
        ["authorization_cookie_name: must differ from session_cookie_name"]
    );
    assert_eq!(
        problems(with_issuer(json!({"redirect_uri": ["/cb"]}))).len(),
        1
    );
    assert_eq!(
        problems(with_issuer(
            json!({"login_redirect_uri": ["https://a/", "https://b/"]})
        ))
        .len(),
        1
    );
}
