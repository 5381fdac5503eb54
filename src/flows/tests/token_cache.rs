//! The token cache in memory: grants answered from the shared data until the tokens expire,
//! never once they no longer verify or were revoked at logout.

use crate::flows::harness::*;

#[test]
fn the_token_cache_spares_the_token_endpoint_and_expires_with_the_token() {
    let settings = settings(json!({"auth_methods": ["password", "session"]}));
    let shared = Rc::new(MemoryShared::default());
    let auth = basic::client_authorization("john", "doe");
    let mut run = Run::get_over(&settings, ("authorization", &auth), NOW, &shared);
    run.feed(&settings, token_answer("at-c", 300), NOW);
    run.forward();
    assert_eq!(shared.count(CacheKind::Tokens), 1);

    let run = Run::get_over(&settings, ("authorization", &auth), NOW + 100, &shared);
    assert!(run.calls.is_empty(), "served from the token cache");
    assert_eq!(
        header(&run.forward().set_request_headers, "authorization"),
        Some("Bearer at-c")
    );
    // Other credentials, or the same after the token expired: the token endpoint.
    let other = basic::client_authorization("john", "other");
    let run = Run::get_over(&settings, ("authorization", &other), NOW + 100, &shared);
    assert_eq!(run.calls.len(), 1);
    let run = Run::get_over(&settings, ("authorization", &auth), NOW + 300, &shared);
    assert_eq!(run.calls.len(), 1);

    // cache_tokens=false asks every time.
    let uncached = self::settings(json!({"auth_methods": ["password"], "cache_tokens": false}));
    let shared = Rc::new(MemoryShared::default());
    let mut run = Run::get_over(&uncached, ("authorization", &auth), NOW, &shared);
    run.feed(&uncached, token_answer("at", 300), NOW);
    let run = Run::get_over(&uncached, ("authorization", &auth), NOW, &shared);
    assert_eq!(run.calls.len(), 1);
}

#[test]
fn cached_tokens_that_no_longer_verify_are_asked_for_again() {
    let settings = settings(json!({"auth_methods": ["password"]}));
    let shared = Rc::new(MemoryShared::default());
    let auth = basic::client_authorization("john", "doe");
    let mut run = Run::get_over(&settings, ("authorization", &auth), NOW, &shared);
    run.feed(&settings, token_answer("at-1", 3600), NOW);
    // An hour later the cached ID token (exp NOW+300) has expired: verify fails, ask anew.
    let later = NOW + 1000;
    let mut run = Run::get_over(&settings, ("authorization", &auth), later, &shared);
    let notes = run.notes();
    assert_eq!(run.last_call().path, "/token", "{notes}");
    let fresh = ok_json(
        json!({"access_token": "at-2", "id_token": id_token(json!({"iat": later, "exp": later + 300})), "expires_in": 3600}),
    );
    run.feed(&settings, fresh, later);
    assert_eq!(
        header(&run.forward().set_request_headers, "authorization"),
        Some("Bearer at-2")
    );
}

#[test]
fn tokens_revoked_at_logout_are_never_served_from_the_caches() {
    let settings = settings(
        json!({"auth_methods": ["password", "session", "introspection"], "logout_uri_suffix": "/logout",
                                    "logout_methods": ["POST"], "logout_revoke": true}),
    );
    let shared = Rc::new(MemoryShared::default());
    let auth = basic::client_authorization("john", "doe");
    let mut run = Run::get_over(&settings, ("authorization", &auth), NOW, &shared);
    run.feed(&settings, token_answer("at-1", 300), NOW);
    let cookie = first_cookie(&run.forward().add_response_headers);
    // at-1 introspected (and cached) as a bearer token.
    let mut run = Run::get_over(&settings, ("authorization", "Bearer at-1"), NOW, &shared);
    run.feed(
        &settings,
        ok_json(json!({"active": true, "exp": NOW + 300})),
        NOW,
    );
    run.forward();

    let mut logout = Run::with_shared(
        &settings,
        request("POST", "/logout", &[("cookie", &cookie)]),
        NOW + 1,
        shared.clone(),
    );
    logout.feed(&settings, answer(200, ""), NOW + 1);
    logout.feed(&settings, answer(200, ""), NOW + 1);
    assert_eq!(
        shared.count(CacheKind::Revoked),
        2,
        "access and refresh token"
    );

    let run = Run::get_over(&settings, ("authorization", &auth), NOW + 2, &shared);
    assert_eq!(
        run.last_call().path,
        "/token",
        "the revoked tokens are not reused"
    );
    let run = Run::get_over(
        &settings,
        ("authorization", "Bearer at-1"),
        NOW + 2,
        &shared,
    );
    assert_eq!(
        run.last_call().path,
        "/token/introspection",
        "asked again, not taken from the cache"
    );

    // Without logout_revoke the tokens stay valid at the provider, and cached.
    let keep = self::settings(
        json!({"auth_methods": ["password", "session"], "logout_uri_suffix": "/logout", "logout_methods": ["POST"]}),
    );
    let shared = Rc::new(MemoryShared::default());
    let mut run = Run::get_over(&keep, ("authorization", &auth), NOW, &shared);
    run.feed(&keep, token_answer("at-1", 300), NOW);
    let cookie = first_cookie(&run.forward().add_response_headers);
    let logout = Run::with_shared(
        &keep,
        request("POST", "/logout", &[("cookie", &cookie)]),
        NOW + 1,
        shared.clone(),
    );
    assert!(logout.calls.is_empty());
    let run = Run::get_over(&keep, ("authorization", &auth), NOW + 2, &shared);
    assert!(run.calls.is_empty());
}
