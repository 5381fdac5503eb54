//! The userinfo method in memory, and userinfo answers for the upstream header.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::flows::harness::*;

#[test]
fn userinfo_accepts_a_token_its_endpoint_accepts_and_follows_failed_introspection() {
    let settings = settings(
        json!({"auth_methods": ["userinfo"], "upstream_user_info_header": "x-userinfo",
                                    "upstream_headers_claims": ["email"], "upstream_headers_names": ["x-email"]}),
    );
    let shared = Rc::new(MemoryShared::default());
    let mut run = Run::get_over(&settings, ("authorization", "Bearer u1"), NOW, &shared);
    let call = run.last_call().clone();
    assert_eq!((call.method.as_str(), call.path.as_str()), ("GET", "/me"));
    assert_eq!(header(&call.headers, "authorization"), Some("Bearer u1"));
    let claims = json!({"sub": "user-john", "email": "john@example.com"});
    run.feed(&settings, ok_json(claims.clone()), NOW);
    let forward = run.forward();
    assert_eq!(
        header(&forward.set_request_headers, "x-email"),
        Some("john@example.com")
    );
    let sent = header(&forward.set_request_headers, "x-userinfo").unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&STANDARD.decode(sent).unwrap()).unwrap(),
        claims
    );
    let run = Run::get_over(&settings, ("authorization", "Bearer u1"), NOW + 10, &shared);
    assert!(run.calls.is_empty(), "cache_user_info");

    let mut run = Run::get(&settings, ("authorization", "Bearer bad"), NOW);
    run.feed(&settings, answer(401, r#"{"error":"invalid_token"}"#), NOW);
    assert_unauthorized(&run, "invalid_token", "userinfo endpoint answered 401");

    let both = self::settings(json!({"auth_methods": ["introspection", "userinfo"]}));
    let mut run = Run::get(&both, ("authorization", "Bearer t"), NOW);
    run.feed(&both, answer(503, ""), NOW);
    assert_eq!(run.last_call().path, "/me");
    run.feed(&both, ok_json(json!({"sub": "s"})), NOW);
    run.forward();
}

/// OpenID Connect Core 5.3.2: a userinfo answer whose `sub` is not the ID token's is not
/// used (here for the upstream header); one with the same `sub` is.
#[test]
fn a_userinfo_answer_for_another_subject_is_not_used() {
    let settings = settings(json!({"auth_methods": ["password", "session"],
                                   "upstream_user_info_header": "x-userinfo", "cache_user_info": false}));
    let auth = basic::client_authorization("john", "doe");
    for (sub, used) in [("someone-else", false), ("user-john", true)] {
        let mut run = Run::get(&settings, ("authorization", &auth), NOW);
        run.feed(&settings, token_answer("at-1", 300), NOW);
        assert_eq!(run.last_call().path, "/me");
        run.feed(
            &settings,
            ok_json(json!({"sub": sub, "email": "x@example.com"})),
            NOW,
        );
        let forward = run.forward();
        assert_eq!(
            header(&forward.set_request_headers, "x-userinfo").is_some(),
            used,
            "{sub}"
        );
        if !used {
            assert!(run.notes().contains("not the ID token's"));
        }
    }
}
