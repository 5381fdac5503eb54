//! The introspection method in memory: opaque tokens introspected and cached in the shared
//! data, refusals with their reasons, JWTs that fail verification, and bounded shared state.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::flows::harness::*;

#[test]
fn opaque_tokens_are_introspected_and_the_result_is_cached_until_exp_or_cache_ttl() {
    let settings = settings(json!({
        "auth_methods": ["bearer", "introspection", "session"], "cache_ttl": 600,
        "upstream_introspection_header": "x-introspection",
        "upstream_headers_claims": ["username", "email"], "upstream_headers_names": ["x-username", "x-email"],
    }));
    let shared = Rc::new(MemoryShared::default());
    let result = json!({"active": true, "sub": "user-john", "username": "john", "scope": "openid", "exp": NOW + 120, "client_id": "kong"});
    let mut run = Run::get_over(
        &settings,
        ("authorization", "Bearer opaque-1"),
        NOW,
        &shared,
    );
    let call = run.last_call().clone();
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/token/introspection")
    );
    assert_eq!(
        header(&call.headers, "authorization"),
        Some(basic::client_authorization("kong", CLIENT_SECRET).as_str())
    );
    let body = body_of(&call);
    assert_eq!(
        (arg(&body, "token"), arg(&body, "token_type_hint")),
        (Some("opaque-1"), Some("access_token"))
    );
    run.feed(&settings, ok_json(result.clone()), NOW);
    let forward = run.forward().clone();
    assert_eq!(
        header(&forward.set_request_headers, "authorization"),
        Some("Bearer opaque-1")
    );
    assert_eq!(
        header(&forward.set_request_headers, "x-username"),
        Some("john")
    );
    assert_eq!(header(&forward.set_request_headers, "x-email"), None);
    let sent = header(&forward.set_request_headers, "x-introspection").unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&STANDARD.decode(sent).unwrap()).unwrap(),
        result
    );
    assert_eq!(
        session_data(&settings, &forward, NOW)["auth_method"],
        "introspection"
    );
    assert_eq!(shared.count(CacheKind::Introspection), 1);

    // Cached: no call, on any worker (the shared state).
    let run = Run::get_over(
        &settings,
        ("authorization", "Bearer opaque-1"),
        NOW + 60,
        &shared,
    );
    assert!(run.calls.is_empty());
    run.forward();
    // The entry ends at the token's exp (before cache_ttl): asked again.
    let run = Run::get_over(
        &settings,
        ("authorization", "Bearer opaque-1"),
        NOW + 120,
        &shared,
    );
    assert_eq!(run.calls.len(), 1);

    // cache_introspection=false: every request asks.
    let uncached =
        self::settings(json!({"auth_methods": ["introspection"], "cache_introspection": false}));
    let shared = Rc::new(MemoryShared::default());
    let mut run = Run::get_over(&uncached, ("authorization", "Bearer o"), NOW, &shared);
    run.feed(&uncached, ok_json(json!({"active": true})), NOW);
    let run = Run::get_over(&uncached, ("authorization", "Bearer o"), NOW, &shared);
    assert_eq!(run.calls.len(), 1);
    assert_eq!(shared.count(CacheKind::Introspection), 0);
}

#[test]
fn inactive_unknown_and_failed_introspections_are_401() {
    let settings = settings(json!({"auth_methods": ["introspection"]}));
    let mut run = Run::get(&settings, ("authorization", "Bearer gone"), NOW);
    run.feed(&settings, ok_json(json!({"active": false})), NOW);
    assert_unauthorized(&run, "inactive_token", "not active");

    for (failure, reason) in [
        (answer(500, ""), "answered 500"),
        (CallResponse::default(), "could not be reached"),
        (answer(200, "<html>"), "JSON object"),
    ] {
        let mut run = Run::get(&settings, ("authorization", "Bearer t"), NOW);
        run.feed(&settings, failure, NOW);
        assert_unauthorized(&run, "invalid_token", reason);
    }

    // introspection_check_active=false takes the result as it is.
    let lax = self::settings(
        json!({"auth_methods": ["introspection"], "introspection_check_active": false}),
    );
    let mut run = Run::get(&lax, ("authorization", "Bearer gone"), NOW);
    run.feed(&lax, ok_json(json!({"active": false})), NOW);
    run.forward();

    // An introspection result whose exp passed is an expired token.
    let mut run = Run::get(&settings, ("authorization", "Bearer old"), NOW);
    run.feed(
        &settings,
        ok_json(json!({"active": true, "exp": NOW - 1})),
        NOW,
    );
    assert_unauthorized(&run, "token_expired", "expired");

    // introspection_hint, the token parameter name and client_secret_post are honoured.
    let custom = self::settings(json!({
        "auth_methods": ["introspection"], "introspection_hint": "refresh_token", "introspection_token_param_name": "t",
        "introspection_endpoint_auth_method": "client_secret_post", "introspection_endpoint": "http://other:9/introspect",
    }));
    let run = Run::get(&custom, ("authorization", "Bearer x"), NOW);
    let call = run.last_call();
    assert_eq!(
        (call.authority.as_str(), call.path.as_str()),
        ("other:9", "/introspect")
    );
    let body = body_of(call);
    assert_eq!(
        (arg(&body, "t"), arg(&body, "token_type_hint")),
        (Some("x"), Some("refresh_token"))
    );
    assert_eq!(
        (arg(&body, "client_id"), arg(&body, "client_secret")),
        (Some("kong"), Some(CLIENT_SECRET))
    );
    assert_eq!(header(&call.headers, "authorization"), None);
}

#[test]
fn a_jwt_that_fails_verification_is_introspected_and_introspect_jwt_tokens_checks_revocation() {
    let settings = settings(json!({"auth_methods": ["bearer", "introspection"]}));
    let expired = access_token(json!({"exp": NOW - 1}));
    let mut run = Run::get(&settings, ("authorization", &bearer(&expired)), NOW);
    assert_eq!(run.last_call().path, "/token/introspection");
    run.feed(&settings, ok_json(json!({"active": false})), NOW);
    assert_unauthorized(&run, "inactive_token", "not active");

    let strict = self::settings(
        json!({"auth_methods": ["bearer", "introspection"], "introspect_jwt_tokens": true}),
    );
    let token = access_token(json!({}));
    let mut run = Run::get(&strict, ("authorization", &bearer(&token)), NOW);
    assert_eq!(run.last_call().path, "/token/introspection");
    run.feed(&strict, ok_json(json!({"active": false})), NOW);
    assert_unauthorized(&run, "inactive_token", "revoked");
    let mut run = Run::get(&strict, ("authorization", &bearer(&token)), NOW);
    run.feed(&strict, ok_json(json!({"active": true})), NOW);
    run.forward();
    let mut run = Run::get(&strict, ("authorization", &bearer(&token)), NOW);
    run.feed(
        &strict,
        answer(400, r#"{"error":"unsupported_token_type"}"#),
        NOW,
    );
    assert_unauthorized(&run, "invalid_token", "answered 400");
}

/// Finding 13.6: a flood of made-up bearer tokens costs nothing lasting (inactive answers are
/// not cached), and a flood of distinct valid ones stays within the introspection cache's
/// bounds in keys, entries and bytes of the host's shared data.
#[test]
fn twenty_thousand_random_tokens_leave_bounded_shared_state() {
    let settings = settings(json!({"auth_methods": ["introspection"]}));
    let shared = Rc::new(MemoryShared::default());
    let token = |i: u32| {
        let scrambled = (u64::from(i) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        format!("random-{scrambled:016x}")
    };
    for i in 0..10_000u32 {
        let bearer = format!("Bearer {}", token(i));
        let mut run = Run::get_over(&settings, ("authorization", &bearer), NOW, &shared);
        run.feed(&settings, ok_json(json!({"active": false})), NOW);
        assert_eq!(run.response().status, 401);
    }
    assert_eq!(shared.count(CacheKind::Introspection), 0);
    assert_eq!(
        shared.store.footprint(),
        (0, 0),
        "inactive answers leave nothing"
    );

    for i in 10_000..20_000u32 {
        let bearer = format!("Bearer {}", token(i));
        let mut run = Run::get_over(&settings, ("authorization", &bearer), NOW, &shared);
        let answer = json!({"active": true, "sub": format!("client-{i}"), "exp": NOW + 3600});
        run.feed(&settings, ok_json(answer), NOW);
        run.forward();
    }
    let limits = CacheKind::Introspection.limits();
    let (keys, bytes) = shared.store.footprint();
    assert!(keys <= usize::from(limits.buckets), "{keys} keys");
    assert!(bytes <= limits.bytes() + keys * 64, "{bytes} bytes");
    assert!(shared.count(CacheKind::Introspection) <= limits.entries());
}
