//! Sessions in memory: a session cookie authenticates without the provider, its tokens are
//! refreshed when they expire, and a bad, idle or foreign cookie is refused and destroyed.

use crate::flows::harness::*;

#[test]
fn a_session_authenticates_without_calling_the_provider_and_never_reaches_the_upstream() {
    let settings = settings(json!({"auth_methods": ["session", "password"]}));
    let cookie = login(&settings);
    let cookie_header = format!("theme=dark; {cookie}; lang=en");
    let run = Run::get(&settings, ("cookie", &cookie_header), NOW + 10);
    let forward = run.forward();
    assert!(run.calls.is_empty());
    assert_eq!(
        header(&forward.set_request_headers, "authorization"),
        Some("Bearer at-1")
    );
    assert_eq!(
        header(&forward.set_request_headers, "cookie"),
        Some("theme=dark; lang=en")
    );

    // A session wins over Basic credentials (no password grant while a session exists).
    let auth = basic::client_authorization("john", "other");
    let run = Run::new(
        &settings,
        request("GET", "/", &[("cookie", &cookie), ("authorization", &auth)]),
        NOW + 10,
    );
    assert!(run.calls.is_empty());
    assert_eq!(
        header(&run.forward().set_request_headers, "authorization"),
        Some("Bearer at-1")
    );
}

#[test]
fn session_is_not_used_when_the_method_is_not_enabled() {
    let settings = settings(json!({"auth_methods": ["password"]}));
    // Without the session method no session is made (Kong); one made elsewhere is not read.
    let cookie = login(&self::settings(json!({})));
    let run = Run::get(&settings, ("cookie", &cookie), NOW + 10);
    assert_eq!(run.response().status, 401);
}

#[test]
fn an_expired_access_token_is_refreshed_with_the_refresh_token() {
    let settings = settings(json!({}));
    let cookie = login(&settings);
    let later = NOW + 301;
    let mut run = Run::get(&settings, ("cookie", &cookie), later);
    let body = body_of(run.last_call());
    assert_eq!(arg(&body, "grant_type"), Some("refresh_token"));
    assert_eq!(arg(&body, "refresh_token"), Some("rt-at-1"));
    run.feed(
        &settings,
        ok_json(json!({"access_token": "at-2", "expires_in": 300})),
        later,
    );
    let forward = run.forward();
    assert_eq!(
        header(&forward.set_request_headers, "authorization"),
        Some("Bearer at-2")
    );
    let new_cookie = first_cookie(&forward.add_response_headers);
    let session = settings
        .session_codec("http")
        .open(&[&new_cookie], later)
        .unwrap();
    let data = session.data("default").unwrap();
    assert_eq!(
        data["tokens"]["refresh_token"], "rt-at-1",
        "kept when the provider omits it"
    );
    assert_eq!(data["expires"], later + 300);

    // A refused refresh is 401 and the session is destroyed.
    let mut run = Run::get(&settings, ("cookie", &cookie), later);
    run.feed(
        &settings,
        answer(400, r#"{"error":"invalid_grant"}"#),
        later,
    );
    assert_eq!(run.response().status, 401);
    assert!(set_cookies(&run.response().headers)
        .iter()
        .any(|c| c.starts_with("session=;")));

    // refresh_tokens=false: an expired token is simply 401.
    let no_refresh = self::settings(json!({"refresh_tokens": false}));
    let cookie = login(&no_refresh);
    let run = Run::get(&no_refresh, ("cookie", &cookie), later);
    assert_eq!(run.response().status, 401);
    assert!(run.calls.is_empty());
}

#[test]
fn a_bad_session_cookie_is_401_and_destroyed() {
    let settings = settings(json!({"auth_methods": ["session", "password"]}));
    let cookie = login(&settings);
    let tampered = format!("{}x", &cookie[..cookie.len() - 1]);
    for bad in [tampered.as_str(), "session=AAAA", "session=", "SESSION=%%"] {
        let run = Run::get(&settings, ("cookie", bad), NOW);
        let response = run.response();
        assert_eq!(response.status, 401, "{bad}");
        assert!(
            set_cookies(&response.headers)
                .iter()
                .any(|c| c.starts_with("session=;") && c.contains("Max-Age=0")),
            "{bad}"
        );
    }
    // Idle for longer than session_idling_timeout (900 s).
    let run = Run::get(&settings, ("cookie", &cookie), NOW + 901);
    assert_eq!(run.response().status, 401);
}

#[test]
fn secure_cookies_follow_the_scheme_unless_configured() {
    let settings = settings(json!({}));
    let auth = basic::client_authorization("john", "doe");
    let mut https = request("GET", "/", &[("authorization", &auth)]);
    https.scheme = "https".into();
    let mut run = Run::new(&settings, https, NOW);
    run.feed(&settings, token_answer("at", 300), NOW);
    assert!(set_cookies(&run.forward().add_response_headers)[0].contains("; Secure"));
    let cookie = login(&settings);
    assert!(!cookie.contains("Secure"));
}
