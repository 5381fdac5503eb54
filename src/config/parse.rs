//! From JSON bytes to a checked [`Config`]: every field read, every problem collected.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::error::{ConfigError, FieldProblem, Problem};
use super::kong_fields::{self, ShorthandTarget, SHORTHANDS};
use super::types::ParamType;
use super::value::{describe, describe_kind, FromKong};
use super::{checks, defaults, Config};

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
    checks::check_config(&config, &given, &mut problems);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value() {
        assert!(same_json(&serde_json::json!(30), &serde_json::json!(30.0)));
        assert!(!same_json(&serde_json::json!("30"), &serde_json::json!(30)));
    }
}
