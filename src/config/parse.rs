//! From JSON bytes to a checked [`Config`]: every field read, every problem collected.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::error::{ConfigError, FieldProblem, Problem};
use super::kong_fields::{self, ShorthandTarget, SHORTHANDS};
use super::types::{AuthMethod, ParamType};
use super::value::{describe, describe_kind, FromKong};
use super::{defaults, Config};

/// Fields whose values must not appear in messages (they end up in logs).
const SECRET_FIELDS: &[&str] = &["client_id", "client_secret", "session_secret"];

pub(super) fn parse(json: &[u8]) -> Result<Config, ConfigError> {
    let document: Value = serde_json::from_slice(json).map_err(|e| {
        ConfigError::new(vec![FieldProblem::new(
            "config",
            Problem::NotJson(e.to_string()),
        )])
    })?;
    let Value::Object(fields) = document else {
        let problem = Problem::WrongType {
            expected: "a JSON object".to_string(),
            got: describe(&document),
        };
        return Err(ConfigError::new(vec![FieldProblem::new("config", problem)]));
    };
    let mut reader = Reader::new(fields);
    reader.apply_shorthands();
    let config = read_config(&mut reader);
    reader.check_remaining_fields();
    let Reader {
        given,
        mut problems,
        ..
    } = reader;
    check_config(&config, &given, &mut problems);
    if problems.is_empty() {
        Ok(config)
    } else {
        problems.sort_by(|a, b| a.field.cmp(&b.field));
        Err(ConfigError::new(problems))
    }
}

/// Reads one implemented field: `read!(reader, name)` takes Kong's null default (the type's
/// empty value), `read!(reader, name = default)` the default in `defaults`.
macro_rules! read {
    ($reader:ident, $name:ident) => {
        $reader.take(stringify!($name), Default::default)
    };
    ($reader:ident, $name:ident = default) => {
        $reader.take(stringify!($name), defaults::$name)
    };
}

fn read_config(r: &mut Reader) -> Config {
    Config {
        issuer: r.required("issuer"),
        rediscovery_lifetime: read!(r, rediscovery_lifetime = default),
        timeout: read!(r, timeout = default),
        token_endpoint: read!(r, token_endpoint),
        revocation_endpoint: read!(r, revocation_endpoint),
        end_session_endpoint: read!(r, end_session_endpoint),
        jwks_endpoint: read!(r, jwks_endpoint),
        dispatch_clusters: read!(r, dispatch_clusters),
        client_id: read!(r, client_id),
        client_secret: read!(r, client_secret),
        client_auth: read!(r, client_auth),
        token_endpoint_auth_method: read!(r, token_endpoint_auth_method),
        revocation_endpoint_auth_method: read!(r, revocation_endpoint_auth_method),
        introspection_endpoint_auth_method: read!(r, introspection_endpoint_auth_method),
        auth_methods: read!(r, auth_methods = default),
        password_param_type: r.take_grant_locations("password_param_type"),
        scopes: read!(r, scopes = default),
        audience: read!(r, audience),
        refresh_tokens: read!(r, refresh_tokens = default),
        hide_credentials: read!(r, hide_credentials),
        session_secret: read!(r, session_secret),
        session_cookie_name: read!(r, session_cookie_name = default),
        session_cookie_path: read!(r, session_cookie_path = default),
        session_cookie_domain: read!(r, session_cookie_domain),
        session_cookie_same_site: read!(r, session_cookie_same_site = default),
        session_cookie_http_only: read!(r, session_cookie_http_only = default),
        session_cookie_secure: read!(r, session_cookie_secure),
        session_rolling_timeout: read!(r, session_rolling_timeout = default),
        session_absolute_timeout: read!(r, session_absolute_timeout = default),
        session_idling_timeout: read!(r, session_idling_timeout = default),
        session_audience: read!(r, session_audience = default),
        session_idp_check_interval: read!(r, session_idp_check_interval),
        session_idp_check_failure: read!(r, session_idp_check_failure = default),
        session_idp_check_grace: read!(r, session_idp_check_grace = default),
        logout_uri_suffix: read!(r, logout_uri_suffix),
        logout_backchannel_uri_suffix: read!(r, logout_backchannel_uri_suffix),
        logout_methods: read!(r, logout_methods = default),
        logout_query_arg: read!(r, logout_query_arg),
        logout_post_arg: read!(r, logout_post_arg),
        logout_revoke: read!(r, logout_revoke),
        logout_revoke_access_token: read!(r, logout_revoke_access_token = default),
        logout_revoke_refresh_token: read!(r, logout_revoke_refresh_token = default),
        logout_redirect_uri: read!(r, logout_redirect_uri),
        revocation_token_param_name: read!(r, revocation_token_param_name = default),
        authorization_endpoint: read!(r, authorization_endpoint),
        redirect_uri: read!(r, redirect_uri),
        response_mode: read!(r, response_mode = default),
        require_proof_key_for_code_exchange: read!(r, require_proof_key_for_code_exchange),
        verify_nonce: read!(r, verify_nonce = default),
        login_action: read!(r, login_action = default),
        // An empty list is Kong's "no tokens" (absent or null: the default).
        login_tokens: read!(r, login_tokens = default),
        login_redirect_mode: read!(r, login_redirect_mode = default),
        login_redirect_uri: read!(r, login_redirect_uri),
        preserve_query_args: read!(r, preserve_query_args),
        authorization_cookie_name: read!(r, authorization_cookie_name = default),
        authorization_cookie_path: read!(r, authorization_cookie_path = default),
        authorization_cookie_domain: read!(r, authorization_cookie_domain),
        authorization_cookie_same_site: read!(r, authorization_cookie_same_site = default),
        authorization_cookie_http_only: read!(r, authorization_cookie_http_only = default),
        authorization_cookie_secure: read!(r, authorization_cookie_secure),
        authorization_rolling_timeout: read!(r, authorization_rolling_timeout = default),
        leeway: read!(r, leeway),
        verify_signature: read!(r, verify_signature = default),
        verify_claims: read!(r, verify_claims = default),
        issuers_allowed: read!(r, issuers_allowed),
        audience_required: read!(r, audience_required),
        audience_claim: read!(r, audience_claim = default),
        scopes_required: read!(r, scopes_required),
        scopes_claim: read!(r, scopes_claim = default),
        groups_required: read!(r, groups_required),
        groups_claim: read!(r, groups_claim = default),
        roles_required: read!(r, roles_required),
        roles_claim: read!(r, roles_claim = default),
        enable_hs_signatures: read!(r, enable_hs_signatures),
        bearer_token_param_type: read!(r, bearer_token_param_type = default),
        bearer_token_cookie_name: read!(r, bearer_token_cookie_name),
        client_credentials_param_type: r.take_grant_locations("client_credentials_param_type"),
        refresh_token_param_name: read!(r, refresh_token_param_name),
        refresh_token_param_type: r.take_grant_locations("refresh_token_param_type"),
        introspection_endpoint: read!(r, introspection_endpoint),
        introspection_hint: read!(r, introspection_hint = default),
        introspection_check_active: read!(r, introspection_check_active = default),
        introspect_jwt_tokens: read!(r, introspect_jwt_tokens),
        introspection_token_param_name: read!(r, introspection_token_param_name = default),
        userinfo_endpoint: read!(r, userinfo_endpoint),
        disable_session: read!(r, disable_session),
        cache_tokens: read!(r, cache_tokens = default),
        cache_tokens_salt: read!(r, cache_tokens_salt),
        token_cache_key_include_scope: read!(r, token_cache_key_include_scope),
        cache_introspection: read!(r, cache_introspection = default),
        cache_user_info: read!(r, cache_user_info = default),
        cache_ttl: read!(r, cache_ttl = default),
        // Null is the only way to say "send no access token header" (strings cannot be empty).
        upstream_access_token_header: r.take_nullable(
            "upstream_access_token_header",
            defaults::upstream_access_token_header,
        ),
        upstream_id_token_header: read!(r, upstream_id_token_header),
        upstream_headers_claims: read!(r, upstream_headers_claims),
        upstream_headers_names: read!(r, upstream_headers_names),
        upstream_introspection_header: read!(r, upstream_introspection_header),
        upstream_user_info_header: read!(r, upstream_user_info_header),
        unauthorized_error_message: read!(r, unauthorized_error_message = default),
        unauthorized_redirect_uri: read!(r, unauthorized_redirect_uri),
        forbidden_error_message: read!(r, forbidden_error_message = default),
        display_errors: read!(r, display_errors),
        expose_error_code: read!(r, expose_error_code = default),
    }
}

/// Takes fields out of the document one by one, collecting problems; what is left at the end
/// is checked against Kong's other fields.
struct Reader {
    fields: Map<String, Value>,
    /// Implemented fields given with a non-null value.
    given: BTreeSet<&'static str>,
    /// Fields whose value came from a deprecated shorthand: messages name the shorthand.
    renamed_from: BTreeMap<String, &'static str>,
    problems: Vec<FieldProblem>,
}

impl Reader {
    fn new(fields: Map<String, Value>) -> Reader {
        Reader {
            fields,
            given: BTreeSet::new(),
            renamed_from: BTreeMap::new(),
            problems: Vec::new(),
        }
    }

    /// The field's value, or `default()` when it is absent, null or wrong (then with a problem).
    fn take<T: FromKong>(&mut self, name: &'static str, default: impl FnOnce() -> T) -> T {
        match self.fields.remove(name) {
            None | Some(Value::Null) => default(),
            Some(value) => self.convert(name, &value).unwrap_or_else(default),
        }
    }

    /// As [`take`](Self::take), but an explicit null means "none" rather than "the default".
    fn take_nullable<T: FromKong>(
        &mut self,
        name: &'static str,
        default: impl FnOnce() -> Option<T>,
    ) -> Option<T> {
        match self.fields.remove(name) {
            None => default(),
            Some(Value::Null) => None,
            Some(value) => self.convert(name, &value).unwrap_or_else(default),
        }
    }

    fn required(&mut self, name: &'static str) -> String {
        match self.fields.remove(name) {
            None | Some(Value::Null) => {
                self.problems
                    .push(FieldProblem::new(name, Problem::Required));
                String::new()
            }
            Some(value) => self.convert(name, &value).unwrap_or_default(),
        }
    }

    /// Username/password-style locations: Kong's `body`, `header`, `query` (no `cookie`).
    fn take_grant_locations(&mut self, name: &'static str) -> Vec<ParamType> {
        let locations: Vec<ParamType> = self.take(name, defaults::password_param_type);
        if locations
            .iter()
            .any(|l| !ParamType::GRANT_LOCATIONS.contains(l))
        {
            // Only `cookie` can be outside the grant locations.
            let got = describe(&Value::from(ParamType::Cookie.as_str()));
            let allowed = ParamType::GRANT_LOCATIONS
                .iter()
                .map(|l| l.as_str())
                .collect();
            self.problems.push(FieldProblem::new(
                self.display_name(name),
                Problem::NotOneOf { allowed, got },
            ));
            return defaults::password_param_type();
        }
        locations
    }

    fn convert<T: FromKong>(&mut self, name: &'static str, value: &Value) -> Option<T> {
        match T::from_json(value) {
            Ok(converted) => {
                self.given.insert(name);
                Some(converted)
            }
            Err(problem) => {
                let problem = if SECRET_FIELDS.contains(&name) {
                    hide_value(problem, value)
                } else {
                    problem
                };
                self.problems
                    .push(FieldProblem::new(self.display_name(name), problem));
                None
            }
        }
    }

    /// The name the user wrote for a field: its deprecated shorthand, if that is what they used.
    fn display_name(&self, name: &str) -> String {
        match self.renamed_from.get(name) {
            Some(shorthand) => (*shorthand).to_string(),
            None => name.to_string(),
        }
    }

    /// Rewrites Kong's deprecated field names to the fields they stand for, as Kong does.
    fn apply_shorthands(&mut self) {
        for shorthand in SHORTHANDS {
            let Some(value) = self.fields.remove(shorthand.name) else {
                continue;
            };
            if value.is_null() {
                continue;
            }
            if let Err(problem) = kong_fields::fits(shorthand.ty, &value) {
                self.problems
                    .push(FieldProblem::new(shorthand.name, problem));
                continue;
            }
            let ShorthandTarget::Field { path, off_means } = shorthand.target else {
                // Options lua-resty-session 4 no longer has: Kong logs and drops them.
                continue;
            };
            let value = match (off_means, value.as_str()) {
                (Some(meaning), Some("off")) => Value::String(meaning.to_string()),
                _ => value,
            };
            if path.contains('.') {
                // Into a record this filter does not implement: only Kong's default passes.
                if let Some(field) = kong_fields::not_implemented_at(path) {
                    kong_fields::check(field, &value, shorthand.name, &mut self.problems);
                }
                continue;
            }
            match self.fields.get(path) {
                None | Some(Value::Null) => {
                    self.fields.insert(path.to_string(), value);
                    self.renamed_from.insert(path.to_string(), shorthand.name);
                }
                Some(current) if same_json(current, &value) => {}
                Some(_) => self.problems.push(FieldProblem::new(
                    shorthand.name,
                    Problem::Invalid(format!(
                        "deprecated name of {path}, which is given with another value"
                    )),
                )),
            }
        }
    }

    /// Every field left is one of Kong's not-implemented fields (accepted at its default) or unknown.
    fn check_remaining_fields(&mut self) {
        let remaining = std::mem::take(&mut self.fields);
        for (name, value) in &remaining {
            let shown = self.display_name(name);
            match kong_fields::not_implemented(name) {
                Some(field) => kong_fields::check(field, value, &shown, &mut self.problems),
                None => {
                    let hint = if name == "config" {
                        " (give the plugin's config object itself, not the whole plugin)"
                    } else {
                        ""
                    };
                    self.problems
                        .push(FieldProblem::new(shown, Problem::UnknownField { hint }));
                }
            }
        }
    }
}

/// A problem with the offending value replaced by its JSON kind.
fn hide_value(problem: Problem, value: &Value) -> Problem {
    match problem {
        Problem::WrongType { expected, .. } => Problem::WrongType {
            expected,
            got: describe_kind(value),
        },
        Problem::NotOneOf { allowed, .. } => Problem::NotOneOf {
            allowed,
            got: describe_kind(value),
        },
        other => other,
    }
}

/// JSON equality with numbers compared by value (`30` equals `30.0`).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Checks that need the whole, typed configuration.
fn check_config(config: &Config, given: &BTreeSet<&'static str>, problems: &mut Vec<FieldProblem>) {
    let mut problem =
        |field: &str, problem: Problem| problems.push(FieldProblem::new(field, problem));

    if !config.issuer.is_empty() {
        if let Err(why) = check_http_url(&config.issuer) {
            problem("issuer", Problem::Invalid(why));
        }
    }
    // An empty or bare "/" suffix would make every POST a back-channel logout request.
    if let Some(suffix) = config.logout_backchannel_uri_suffix.as_deref() {
        if suffix.trim_matches('/').is_empty() {
            problem(
                "logout_backchannel_uri_suffix",
                Problem::Invalid(
                    "must name a path below the root, e.g. /backchannel-logout".into(),
                ),
            );
        }
    }
    let endpoints = [
        ("token_endpoint", &config.token_endpoint),
        ("revocation_endpoint", &config.revocation_endpoint),
        ("end_session_endpoint", &config.end_session_endpoint),
        ("jwks_endpoint", &config.jwks_endpoint),
        ("introspection_endpoint", &config.introspection_endpoint),
        ("userinfo_endpoint", &config.userinfo_endpoint),
    ];
    for (field, url) in endpoints {
        if let Some(Err(why)) = url.as_deref().map(check_http_url) {
            problem(field, Problem::Invalid(why));
        }
    }
    if let Some(Err(why)) = config.authorization_endpoint.as_deref().map(check_http_url) {
        problem("authorization_endpoint", Problem::Invalid(why));
    }
    let redirect_uris = [
        ("logout_redirect_uri", &config.logout_redirect_uri),
        ("redirect_uri", &config.redirect_uri),
        ("login_redirect_uri", &config.login_redirect_uri),
        (
            "unauthorized_redirect_uri",
            &config.unauthorized_redirect_uri,
        ),
    ];
    for (field, uris) in redirect_uris {
        for uri in uris {
            if let Err(why) = check_absolute_url(uri) {
                problem(field, Problem::Invalid(why));
            }
        }
    }
    if !config.response_mode.is_supported() {
        let reason = format!(
            "{} not supported yet: use query or form_post",
            config.response_mode
        );
        problem("response_mode", Problem::NotSupported { reason });
    }

    // Kong's per-client arrays (picked per request by `client_arg`): one client only, for now.
    let per_client = [
        ("client_id", config.client_id.len()),
        ("client_secret", config.client_secret.len()),
        ("client_auth", config.client_auth.len()),
        ("logout_redirect_uri", config.logout_redirect_uri.len()),
        ("redirect_uri", config.redirect_uri.len()),
        ("login_redirect_uri", config.login_redirect_uri.len()),
        (
            "unauthorized_redirect_uri",
            config.unauthorized_redirect_uri.len(),
        ),
    ];
    for (field, count) in per_client {
        if count > 1 {
            let reason = format!("{count} values given: more than one client (chosen by client_arg) is not supported yet");
            problem(field, Problem::NotSupported { reason });
        }
    }

    // Kong's default (all nine) is accepted as such, also when written out: the flows skip what
    // is not implemented. A list of the user's own must not ask for what we cannot do.
    if given.contains("auth_methods") && !is_all_auth_methods(&config.auth_methods) {
        let asked: BTreeSet<AuthMethod> = config.auth_methods.iter().copied().collect();
        for method in asked {
            if let Some(reason) = method.refusal() {
                problem(
                    "auth_methods",
                    Problem::NotSupported {
                        reason: format!("{method} {reason}"),
                    },
                );
            }
        }
    }

    if let Err(why) = check_cookie_name(&config.session_cookie_name) {
        problem("session_cookie_name", Problem::Invalid(why));
    }
    if let Some(Err(why)) = config
        .bearer_token_cookie_name
        .as_deref()
        .map(check_cookie_name)
    {
        problem("bearer_token_cookie_name", Problem::Invalid(why));
    }
    if config.bearer_token_param_type.contains(&ParamType::Cookie)
        && config.bearer_token_cookie_name.is_none()
    {
        // Kong silently finds nothing there; say so instead.
        problem(
            "bearer_token_cookie_name",
            Problem::Invalid("required when bearer_token_param_type lists cookie".to_string()),
        );
    }
    // The refresh token may come in a header of this name.
    if let Some(Err(why)) = config
        .refresh_token_param_name
        .as_deref()
        .map(check_header_name)
    {
        problem("refresh_token_param_name", Problem::Invalid(why));
    }
    if let Err(why) = check_cookie_name(&config.authorization_cookie_name) {
        problem("authorization_cookie_name", Problem::Invalid(why));
    }
    if config
        .authorization_cookie_name
        .eq_ignore_ascii_case(&config.session_cookie_name)
    {
        // One cookie cannot hold both: each would overwrite the other mid-login.
        problem(
            "authorization_cookie_name",
            Problem::Invalid("must differ from session_cookie_name".to_string()),
        );
    }
    let cookie_attributes = [
        ("session_cookie_path", Some(&config.session_cookie_path)),
        (
            "session_cookie_domain",
            config.session_cookie_domain.as_ref(),
        ),
        (
            "authorization_cookie_path",
            Some(&config.authorization_cookie_path),
        ),
        (
            "authorization_cookie_domain",
            config.authorization_cookie_domain.as_ref(),
        ),
    ];
    for (field, value) in cookie_attributes {
        if let Some(Err(why)) = value.map(|v| check_cookie_attribute(v)) {
            problem(field, Problem::Invalid(why));
        }
    }

    let header_specs = [
        (
            "upstream_access_token_header",
            config.upstream_access_token_header.as_ref(),
        ),
        (
            "upstream_id_token_header",
            config.upstream_id_token_header.as_ref(),
        ),
        (
            "upstream_introspection_header",
            config.upstream_introspection_header.as_ref(),
        ),
        (
            "upstream_user_info_header",
            config.upstream_user_info_header.as_ref(),
        ),
    ];
    for (field, spec) in header_specs {
        if let Some(Err(why)) = spec.map(|s| check_header_spec(s)) {
            problem(field, Problem::Invalid(why));
        }
    }
    for name in &config.upstream_headers_names {
        if let Err(why) = check_header_name(name) {
            problem("upstream_headers_names", Problem::Invalid(why));
        }
    }
}

fn is_all_auth_methods(methods: &[AuthMethod]) -> bool {
    AuthMethod::ALL.iter().all(|m| methods.contains(m))
}

/// An absolute `http` or `https` URL with a host: where the filter can send requests.
fn check_http_url(url: &str) -> Result<(), String> {
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme)
        .unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(format!(
            "expected an http or https URL, got {}",
            describe(&Value::String(url.to_string()))
        ));
    }
    check_absolute_url(url)
}

/// An absolute URL (`scheme://host...`), as Kong's `url` type requires.
fn check_absolute_url(url: &str) -> Result<(), String> {
    let shown = || describe(&Value::String(url.to_string()));
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "a URL has no spaces or control characters, got {}",
            shown()
        ));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "expected an absolute URL (scheme://host/...), got {}",
            shown()
        ));
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        return Err(format!(
            "expected an absolute URL (scheme://host/...), got {}",
            shown()
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(format!(
            "user names or passwords in URLs are not supported, got {}",
            shown()
        ));
    }
    let (host, port) = super::split_authority(authority);
    if host.is_empty() {
        return Err(format!("the URL has no host: {}", shown()));
    }
    if let Some(port) = port {
        if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(format!(
                "the URL's port is not a port number (1-65535): {}",
                shown()
            ));
        }
    } else if authority.contains(':') && !authority.ends_with(']') {
        return Err(format!(
            "the URL's port is not a port number (1-65535): {}",
            shown()
        ));
    }
    Ok(())
}

/// RFC 6265 cookie names are HTTP tokens.
fn check_cookie_name(name: &str) -> Result<(), String> {
    if name.bytes().all(is_token_byte) {
        Ok(())
    } else {
        Err("a cookie name has only letters, digits and !#$%&'*+-.^_`|~".to_string())
    }
}

/// A cookie attribute value ends at `;` and cannot hold spaces or control characters.
fn check_cookie_attribute(value: &str) -> Result<(), String> {
    if value.bytes().all(|b| b.is_ascii_graphic() && b != b';') {
        Ok(())
    } else {
        Err("must not contain ';', spaces or control characters".to_string())
    }
}

/// A header name, optionally followed by `:scheme` (Kong's `authorization:bearer`).
fn check_header_spec(spec: &str) -> Result<(), String> {
    let name = spec.split_once(':').map_or(spec, |(name, _)| name);
    check_header_name(name)
}

fn check_header_name(name: &str) -> Result<(), String> {
    if !name.is_empty() && name.bytes().all(is_token_byte) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a header name",
            describe(&Value::String(name.to_string()))
        ))
    }
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls_need_scheme_host_and_a_real_port() {
        assert!(check_http_url("http://127.0.0.1:8080").is_ok());
        assert!(check_http_url(
            "https://idp.example.com/realms/x/.well-known/openid-configuration"
        )
        .is_ok());
        assert!(check_http_url("HTTPS://[::1]:8443/x").is_ok());
        assert!(check_http_url("https://[::1]/x").is_ok());
        for bad in [
            "ftp://idp",
            "idp.example.com",
            "http://",
            "http:///path",
            "http://:8080/",
            "http://idp:99999/",
            "http://idp:0/",
            "http://idp:/",
            "http://user:pw@idp/",
            "http://idp/a b",
        ] {
            assert!(check_http_url(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn redirect_uris_may_use_other_schemes() {
        assert!(check_absolute_url("myapp://logged-out").is_ok());
        assert!(check_absolute_url("/relative").is_err());
        assert!(check_absolute_url("1x://host").is_err());
    }

    #[test]
    fn cookie_and_header_names_are_tokens() {
        assert!(check_cookie_name("session").is_ok());
        assert!(check_cookie_name("a;b").is_err());
        assert!(check_cookie_attribute("/app").is_ok());
        assert!(check_cookie_attribute("/a; Secure").is_err());
        assert!(check_header_spec("authorization:bearer").is_ok());
        assert!(check_header_spec("x-id-token").is_ok());
        assert!(check_header_spec("x id").is_err());
        assert!(check_header_name("").is_err());
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(same_json(&serde_json::json!(30), &serde_json::json!(30.0)));
        assert!(!same_json(&serde_json::json!("30"), &serde_json::json!(30)));
    }
}
