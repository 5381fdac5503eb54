//! Authorization requirements on a valid token: `scopes_required`, `audience_required`,
//! `groups_required` and `roles_required`, read from the introspection result, else from the
//! access token's claims, at the configured claim paths. A token that lacks them is refused
//! with 403 `insufficient_scope` (Kong's `forbidden`), not 401: it is valid, just not enough.
//!
//! Each requirement list works as Kong's: an entry is a space-separated set of values that must
//! all be present, and one satisfied entry is enough (`["read write", "admin"]` means
//! read AND write, OR admin).

use serde_json::{Map, Value};

use crate::config::Config;

/// One kind of requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    Scopes,
    Audience,
    Groups,
    Roles,
}

impl Requirement {
    /// Kong's order of checks.
    pub const ALL: [Requirement; 4] = [
        Requirement::Scopes,
        Requirement::Audience,
        Requirement::Groups,
        Requirement::Roles,
    ];

    fn name(self) -> &'static str {
        match self {
            Requirement::Scopes => "scopes",
            Requirement::Audience => "audience",
            Requirement::Groups => "groups",
            Requirement::Roles => "roles",
        }
    }

    fn of(self, config: &Config) -> (&[String], &[String]) {
        match self {
            Requirement::Scopes => (&config.scopes_required, &config.scopes_claim),
            Requirement::Audience => (&config.audience_required, &config.audience_claim),
            Requirement::Groups => (&config.groups_required, &config.groups_claim),
            Requirement::Roles => (&config.roles_required, &config.roles_claim),
        }
    }
}

/// What the checks can read.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClaimSources<'a> {
    /// The introspection result, when the token was introspected.
    pub introspection: Option<&'a Map<String, Value>>,
    /// The access token's claims, when it is a JWT.
    pub access_token: Option<&'a Map<String, Value>>,
}

/// The outcome of the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// The access token is opaque and was not introspected: introspect it, then check again
    /// (Kong does the same).
    NeedsIntrospection,
    /// Why the token is not enough.
    Denied(String),
}

/// Whether any requirement is configured.
pub fn any_configured(config: &Config) -> bool {
    Requirement::ALL.iter().any(|r| !r.of(config).0.is_empty())
}

/// Checks every configured requirement. `introspected` says whether an introspection was
/// already tried (whatever its result).
pub fn check(config: &Config, sources: ClaimSources<'_>, introspected: bool) -> Verdict {
    if !any_configured(config) {
        return Verdict::Allowed;
    }
    if !introspected && sources.access_token.is_none() {
        return Verdict::NeedsIntrospection;
    }
    for requirement in Requirement::ALL {
        let (required, claim_path) = requirement.of(config);
        if required.is_empty() {
            continue;
        }
        let name = requirement.name();
        let found = sources
            .introspection
            .and_then(|claims| values_at(claims, claim_path))
            .or_else(|| {
                sources
                    .access_token
                    .and_then(|claims| values_at(claims, claim_path))
            });
        let Some(values) = found else {
            return Verdict::Denied(format!("{name} required but no {name} found"));
        };
        let satisfied = required.iter().any(|entry| {
            let wanted: Vec<&str> = entry.split_whitespace().collect();
            !wanted.is_empty() && wanted.iter().all(|w| values.iter().any(|v| v == w))
        });
        if !satisfied {
            let shown: Vec<String> = values.iter().take(20).map(|v| clip(v)).collect();
            return Verdict::Denied(format!(
                "required {name} were not found [ {} ]",
                shown.join(", ")
            ));
        }
    }
    Verdict::Allowed
}

/// The values at a claim path (names of nested objects): a space-separated string, or an array
/// of strings (numbers and booleans as text). `None` when the path leads nowhere.
pub fn values_at(claims: &Map<String, Value>, path: &[String]) -> Option<Vec<String>> {
    let (last, parents) = path.split_last()?;
    let mut object = claims;
    for name in parents {
        object = object.get(name)?.as_object()?;
    }
    match object.get(last)? {
        Value::String(text) => Some(text.split_whitespace().map(str::to_string).collect()),
        Value::Array(items) => Some(items.iter().filter_map(scalar_text).collect()),
        other => scalar_text(other).map(|v| vec![v]),
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Token-supplied values shown in a log line, shortened.
fn clip(value: &str) -> String {
    let mut chars = value.chars();
    let mut clipped: String = chars.by_ref().take(64).collect();
    if chars.next().is_some() {
        clipped.push('…');
    }
    clipped.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(extra: Value) -> Config {
        let mut config = json!({"issuer": "http://127.0.0.1:3000"});
        if let (Some(base), Value::Object(extra)) = (config.as_object_mut(), extra) {
            base.extend(extra);
        }
        Config::parse(config.to_string().as_bytes()).unwrap()
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn entries_are_and_lists_and_one_entry_is_enough() {
        let c = config(json!({"scopes_required": ["read write", "admin"]}));
        let token = |scope: &str| claims(json!({"scope": scope}));
        let check_with = |t: &Map<String, Value>| {
            check(
                &c,
                ClaimSources {
                    introspection: None,
                    access_token: Some(t),
                },
                false,
            )
        };
        assert_eq!(check_with(&token("openid read write")), Verdict::Allowed);
        assert_eq!(check_with(&token("admin")), Verdict::Allowed);
        assert_eq!(
            check_with(&token("read")),
            Verdict::Denied("required scopes were not found [ read ]".into())
        );
        assert_eq!(
            check_with(&claims(json!({}))),
            Verdict::Denied("scopes required but no scopes found".into())
        );
        assert_eq!(
            check_with(&claims(json!({"scope": ["write", "read"]}))),
            Verdict::Allowed
        );
    }

    #[test]
    fn introspection_results_come_first_and_opaque_tokens_need_one() {
        let c = config(json!({"groups_required": ["admins"]}));
        let introspection = claims(json!({"groups": ["users"]}));
        let token = claims(json!({"groups": ["admins"]}));
        let both = ClaimSources {
            introspection: Some(&introspection),
            access_token: Some(&token),
        };
        assert!(
            matches!(check(&c, both, true), Verdict::Denied(_)),
            "introspection wins"
        );
        assert_eq!(
            check(&c, ClaimSources::default(), false),
            Verdict::NeedsIntrospection
        );
        assert_eq!(
            check(&c, ClaimSources::default(), true),
            Verdict::Denied("groups required but no groups found".into())
        );
        assert_eq!(
            check(&config(json!({})), ClaimSources::default(), false),
            Verdict::Allowed
        );
    }

    #[test]
    fn claim_paths_reach_into_objects() {
        let c = config(
            json!({"roles_required": ["admin"], "roles_claim": ["realm_access", "roles"],
                              "audience_required": ["api"]}),
        );
        let token =
            claims(json!({"realm_access": {"roles": ["viewer", "admin"]}, "aud": ["kong", "api"]}));
        assert_eq!(
            check(
                &c,
                ClaimSources {
                    introspection: None,
                    access_token: Some(&token)
                },
                false
            ),
            Verdict::Allowed
        );
        let wrong_audience = claims(json!({"realm_access": {"roles": ["admin"]}, "aud": "kong"}));
        assert_eq!(
            check(
                &c,
                ClaimSources {
                    introspection: None,
                    access_token: Some(&wrong_audience)
                },
                false
            ),
            Verdict::Denied("required audience were not found [ kong ]".into())
        );
        assert_eq!(
            values_at(&token, &["realm_access".into(), "missing".into()]),
            None
        );
        assert_eq!(values_at(&token, &[]), None);
        assert_eq!(
            values_at(&claims(json!({"n": 5})), &["n".into()]),
            Some(vec!["5".into()])
        );
    }
}
