//! Requests to the identity provider, built the same way for every endpoint.

use crate::flows::client_auth;
use crate::flows::settings::Settings;
use crate::http::url::HttpUrl;
use crate::step::OutboundRequest;

/// Why a request to the identity provider could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Neither the configuration nor the provider's documents name the endpoint (`token`,
    /// `revocation`).
    #[error("{0} endpoint was not specified")]
    NoEndpoint(&'static str),
    /// An endpoint a form is posted to is not an absolute http(s) URL.
    #[error("invalid endpoint URL {0}")]
    BadEndpoint(String),
    /// A URL to GET is not an absolute http(s) URL.
    #[error("invalid URL {0}")]
    BadUrl(String),
}

/// A form POST to an identity provider endpoint.
pub fn form_post(
    settings: &Settings,
    endpoint: &str,
    mut headers: Vec<(String, String)>,
    body: &[(String, String)],
) -> Result<OutboundRequest, CallError> {
    let url =
        HttpUrl::parse(endpoint).ok_or_else(|| CallError::BadEndpoint(endpoint.to_string()))?;
    headers.push((
        "content-type".into(),
        "application/x-www-form-urlencoded; charset=utf-8".into(),
    ));
    headers.push(("accept".into(), "application/json".into()));
    Ok(OutboundRequest {
        method: "POST".into(),
        scheme: url.scheme,
        authority: url.authority,
        path: url.path_and_query,
        headers,
        body: client_auth::encode_body(body),
        timeout_ms: settings.config.timeout,
    })
}

/// A GET to an identity provider URL (discovery, JWKS, a followed redirect).
pub fn get(settings: &Settings, url: &str) -> Result<OutboundRequest, CallError> {
    let parsed = HttpUrl::parse(url).ok_or_else(|| CallError::BadUrl(url.to_string()))?;
    Ok(OutboundRequest {
        method: "GET".into(),
        scheme: parsed.scheme,
        authority: parsed.authority,
        path: parsed.path_and_query,
        headers: vec![("accept".into(), "application/json".into())],
        body: Vec::new(),
        timeout_ms: settings.config.timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::harness::fixtures;
    use serde_json::json;

    #[test]
    fn a_url_the_filter_cannot_call_is_an_error_naming_it() {
        let settings = fixtures::settings(json!({}));
        let post = form_post(&settings, "idp/token", Vec::new(), &[]);
        assert_eq!(post, Err(CallError::BadEndpoint("idp/token".into())));
        assert_eq!(
            post.map_err(|e| e.to_string()),
            Err("invalid endpoint URL idp/token".to_string())
        );
        assert_eq!(
            get(&settings, "ftp://idp/x").map_err(|e| e.to_string()),
            Err("invalid URL ftp://idp/x".to_string())
        );
        assert_eq!(
            CallError::NoEndpoint("revocation").to_string(),
            "revocation endpoint was not specified"
        );
    }
}
