//! What can be wrong with a configuration, one problem per field, all reported together.

use std::fmt;

/// A configuration the filter refuses, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    problems: Vec<FieldProblem>,
}

impl ConfigError {
    pub(crate) fn new(problems: Vec<FieldProblem>) -> ConfigError {
        ConfigError { problems }
    }

    /// Each problem, ordered by field name.
    pub fn problems(&self) -> &[FieldProblem] {
        &self.problems
    }

    /// Whether some problem concerns `field`.
    pub fn mentions(&self, field: &str) -> bool {
        self.problems.iter().any(|p| p.field == field)
    }
}

impl fmt::Display for ConfigError {
    /// `<field>: <what is wrong>` for each problem, separated by `; `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// One thing wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldProblem {
    /// Kong's field name; nested fields are written `record.field`; `config` means the document.
    pub field: String,
    pub problem: Problem,
}

impl FieldProblem {
    pub(crate) fn new(field: impl Into<String>, problem: Problem) -> FieldProblem {
        FieldProblem {
            field: field.into(),
            problem,
        }
    }
}

/// The kinds of things that can be wrong with a field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The document is not JSON.
    #[error("not valid JSON ({0})")]
    NotJson(String),
    /// A required field is absent or null.
    #[error("required")]
    Required,
    /// No Kong 3.10 field (nor one of ours) has this name.
    #[error("unknown field{hint}")]
    UnknownField { hint: &'static str },
    /// The value has the wrong JSON type, e.g. a string where a boolean belongs.
    #[error("expected {expected}, got {got}")]
    WrongType { expected: String, got: String },
    /// The value is outside the field's value set.
    #[error("expected one of {}, got {got}", allowed.join(", "))]
    NotOneOf {
        allowed: Vec<&'static str>,
        got: String,
    },
    /// A Kong feature this filter does not implement (yet); `reason` says which and why.
    #[error("{reason}")]
    NotSupported { reason: String },
    /// The value has the right type but cannot be used, e.g. a URL without a host.
    #[error("{0}")]
    Invalid(String),
}

impl Problem {
    /// Kong accepts the value but this filter does not implement what it asks for.
    pub(crate) fn not_supported_yet() -> Problem {
        Problem::NotSupported {
            reason: "not supported yet".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_every_problem_with_its_field() {
        let error = ConfigError::new(vec![
            FieldProblem::new("issuer", Problem::Required),
            FieldProblem::new(
                "session_cookie_same_site",
                Problem::NotOneOf {
                    allowed: vec!["Default", "Lax", "None", "Strict"],
                    got: "\"lax2\"".into(),
                },
            ),
            FieldProblem::new("ssl_verify", Problem::not_supported_yet()),
        ]);
        assert_eq!(
            error.to_string(),
            "issuer: required; session_cookie_same_site: expected one of Default, Lax, None, Strict, got \"lax2\"; \
             ssl_verify: not supported yet"
        );
        assert!(error.mentions("ssl_verify"));
        assert!(!error.mentions("timeout"));
    }
}
