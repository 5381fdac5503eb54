//! The password grant end to end in memory: discovery and the JWKS, the grant and the
//! session it opens, refused and forged credentials, upstream headers and error display.

use crate::flows::harness::*;

#[test]
fn discovery_then_jwks_then_the_request_is_decided_and_documents_are_shared() {
    // Without the code flow, a request with no credentials is decided with a 401.
    let settings = settings(json!({"auth_methods": ["session", "password"]}));
    let mut run = Run::with_provider(&settings, request("GET", "/", &[]), None, NOW);
    let call = run.last_call().clone();
    assert_eq!(
        (call.method.as_str(), call.authority.as_str()),
        ("GET", "127.0.0.1:3000")
    );
    assert_eq!(call.path, "/.well-known/openid-configuration");
    run.feed(&settings, ok_json(metadata(json!({}))), NOW);
    assert_eq!(run.last_call().path, "/jwks");
    run.feed(&settings, ok_bytes(jwks("rsa1", "k1")), NOW);
    assert_eq!(run.response().status, 401);
    let shared = run.flow.take_provider_update().expect("documents to share");
    assert_eq!(shared.metadata.issuer, ISSUER);
    assert!(run.flow.take_provider_update().is_none(), "shared once");
}

#[test]
fn discovery_failure_is_500_and_never_forwards() {
    let settings = settings(json!({}));
    for failure in [
        CallResponse::default(),
        answer(503, ""),
        answer(200, "not json"),
    ] {
        let mut run = Run::with_provider(&settings, request("GET", "/", &[]), None, NOW);
        run.feed(&settings, failure, NOW);
        assert_eq!(run.response().status, 500);
        assert_eq!(
            run.response().body,
            br#"{"message":"An unexpected error occurred"}"#
        );
    }
}

#[test]
fn password_grant_creates_a_session_and_forwards_the_access_token() {
    let settings = settings(json!({"auth_methods": ["session", "password"]}));
    let auth = basic::client_authorization("john", "doe");
    let mut run = Run::new(
        &settings,
        request("GET", "/x", &[("authorization", &auth), ("cookie", "a=1")]),
        NOW,
    );
    let call = run.last_call().clone();
    let body = token_request_form(&call, &basic::client_authorization("kong", CLIENT_SECRET));
    assert_eq!(arg(&body, "grant_type"), Some("password"));
    assert_eq!(arg(&body, "username"), Some("john"));
    assert_eq!(arg(&body, "password"), Some("doe"));
    assert_eq!(arg(&body, "scope"), Some("openid"));
    assert_eq!(call.timeout_ms, 10_000);

    run.feed(&settings, token_answer("at-1", 300), NOW);
    let forward = run.forward().clone();
    assert_eq!(
        header(&forward.set_request_headers, "authorization"),
        Some("Bearer at-1")
    );
    let cookies = set_cookies(&forward.add_response_headers);
    assert_eq!(cookies.len(), 1);
    assert!(
        cookies[0].starts_with("session=")
            && cookies[0].ends_with("; Path=/; SameSite=Lax; HttpOnly"),
        "{}",
        cookies[0]
    );
    assert_eq!(run.flow.take_events(), vec![Event::Login]);

    // What the session holds is what Kong stores.
    let codec = settings.session_codec("http");
    let cookie = cookies[0].split(';').next().unwrap();
    let session = codec.open(&[cookie], NOW).unwrap();
    let data = session.data("default").unwrap();
    assert_eq!(data["tokens"]["access_token"], "at-1");
    assert_eq!(data["expires"], NOW + 300);
    assert_eq!(data["auth_method"], "password");
    assert_eq!(data["client"], 1);
    assert_eq!(session.subject("default"), Some("user-john"));
}

#[test]
fn client_secret_post_when_configured() {
    let settings = settings(json!({"token_endpoint_auth_method": "client_secret_post"}));
    let auth = basic::client_authorization("john", "doe");
    let run = Run::get(&settings, ("authorization", &auth), NOW);
    let call = run.last_call();
    assert_eq!(header(&call.headers, "authorization"), None);
    let body = body_of(call);
    assert_eq!(
        (arg(&body, "client_id"), arg(&body, "client_secret")),
        (Some("kong"), Some(CLIENT_SECRET))
    );
}

#[test]
fn password_from_query_and_body_by_password_param_type() {
    let settings = settings(
        json!({"password_param_type": ["query", "body"], "auth_methods": ["session", "password"]}),
    );
    let run = Run::new(
        &settings,
        request("GET", "/?username=jane&password=pw", &[]),
        NOW,
    );
    assert_eq!(arg(&body_of(run.last_call()), "username"), Some("jane"));

    let mut post = request(
        "POST",
        "/",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("content-length", "26"),
        ],
    );
    assert!(RequestFlow::needs_body(&settings, &post));
    post.body = Some(b"username=bob&password=b%26b".to_vec());
    let run = Run::new(&settings, post, NOW);
    assert_eq!(arg(&body_of(run.last_call()), "password"), Some("b&b"));

    // Basic credentials are not read when `header` is not listed.
    let auth = basic::client_authorization("john", "doe");
    let run = Run::get(&settings, ("authorization", &auth), NOW);
    assert_eq!(run.response().status, 401);
}

#[test]
fn refused_credentials_are_401_and_idp_failures_500() {
    // Password alone: with client_credentials on, refused Basic credentials are tried as a
    // client's too (api_clients_tests covers that).
    let settings = settings(json!({"auth_methods": ["session", "password"]}));
    let auth = basic::client_authorization("john", "bad");
    let mut run = Run::get(&settings, ("authorization", &auth), NOW);
    run.feed(&settings, answer(400, r#"{"error":"invalid_grant"}"#), NOW);
    let response = run.response();
    assert_eq!(response.status, 401);
    assert_eq!(response.body, br#"{"message":"Unauthorized"}"#);
    assert_eq!(
        header(&response.headers, "www-authenticate"),
        Some(r#"Bearer realm="127.0.0.1", error="invalid_token""#)
    );
    assert!(response.reason.contains("invalid_grant"));

    for failure in [CallResponse::default(), answer(502, "")] {
        let mut run = Run::get(&settings, ("authorization", &auth), NOW);
        run.feed(&settings, failure, NOW);
        assert_eq!(run.response().status, 500);
    }
}

#[test]
fn a_forged_id_token_is_refused() {
    let settings = settings(json!({}));
    let auth = basic::client_authorization("john", "doe");
    let forged = testkeys::token(
        Algorithm::RS256,
        Some("k1"),
        &json!({"iss": ISSUER, "sub": "x", "aud": "kong", "iat": NOW, "exp": NOW + 60}),
        &Signer::Rsa(testkeys::rsa_key()),
    );
    let wrong_audience = id_token_by("k1", json!({"aud": "someone-else"}));
    let expired = id_token_by("k1", json!({"exp": NOW - 10}));
    for token in [forged, wrong_audience, expired] {
        let mut run = Run::get(&settings, ("authorization", &auth), NOW);
        run.feed(&settings, token_answer_with("at", 300, &token), NOW);
        if let Step::Call(call) = run.last() {
            // A key that does not fit the token may have rotated: one JWKS refetch, then refused.
            assert_eq!(call.path, "/jwks");
            run.feed(&settings, ok_bytes(jwks("rsa1", "k1")), NOW);
        }
        assert_eq!(run.response().status, 401, "{token}");
    }
}

#[test]
fn an_unknown_key_id_refetches_the_jwks_once() {
    let settings = settings(json!({}));
    let auth = basic::client_authorization("john", "doe");
    let mut run = Run::get(&settings, ("authorization", &auth), NOW);
    run.feed(
        &settings,
        token_answer_with("at", 300, &id_token_by("rotated", json!({}))),
        NOW,
    );
    assert_eq!(run.last_call().path, "/jwks");
    run.feed(&settings, ok_bytes(jwks("rsa1", "rotated")), NOW);
    assert_eq!(
        header(&run.forward().set_request_headers, "authorization"),
        Some("Bearer at")
    );
    assert!(
        run.flow.take_provider_update().is_some(),
        "the new keys are shared"
    );

    // A kid that the new JWKS does not have either: one refetch, then 401 (no loop).
    let mut run = Run::get(&settings, ("authorization", &auth), NOW);
    run.feed(
        &settings,
        token_answer_with("at", 300, &id_token_by("unknown", json!({}))),
        NOW,
    );
    run.feed(&settings, ok_bytes(jwks("rsa1", "k1")), NOW);
    assert_eq!(run.response().status, 401);
    assert_eq!(run.shared.refetches.get(), 1);
}

#[test]
fn upstream_headers_and_hidden_credentials() {
    let settings = settings(json!({
        "upstream_access_token_header": "x-access-token",
        "upstream_id_token_header": "x-id-token",
        "upstream_headers_claims": ["email", "sub", "missing"],
        "upstream_headers_names": ["x-email", "x-user", "x-missing"],
        "hide_credentials": true,
        "password_param_type": ["header", "query"],
    }));
    let auth = basic::client_authorization("john", "doe");
    let token = id_token_by("k1", json!({}));
    let mut run = Run::new(
        &settings,
        request("GET", "/p?a=1", &[("authorization", &auth)]),
        NOW,
    );
    run.feed(&settings, token_answer_with("at-9", 300, &token), NOW);
    let forward = run.forward();
    assert_eq!(
        header(&forward.set_request_headers, "x-access-token"),
        Some("at-9")
    );
    assert_eq!(
        header(&forward.set_request_headers, "x-id-token"),
        Some(token.as_str())
    );
    assert_eq!(
        header(&forward.set_request_headers, "x-email"),
        Some("john@example.com")
    );
    assert_eq!(
        header(&forward.set_request_headers, "x-user"),
        Some("user-john")
    );
    assert_eq!(header(&forward.set_request_headers, "x-missing"), None);
    // A claim the token lacks: the client's own header of that name is removed, never passed
    // on as if it were the claim (security finding 2).
    assert!(
        forward
            .remove_request_headers
            .iter()
            .any(|h| h == "x-missing"),
        "{:?}",
        forward.remove_request_headers
    );
    assert!(
        forward
            .remove_request_headers
            .iter()
            .any(|h| h == "authorization"),
        "Basic credentials hidden"
    );

    let mut run = Run::new(
        &settings,
        request("GET", "/p?a=1&username=john&password=doe", &[]),
        NOW,
    );
    run.feed(&settings, token_answer_with("at-9", 300, &token), NOW);
    assert_eq!(run.forward().new_path.as_deref(), Some("/p?a=1"));
}

#[test]
fn display_errors_and_custom_messages() {
    let settings = settings(
        json!({"unauthorized_error_message": "Go away", "display_errors": true, "expose_error_code": false, "auth_methods": ["session", "password"]}),
    );
    let run = Run::new(&settings, request("GET", "/", &[]), NOW);
    let response = run.response();
    assert_eq!(
        response.body,
        br#"{"message":"Go away (no suitable authorization credentials were provided)"}"#
    );
    assert_eq!(
        header(&response.headers, "www-authenticate"),
        Some(r#"Bearer realm="127.0.0.1""#)
    );
}

/// Finding 13.15: without randomness from the host no session (or login) starts: 500, with
/// a reason for the log and a counter; nothing guessable is drawn instead.
#[test]
fn without_host_randomness_no_session_starts() {
    let settings = settings(json!({"auth_methods": ["password", "session"]}));
    let shared = Rc::new(MemoryShared::default());
    let auth = basic::client_authorization("john", "doe");
    let mut flow = RequestFlow::new(
        request("GET", "/", &[("authorization", &auth)]),
        Some(provider()),
    );
    let mut no_randomness = || None;
    let mut env = Env {
        now: NOW,
        random: &mut no_randomness,
        shared: shared.as_ref(),
    };
    assert!(matches!(flow.start(&settings, &mut env), Step::Call(_)));
    let step = flow.on_call_response(&settings, &mut env, token_answer("at-1", 300));
    let Step::Respond(response) = step else {
        panic!("expected a response, got {step:?}")
    };
    assert_eq!(response.status, 500);
    assert!(
        response.reason.starts_with("no_randomness"),
        "{}",
        response.reason
    );
    assert!(set_cookies(&response.headers).is_empty());
    assert!(flow
        .take_events()
        .contains(&crate::flows::Event::Rejected("no_randomness")));
}
