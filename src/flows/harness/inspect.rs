//! Readers of what a flow sent or answered (headers, cookies, form arguments, the session it
//! saved) and the assertions the flow tests share.

use std::rc::Rc;

use serde_json::Value;

use crate::flows::harness::{basic, request, token_answer, MemoryShared, Run, NOW};
use crate::flows::Settings;
use crate::http::{form, url};
use crate::step::{CallResponse, Forward, OutboundRequest};

pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

pub(crate) fn set_cookies(headers: &[(String, String)]) -> Vec<&str> {
    headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect()
}

/// `name=value` of the first Set-Cookie, as a browser sends it back.
pub(crate) fn first_cookie(headers: &[(String, String)]) -> String {
    let cookie = set_cookies(headers).first().copied().expect("a Set-Cookie");
    cookie.split(';').next().unwrap_or_default().to_string()
}

/// `name=value` of the first Set-Cookie for `name` that is not an expiry.
pub(crate) fn cookie_named(headers: &[(String, String)], name: &str) -> Option<String> {
    set_cookies(headers)
        .into_iter()
        .filter(|c| c.starts_with(&format!("{name}=")) && !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap_or_default().to_string())
        .next()
}

/// Whether the cookie `name` is expired by these headers.
pub(crate) fn expires(headers: &[(String, String)], name: &str) -> bool {
    set_cookies(headers)
        .iter()
        .any(|c| c.starts_with(&format!("{name}=;")) && c.contains("Max-Age=0"))
}

pub(crate) fn body_of(call: &OutboundRequest) -> Vec<(String, String)> {
    form::decode(&call.body)
}

/// Checks that `call` is a POST to the token endpoint that authenticates with `authorization`,
/// and returns its form arguments.
pub(crate) fn token_request_form(
    call: &OutboundRequest,
    authorization: &str,
) -> Vec<(String, String)> {
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/token"),
        "a token request"
    );
    assert_eq!(
        header(&call.headers, "authorization"),
        Some(authorization),
        "the client's authentication"
    );
    body_of(call)
}

pub(crate) fn query_of(location: &str) -> Vec<(String, String)> {
    form::decode(
        url::split_path_query(location)
            .1
            .unwrap_or_default()
            .as_bytes(),
    )
}

pub(crate) fn arg<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form::first(pairs, name)
}

/// What the session saved by `forward` holds (Kong's layout).
pub(crate) fn session_data(settings: &Settings, forward: &Forward, now: u64) -> Value {
    let cookie = first_cookie(&forward.add_response_headers);
    let session = settings
        .session_codec("http")
        .open(&[&cookie], now)
        .unwrap();
    session.data("default").unwrap().clone()
}

/// Logs john in with the password grant over `shared` at `now`, the token endpoint answering
/// `tokens`; returns the session cookie (`name=value`). A distinct `password` keeps the token
/// cache from answering a later login.
pub(crate) fn password_login(
    settings: &Settings,
    shared: &Rc<MemoryShared>,
    password: &str,
    tokens: CallResponse,
    now: u64,
) -> String {
    let auth = basic::client_authorization("john", password);
    let mut run = Run::with_shared(
        settings,
        request("GET", "/", &[("authorization", &auth)]),
        now,
        shared.clone(),
    );
    run.feed(settings, tokens, now);
    first_cookie(&run.forward().add_response_headers)
}

/// [`password_login`] at `NOW` over `shared`, tokens `at-1`/`rt-at-1` for 300 s.
pub(crate) fn login_cookie(settings: &Settings, shared: &Rc<MemoryShared>) -> String {
    password_login(settings, shared, "doe", token_answer("at-1", 300), NOW)
}

/// [`login_cookie`] with shared data of its own.
pub(crate) fn login(settings: &Settings) -> String {
    login_cookie(settings, &Rc::default())
}

/// Asserts Kong's 401 whose log reason is `label: ...detail...`.
pub(crate) fn assert_unauthorized(run: &Run, label: &str, detail: &str) {
    let response = run.response();
    assert_eq!(response.status, 401, "{}", response.reason);
    assert_eq!(response.body, br#"{"message":"Unauthorized"}"#);
    assert_eq!(
        header(&response.headers, "www-authenticate"),
        Some(r#"Bearer realm="127.0.0.1", error="invalid_token""#)
    );
    assert_reason(run, label, detail);
}

/// Asserts Kong's 403 for claims a token lacks, whose log reason has `detail`.
pub(crate) fn assert_forbidden(run: &Run, detail: &str) {
    let response = run.response();
    assert_eq!(response.status, 403, "{}", response.reason);
    assert_eq!(response.body, br#"{"message":"Forbidden"}"#);
    assert_eq!(
        header(&response.headers, "www-authenticate"),
        Some(r#"Bearer realm="127.0.0.1", error="insufficient_scope""#)
    );
    assert_reason(run, "insufficient_scope", detail);
}

fn assert_reason(run: &Run, label: &str, detail: &str) {
    let reason = &run.response().reason;
    assert!(reason.starts_with(&format!("{label}: ")), "{reason}");
    assert!(reason.contains(detail), "{reason} lacks {detail}");
}
