//! The decrypted session data: a JSON array of audience entries `[data, audience, subject?]`.
//!
//! Reading accepts any key order. Writing follows lua-cjson's conventions so our JSON has the
//! same bytes as the library's up to object key order (which in Lua is hash order): `/` is
//! escaped as `\/`, control characters and DEL as `\u00xx`, other characters are written raw,
//! numbers as C's `%.14g`, and an entry without subject has two elements, not a trailing null.

use serde_json::Value;

use super::error::SessionError;

#[derive(Debug, Clone, PartialEq)]
pub struct AudienceEntry {
    pub data: Value,
    pub audience: String,
    pub subject: Option<String>,
}

pub fn parse_entries(plaintext: &[u8]) -> Result<Vec<AudienceEntry>, SessionError> {
    let value: Value = serde_json::from_slice(plaintext).map_err(|_| SessionError::JsonDecode)?;
    let Value::Array(items) = value else {
        return Err(SessionError::InvalidData(
            "the session data is not a JSON array",
        ));
    };
    items.into_iter().map(parse_entry).collect()
}

fn parse_entry(item: Value) -> Result<AudienceEntry, SessionError> {
    let Value::Array(fields) = item else {
        return Err(SessionError::InvalidData(
            "an audience entry is not an array",
        ));
    };
    let mut fields = fields.into_iter();
    let data = fields.next().unwrap_or(Value::Null);
    let audience = match fields.next() {
        Some(Value::String(audience)) => audience,
        _ => {
            return Err(SessionError::InvalidData(
                "an audience entry has no audience name",
            ))
        }
    };
    let subject = match fields.next() {
        None | Some(Value::Null) => None,
        Some(Value::String(subject)) => Some(subject),
        Some(_) => {
            return Err(SessionError::InvalidData(
                "an audience entry has a subject that is not a string",
            ))
        }
    };
    Ok(AudienceEntry {
        data,
        audience,
        subject,
    })
}

pub fn write_entries(entries: &[AudienceEntry]) -> String {
    let mut out = String::from("[");
    for (index, entry) in entries.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push('[');
        write_value(&mut out, &entry.data);
        out.push(',');
        write_string(&mut out, &entry.audience);
        if let Some(subject) = &entry.subject {
            out.push(',');
            write_string(&mut out, subject);
        }
        out.push(']');
    }
    out.push(']');
    out
}

pub fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => match number.as_f64() {
            Some(float) => out.push_str(&format_g14(float)),
            None => out.push_str("null"),
        },
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (index, (key, item)) in map.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\0'..='\u{1f}' | '\u{7f}' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            _ => out.push(c),
        }
    }
    out.push('"');
}

/// C's `printf("%.14g", x)`, which lua-cjson uses for every number (Lua numbers are doubles).
pub fn format_g14(x: f64) -> String {
    const PRECISION: i32 = 14;
    if !x.is_finite() {
        // JSON has no such numbers; cjson refuses them too.
        return "null".to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".to_string()
        } else {
            "0".to_string()
        };
    }
    // Round to 14 significant digits first: the exponent of the rounded value decides the form.
    let scientific = format!("{:.*e}", (PRECISION - 1) as usize, x);
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..PRECISION).contains(&exponent) {
        let mantissa = trim_fraction_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
    } else {
        let decimals = (PRECISION - 1 - exponent).max(0) as usize;
        trim_fraction_zeros(&format!("{x:.decimals$}")).to_string()
    }
}

fn trim_fraction_zeros(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_as_printf_g14() {
        let cases: &[(f64, &str)] = &[
            (1700000300.0, "1700000300"),
            (300.0, "300"),
            (-1.0, "-1"),
            (0.5, "0.5"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.33333333333333"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (12345678901234.0, "12345678901234"),
            (123456789012345.0, "1.2345678901234e+14"),
            (1e100, "1e+100"),
            (99999999999999.5, "1e+14"),
            (2.5e-7, "2.5e-07"),
        ];
        for (x, want) in cases {
            assert_eq!(format_g14(*x), *want, "{x}");
        }
    }

    #[test]
    fn strings_as_cjson() {
        let mut out = String::new();
        write_value(&mut out, &json!("a/b \"q\" \\ é€ \u{1} \n \u{7f}"));
        assert_eq!(out, r#""a\/b \"q\" \\ é€ \u0001 \n \u007f""#);
    }

    #[test]
    fn entries_with_and_without_subject() {
        let entries = vec![
            AudienceEntry {
                data: json!({"a": 1}),
                audience: "default".into(),
                subject: None,
            },
            AudienceEntry {
                data: json!([true, null]),
                audience: "x".into(),
                subject: Some("u".into()),
            },
        ];
        let text = write_entries(&entries);
        assert_eq!(text, r#"[[{"a":1},"default"],[[true,null],"x","u"]]"#);
        assert_eq!(parse_entries(text.as_bytes()).unwrap(), entries);
    }

    #[test]
    fn shapes_that_are_not_sessions() {
        assert_eq!(parse_entries(b"{"), Err(SessionError::JsonDecode));
        assert!(matches!(
            parse_entries(b"{}"),
            Err(SessionError::InvalidData(_))
        ));
        assert!(matches!(
            parse_entries(b"[1]"),
            Err(SessionError::InvalidData(_))
        ));
        assert!(matches!(
            parse_entries(b"[[{}]]"),
            Err(SessionError::InvalidData(_))
        ));
        assert!(matches!(
            parse_entries(b"[[{},1]]"),
            Err(SessionError::InvalidData(_))
        ));
        assert!(matches!(
            parse_entries(b"[[{},\"a\",2]]"),
            Err(SessionError::InvalidData(_))
        ));
        assert_eq!(
            parse_entries(b"[[{},\"a\",null]]").unwrap()[0].subject,
            None
        );
        assert_eq!(parse_entries(b"[]").unwrap(), vec![]);
    }
}
