//! One refresh per session in memory: concurrent requests of a session wait on one lock in
//! the shared data, a vanished holder's lease ends, and a refused refresh gives the lock back.

use crate::flows::harness::*;

#[test]
fn concurrent_requests_of_a_session_share_one_refresh() {
    let settings = settings(json!({"auth_methods": ["password", "session"]}));
    let shared = Rc::new(MemoryShared::default());
    let cookie = login_cookie(&settings, &shared);
    let later = NOW + 301;
    let with_cookie = || request("GET", "/", &[("cookie", &cookie)]);

    let mut first = Run::with_shared(&settings, with_cookie(), later, shared.clone());
    assert_eq!(
        arg(&body_of(first.last_call()), "grant_type"),
        Some("refresh_token")
    );
    let mut second = Run::with_shared(&settings, with_cookie(), later, shared.clone());
    let mut third = Run::with_shared(&settings, with_cookie(), later, shared.clone());
    for waiting in [&second, &third] {
        let poll = waiting.last_call();
        assert_eq!(
            (poll.method.as_str(), poll.path.as_str()),
            ("GET", "/.well-known/openid-configuration")
        );
    }
    // A poll that comes back before the refresh finished polls again.
    second.feed(&settings, ok_json(metadata(json!({}))), later);
    assert_eq!(second.last_call().path, "/.well-known/openid-configuration");

    let refreshed = ok_json(
        json!({"access_token": "at-2", "expires_in": 300, "id_token": id_token(json!({"iat": later, "exp": later + 300}))}),
    );
    first.feed(&settings, refreshed, later);
    assert_eq!(
        header(&first.forward().set_request_headers, "authorization"),
        Some("Bearer at-2")
    );
    second.feed(&settings, ok_json(metadata(json!({}))), later);
    third.feed(&settings, CallResponse::default(), later);
    for run in [&first, &second, &third] {
        let forward = run.forward();
        assert_eq!(
            header(&forward.set_request_headers, "authorization"),
            Some("Bearer at-2")
        );
        assert_eq!(
            session_data(&settings, forward, later)["tokens"]["refresh_token"],
            "rt-at-1"
        );
    }
    let token_calls = [&first, &second, &third]
        .iter()
        .flat_map(|r| r.calls.iter())
        .filter(|c| c.path == "/token")
        .count();
    assert_eq!(token_calls, 1, "one refresh for the session");
    assert!(shared.locks_held().is_empty(), "the lock was given back");

    // A request that comes later with the old cookie takes the shared tokens at once.
    let late = Run::with_shared(&settings, with_cookie(), later + 5, shared.clone());
    assert!(late.calls.is_empty());
    assert_eq!(
        header(&late.forward().set_request_headers, "authorization"),
        Some("Bearer at-2")
    );
}

#[test]
fn a_lock_whose_holder_vanished_is_taken_over_after_its_lease_and_polls_are_bounded() {
    let settings = settings(json!({"auth_methods": ["password", "session"], "timeout": 2000}));
    let shared = Rc::new(MemoryShared::default());
    let cookie = login_cookie(&settings, &shared);
    let later = NOW + 301;
    let holder = Run::get_over(&settings, ("cookie", &cookie), later, &shared);
    assert_eq!(holder.last_call().path, "/token");
    // The holder never hears back (its worker died). After the lease (timeout + 1 s) the
    // waiter takes the lock and refreshes itself.
    let mut waiter = Run::get_over(&settings, ("cookie", &cookie), later, &shared);
    waiter.feed(&settings, ok_json(metadata(json!({}))), later + 1);
    assert_eq!(waiter.last_call().path, "/.well-known/openid-configuration");
    waiter.feed(&settings, ok_json(metadata(json!({}))), later + 3);
    assert_eq!(waiter.last_call().path, "/token");
    waiter.feed(&settings, token_answer("at-3", 300), later + 3);
    assert_eq!(
        header(&waiter.forward().set_request_headers, "authorization"),
        Some("Bearer at-3")
    );

    // A lease that never ends (a stuck slot): after MAX_POLLS polls the waiter refreshes anyway.
    let stuck = Rc::new(MemoryShared::default());
    let cookie = login_cookie(&settings, &stuck);
    let mut first = Run::get_over(&settings, ("cookie", &cookie), later, &stuck);
    assert_eq!(first.last_call().path, "/token");
    stuck.hold_locks_forever();
    let mut waiter = Run::get_over(&settings, ("cookie", &cookie), later, &stuck);
    let mut polls = 0;
    while waiter.last_call().path != "/token" {
        polls += 1;
        assert!(polls <= 200, "polls are bounded");
        waiter.feed(&settings, CallResponse::default(), later);
    }
    assert_eq!(polls, 200);
    assert!(waiter.notes().contains("did not finish after 200 polls"));
    first.feed(
        &settings,
        answer(400, r#"{"error":"invalid_grant"}"#),
        later,
    );
    assert_eq!(first.response().status, 401);
}

#[test]
fn a_refused_refresh_releases_the_lock_and_the_session_ends() {
    let settings = settings(json!({"auth_methods": ["password", "session"]}));
    let shared = Rc::new(MemoryShared::default());
    let cookie = login_cookie(&settings, &shared);
    let later = NOW + 301;
    let mut first = Run::get_over(&settings, ("cookie", &cookie), later, &shared);
    let mut second = Run::get_over(&settings, ("cookie", &cookie), later, &shared);
    first.feed(
        &settings,
        answer(400, r#"{"error":"invalid_grant"}"#),
        later,
    );
    assert_unauthorized(&first, "refresh_failed", "invalid_grant");
    assert!(shared.locks_held().is_empty());
    // The waiter then tries itself (and is refused the same way).
    second.feed(&settings, ok_json(metadata(json!({}))), later);
    assert_eq!(second.last_call().path, "/token");
    second.feed(
        &settings,
        answer(400, r#"{"error":"invalid_grant"}"#),
        later,
    );
    assert_eq!(second.response().status, 401);
}
