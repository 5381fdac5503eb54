//! Logout in memory: Kong's detection order, revocation of both tokens sent together, the
//! redirect to the end-session endpoint, and what happens when the provider fails or lacks one.

use crate::flows::harness::*;

fn logout_settings(extra: Value) -> Settings {
    let mut config =
        json!({"logout_uri_suffix": "/logout", "logout_methods": ["POST"], "logout_revoke": true});
    if let (Value::Object(base), Value::Object(extra)) = (&mut config, extra) {
        base.extend(extra);
    }
    settings(config)
}

#[test]
fn logout_revokes_refresh_then_access_token_and_redirects_to_end_session() {
    let settings = logout_settings(json!({"logout_redirect_uri": ["https://app.test/bye?x=1"]}));
    let cookie = login(&settings);
    let mut run = Run::new(
        &settings,
        request("POST", "/app/logout?next=1", &[("cookie", &cookie)]),
        NOW + 5,
    );
    // Both revocations go out together, in Kong's order (chaining them hangs Kong's engine).
    let Step::CallAll(sent) = run.last().clone() else {
        panic!("the revocations are not sent together: {:?}", run.last());
    };
    assert_eq!(sent.len(), 2);
    let first = sent[0].clone();
    assert_eq!(
        (first.method.as_str(), first.path.as_str()),
        ("POST", "/token/revocation")
    );
    assert_eq!(
        header(&first.headers, "authorization"),
        Some(basic::client_authorization("kong", CLIENT_SECRET).as_str())
    );
    let body = body_of(&first);
    assert_eq!(
        (arg(&body, "token"), arg(&body, "token_type_hint")),
        (Some("rt-at-1"), Some("refresh_token"))
    );
    let body = body_of(&sent[1]);
    assert_eq!(
        (arg(&body, "token"), arg(&body, "token_type_hint")),
        (Some("at-1"), Some("access_token"))
    );
    run.feed_all(&settings, vec![answer(200, ""), answer(204, "")], NOW + 5);

    let response = run.response().clone();
    assert_eq!(response.status, 302);
    assert!(response.body.is_empty());
    assert_eq!(header(&response.headers, "cache-control"), Some("no-store"));
    let location = header(&response.headers, "location").unwrap();
    let id_token = id_token_by("k1", json!({}));
    let expected = format!(
        "{ISSUER}/session/end?id_token_hint={id_token}&post_logout_redirect_uri=https%3A%2F%2Fapp.test%2Fbye%3Fx%3D1&client_id=kong"
    );
    assert_eq!(location, expected);
    let cleared = set_cookies(&response.headers);
    assert_eq!(cleared, vec!["session=; Path=/; SameSite=Lax; HttpOnly; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0"]);
    let events = run.flow.take_events();
    assert_eq!(
        events,
        vec![Event::Logout, Event::RevocationOk, Event::RevocationOk]
    );
}

#[test]
fn revocation_failures_are_logged_and_logout_goes_on() {
    let settings = logout_settings(json!({}));
    let cookie = login(&settings);
    let mut run = Run::new(
        &settings,
        request("POST", "/logout", &[("cookie", &cookie)]),
        NOW,
    );
    run.feed_all(
        &settings,
        vec![answer(503, ""), CallResponse::default()],
        NOW,
    );
    assert_eq!(run.response().status, 302);
    let events = run.flow.take_events();
    assert_eq!(
        events
            .iter()
            .filter(|e| **e == Event::RevocationFailed)
            .count(),
        2
    );
    let notes = format!("{:?}", run.flow.take_notes());
    assert!(notes.contains("refresh_token revocation failed: invalid status code received from the token revocation endpoint (503)"), "{notes}");
}

#[test]
fn a_302_from_the_revocation_endpoint_is_followed_once_with_get() {
    let settings = logout_settings(json!({"logout_revoke_access_token": false}));
    let cookie = login(&settings);
    let mut run = Run::new(
        &settings,
        request("POST", "/logout", &[("cookie", &cookie)]),
        NOW,
    );
    let redirect = CallResponse {
        status: Some(302),
        headers: vec![("location".into(), format!("{ISSUER}/elsewhere"))],
        body: vec![],
    };
    run.feed_all(&settings, vec![redirect], NOW);
    assert_eq!(
        (
            run.last_call().method.as_str(),
            run.last_call().path.as_str()
        ),
        ("GET", "/elsewhere")
    );
    run.feed_all(&settings, vec![answer(200, "")], NOW);
    assert_eq!(run.response().status, 302);
    assert_eq!(run.calls.len(), 2, "only the refresh token is revoked");
}

#[test]
fn without_revoke_there_are_no_calls_and_without_endpoints_204_or_redirect() {
    let settings = logout_settings(json!({"logout_revoke": false}));
    let cookie = login(&settings);
    let no_end_session =
        provider_with(json!({"end_session_endpoint": null, "revocation_endpoint": null}));
    let run = Run::with_provider(
        &settings,
        request("POST", "/logout", &[("cookie", &cookie)]),
        Some(no_end_session.clone()),
        NOW,
    );
    assert!(run.calls.is_empty());
    assert_eq!(run.response().status, 204);

    let settings = logout_settings(json!({"logout_redirect_uri": ["https://app.test/bye"]}));
    let run = Run::with_provider(
        &settings,
        request("POST", "/logout", &[("cookie", &cookie)]),
        Some(no_end_session),
        NOW,
    );
    assert!(
        run.calls.is_empty(),
        "no revocation endpoint: revocation is skipped"
    );
    assert_eq!(run.response().status, 302);
    assert_eq!(
        header(&run.response().headers, "location"),
        Some("https://app.test/bye")
    );
}

#[test]
fn logout_detection_follows_kongs_order() {
    let settings = logout_settings(
        json!({"logout_query_arg": "bye", "logout_post_arg": "signout", "logout_revoke": false}),
    );
    let is_logout = |req: IncomingRequest| {
        // A logout ends at the provider's end-session endpoint (not at its login page).
        let run = Run::new(&settings, req, NOW);
        let location = |r: &LocalResponse| header(&r.headers, "location").map(str::to_string);
        matches!(run.last(), Step::Respond(r) if r.status == 302
            && location(r).is_some_and(|l| l.starts_with(&format!("{ISSUER}/session/end"))))
    };
    assert!(is_logout(request("POST", "/logout", &[])));
    assert!(is_logout(request("POST", "/a/b/logout/", &[])));
    assert!(is_logout(request("POST", "/any?bye", &[])));
    assert!(
        !is_logout(request("GET", "/logout", &[])),
        "GET is not in logout_methods"
    );
    assert!(!is_logout(request("DELETE", "/logout", &[])));
    assert!(!is_logout(request("POST", "/logout/more", &[])));
    let mut post = request(
        "POST",
        "/form",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("content-length", "9"),
        ],
    );
    assert!(RequestFlow::needs_body(&settings, &post));
    post.body = Some(b"signout=1".to_vec());
    assert!(is_logout(post.clone()));

    let no_suffix = settings_without_suffix();
    assert!(
        !crate::logout::may_need_body(&no_suffix.config, &post),
        "without a suffix the post argument is never read"
    );
    let run = Run::new(&no_suffix, post, NOW);
    assert_eq!(run.response().status, 401);
}

fn settings_without_suffix() -> Settings {
    settings(
        json!({"logout_post_arg": "signout", "logout_methods": ["POST"], "auth_methods": ["session", "password"]}),
    )
}

#[test]
fn http10_clients_also_get_pragma_no_cache_at_logout() {
    let settings = logout_settings(json!({"logout_revoke": false}));
    let run = Run::new(&settings, request("POST", "/logout", &[]), NOW);
    assert_eq!(
        header(&run.response().headers, "pragma"),
        None,
        "HTTP/1.1 clients get no Pragma"
    );
    let mut old = request("POST", "/logout", &[]);
    old.http10 = true;
    let run = Run::new(&settings, old, NOW);
    assert_eq!(header(&run.response().headers, "pragma"), Some("no-cache"));
    assert_eq!(
        header(&run.response().headers, "cache-control"),
        Some("no-store")
    );
}
