//! Session checks at the identity provider (`session_idp_check_interval`) in memory: the
//! decision table (not due: no call; active; inactive; provider down with grace or refuse),
//! one check per session shared by the node's workers, and the refresh used as the check when
//! the provider has no introspection endpoint.

use crate::flows::harness::*;

const INTERVAL: u64 = 10;

fn check_settings(extra: Value) -> Settings {
    settings(merged(
        json!({"auth_methods": ["password", "session"], "session_idp_check_interval": INTERVAL}),
        extra,
    ))
}

/// A session logged in at `NOW` whose access token lasts an hour (no refresh gets in the way).
fn session_cookie(settings: &Settings, shared: &Rc<MemoryShared>) -> String {
    password_login(settings, shared, "doe", token_answer("at-1", 3600), NOW)
}

fn with_cookie(settings: &Settings, shared: &Rc<MemoryShared>, cookie: &str, now: u64) -> Run {
    Run::with_shared(
        settings,
        request("GET", "/", &[("cookie", cookie)]),
        now,
        shared.clone(),
    )
}

fn active(yes: bool) -> CallResponse {
    ok_json(json!({"active": yes}))
}

fn down() -> CallResponse {
    CallResponse {
        status: None,
        headers: vec![],
        body: b"connection refused".to_vec(),
    }
}

/// The call is the introspection of the session's refresh token.
fn assert_introspects_refresh_token(run: &Run) {
    let call = run.call();
    assert_eq!(call.path, "/token/introspection");
    let body = body_of(call);
    assert_eq!(arg(&body, "token"), Some("rt-at-1"));
    assert_eq!(arg(&body, "token_type_hint"), Some("refresh_token"));
}

#[test]
fn checks_are_off_by_default() {
    let settings = settings(json!({"auth_methods": ["password", "session"]}));
    let shared = Rc::new(MemoryShared::default());
    let cookie = session_cookie(&settings, &shared);
    let run = with_cookie(&settings, &shared, &cookie, NOW + 800);
    run.forward();
    assert_eq!(run.calls.len(), 0);
}

#[test]
fn no_call_until_the_interval_has_passed_since_the_login() {
    let settings = check_settings(json!({}));
    let shared = Rc::new(MemoryShared::default());
    let cookie = session_cookie(&settings, &shared);
    let run = with_cookie(&settings, &shared, &cookie, NOW + INTERVAL - 1);
    run.forward();
    assert!(run.calls.is_empty());
}

#[test]
fn an_active_session_is_served_and_not_asked_about_again_within_the_interval() {
    let settings = check_settings(json!({}));
    let shared = Rc::new(MemoryShared::default());
    let cookie = session_cookie(&settings, &shared);
    let mut run = with_cookie(&settings, &shared, &cookie, NOW + INTERVAL);
    assert_introspects_refresh_token(&run);
    run.feed(&settings, active(true), NOW + INTERVAL);
    run.forward();
    // Another worker of the node, later: the confirmation is shared.
    let next = with_cookie(&settings, &shared, &cookie, NOW + 2 * INTERVAL - 1);
    next.forward();
    assert!(next.calls.is_empty());
    // Due again one interval after the confirmation.
    let due = with_cookie(&settings, &shared, &cookie, NOW + 2 * INTERVAL);
    assert_introspects_refresh_token(&due);
}

#[test]
fn an_inactive_session_is_ended_as_by_a_logout() {
    let settings = check_settings(json!({}));
    let shared = Rc::new(MemoryShared::default());
    let cookie = session_cookie(&settings, &shared);
    let mut run = with_cookie(&settings, &shared, &cookie, NOW + INTERVAL);
    run.feed(&settings, active(false), NOW + INTERVAL);
    assert_unauthorized(&run, "no_credentials", "no suitable");
    let cleared = set_cookies(&run.response().headers);
    assert!(
        !cleared.is_empty()
            && cleared
                .iter()
                .all(|c| c.contains("Expires=Thu, 01 Jan 1970")),
        "{cleared:?}"
    );
    assert_eq!(shared.count(CacheKind::Ended), 1);
    // Every later copy is refused without asking again.
    let again = with_cookie(&settings, &shared, &cookie, NOW + INTERVAL + 1);
    assert_unauthorized(&again, "no_credentials", "no suitable");
    assert!(again.calls.is_empty());
}

#[test]
fn with_the_code_flow_on_an_inactive_session_goes_to_a_new_login() {
    let settings =
        check_settings(json!({"auth_methods": ["password", "session", "authorization_code"]}));
    let shared = Rc::new(MemoryShared::default());
    let cookie = session_cookie(&settings, &shared);
    let mut run = with_cookie(&settings, &shared, &cookie, NOW + INTERVAL);
    run.feed(&settings, active(false), NOW + INTERVAL);
    let response = run.response();
    assert_eq!(response.status, 302, "{}", response.reason);
    assert!(header(&response.headers, "location").is_some_and(|l| l.starts_with(ISSUER)));
    assert_eq!(shared.count(CacheKind::Ended), 1);
}

#[test]
fn a_provider_that_is_down_keeps_the_session_within_grace_and_never_ends_it() {
    let settings = check_settings(json!({"session_idp_check_grace": 100}));
    let shared = Rc::new(MemoryShared::default());
    let cookie = session_cookie(&settings, &shared);
    let mut run = with_cookie(&settings, &shared, &cookie, NOW + INTERVAL);
    run.feed(&settings, down(), NOW + INTERVAL);
    run.forward();
    // 5xx is no answer either.
    let mut busy = with_cookie(&settings, &shared, &cookie, NOW + 20);
    busy.feed(
        &settings,
        answer(503, r#"{"error":"server_error"}"#),
        NOW + 20,
    );
    busy.forward();
    // Right after a failure: no new call, the failure rule decides (served, in grace).
    let quiet = with_cookie(&settings, &shared, &cookie, NOW + 21);
    quiet.forward();
    assert!(quiet.calls.is_empty());
    // Grace over (100 s after the login, the last good confirmation): refused, not ended.
    let mut late = with_cookie(&settings, &shared, &cookie, NOW + 100);
    late.feed(&settings, down(), NOW + 100);
    assert_unauthorized(&late, "session_unconfirmed", "could not confirm");
    assert!(set_cookies(&late.response().headers).is_empty());
    assert_eq!(shared.count(CacheKind::Ended), 0);
    // The provider is back: the same cookie works again.
    let mut back = with_cookie(&settings, &shared, &cookie, NOW + 110);
    back.feed(&settings, active(true), NOW + 110);
    back.forward();
}

#[test]
fn with_refuse_a_provider_that_is_down_gets_401_without_ending_the_session() {
    let settings = check_settings(json!({"session_idp_check_failure": "refuse"}));
    let shared = Rc::new(MemoryShared::default());
    let cookie = session_cookie(&settings, &shared);
    let mut run = with_cookie(&settings, &shared, &cookie, NOW + INTERVAL);
    run.feed(&settings, down(), NOW + INTERVAL);
    assert_unauthorized(&run, "session_unconfirmed", "could not confirm");
    assert!(set_cookies(&run.response().headers).is_empty());
    // No storm: the next requests are refused without a call until the retry time.
    let quiet = with_cookie(&settings, &shared, &cookie, NOW + INTERVAL + 1);
    assert_unauthorized(&quiet, "session_unconfirmed", "could not confirm");
    assert!(quiet.calls.is_empty());
    assert_eq!(shared.count(CacheKind::Ended), 0);
    let mut back = with_cookie(&settings, &shared, &cookie, NOW + INTERVAL + 5);
    back.feed(&settings, active(true), NOW + INTERVAL + 5);
    back.forward();
}

#[test]
fn one_check_per_session_the_other_workers_wait_for_its_answer() {
    let settings = check_settings(json!({}));
    let shared = Rc::new(MemoryShared::default());
    let cookie = session_cookie(&settings, &shared);
    let now = NOW + INTERVAL;
    let mut first = with_cookie(&settings, &shared, &cookie, now);
    assert_introspects_refresh_token(&first);
    let mut second = with_cookie(&settings, &shared, &cookie, now);
    // The second polls (a GET of the discovery document) instead of asking.
    assert_eq!(second.call().method, "GET");
    assert!(second
        .call()
        .path
        .ends_with("/.well-known/openid-configuration"));
    // Still in flight: it polls again.
    second.feed(&settings, ok_json(json!({})), now);
    assert_eq!(second.call().method, "GET");
    first.feed(&settings, active(true), now);
    first.forward();
    second.feed(&settings, ok_json(json!({})), now);
    second.forward();
    assert!(second.calls.iter().all(|c| c.method == "GET"));
    // Ended by the first: the waiting one is refused too.
    let later = now + INTERVAL;
    let mut a = with_cookie(&settings, &shared, &cookie, later);
    let mut b = with_cookie(&settings, &shared, &cookie, later);
    a.feed(&settings, active(false), later);
    b.feed(&settings, ok_json(json!({})), later);
    assert_unauthorized(&b, "no_credentials", "no suitable");
    assert!(b.calls.iter().all(|c| c.method == "GET"));
}

#[test]
fn without_introspection_the_check_is_a_refresh() {
    let settings = check_settings(json!({}));
    let provider = provider_with(json!({"introspection_endpoint": null}));
    let shared = Rc::new(MemoryShared::default());
    let cookie = session_cookie(&settings, &shared);
    let start = |now: u64| {
        Run::start(
            &settings,
            request("GET", "/", &[("cookie", &cookie)]),
            Some(provider.clone()),
            now,
            shared.clone(),
        )
    };
    // A refresh that works: served with the new tokens saved in the cookie.
    let mut alive = start(NOW + INTERVAL);
    assert_eq!(
        arg(&body_of(alive.call()), "grant_type"),
        Some("refresh_token")
    );
    assert_eq!(
        arg(&body_of(alive.call()), "refresh_token"),
        Some("rt-at-1")
    );
    alive.feed(&settings, token_answer("at-2", 3600), NOW + INTERVAL);
    let forward = alive.forward();
    assert_eq!(
        session_data(&settings, forward, NOW + INTERVAL)["tokens"]["access_token"],
        "at-2"
    );
    // The provider is down: not ended (grace).
    let mut busy = start(NOW + 2 * INTERVAL);
    busy.feed(&settings, answer(502, ""), NOW + 2 * INTERVAL);
    busy.forward();
    // invalid_grant: ended.
    let mut dead = start(NOW + 3 * INTERVAL);
    dead.feed(
        &settings,
        answer(400, r#"{"error":"invalid_grant"}"#),
        NOW + 3 * INTERVAL,
    );
    assert_unauthorized(&dead, "no_credentials", "no suitable");
    assert_eq!(shared.count(CacheKind::Ended), 1);
}
