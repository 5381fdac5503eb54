//! Requests to the identity provider, built the same way for every endpoint.

use crate::flows::client_auth;
use crate::flows::settings::Settings;
use crate::http::url::HttpUrl;
use crate::step::OutboundRequest;

/// A form POST to an identity provider endpoint.
pub fn form_post(
    settings: &Settings,
    endpoint: &str,
    mut headers: Vec<(String, String)>,
    body: &[(String, String)],
) -> Result<OutboundRequest, String> {
    let url = HttpUrl::parse(endpoint).ok_or_else(|| format!("invalid endpoint URL {endpoint}"))?;
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
pub fn get(settings: &Settings, url: &str) -> Result<OutboundRequest, String> {
    let parsed = HttpUrl::parse(url).ok_or_else(|| format!("invalid URL {url}"))?;
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
