//! The client's request as the core sees it: method, forwarded URL pieces, headers and, when a
//! flow needs it, the body.

use super::{cookies, form, url};

/// A request arriving at the filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncomingRequest {
    /// Upper-case method.
    pub method: String,
    /// The scheme the client used (`http`/`https`), as forwarded.
    pub scheme: String,
    /// `host[:port]` the client addressed.
    pub authority: String,
    /// Path and query (`:path`).
    pub path: String,
    /// Header pairs with lower-case names; names may repeat.
    pub headers: Vec<(String, String)>,
    /// The body, when the flows asked for it and the request has one.
    pub body: Option<Vec<u8>>,
    /// The client spoke HTTP/1.0 (Kong then adds `Pragma: no-cache` where it sends `Cache-Control`).
    pub http10: bool,
}

impl IncomingRequest {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The path without its query.
    pub fn path_only(&self) -> &str {
        url::split_path_query(&self.path).0
    }

    /// The decoded query arguments.
    pub fn query_args(&self) -> Vec<(String, String)> {
        match url::split_path_query(&self.path).1 {
            Some(query) => form::decode(query.as_bytes()),
            None => Vec::new(),
        }
    }

    /// Arguments from a form or JSON-object body (string, number and boolean members), as
    /// Kong's argument lookup reads them; empty for any other body.
    pub fn body_args(&self) -> Vec<(String, String)> {
        let Some(body) = self.body.as_deref() else {
            return Vec::new();
        };
        let content_type = self.header("content-type").unwrap_or_default();
        if form::is_form_content_type(content_type) {
            return form::decode(body);
        }
        if form::is_json_content_type(content_type) {
            if let Ok(serde_json::Value::Object(members)) =
                serde_json::from_slice::<serde_json::Value>(body)
            {
                return members
                    .into_iter()
                    .filter_map(|(name, value)| match value {
                        serde_json::Value::String(s) => Some((name, s)),
                        serde_json::Value::Number(n) => Some((name, n.to_string())),
                        serde_json::Value::Bool(b) => Some((name, b.to_string())),
                        _ => None,
                    })
                    .collect();
            }
        }
        Vec::new()
    }

    /// Whether the body could carry arguments the flows read (a form or JSON body).
    pub fn has_argument_body(&self) -> bool {
        let content_type = self.header("content-type").unwrap_or_default();
        let declares_body = self
            .header("content-length")
            .is_some_and(|l| l.trim() != "0")
            || self.header("transfer-encoding").is_some();
        declares_body
            && (form::is_form_content_type(content_type)
                || form::is_json_content_type(content_type))
    }

    /// The Cookie header values.
    pub fn cookie_headers(&self) -> Vec<&str> {
        self.header_values("cookie")
    }

    /// Whether any cookie of these names was sent (a cookie and its chunks, built once per
    /// configuration with [`cookies::chunk_names`]).
    pub fn has_any_cookie(&self, names: &[String]) -> bool {
        cookies::has_any(&self.cookie_headers(), names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(content_type: &str, body: &str) -> IncomingRequest {
        IncomingRequest {
            method: "POST".into(),
            path: "/x?a=1&b=two%20words".into(),
            headers: vec![
                ("content-type".into(), content_type.into()),
                ("content-length".into(), body.len().to_string()),
            ],
            body: Some(body.as_bytes().to_vec()),
            ..Default::default()
        }
    }

    #[test]
    fn reads_arguments_from_query_form_and_json() {
        let form_request = request(
            "application/x-www-form-urlencoded",
            "username=john&password=doe",
        );
        assert_eq!(
            form_request.query_args(),
            vec![("a".into(), "1".into()), ("b".into(), "two words".into())]
        );
        assert_eq!(
            form::first(&form_request.body_args(), "password"),
            Some("doe")
        );
        assert!(form_request.has_argument_body());
        let json_request = request(
            "application/json",
            r#"{"username":"john","n":1,"t":true,"o":{}}"#,
        );
        let args = json_request.body_args();
        assert_eq!(form::first(&args, "username"), Some("john"));
        assert_eq!(form::first(&args, "n"), Some("1"));
        assert_eq!(form::first(&args, "t"), Some("true"));
        assert_eq!(form::first(&args, "o"), None);
        assert!(request("text/plain", "x").body_args().is_empty());
        assert!(request("application/json", "[not json")
            .body_args()
            .is_empty());
        assert_eq!(json_request.path_only(), "/x");
    }
}
