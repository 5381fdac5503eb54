//! Reading typed values out of JSON the way Kong's schema accepts them.
//!
//! Kong's leniencies kept here: an array field takes a single value (form posts send `x` where
//! `[x]` is meant), and numbers may be written `30` or `30.0`. Kong's strictness kept too: strings
//! must not be empty and value sets are case-sensitive.

use std::collections::BTreeMap;

use serde_json::Value;

use super::error::Problem;
use super::types::{
    AuthMethod, ClientAuthMethod, HttpMethod, IdpCheckFailure, LoginAction, LoginRedirectMode,
    LoginToken, ParamType, ResponseMode, SameSite,
};

/// The largest number a duration field takes. Kong sets no bound; ours keeps every later
/// `now + duration` far from overflow while allowing any realistic value (136 years in seconds).
pub(crate) const MAX_WHOLE_NUMBER: u64 = u32::MAX as u64;

/// A JSON value as a message shows it: scalars as written (long strings cut), containers by kind.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote_short(s),
        Value::Array(_) => "an array".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

/// A JSON value's kind only, for fields whose values must not reach logs (secrets).
pub(crate) fn describe_kind(value: &Value) -> String {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
    .to_string()
}

fn quote_short(s: &str) -> String {
    const LIMIT: usize = 60;
    let mut cut: String = s.chars().take(LIMIT).collect();
    let shortened = cut.len() < s.len();
    if shortened {
        cut.push('…');
    }
    serde_json::to_string(&cut).unwrap_or_else(|_| "a string".to_string())
}

/// A Rust type that a Kong field's JSON value converts to.
pub(crate) trait FromKong: Sized {
    fn from_json(value: &Value) -> Result<Self, Problem>;
}

fn wrong_type(expected: &str, got: &Value) -> Problem {
    Problem::WrongType {
        expected: expected.to_string(),
        got: describe(got),
    }
}

impl FromKong for String {
    fn from_json(value: &Value) -> Result<String, Problem> {
        match value {
            Value::String(s) if s.is_empty() => {
                Err(Problem::Invalid("must not be empty".to_string()))
            }
            // Kong resolves `{vault://...}` references itself; a filter cannot, and using the
            // reference text as a secret or URL would fail in confusing ways.
            Value::String(s) if s.starts_with("{vault://") => Err(Problem::NotSupported {
                reason: "vault references are not supported here: give the value itself"
                    .to_string(),
            }),
            Value::String(s) => Ok(s.clone()),
            other => Err(wrong_type("a string", other)),
        }
    }
}

impl FromKong for bool {
    fn from_json(value: &Value) -> Result<bool, Problem> {
        value
            .as_bool()
            .ok_or_else(|| wrong_type("a boolean", value))
    }
}

impl FromKong for u64 {
    /// A whole number from 0 to [`MAX_WHOLE_NUMBER`]; `30.0` counts as whole.
    fn from_json(value: &Value) -> Result<u64, Problem> {
        let expected = format!("a whole number from 0 to {MAX_WHOLE_NUMBER}");
        let number = match value {
            Value::Number(n) => n,
            other => return Err(wrong_type(&expected, other)),
        };
        if let Some(n) = number.as_u64() {
            return if n <= MAX_WHOLE_NUMBER {
                Ok(n)
            } else {
                Err(wrong_type(&expected, value))
            };
        }
        match number.as_f64() {
            Some(f) if f.fract() == 0.0 && (0.0..=MAX_WHOLE_NUMBER as f64).contains(&f) => {
                Ok(f as u64)
            }
            _ => Err(wrong_type(&expected, value)),
        }
    }
}

impl<T: FromKong> FromKong for Option<T> {
    fn from_json(value: &Value) -> Result<Option<T>, Problem> {
        match value {
            Value::Null => Ok(None),
            other => T::from_json(other).map(Some),
        }
    }
}

impl<T: FromKong> FromKong for Vec<T> {
    /// An array of values, or one value standing for an array of one.
    fn from_json(value: &Value) -> Result<Vec<T>, Problem> {
        match value {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items.iter().map(T::from_json).collect(),
            single => T::from_json(single).map(|item| vec![item]),
        }
    }
}

impl FromKong for BTreeMap<String, String> {
    /// An object whose values are non-empty strings (`dispatch_clusters`).
    fn from_json(value: &Value) -> Result<BTreeMap<String, String>, Problem> {
        let expected = "an object mapping IdP authorities (\"host:port\") to cluster names";
        let Value::Object(entries) = value else {
            return Err(wrong_type(expected, value));
        };
        let mut map = BTreeMap::new();
        for (key, target) in entries {
            if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c == '/') {
                return Err(Problem::Invalid(format!(
                    "{} is not an authority (host or host:port)",
                    quote_short(key)
                )));
            }
            match target {
                Value::String(name) if !name.is_empty() => {
                    map.insert(key.clone(), name.clone());
                }
                other => {
                    return Err(wrong_type(
                        &format!("a cluster name for {}", quote_short(key)),
                        other,
                    ))
                }
            }
        }
        Ok(map)
    }
}

/// Kong value sets read from their spelling; anything else names the allowed values.
macro_rules! from_kong_for_value_sets {
    ($($set:ty),+) => {$(
        impl FromKong for $set {
            fn from_json(value: &Value) -> Result<$set, Problem> {
                value.as_str().and_then(<$set>::from_kong).ok_or_else(|| Problem::NotOneOf {
                    allowed: <$set>::ALL.iter().map(|v| v.as_str()).collect(),
                    got: describe(value),
                })
            }
        }
    )+};
}

from_kong_for_value_sets!(
    AuthMethod,
    ClientAuthMethod,
    ParamType,
    SameSite,
    HttpMethod,
    ResponseMode,
    LoginAction,
    LoginToken,
    LoginRedirectMode,
    IdpCheckFailure
);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arrays_take_a_single_value() {
        assert_eq!(
            Vec::<String>::from_json(&json!("openid")).unwrap(),
            ["openid"]
        );
        assert_eq!(
            Vec::<String>::from_json(&json!(["a", "b"])).unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            Vec::<HttpMethod>::from_json(&json!("POST")).unwrap(),
            [HttpMethod::Post]
        );
        assert!(Vec::<String>::from_json(&json!([1])).is_err());
    }

    #[test]
    fn whole_numbers_accept_integral_floats_only() {
        assert_eq!(u64::from_json(&json!(30)).unwrap(), 30);
        assert_eq!(u64::from_json(&json!(30.0)).unwrap(), 30);
        let fractional = u64::from_json(&json!(1.5)).unwrap_err();
        assert_eq!(
            fractional.to_string(),
            "expected a whole number from 0 to 4294967295, got 1.5"
        );
        assert!(u64::from_json(&json!(-1)).is_err());
        assert!(u64::from_json(&json!(4294967296u64)).is_err());
        assert!(
            u64::from_json(&json!("30")).is_err(),
            "JSON configs carry numbers as numbers"
        );
    }

    #[test]
    fn strings_must_be_non_empty_and_not_vault_references() {
        assert!(String::from_json(&json!("")).is_err());
        let vault = String::from_json(&json!("{vault://env/secret}")).unwrap_err();
        assert!(vault.to_string().contains("vault references"));
        assert_eq!(
            String::from_json(&json!(true)).unwrap_err().to_string(),
            "expected a string, got true"
        );
    }

    #[test]
    fn value_sets_name_the_allowed_values() {
        let problem = SameSite::from_json(&json!("lax2")).unwrap_err();
        assert_eq!(
            problem.to_string(),
            "expected one of Default, Lax, None, Strict, got \"lax2\""
        );
    }

    #[test]
    fn long_strings_are_cut_in_messages() {
        let long = "x".repeat(200);
        let shown = describe(&json!(long));
        assert!(shown.chars().count() < 70, "{shown}");
        assert!(shown.ends_with("…\""));
        assert_eq!(describe_kind(&json!("secret")), "a string");
    }

    #[test]
    fn dispatch_clusters_map_authorities_to_names() {
        let map =
            BTreeMap::<String, String>::from_json(&json!({"idp:8080": "idp_cluster"})).unwrap();
        assert_eq!(map.get("idp:8080").map(String::as_str), Some("idp_cluster"));
        assert!(BTreeMap::<String, String>::from_json(&json!({"idp:8080": ""})).is_err());
        assert!(BTreeMap::<String, String>::from_json(&json!({"http://idp": "c"})).is_err());
        assert!(BTreeMap::<String, String>::from_json(&json!(["idp"])).is_err());
    }
}
