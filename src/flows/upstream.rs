//! What the upstream receives for an authenticated request: the access token header, the ID
//! token header, claim headers, and no session cookie or client credentials.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

use crate::flows::request::IncomingRequest;
use crate::flows::settings::Settings;
use crate::flows::tokens::TokenSet;
use crate::http::{cookies, form, url};
use crate::step::Forward;
use crate::token;

/// Builds the edits for a request authenticated with `tokens`.
pub fn forward(settings: &Settings, request: &IncomingRequest, tokens: &TokenSet) -> Forward {
    let config = &settings.config;
    let mut edits = Forward::default();
    let mut credential_headers_replaced = false;
    if let Some(spec) = config.upstream_access_token_header.as_deref() {
        let (name, value) = token_header(spec, tokens.access_token());
        credential_headers_replaced |= name.eq_ignore_ascii_case("authorization");
        edits.set_request_headers.push((name, value));
    }
    if let (Some(spec), Some(id_token)) = (config.upstream_id_token_header.as_deref(), tokens.id_token()) {
        let (name, value) = token_header(spec, id_token);
        credential_headers_replaced |= name.eq_ignore_ascii_case("authorization");
        edits.set_request_headers.push((name, value));
    }
    let claims = claims_of(tokens);
    for (claim, header) in config.upstream_headers_claims.iter().zip(config.upstream_headers_names.iter()) {
        if let Some(value) = claims.iter().find_map(|c| c.get(claim)) {
            edits.set_request_headers.push((header.to_ascii_lowercase(), header_value(value)));
        }
    }
    strip_session_cookie(settings, request, &mut edits);
    if config.hide_credentials {
        hide_client_credentials(request, &mut edits, credential_headers_replaced);
    }
    edits
}

/// Kong's `upstream_*_header` values: `authorization:bearer` and `authorization:basic` put the
/// token behind that scheme in `Authorization`; any other value is a header name for the raw token.
fn token_header(spec: &str, token: &str) -> (String, String) {
    match spec.split_once(':') {
        Some((name, scheme)) if scheme.eq_ignore_ascii_case("bearer") => (name.to_ascii_lowercase(), format!("Bearer {token}")),
        Some((name, scheme)) if scheme.eq_ignore_ascii_case("basic") => (name.to_ascii_lowercase(), format!("Basic {token}")),
        _ => (spec.to_ascii_lowercase(), token.to_string()),
    }
}

/// Claims to read header values from: the access token's when it is a JWT, then the ID token's.
/// Both were verified when the session was made; here they are only read.
fn claims_of(tokens: &TokenSet) -> Vec<Map<String, Value>> {
    [Some(tokens.access_token()), tokens.id_token()]
        .into_iter()
        .flatten()
        .filter(|t| token::looks_like_jwt(t))
        .filter_map(|t| token::decode_unverified(t).ok().map(|(_, claims)| claims))
        .collect()
}

/// Strings go as they are; tables as base64(JSON), as Kong sends them.
fn header_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(_) | Value::Bool(_) => value.to_string(),
        other => STANDARD.encode(other.to_string()),
    }
}

/// The session cookie and its chunks never reach the upstream.
fn strip_session_cookie(settings: &Settings, request: &IncomingRequest, edits: &mut Forward) {
    let name = &settings.config.session_cookie_name;
    if !request.has_cookie(name) {
        return;
    }
    match cookies::without(&request.cookie_headers(), |n| cookies::is_chunk_of(n, name)) {
        Some(rest) => edits.set_request_headers.push(("cookie".into(), rest)),
        None => edits.remove_request_headers.push("cookie".into()),
    }
}

/// hide_credentials: the client's own credentials (Basic header, password or token query
/// arguments) are removed before proxying.
fn hide_client_credentials(request: &IncomingRequest, edits: &mut Forward, authorization_replaced: bool) {
    if !authorization_replaced && request.header("authorization").is_some() {
        edits.remove_request_headers.push("authorization".into());
    }
    let (path, query) = url::split_path_query(&request.path);
    if query.is_none() {
        return;
    }
    let secret_args = ["username", "password", "client_id", "client_secret", "access_token", "refresh_token", "grant_type"];
    let args = request.query_args();
    if args.iter().any(|(n, _)| secret_args.contains(&n.as_str())) {
        let kept: Vec<(&str, &str)> =
            args.iter().filter(|(n, _)| !secret_args.contains(&n.as_str())).map(|(n, v)| (n.as_str(), v.as_str())).collect();
        edits.new_path = Some(if kept.is_empty() { path.to_string() } else { format!("{path}?{}", form::encode(kept)) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_header_specs() {
        assert_eq!(token_header("authorization:bearer", "t"), ("authorization".into(), "Bearer t".into()));
        assert_eq!(token_header("Authorization:Basic", "t"), ("authorization".into(), "Basic t".into()));
        assert_eq!(token_header("X-Access-Token", "t"), ("x-access-token".into(), "t".into()));
    }

    #[test]
    fn claim_values_as_kong_sends_them() {
        assert_eq!(header_value(&Value::String("a".into())), "a");
        assert_eq!(header_value(&serde_json::json!(5)), "5");
        assert_eq!(header_value(&serde_json::json!(["a"])), STANDARD.encode("[\"a\"]"));
    }
}
