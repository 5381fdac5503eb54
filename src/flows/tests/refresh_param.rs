//! The refresh_token method in memory: a refresh token the request carries is exchanged.

use crate::flows::harness::*;

#[test]
fn the_refresh_token_method_exchanges_a_refresh_token_from_the_request() {
    let settings = settings(
        json!({"auth_methods": ["refresh_token", "session"], "refresh_token_param_name": "x-refresh-token",
                                    "refresh_token_param_type": ["header", "query"], "hide_credentials": true}),
    );
    let mut run = Run::get(&settings, ("x-refresh-token", "Bearer rt-1"), NOW);
    let body = body_of(run.last_call());
    assert_eq!(
        (arg(&body, "grant_type"), arg(&body, "refresh_token")),
        (Some("refresh_token"), Some("rt-1"))
    );
    run.feed(&settings, token_answer("at-r", 300), NOW);
    let forward = run.forward();
    assert_eq!(
        header(&forward.set_request_headers, "authorization"),
        Some("Bearer at-r")
    );
    assert_eq!(forward.remove_request_headers, ["x-refresh-token"]);
    assert_eq!(
        session_data(&settings, forward, NOW)["auth_method"],
        "refresh_token"
    );

    let run = Run::new(
        &settings,
        request("GET", "/?x-refresh-token=rt-q", &[]),
        NOW,
    );
    assert_eq!(
        arg(&body_of(run.last_call()), "refresh_token"),
        Some("rt-q")
    );
    let mut run = Run::get(&settings, ("x-refresh-token", "rt-bad"), NOW);
    run.feed(&settings, answer(400, r#"{"error":"invalid_grant"}"#), NOW);
    assert_unauthorized(&run, "invalid_credentials", "invalid_grant");

    // Without refresh_token_param_name the method finds nothing.
    let unnamed = self::settings(json!({"auth_methods": ["refresh_token"]}));
    let run = Run::new(&unnamed, request("GET", "/?refresh_token=x", &[]), NOW);
    assert!(run.calls.is_empty());
    assert_eq!(run.response().status, 401);
}
