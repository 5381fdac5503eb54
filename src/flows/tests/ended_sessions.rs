//! Ended sessions in memory: a copy of a logged-out or destroyed session is refused on the
//! node, and tokens revoked at logout are never forwarded from another session.

use crate::flows::harness::*;

fn logout_settings() -> Settings {
    settings(
        json!({"auth_methods": ["password", "session"], "logout_uri_suffix": "/logout",
                    "logout_methods": ["POST"]}),
    )
}

/// Logs out with `cookie` (no revocation: the answer comes at once).
fn log_out(settings: &Settings, shared: &Rc<MemoryShared>, cookie: &str, now: u64) {
    let logout = Run::with_shared(
        settings,
        request("POST", "/logout", &[("cookie", cookie)]),
        now,
        shared.clone(),
    );
    assert!(logout.calls.is_empty());
    assert!(matches!(logout.last(), Step::Respond(_)));
}

/// Marks tokens revoked as a logout with `logout_revoke` does (that logout leaves these marks
/// is `tokens_revoked_at_logout_are_never_served_from_the_caches`).
fn revoke(shared: &Rc<MemoryShared>, access: &str, until: u64) {
    let tokens = crate::flows::tokens::TokenSet::from_session_value(
        &json!({"access_token": access, "refresh_token": format!("rt-{access}")}),
    )
    .unwrap();
    crate::flows::token_cache::mark_revoked(shared.as_ref(), &tokens, until);
}

/// Issue 10, part 1: a copy of the cookie taken before logout is refused by the next request
/// (every worker reads the same shared data), with its cookies expired; the user's other
/// sessions are not touched. It failed before: the copy was forwarded with its tokens.
#[test]
fn a_copy_of_a_logged_out_session_is_refused_at_once() {
    let settings = logout_settings();
    let shared = Rc::new(MemoryShared::default());
    let copy = login_cookie(&settings, &shared);
    let run = Run::get_over(&settings, ("cookie", &copy), NOW + 1, &shared);
    run.forward();
    // Another login of the same user, later: another session.
    let other = {
        let auth = basic::client_authorization("john", "doe");
        let no_cache =
            self::settings(json!({"auth_methods": ["password", "session"], "cache_tokens": false}));
        let mut run = Run::get_over(&no_cache, ("authorization", &auth), NOW + 5, &shared);
        run.feed(&no_cache, token_answer("at-other", 300), NOW + 5);
        first_cookie(&run.forward().add_response_headers)
    };

    log_out(&settings, &shared, &copy, NOW + 10);
    assert_eq!(shared.count(CacheKind::Ended), 1);

    let mut replay = Run::get_over(&settings, ("cookie", &copy), NOW + 11, &shared);
    assert_unauthorized(&replay, "no_credentials", "no suitable");
    let expired = set_cookies(&replay.response().headers);
    assert!(
        !expired.is_empty()
            && expired
                .iter()
                .all(|c| c.contains("Expires=Thu, 01 Jan 1970")),
        "{expired:?}"
    );
    assert!(replay.notes().contains("ended on this node"));

    let run = Run::get_over(&settings, ("cookie", &other), NOW + 11, &shared);
    run.forward();
}

/// Issue 10, part 1: a session the filter destroys for another reason (here a 403 with
/// `forbidden_destroy_session`) is ended on the node too.
#[test]
fn a_session_destroyed_by_a_refusal_is_ended_on_the_node() {
    let settings =
        self::settings(json!({"auth_methods": ["password", "session"], "cache_tokens": false}));
    let shared = Rc::new(MemoryShared::default());
    let cookie = login_cookie(&settings, &shared);
    let strict = self::settings(
        json!({"auth_methods": ["password", "session"], "scopes_required": ["admin"]}),
    );
    let mut run = Run::get_over(&strict, ("cookie", &cookie), NOW + 1, &shared);
    // The opaque access token is introspected for its scopes.
    run.feed(
        &strict,
        ok_json(json!({"active": true, "scope": "openid"})),
        NOW + 1,
    );
    assert_eq!(run.response().status, 403);
    let again = Run::get_over(&settings, ("cookie", &cookie), NOW + 2, &shared);
    assert_eq!(again.response().status, 401);
}

/// Finding 13.9: another session holding tokens a logout revoked (two logins served by the
/// token cache share them) never forwards them. It failed before: the second session was
/// forwarded with the revoked access token.
#[test]
fn a_session_holding_revoked_tokens_never_forwards_them() {
    let settings = logout_settings();
    let shared = Rc::new(MemoryShared::default());
    login_cookie(&settings, &shared);
    let auth = basic::client_authorization("john", "doe");
    let second_login = Run::get_over(&settings, ("authorization", &auth), NOW + 5, &shared);
    assert!(second_login.calls.is_empty(), "served by the token cache");
    let second = first_cookie(&second_login.forward().add_response_headers);

    revoke(&shared, "at-1", NOW + 300);
    let run = Run::get_over(&settings, ("cookie", &second), NOW + 11, &shared);
    assert_unauthorized(&run, "invalid_token", "revoked at logout");
    assert!(
        !set_cookies(&run.response().headers).is_empty(),
        "the session is destroyed"
    );
}

/// Finding 13.9, the refreshed-tokens cache: tokens one copy's refresh got and a logout then
/// revoked are not picked up by another copy of the session.
#[test]
fn refreshed_tokens_revoked_at_logout_are_not_picked_up() {
    let settings = logout_settings();
    let shared = Rc::new(MemoryShared::default());
    let copy = login_cookie(&settings, &shared);
    let later = NOW + 301;
    let mut refresh = Run::get_over(&settings, ("cookie", &copy), later, &shared);
    refresh.feed(&settings, token_answer("at-2", 300), later);
    let refreshed = first_cookie(&refresh.forward().add_response_headers);
    // A logout with the refreshed cookie revokes at-2 (and its refresh token).
    assert!(refreshed.starts_with("session="));
    revoke(&shared, "at-2", later + 300);
    let replay = Run::get_over(&settings, ("cookie", &copy), later + 2, &shared);
    // Not forwarded with at-2: the copy refreshes with its own refresh token instead.
    assert_eq!(
        arg(&body_of(replay.last_call()), "refresh_token"),
        Some("rt-at-1")
    );
}

/// Three requests with `cookie`, each forwarded: from the second on the worker has found the
/// remembered session unmarked at the current marks generation.
fn forwarded_again_and_again(settings: &Settings, shared: &Rc<MemoryShared>, cookie: &str) {
    for second in 1..=3 {
        Run::get_over(settings, ("cookie", cookie), NOW + second, shared).forward();
    }
}

/// Issue 11: a worker that found a remembered cookie unmarked skips reading the marks while
/// the marks generation stays the same; a logout's mark moves it, so the very next request
/// with a copy reads the marks again and is refused. Fails with the generation not moved.
#[test]
fn a_session_found_unmarked_before_is_refused_after_a_logout() {
    let settings = logout_settings();
    let shared = Rc::new(MemoryShared::default());
    let copy = login_cookie(&settings, &shared);
    forwarded_again_and_again(&settings, &shared, &copy);
    log_out(&settings, &shared, &copy, NOW + 10);
    let replay = Run::get_over(&settings, ("cookie", &copy), NOW + 11, &shared);
    assert_unauthorized(&replay, "no_credentials", "no suitable");
}

/// The same for the revocation marks: tokens revoked after the session was found unmarked.
#[test]
fn a_session_found_unmarked_before_is_refused_after_its_tokens_are_revoked() {
    let settings = logout_settings();
    let shared = Rc::new(MemoryShared::default());
    let cookie = login_cookie(&settings, &shared);
    forwarded_again_and_again(&settings, &shared, &cookie);
    revoke(&shared, "at-1", NOW + 300);
    let run = Run::get_over(&settings, ("cookie", &cookie), NOW + 11, &shared);
    assert_unauthorized(&run, "invalid_token", "revoked at logout");
}
