//! The API-client fields (bearer, introspection, userinfo, grants, caching, required claims):
//! Kong's defaults, the values the flows rely on, and the checks that name a field.

use serde_json::{json, Value};

use super::*;

fn parse(extra: Value) -> Result<Config, ConfigError> {
    let mut config = json!({"issuer": "https://idp.example.com/realms/demo"});
    if let (Value::Object(base), Value::Object(extra)) = (&mut config, extra) {
        base.extend(extra);
    }
    Config::parse(config.to_string().as_bytes())
}

fn problems(extra: Value) -> Vec<String> {
    match parse(extra) {
        Ok(config) => panic!("accepted: {config:?}"),
        Err(error) => error.problems().iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn kong_defaults() {
    let config = parse(json!({})).unwrap();
    assert_eq!(
        config.bearer_token_param_type,
        [ParamType::Body, ParamType::Header, ParamType::Query]
    );
    assert_eq!(
        config.client_credentials_param_type,
        config.password_param_type
    );
    assert_eq!(config.refresh_token_param_name, None);
    assert_eq!(config.introspection_hint, "access_token");
    assert_eq!(config.introspection_token_param_name, "token");
    assert!(config.introspection_check_active && !config.introspect_jwt_tokens);
    assert!(config.cache_tokens && config.cache_introspection && config.cache_user_info);
    assert_eq!(config.cache_ttl, 3600);
    assert_eq!(
        (
            config.audience_claim,
            config.scopes_claim,
            config.groups_claim,
            config.roles_claim
        ),
        (
            vec!["aud".to_string()],
            vec!["scope".to_string()],
            vec!["groups".to_string()],
            vec!["roles".to_string()]
        )
    );
    assert!(config.scopes_required.is_empty() && !config.enable_hs_signatures);
    assert!(config.disable_session.is_empty());
}

#[test]
fn typed_values_are_read() {
    let config = parse(json!({
        "bearer_token_param_type": ["cookie", "header"],
        "bearer_token_cookie_name": "at",
        "refresh_token_param_name": "refresh-token",
        "refresh_token_param_type": "header",
        "scopes_required": ["read write", "admin"],
        "scopes_claim": ["realm_access", "scope"],
        "cache_ttl": 60.0,
        "disable_session": ["bearer"],
        "introspection_endpoint": "https://idp.example.com/introspect",
        "upstream_user_info_header": "x-userinfo",
    }))
    .unwrap();
    assert_eq!(
        config.bearer_token_param_type,
        [ParamType::Cookie, ParamType::Header]
    );
    assert_eq!(config.refresh_token_param_type, [ParamType::Header]);
    assert_eq!(config.scopes_required, ["read write", "admin"]);
    assert_eq!(config.cache_ttl, 60);
    assert_eq!(config.disable_session, [AuthMethod::Bearer]);
}

#[test]
fn checks_name_the_field() {
    assert_eq!(
        problems(json!({"bearer_token_param_type": ["cookie"]})),
        ["bearer_token_cookie_name: required when bearer_token_param_type lists cookie"]
    );
    assert_eq!(
        problems(json!({"client_credentials_param_type": ["cookie"]})),
        ["client_credentials_param_type: expected one of body, header, query, got \"cookie\""]
    );
    assert_eq!(
        problems(json!({"refresh_token_param_name": "a b"})),
        ["refresh_token_param_name: \"a b\" is not a header name"]
    );
    assert_eq!(
        problems(json!({"introspection_endpoint": "ftp://x"})),
        ["introspection_endpoint: expected an http or https URL, got \"ftp://x\""]
    );
    assert_eq!(
        problems(json!({"upstream_introspection_header": "x y"})),
        ["upstream_introspection_header: \"x y\" is not a header name"]
    );
    assert_eq!(
        problems(json!({"bearer_token_cookie_name": "a;b", "bearer_token_param_type": ["cookie"]})),
        ["bearer_token_cookie_name: a cookie name has only letters, digits and !#$%&'*+-.^_`|~"]
    );
}
