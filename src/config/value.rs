//! Reading typed values out of JSON the way Kong's schema accepts them.
//!
//! Kong's leniencies kept here: an array field takes a single value (form posts send `x` where
//! `[x]` is meant), and numbers may be written `30` or `30.0`. Kong's strictness kept too: strings
//! must not be empty and value sets are case-sensitive.

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Visitor};
use serde::{forward_to_deserialize_any, Deserializer};
use serde_json::Value;

use super::error::Problem;

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

/// Reads one JSON value as `T` with Kong's rules (the parser reads whole configurations).
#[cfg(test)]
pub(crate) fn read<'a, T: serde::Deserialize<'a>>(value: &'a Value) -> Result<T, Problem> {
    T::deserialize(KongValue(value)).map_err(|e| e.problem)
}

/// Why a value could not be read. `null_for_default` marks a null where the type has no
/// null: the field then takes its default (Kong's null means "not set").
#[derive(Debug)]
pub(crate) struct ReadError {
    pub problem: Problem,
    pub null_for_default: bool,
}

impl ReadError {
    fn new(problem: Problem) -> ReadError {
        ReadError {
            problem,
            null_for_default: false,
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.problem.fmt(f)
    }
}

impl std::error::Error for ReadError {}

impl de::Error for ReadError {
    fn custom<T: fmt::Display>(message: T) -> ReadError {
        ReadError::new(Problem::Invalid(message.to_string()))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> ReadError {
        ReadError::new(Problem::NotOneOf {
            allowed: expected.to_vec(),
            got: describe(&Value::String(variant.to_string())),
        })
    }
}

fn wrong_type(expected: &str, got: &Value) -> ReadError {
    ReadError {
        problem: Problem::WrongType {
            expected: expected.to_string(),
            got: describe(got),
        },
        null_for_default: got.is_null(),
    }
}

/// A JSON value as a serde deserializer that applies Kong's rules.
pub(crate) struct KongValue<'a>(pub &'a Value);

impl<'de> Deserializer<'de> for KongValue<'de> {
    type Error = ReadError;

    /// Types that say nothing about their shape get the JSON as it is.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        self.0
            .deserialize_any(visitor)
            .map_err(|e| ReadError::new(Problem::Invalid(e.to_string())))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.0 {
            Value::Bool(b) => visitor.visit_bool(*b),
            other => Err(wrong_type("a boolean", other)),
        }
    }

    /// A whole number from 0 to [`MAX_WHOLE_NUMBER`]; `30.0` counts as whole.
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        let expected = format!("a whole number from 0 to {MAX_WHOLE_NUMBER}");
        let Value::Number(number) = self.0 else {
            return Err(wrong_type(&expected, self.0));
        };
        let whole = match number.as_u64() {
            Some(n) => Some(n),
            None => number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=MAX_WHOLE_NUMBER as f64).contains(f))
                .map(|f| f as u64),
        };
        match whole.filter(|n| *n <= MAX_WHOLE_NUMBER) {
            Some(n) => visitor.visit_u64(n),
            None => Err(wrong_type(&expected, self.0)),
        }
    }

    /// A non-empty string that is not a vault reference.
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.0 {
            Value::String(s) if s.is_empty() => Err(ReadError::new(Problem::Invalid(
                "must not be empty".to_string(),
            ))),
            // Kong resolves `{vault://...}` references itself; a filter cannot, and using the
            // reference text as a secret or URL would fail in confusing ways.
            Value::String(s) if s.starts_with("{vault://") => {
                Err(ReadError::new(Problem::NotSupported {
                    reason: "vault references are not supported here: give the value itself"
                        .to_string(),
                }))
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            other => Err(wrong_type("a string", other)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    /// An array, or one value standing for an array of one (form posts send `x` for `[x]`).
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.0 {
            Value::Null => Err(wrong_type("an array", self.0)),
            Value::Array(items) => visitor.visit_seq(Items(items.iter())),
            single => visitor.visit_seq(Items(std::slice::from_ref(single).iter())),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.0 {
            Value::Object(entries) => visitor.visit_map(Entries {
                entries: entries.iter(),
            }),
            other => Err(wrong_type("an object", other)),
        }
    }

    /// One of the value set's spellings (case-sensitive, as Kong's schema is).
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        match self.0 {
            Value::String(s) => visitor.visit_enum(BorrowedStrDeserializer::new(s)),
            other => Err(ReadError {
                problem: Problem::NotOneOf {
                    allowed: variants.to_vec(),
                    got: describe(other),
                },
                null_for_default: other.is_null(),
            }),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u128 f32 f64 char bytes byte_buf unit unit_struct
        tuple tuple_struct struct identifier
    }
}

/// The items of an array, each read with Kong's rules.
struct Items<'a>(std::slice::Iter<'a, Value>);

impl<'de> de::SeqAccess<'de> for Items<'de> {
    type Error = ReadError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ReadError> {
        match self.0.next() {
            // A null inside an array is no "default": it is the wrong type.
            Some(item) => seed
                .deserialize(KongValue(item))
                .map(Some)
                .map_err(|mut e| {
                    e.null_for_default = false;
                    e
                }),
            None => Ok(None),
        }
    }
}

/// The entries of an object: keys as they are, values with Kong's rules. A value's problem
/// names its key.
struct Entries<'a> {
    entries: serde_json::map::Iter<'a>,
}

impl<'de> de::MapAccess<'de> for Entries<'de> {
    type Error = ReadError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ReadError> {
        match self.entries.clone().next() {
            Some((key, _)) => seed
                .deserialize(BorrowedStrDeserializer::new(key.as_str()))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ReadError> {
        let Some((key, value)) = self.entries.next() else {
            return Err(de::Error::custom("a value without its key"));
        };
        seed.deserialize(KongValue(value)).map_err(|mut e| {
            e.null_for_default = false;
            e.problem = match e.problem {
                Problem::WrongType { expected, got } => Problem::WrongType {
                    expected: format!("{expected} for {}", quote_short(key)),
                    got,
                },
                other => other,
            };
            e
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;
    use crate::config::{HttpMethod, SameSite};
    use serde_json::json;

    #[test]
    fn arrays_take_a_single_value() {
        assert_eq!(read::<Vec<String>>(&json!("openid")).unwrap(), ["openid"]);
        assert_eq!(read::<Vec<String>>(&json!(["a", "b"])).unwrap(), ["a", "b"]);
        assert_eq!(
            read::<Vec<HttpMethod>>(&json!("POST")).unwrap(),
            [HttpMethod::Post]
        );
        assert!(read::<Vec<String>>(&json!([1])).is_err());
    }

    #[test]
    fn whole_numbers_accept_integral_floats_only() {
        assert_eq!(read::<u64>(&json!(30)).unwrap(), 30);
        assert_eq!(read::<u64>(&json!(30.0)).unwrap(), 30);
        let fractional = read::<u64>(&json!(1.5)).unwrap_err();
        assert_eq!(
            fractional.to_string(),
            "expected a whole number from 0 to 4294967295, got 1.5"
        );
        assert!(read::<u64>(&json!(-1)).is_err());
        assert!(read::<u64>(&json!(4294967296u64)).is_err());
        assert!(
            read::<u64>(&json!("30")).is_err(),
            "JSON configs carry numbers as numbers"
        );
    }

    #[test]
    fn strings_must_be_non_empty_and_not_vault_references() {
        assert!(read::<String>(&json!("")).is_err());
        let vault = read::<String>(&json!("{vault://env/secret}")).unwrap_err();
        assert!(vault.to_string().contains("vault references"));
        assert_eq!(
            read::<String>(&json!(true)).unwrap_err().to_string(),
            "expected a string, got true"
        );
    }

    #[test]
    fn value_sets_name_the_allowed_values() {
        let problem = read::<SameSite>(&json!("lax2")).unwrap_err();
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
    fn maps_read_their_values_with_the_same_rules() {
        let map = read::<BTreeMap<String, String>>(&json!({"idp:8080": "idp_cluster"})).unwrap();
        assert_eq!(map.get("idp:8080").map(String::as_str), Some("idp_cluster"));
        assert_eq!(
            read::<BTreeMap<String, String>>(&json!({"idp:8080": 3}))
                .unwrap_err()
                .to_string(),
            "expected a string for \"idp:8080\", got 3"
        );
        assert!(read::<BTreeMap<String, String>>(&json!({"idp:8080": ""})).is_err());
        assert!(read::<BTreeMap<String, String>>(&json!(["idp"])).is_err());
    }

    #[test]
    fn null_is_the_default_only_for_the_field_itself() {
        let null = KongValue(&Value::Null);
        assert!(u64::deserialize(null).unwrap_err().null_for_default);
        assert_eq!(read::<Option<String>>(&Value::Null).unwrap(), None);
        let in_array = Vec::<String>::deserialize(KongValue(&json!([null]))).unwrap_err();
        assert!(!in_array.null_for_default);
        assert_eq!(in_array.to_string(), "expected a string, got null");
    }
}
