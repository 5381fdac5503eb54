//! The real library's test vectors (copied from shared/reference/kong-session-vectors.json)
//! and helpers shared by the tests.

use serde::Deserialize;
use serde_json::Value;

use crate::session::{AudienceEntry, SessionCodec, SessionSettings};

pub(super) const VECTORS_JSON: &str = include_str!("../testdata/kong-session-vectors.json");

#[derive(Debug, Deserialize)]
pub(super) struct VectorFile {
    pub about: Value,
    pub vectors: Vec<Vector>,
    pub negatives: Vec<Negative>,
    #[serde(default)]
    pub edge_cases: Vec<Value>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Vector {
    pub id: String,
    pub secret: String,
    pub cookie_name: String,
    pub config: Config,
    pub saved_at: u64,
    pub cookies: Vec<VectorCookie>,
    pub plaintext: String,
    pub header: VectorHeader,
    pub audiences: Value,
    pub valid_now: u64,
}

#[derive(Debug, Deserialize, Clone)]
pub(super) struct Config {
    pub cookie_name: String,
    pub idling_timeout: u64,
    pub rolling_timeout: u64,
    pub absolute_timeout: u64,
    #[serde(default)]
    pub audience: Option<String>,
    #[serde(default)]
    pub compression_threshold: Option<usize>,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub secret_fallbacks: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct VectorCookie {
    pub name: String,
    pub value: String,
    pub set_cookie: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct VectorHeader {
    pub sid_b64url: String,
    pub flags: u16,
    pub created_at: u64,
    pub rolling_offset: u32,
    pub idling_offset: u32,
    pub data_size: u32,
    pub header_b64url: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Negative {
    pub id: String,
    pub vector: String,
    pub now: u64,
    pub config: Config,
    pub real_open_ok: bool,
    pub real_error: Option<String>,
}

pub(super) fn load() -> VectorFile {
    serde_json::from_str(VECTORS_JSON).expect("vector file parses")
}

pub(super) fn vector<'a>(file: &'a VectorFile, id: &str) -> &'a Vector {
    file.vectors
        .iter()
        .find(|v| v.id == id)
        .unwrap_or_else(|| panic!("no vector {id}"))
}

pub(super) fn settings(config: &Config) -> SessionSettings {
    SessionSettings {
        cookie_name: config.cookie_name.clone(),
        idling_timeout: config.idling_timeout,
        rolling_timeout: config.rolling_timeout,
        absolute_timeout: config.absolute_timeout,
        ..SessionSettings::default()
    }
}

pub(super) fn codec_for(vector: &Vector) -> SessionCodec {
    let codec = SessionCodec::new(settings(&vector.config), vector.secret.as_bytes());
    match vector.config.compression_threshold {
        Some(threshold) => codec.with_compression_threshold(threshold),
        None => codec,
    }
}

/// The request's Cookie header as a browser sends the vector's cookies.
pub(super) fn cookie_header(vector: &Vector) -> String {
    vector
        .cookies
        .iter()
        .map(|c| format!("{}={}", c.name, c.value))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A Cookie header built from Set-Cookie values (name=value before the first ';').
pub(super) fn cookie_header_from_set_cookies(set_cookies: &[String]) -> String {
    set_cookies
        .iter()
        .map(|c| c.split(';').next().unwrap().to_string())
        .filter(|pair| !pair.ends_with('='))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Entries in the vectors' `audiences` shape: `[[data, audience, subject?], ...]`.
pub(super) fn entries_as_json(entries: &[AudienceEntry]) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|e| {
                let mut item = vec![e.data.clone(), Value::String(e.audience.clone())];
                if let Some(subject) = &e.subject {
                    item.push(Value::String(subject.clone()));
                }
                Value::Array(item)
            })
            .collect(),
    )
}
