//! From JSON bytes to a checked [`Config`]: every field read, every problem collected.
//!
//! Deprecated Kong names are rewritten first; the fields [`Config`] declares are then read by
//! its derived `Deserialize`; what is left must be one of Kong's other fields at its default
//! ([`kong_fields`]); last come the checks across fields ([`checks`]).
//!
//! Cost, measured on the release module: deriving `Deserialize` for [`Config`] took it from
//! 1,067,107 to 1,111,379 bytes (+44 KB; the derived visitor of ~95 fields is 31.5 KB of it,
//! its field-name matcher 5.8 KB) against the hand-written reader it replaced.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{forward_to_deserialize_any, Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::error::{ConfigError, FieldProblem, Problem};
use super::kong_fields::{self, ShorthandTarget, SHORTHANDS};
use super::value::{describe, describe_kind, KongValue, ReadError};
use super::{checks, Config};

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
    let Some(config) = reader.read_config() else {
        let problem = Problem::Invalid("the configuration could not be read".to_string());
        return Err(ConfigError::new(vec![FieldProblem::new("config", problem)]));
    };
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

    /// Reads every field [`Config`] declares, through its derived `Deserialize`: a field's
    /// declaration (its type and `#[serde(default)]`) is all this needs. A value that cannot
    /// be read is reported and dropped, and the reading starts over without it, so that every
    /// problem is found while the other fields are still read; a null where the field's type
    /// has none is dropped the same way, silently: the field takes its default. None only if
    /// serde fails outside every field (it cannot: the issuer is always there).
    fn read_config(&mut self) -> Option<Config> {
        let mut issuer_missing = matches!(self.fields.get("issuer"), None | Some(Value::Null));
        if issuer_missing {
            self.problems
                .push(FieldProblem::new("issuer", Problem::Required));
        }
        loop {
            if issuer_missing {
                // Read on with a stand-in, so that the other fields are checked too.
                self.fields
                    .insert("issuer".to_string(), Value::String("-".to_string()));
            }
            let document = Document::new(&self.fields);
            let error = match Config::deserialize(&document) {
                Ok(mut config) => {
                    self.given = document.given.take().into_iter().collect();
                    for name in document.declared.get() {
                        self.fields.remove(*name);
                    }
                    if issuer_missing {
                        config.issuer.clear();
                    }
                    return Some(config);
                }
                Err(error) => error,
            };
            let name = document.current.get()?;
            let value = self.fields.remove(name).unwrap_or(Value::Null);
            issuer_missing |= name == "issuer";
            if !error.null_for_default {
                let problem = if SECRET_FIELDS.contains(&name) {
                    hide_value(error.problem, &value)
                } else {
                    error.problem
                };
                self.problems
                    .push(FieldProblem::new(self.display_name(name), problem));
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

/// The configuration object as serde's derived `Deserialize` of [`Config`] sees it: the
/// fields it declares, each read with Kong's rules ([`KongValue`]). It remembers which field
/// it was reading (to report a problem under it) and which were given.
struct Document<'de> {
    fields: &'de Map<String, Value>,
    /// The field being read, then the one whose value failed.
    current: Cell<Option<&'static str>>,
    /// The fields read from a non-null value.
    given: RefCell<Vec<&'static str>>,
    /// Every field [`Config`] declares.
    declared: Cell<&'static [&'static str]>,
}

impl<'de> Document<'de> {
    fn new(fields: &'de Map<String, Value>) -> Document<'de> {
        Document {
            fields,
            current: Cell::new(None),
            given: RefCell::new(Vec::new()),
            declared: Cell::new(&[]),
        }
    }
}

impl<'de> Deserializer<'de> for &Document<'de> {
    type Error = ReadError;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        self.declared.set(fields);
        visitor.visit_map(DeclaredFields {
            document: self,
            names: fields.iter(),
            value: None,
        })
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, ReadError> {
        Err(de::Error::custom("the configuration is read as a struct"))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The declared fields present in the document, in declaration order.
struct DeclaredFields<'a, 'de> {
    document: &'a Document<'de>,
    names: std::slice::Iter<'static, &'static str>,
    value: Option<&'de Value>,
}

impl<'de> MapAccess<'de> for DeclaredFields<'_, 'de> {
    type Error = ReadError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ReadError> {
        for name in self.names.by_ref() {
            if let Some(value) = self.document.fields.get(*name) {
                self.document.current.set(Some(name));
                self.value = Some(value);
                return seed
                    .deserialize(BorrowedStrDeserializer::new(name))
                    .map(Some);
            }
        }
        self.document.current.set(None);
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ReadError> {
        let value = self.value.take().unwrap_or(&Value::Null);
        let read = seed.deserialize(KongValue(value))?;
        if let (Some(name), false) = (self.document.current.get(), value.is_null()) {
            self.document.given.borrow_mut().push(name);
        }
        Ok(read)
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
