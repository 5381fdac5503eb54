//! What a successful browser login ends with, by `login_action`: the callback request proxied
//! without its authorization response (`upstream`), the tokens in a 200 answer (`response`), or
//! a redirect to `login_redirect_uri` or the page that started the login (`redirect`).

use serde_json::{Map, Value};

use crate::config::{LoginAction, LoginRedirectMode, LoginToken};
use crate::flows::authorization_code::callback::RESPONSE_ARGUMENTS;
use crate::flows::request::IncomingRequest;
use crate::flows::settings::Settings;
use crate::flows::tokens::TokenSet;
use crate::flows::upstream;
use crate::http::{form, url};
use crate::session::base64url;
use crate::step::{Forward, LocalResponse, Step};

/// A code login between its callback and its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeLogin {
    /// The nonce the ID token must carry (`None` when `verify_nonce` is off).
    pub nonce: Option<String>,
    /// The URL that started the login.
    pub uri: String,
    /// Its query, when `preserve_query_args` kept it.
    pub uri_args: Option<String>,
    /// Set-Cookie values that expire the authorization cookie.
    pub clear_cookies: Vec<String>,
    /// Whether the authorization response came in a form body (`form_post`).
    pub args_from_body: bool,
}

/// The step that ends the login; `set_cookies` are the new session's cookies.
pub fn finish(
    settings: &Settings,
    request: &IncomingRequest,
    tokens: &TokenSet,
    login: CodeLogin,
    set_cookies: Vec<String>,
) -> Step {
    // The authorization cookie's expiry first and the session last: Kong's engine keeps only
    // the last `Set-Cookie` of a local response (login_action=redirect), and losing the
    // session would end the login; the authorization cookie then lives until its own expiry.
    // The session's chunks are reversed so that its first cookie comes last.
    let mut cookies = login.clear_cookies.clone();
    cookies.extend(set_cookies.into_iter().rev());
    let config = &settings.config;
    match config.login_action {
        LoginAction::Response => Step::Respond(token_response(settings, tokens, cookies)),
        LoginAction::Redirect => {
            let base = config
                .login_redirect_uri()
                .map(str::to_string)
                .unwrap_or_else(|| login.uri.clone());
            let preserved = login
                .uri_args
                .as_deref()
                .filter(|_| config.preserve_query_args);
            let location = redirect_location(
                &base,
                preserved,
                &login_token_args(&config.login_tokens, tokens),
                config.login_redirect_mode,
            );
            let mut headers = vec![
                ("cache-control".to_string(), "no-store".to_string()),
                ("location".to_string(), location),
            ];
            headers.extend(cookies.into_iter().map(|c| ("set-cookie".to_string(), c)));
            Step::Respond(LocalResponse {
                status: 302,
                headers,
                body: Vec::new(),
                reason: "authorization code login: redirect".into(),
            })
        }
        LoginAction::Upstream => Step::Forward(upstream_callback(
            settings, request, tokens, &login, cookies,
        )),
    }
}

/// The callback request as the upstream gets it: authenticated, without the authorization
/// response (query or form body), without the filter's cookies, and with the original query
/// back when `preserve_query_args` kept it.
fn upstream_callback(
    settings: &Settings,
    request: &IncomingRequest,
    tokens: &TokenSet,
    login: &CodeLogin,
    set_cookies: Vec<String>,
) -> Forward {
    let config = &settings.config;
    let mut forward = upstream::forward(settings, request, tokens);
    let target = forward
        .new_path
        .clone()
        .unwrap_or_else(|| request.path.clone());
    let (path, query) = url::split_path_query(&target);
    let new_path = match login
        .uri_args
        .as_deref()
        .filter(|_| config.preserve_query_args)
    {
        Some(original) => format!("{path}?{original}"),
        None => match query
            .map(without_response_arguments)
            .filter(|q| !q.is_empty())
        {
            Some(kept) => format!("{path}?{kept}"),
            None => path.to_string(),
        },
    };
    if new_path != request.path {
        forward.new_path = Some(new_path);
    }
    if login.args_from_body {
        let kept: Vec<(String, String)> = request
            .body_args()
            .into_iter()
            .filter(|(name, _)| !RESPONSE_ARGUMENTS.contains(&name.as_str()))
            .collect();
        let body = form::encode(kept.iter().map(|(n, v)| (n.as_str(), v.as_str()))).into_bytes();
        forward
            .set_request_headers
            .push(("content-length".to_string(), body.len().to_string()));
        forward.new_body = Some(body);
    }
    strip_filter_cookies(settings, request, &mut forward);
    forward.add_response_headers.extend(
        set_cookies
            .into_iter()
            .map(|c| ("set-cookie".to_string(), c)),
    );
    forward
}

/// The query without the authorization response's arguments; the others stay as sent.
fn without_response_arguments(query: &str) -> String {
    query
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            let decoded = form::decode(format!("{name}=").as_bytes());
            let name = decoded.first().map(|(n, _)| n.as_str()).unwrap_or(name);
            !pair.is_empty() && !RESPONSE_ARGUMENTS.contains(&name)
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Neither the session nor the authorization cookie reaches the upstream.
fn strip_filter_cookies(settings: &Settings, request: &IncomingRequest, forward: &mut Forward) {
    crate::flows::upstream::strip_filter_cookies(settings, request, None, forward);
}

/// `login_action=response`: the login tokens as JSON (the whole token response for `tokens`),
/// 204 when there are none, as Kong answers.
fn token_response(settings: &Settings, tokens: &TokenSet, cookies: Vec<String>) -> LocalResponse {
    let listed = &settings.config.login_tokens;
    let body = if listed.contains(&LoginToken::Tokens) {
        tokens.to_value()
    } else {
        let mut chosen = Map::new();
        for token in listed {
            if let Some(value) = token_value(*token, tokens) {
                chosen.insert(token.as_str().to_string(), value);
            }
        }
        Value::Object(chosen)
    };
    let empty = body.as_object().is_some_and(Map::is_empty);
    let mut headers = vec![("cache-control".to_string(), "no-store".to_string())];
    if !empty {
        headers.push((
            "content-type".to_string(),
            "application/json; charset=utf-8".to_string(),
        ));
    }
    headers.extend(cookies.into_iter().map(|c| ("set-cookie".to_string(), c)));
    let (status, body) = if empty {
        (204, Vec::new())
    } else {
        (200, body.to_string().into_bytes())
    };
    LocalResponse {
        status,
        headers,
        body,
        reason: "authorization code login: tokens answered".into(),
    }
}

/// One login token's value: the token endpoint's field; nothing for `introspection` (a code
/// login introspects nothing) or a token the provider did not issue.
fn token_value(token: LoginToken, tokens: &TokenSet) -> Option<Value> {
    match token {
        LoginToken::Tokens => Some(tokens.to_value()),
        LoginToken::Introspection => None,
        other => tokens
            .to_value()
            .get(other.as_str())
            .filter(|v| !v.is_null())
            .cloned(),
    }
}

/// `name=value` pairs for the redirect: strings as they are, the whole `tokens` object as
/// base64url(JSON) (Kong's encoding).
fn login_token_args(listed: &[LoginToken], tokens: &TokenSet) -> Vec<(String, String)> {
    listed
        .iter()
        .filter_map(|token| {
            let value = token_value(*token, tokens)?;
            let text = match &value {
                Value::String(s) => s.clone(),
                Value::Object(_) | Value::Array(_) => {
                    base64url::encode(value.to_string().as_bytes())
                }
                other => other.to_string(),
            };
            Some((token.as_str().to_string(), text))
        })
        .collect()
}

/// The redirect target: the base URL, the preserved query appended to its query, and the
/// tokens in the query or the fragment.
fn redirect_location(
    base: &str,
    preserved: Option<&str>,
    tokens: &[(String, String)],
    mode: LoginRedirectMode,
) -> String {
    let (without_fragment, fragment) = match base.split_once('#') {
        Some((url, fragment)) => (url, Some(fragment)),
        None => (base, None),
    };
    let (address, query) = match without_fragment.split_once('?') {
        Some((address, query)) => (address, Some(query)),
        None => (without_fragment, None),
    };
    let mut query: Vec<String> = query
        .map(|q| q.trim_end_matches('&'))
        .filter(|q| !q.is_empty())
        .map(str::to_string)
        .into_iter()
        .collect();
    let mut fragment: Vec<String> = fragment
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .into_iter()
        .collect();
    if let Some(preserved) = preserved
        .map(|p| p.trim_end_matches('&'))
        .filter(|p| !p.is_empty())
    {
        query.push(preserved.to_string());
    }
    if !tokens.is_empty() {
        let encoded = form::encode(tokens.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        match mode {
            LoginRedirectMode::Query => query.push(encoded),
            LoginRedirectMode::Fragment => fragment.push(encoded),
        }
    }
    let mut location = address.to_string();
    if !query.is_empty() {
        location.push('?');
        location.push_str(&query.join("&"));
    }
    if !fragment.is_empty() {
        location.push('#');
        location.push_str(&fragment.join("&"));
    }
    location
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_arguments_leave_the_query() {
        assert_eq!(
            without_response_arguments("code=c&state=s&x=1&iss=http%3A%2F%2Fi&session_state=z"),
            "x=1"
        );
        assert_eq!(
            without_response_arguments("%63ode=c&y=%20&&response=r"),
            "y=%20"
        );
        assert_eq!(without_response_arguments("code=c"), "");
    }

    #[test]
    fn redirect_locations_as_kong_builds_them() {
        let tokens = vec![("id_token".to_string(), "a.b.c".to_string())];
        assert_eq!(
            redirect_location("https://app/p", None, &tokens, LoginRedirectMode::Fragment),
            "https://app/p#id_token=a.b.c"
        );
        assert_eq!(
            redirect_location(
                "https://app/p?a=1&",
                Some("x=2"),
                &tokens,
                LoginRedirectMode::Query
            ),
            "https://app/p?a=1&x=2&id_token=a.b.c"
        );
        assert_eq!(
            redirect_location(
                "https://app/p#f",
                Some("x=2"),
                &tokens,
                LoginRedirectMode::Fragment
            ),
            "https://app/p?x=2#f&id_token=a.b.c"
        );
        assert_eq!(
            redirect_location("https://app/p", None, &[], LoginRedirectMode::Fragment),
            "https://app/p"
        );
    }
}
