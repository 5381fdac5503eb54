//! The client credentials method in memory: the caller's own client credentials exchanged at
//! the token endpoint, and Basic credentials tried as a password first.

use crate::flows::harness::*;

#[test]
fn client_credentials_are_exchanged_as_the_callers_client() {
    let settings = settings(
        json!({"auth_methods": ["client_credentials", "session"], "scopes": ["api"], "hide_credentials": true}),
    );
    let caller = basic::client_authorization("service-a", "s3cret");
    let mut run = Run::new(
        &settings,
        request(
            "GET",
            "/",
            &[
                ("authorization", &caller),
                ("grant-type", "client_credentials"),
            ],
        ),
        NOW,
    );
    let call = run.last_call().clone();
    let body = token_request_form(&call, &caller);
    assert_eq!(
        (arg(&body, "grant_type"), arg(&body, "scope")),
        (Some("client_credentials"), Some("api"))
    );
    assert_eq!(arg(&body, "client_id"), None);
    run.feed(
        &settings,
        ok_json(json!({"access_token": "cc-1", "token_type": "Bearer", "expires_in": 300})),
        NOW,
    );
    let forward = run.forward();
    assert_eq!(
        header(&forward.set_request_headers, "authorization"),
        Some("Bearer cc-1")
    );
    assert!(forward
        .remove_request_headers
        .iter()
        .any(|h| h == "grant-type"));
    assert_eq!(
        session_data(&settings, forward, NOW)["auth_method"],
        "client_credentials"
    );

    // From the query, with client_secret_post when that is the method.
    let post = self::settings(
        json!({"auth_methods": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post",
                                     "hide_credentials": true}),
    );
    let mut run = Run::new(
        &post,
        request("GET", "/x?client_id=svc&client_secret=pw&keep=1", &[]),
        NOW,
    );
    let body = body_of(run.last_call());
    assert_eq!(
        (arg(&body, "client_id"), arg(&body, "client_secret")),
        (Some("svc"), Some("pw"))
    );
    run.feed(&post, ok_json(json!({"access_token": "cc-2"})), NOW);
    assert_eq!(run.forward().new_path.as_deref(), Some("/x?keep=1"));

    // A Grant-Type for another grant is not client credentials.
    let run = Run::new(
        &post,
        request(
            "GET",
            "/",
            &[("authorization", &caller), ("grant-type", "password")],
        ),
        NOW,
    );
    assert_eq!(run.response().status, 401);
}

#[test]
fn basic_credentials_try_the_password_grant_then_client_credentials() {
    let settings = settings(json!({"auth_methods": ["password", "client_credentials"]}));
    let auth = basic::client_authorization("service-a", "s3cret");
    let mut run = Run::get(&settings, ("authorization", &auth), NOW);
    assert_eq!(
        arg(&body_of(run.last_call()), "grant_type"),
        Some("password")
    );
    run.feed(&settings, answer(400, r#"{"error":"invalid_grant"}"#), NOW);
    assert_eq!(
        arg(&body_of(run.last_call()), "grant_type"),
        Some("client_credentials")
    );
    run.feed(&settings, ok_json(json!({"access_token": "cc"})), NOW);
    assert_eq!(
        header(&run.forward().set_request_headers, "authorization"),
        Some("Bearer cc")
    );

    let mut run = Run::get(&settings, ("authorization", &auth), NOW);
    run.feed(&settings, answer(400, r#"{"error":"invalid_grant"}"#), NOW);
    run.feed(&settings, answer(401, r#"{"error":"invalid_client"}"#), NOW);
    assert_unauthorized(&run, "invalid_credentials", "invalid_client");
}
