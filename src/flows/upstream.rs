//! What the upstream receives for an authenticated request: the access token header, the ID
//! token header, claim headers, and no session cookie or client credentials.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

use crate::flows::request::IncomingRequest;
use crate::flows::settings::Settings;
use crate::flows::tokens::TokenSet;
use crate::flows::used_credential::UsedCredential;
use crate::http::cookies::{self, Remaining};
use crate::http::{form, url};
use crate::step::Forward;
use crate::token;

/// What an authenticated request may have besides its tokens: the introspection result, the
/// userinfo answer, and where its credential was (for `hide_credentials`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras<'a> {
    pub introspection: Option<&'a Map<String, Value>>,
    pub userinfo: Option<&'a Map<String, Value>>,
    /// `None`: the general rule (the `Authorization` header and the credential query arguments).
    pub used_credential: Option<&'a UsedCredential>,
}

/// Builds the edits for a request authenticated with `tokens`.
pub fn forward(settings: &Settings, request: &IncomingRequest, tokens: &TokenSet) -> Forward {
    forward_with(settings, request, tokens, &Extras::default())
}

/// As [`forward`], with the introspection and userinfo data for `upstream_headers_claims`,
/// `upstream_introspection_header` and `upstream_user_info_header`.
pub fn forward_with(
    settings: &Settings,
    request: &IncomingRequest,
    tokens: &TokenSet,
    extras: &Extras<'_>,
) -> Forward {
    let config = &settings.config;
    let mut edits = Forward::default();
    let mut credential_headers_replaced = false;
    if let Some(spec) = config.upstream_access_token_header.as_deref() {
        let (name, value) = token_header(spec, tokens.access_token());
        credential_headers_replaced |= name.eq_ignore_ascii_case("authorization");
        edits.set_request_headers.push((name, value));
    }
    if let (Some(spec), Some(id_token)) = (
        config.upstream_id_token_header.as_deref(),
        tokens.id_token(),
    ) {
        let (name, value) = token_header(spec, id_token);
        credential_headers_replaced |= name.eq_ignore_ascii_case("authorization");
        edits.set_request_headers.push((name, value));
    }
    // Kong's order: the introspection result, the access token, the ID token, then userinfo.
    // Decoding the tokens costs a few microseconds a request: only when claim headers are asked for.
    let token_claims = if config.upstream_headers_claims.is_empty() {
        Vec::new()
    } else {
        claims_of(tokens)
    };
    let claims: Vec<&Map<String, Value>> = extras
        .introspection
        .into_iter()
        .chain(token_claims.iter())
        .chain(extras.userinfo)
        .collect();
    for (claim, header) in config
        .upstream_headers_claims
        .iter()
        .zip(config.upstream_headers_names.iter())
    {
        if let Some(value) = claims
            .iter()
            .find_map(|c| c.get(claim))
            .filter(|v| !v.is_null())
        {
            edits
                .set_request_headers
                .push((header.to_ascii_lowercase(), header_value(value)));
        }
    }
    for (name, value) in document_headers(settings, extras) {
        credential_headers_replaced |= name.eq_ignore_ascii_case("authorization");
        edits.set_request_headers.push((name, value));
    }
    strip_filter_cookies(settings, request, None, &mut edits);
    if config.hide_credentials {
        match extras.used_credential {
            Some(used) => hide_used_credential(
                settings,
                request,
                used,
                &mut edits,
                credential_headers_replaced,
            ),
            None => hide_client_credentials(request, &mut edits, credential_headers_replaced),
        }
    }
    remove_unset_owned_headers(settings, &mut edits);
    edits
}

/// The request headers the filter writes for the upstream (token, document and claim headers).
fn owned_header_names(settings: &Settings) -> Vec<String> {
    let config = &settings.config;
    let token_headers = [
        config.upstream_access_token_header.as_deref(),
        config.upstream_id_token_header.as_deref(),
        config.upstream_introspection_header.as_deref(),
        config.upstream_user_info_header.as_deref(),
    ]
    .into_iter()
    .flatten()
    .map(|spec| token_header(spec, "").0);
    let claim_headers = config
        .upstream_headers_names
        .iter()
        .map(|name| name.to_ascii_lowercase());
    token_headers.chain(claim_headers).collect()
}

/// A header the filter owns but did not set for this request (a claim the token lacks, no ID
/// token, no userinfo) is removed from the client's request, as Kong clears them: a client's
/// own `X-User-Email: admin@example.com` must never reach the upstream as if it were a claim.
fn remove_unset_owned_headers(settings: &Settings, edits: &mut Forward) {
    for name in owned_header_names(settings) {
        let set = edits
            .set_request_headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(&name));
        let removed = edits
            .remove_request_headers
            .iter()
            .any(|n| n.eq_ignore_ascii_case(&name));
        if !set && !removed {
            edits.remove_request_headers.push(name);
        }
    }
}

/// `upstream_introspection_header` and `upstream_user_info_header`: the introspection result
/// and the userinfo answer as base64 of their JSON, as Kong sends tables.
pub fn document_headers(settings: &Settings, extras: &Extras<'_>) -> Vec<(String, String)> {
    let config = &settings.config;
    [
        (
            config.upstream_introspection_header.as_deref(),
            extras.introspection,
        ),
        (config.upstream_user_info_header.as_deref(), extras.userinfo),
    ]
    .into_iter()
    .filter_map(|(spec, document)| {
        let encoded = STANDARD.encode(Value::Object(document?.clone()).to_string());
        Some(token_header(spec?, &encoded))
    })
    .collect()
}

/// Kong's `upstream_*_header` values: `authorization:bearer` and `authorization:basic` put the
/// token behind that scheme in `Authorization`; any other value is a header name for the raw token.
fn token_header(spec: &str, token: &str) -> (String, String) {
    match spec.split_once(':') {
        Some((name, scheme)) if scheme.eq_ignore_ascii_case("bearer") => {
            (name.to_ascii_lowercase(), format!("Bearer {token}"))
        }
        Some((name, scheme)) if scheme.eq_ignore_ascii_case("basic") => {
            (name.to_ascii_lowercase(), format!("Basic {token}"))
        }
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

/// Neither the session cookie nor the authorization (login state) cookie, nor any of their
/// chunks, reaches the upstream (13.11), nor `extra` cookies (a bearer token cookie being
/// hidden). The Cookie header is replaced by one folded value: Kong's engine ignores the
/// removal of a request header, so the adapter blanks what it removes (see `proxy::http_context`).
pub fn strip_filter_cookies(
    settings: &Settings,
    request: &IncomingRequest,
    extra: Option<&str>,
    edits: &mut Forward,
) {
    // The names are built once per configuration; only a hidden bearer cookie (rare) adds one.
    let with_extra: Vec<String>;
    let names = match extra {
        Some(extra) => {
            with_extra = [
                settings.filter_cookie_names.as_slice(),
                &[extra.to_string()],
            ]
            .concat();
            &with_extra
        }
        None => &settings.filter_cookie_names,
    };
    let rest = match cookies::strip(&request.cookie_headers(), names) {
        Remaining::Unchanged => return,
        Remaining::Rest(rest) => Some(rest),
        Remaining::Nothing => None,
    };
    edits
        .set_request_headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("cookie"));
    edits
        .remove_request_headers
        .retain(|n| !n.eq_ignore_ascii_case("cookie"));
    match rest {
        Some(rest) => edits.set_request_headers.push(("cookie".into(), rest)),
        None => edits.remove_request_headers.push("cookie".into()),
    }
}

/// hide_credentials: the client's own credentials (Basic header, password or token query
/// arguments) are removed before proxying.
fn hide_client_credentials(
    request: &IncomingRequest,
    edits: &mut Forward,
    authorization_replaced: bool,
) {
    if !authorization_replaced && request.header("authorization").is_some() {
        edits.remove_request_headers.push("authorization".into());
    }
    let (path, query) = url::split_path_query(&request.path);
    if query.is_none() {
        return;
    }
    let secret_args = [
        "username",
        "password",
        "client_id",
        "client_secret",
        "access_token",
        "refresh_token",
        "grant_type",
    ];
    let args = request.query_args();
    if args.iter().any(|(n, _)| secret_args.contains(&n.as_str())) {
        let kept: Vec<(&str, &str)> = args
            .iter()
            .filter(|(n, _)| !secret_args.contains(&n.as_str()))
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        edits.new_path = Some(if kept.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", form::encode(kept))
        });
    }
}

/// hide_credentials for a credential whose place is known: exactly that header, query
/// argument, body argument or cookie goes.
fn hide_used_credential(
    settings: &Settings,
    request: &IncomingRequest,
    used: &UsedCredential,
    edits: &mut Forward,
    authorization_replaced: bool,
) {
    for name in &used.headers {
        let replaced = authorization_replaced && name.eq_ignore_ascii_case("authorization");
        if !replaced && request.header(name).is_some() {
            edits.remove_request_headers.push(name.to_ascii_lowercase());
        }
    }
    if !used.query_args.is_empty() {
        let target = edits
            .new_path
            .clone()
            .unwrap_or_else(|| request.path.clone());
        let (path, query) = url::split_path_query(&target);
        if let Some(query) = query {
            let args = form::decode(query.as_bytes());
            if args.iter().any(|(n, _)| used.query_args.contains(n)) {
                let kept: Vec<(&str, &str)> = args
                    .iter()
                    .filter(|(n, _)| !used.query_args.contains(n))
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                edits.new_path = Some(if kept.is_empty() {
                    path.to_string()
                } else {
                    format!("{path}?{}", form::encode(kept))
                });
            }
        }
    }
    if !used.body_args.is_empty() {
        if let Some(body) = body_without(request, &used.body_args) {
            edits
                .set_request_headers
                .push(("content-length".to_string(), body.len().to_string()));
            edits.new_body = Some(body);
        }
    }
    if let Some(cookie) = used.cookie.as_deref() {
        strip_filter_cookies(settings, request, Some(cookie), edits);
    }
}

/// The form or JSON-object body without the named arguments; `None` when none of them is there.
fn body_without(request: &IncomingRequest, names: &[String]) -> Option<Vec<u8>> {
    let body = request.body.as_deref()?;
    let content_type = request.header("content-type").unwrap_or_default();
    if form::is_form_content_type(content_type) {
        let args = form::decode(body);
        if !args.iter().any(|(n, _)| names.contains(n)) {
            return None;
        }
        let kept = args
            .iter()
            .filter(|(n, _)| !names.contains(n))
            .map(|(n, v)| (n.as_str(), v.as_str()));
        return Some(form::encode(kept).into_bytes());
    }
    if form::is_json_content_type(content_type) {
        let Ok(Value::Object(mut members)) = serde_json::from_slice::<Value>(body) else {
            return None;
        };
        let before = members.len();
        members.retain(|n, _| !names.contains(n));
        return (members.len() != before).then(|| Value::Object(members).to_string().into_bytes());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_header_specs() {
        assert_eq!(
            token_header("authorization:bearer", "t"),
            ("authorization".into(), "Bearer t".into())
        );
        assert_eq!(
            token_header("Authorization:Basic", "t"),
            ("authorization".into(), "Basic t".into())
        );
        assert_eq!(
            token_header("X-Access-Token", "t"),
            ("x-access-token".into(), "t".into())
        );
    }

    #[test]
    fn the_configured_filter_cookies_and_their_chunks_never_go_upstream() {
        use crate::flows::harness::{request, settings};
        let settings = settings(serde_json::json!({
            "session_cookie_name": "sid", "authorization_cookie_name": "authz",
        }));
        let strip = |cookie: &str, extra: Option<&str>| {
            let mut edits = Forward::default();
            // A Cookie edit made before is replaced, not added to.
            edits.remove_request_headers.push("Cookie".into());
            strip_filter_cookies(
                &settings,
                &request("GET", "/", &[("cookie", cookie)]),
                extra,
                &mut edits,
            );
            edits
        };
        let edits = strip(
            "a=1; SID=s; sid9=c, Authz3=x; b=2,authz=y; session=kept; at=t",
            Some("at"),
        );
        assert_eq!(edits.remove_request_headers, Vec::<String>::new());
        assert_eq!(
            edits.set_request_headers,
            [("cookie".to_string(), "a=1; b=2; session=kept".to_string())]
        );
        assert_eq!(
            strip("sid2=c; authz=y", None).remove_request_headers,
            ["cookie"]
        );
        // Nothing of the filter's: the request's Cookie header and earlier edits stay as they are.
        let edits = strip("session=a; sid10=b; authorization=c", None);
        assert_eq!(edits.remove_request_headers, ["Cookie"]);
        assert!(edits.set_request_headers.is_empty());
    }

    #[test]
    fn claim_values_as_kong_sends_them() {
        assert_eq!(header_value(&Value::String("a".into())), "a");
        assert_eq!(header_value(&serde_json::json!(5)), "5");
        assert_eq!(
            header_value(&serde_json::json!(["a"])),
            STANDARD.encode("[\"a\"]")
        );
    }
}
