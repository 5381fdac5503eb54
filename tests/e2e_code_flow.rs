//! The authorization code flow end to end over real HTTP: the real filter in a real host (our
//! gateway and Kong's Wasm engine), the test IdP's real login page (driven the way a browser would:
//! GET /auth, the login form, the redirect back) and the echo upstream. The login with each login
//! action and response mode, every refused callback, and logout of a code-flow session.

// A test crate: its helpers may unwrap, panic and index like its tests (clippy.toml covers
// only the #[test] functions themselves).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::http::{basic, send, Response};
use common::support::*;
use common::Stack;
use serde_json::{json, Value};

// Every item below is compiled twice: `gateway::<test>` runs on our gateway, `kong::<test>`
// in Kong's Wasm engine (tests/common/hosts.rs).
on_both_hosts! {

fn code_flow_config(extra: Value) -> Value {
    let mut config = json!({
        "auth_methods": ["authorization_code", "session"],
        "logout_uri_suffix": "/logout",
        "logout_methods": ["POST"],
        "logout_revoke": true,
    });
    if let (Value::Object(base), Value::Object(extra)) = (&mut config, extra) {
        base.extend(extra);
    }
    config
}

fn code_flow_stack(extra: Value) -> Stack {
    stack_with(code_flow_config(extra))
}

fn assert_refused(response: &Response, stack: &Stack, echo_before: usize, logged: &str) {
    assert_eq!(response.status, 401, "{}", response.text());
    assert_eq!(response.json(), json!({"message": "Unauthorized"}));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(
        upstream_requests(stack),
        echo_before,
        "nothing reached the upstream"
    );
    let log = stack.gateway_log();
    assert!(
        log.contains(logged),
        "the gateway log names the reason ({logged}):\n{log}"
    );
}

#[test]
fn login_lands_on_the_original_page_with_a_bearer_token_and_the_session_holds() {
    let stack = code_flow_stack(json!({}));
    let mut browser = Browser::new(&stack);
    let authorization_url = browser.open_protected("/app/page?tab=2");
    let args = query_of(&authorization_url);
    let proxy = stack.proxy();
    assert_eq!(
        arg(&args, "redirect_uri"),
        Some(format!("http://{proxy}/app/page"))
    );
    assert_eq!(
        arg(&args, "code_challenge_method").as_deref(),
        Some("S256"),
        "the IdP advertises PKCE"
    );
    assert!(arg(&args, "nonce").is_some());

    let callback = location(&browser.sign_in(&authorization_url));
    let callback_args = query_of(&callback);
    assert_eq!(arg(&callback_args, "state"), arg(&args, "state"));
    assert!(
        arg(&callback_args, "iss").is_some(),
        "oidc-provider names itself (RFC 9207)"
    );

    let response = browser.app.get(&target_of(&callback));
    assert_eq!(response.status, 200, "{}", response.text());
    let echo = response.json();
    assert_eq!(
        echo["path"], "/app/page",
        "the callback's arguments are stripped: {echo}"
    );
    // Kong's engine cannot drop a request header, so the stripped Cookie arrives empty there.
    assert!(
        echo["headers"]
            .get("cookie")
            .is_none_or(|cookie| cookie == ""),
        "neither cookie reaches the upstream: {echo}"
    );
    let access_token = bearer_of(&echo);
    assert_eq!(stack.introspect(&access_token)["active"], true);
    assert!(
        !browser.app.cookies.contains_key("authorization"),
        "the authorization cookie is destroyed"
    );
    assert!(browser.app.cookies.contains_key("session"));

    let token_events: Vec<Value> = stack
        .idp_events()
        .into_iter()
        .filter(|e| e["type"] == "token")
        .collect();
    assert_eq!(token_events.len(), 1);
    assert_eq!(token_events[0]["grant_type"], "authorization_code");
    assert_eq!(token_events[0]["code_verifier"], true);
    assert_eq!(token_events[0]["client_auth_method"], "client_secret_basic");

    // A reload keeps the session: no IdP round trip, the same token.
    let again = browser.app.get("/app/page");
    assert_eq!(again.status, 200);
    assert_eq!(bearer_of(&again.json()), access_token);
}

#[test]
fn login_action_redirect_returns_to_the_original_url_with_its_query() {
    let stack = code_flow_stack(
        json!({"login_action": "redirect", "login_tokens": [], "preserve_query_args": true}),
    );
    let mut browser = Browser::new(&stack);
    let callback = browser.login_until_callback("/reports?year=2025");
    let response = browser.app.get(&target_of(&callback));
    let back = location(&response);
    assert_eq!(back, format!("http://{}/reports?year=2025", stack.proxy()));
    let page = browser.app.get(&target_of(&back));
    assert_eq!(page.status, 200);
    let echo = page.json();
    assert_eq!(
        (echo["path"].as_str(), echo["query"]["year"].as_str()),
        (Some("/reports"), Some("2025")),
        "{echo}"
    );
    bearer_of(&echo);
}

/// The hidden inputs of oidc-provider's auto-submitting form_post page.
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let mut inputs = Vec::new();
    for part in html.split("<input").skip(1) {
        let attribute = |name: &str| {
            let start = part.find(&format!("{name}=\""))? + name.len() + 2;
            let end = part[start..].find('"')? + start;
            Some(
                part[start..end]
                    .replace("&amp;", "&")
                    .replace("&#x2F;", "/")
                    .replace("&#47;", "/")
                    .replace("&quot;", "\""),
            )
        };
        if let (Some(name), Some(value)) = (attribute("name"), attribute("value")) {
            inputs.push((name, value));
        }
    }
    inputs
}

#[gateway_only = "Kong's engine lets a filter replace the request body only in its headers and body steps; the filter strips the callback's arguments when the token exchange answers (a call's answer), so in Kong the form_post body still carries the (already redeemed) code, state and iss upstream"]
#[test]
fn form_post_callback_is_read_from_the_body_and_stripped_before_proxying() {
    let stack = code_flow_stack(json!({"response_mode": "form_post"}));
    let mut browser = Browser::new(&stack);
    let authorization_url = browser.open_protected("/submit");
    assert_eq!(
        arg(&query_of(&authorization_url), "response_mode").as_deref(),
        Some("form_post")
    );
    let page = browser.sign_in(&authorization_url);
    assert_eq!(
        page.status, 200,
        "oidc-provider answers form_post with an auto-submitting page"
    );
    let inputs = hidden_inputs(&page.text());
    assert!(
        arg(&inputs, "code").is_some() && arg(&inputs, "state").is_some(),
        "{}",
        page.text()
    );
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(inputs.iter())
        .finish();
    let response = browser.app.request(
        "POST",
        "/submit",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let echo = response.json();
    assert_eq!(echo["method"], "POST");
    assert_eq!(
        echo["body"], "",
        "code, state and iss are removed from the body: {echo}"
    );
    bearer_of(&echo);
}

#[test]
fn an_error_from_the_provider_is_401_with_a_log_line_and_nothing_forwarded() {
    let stack = code_flow_stack(json!({}));
    let mut browser = Browser::new(&stack);
    let authorization_url = browser.open_protected("/p");
    let state = arg(&query_of(&authorization_url), "state").unwrap();
    let before = upstream_requests(&stack);
    // What the IdP sends when the user refuses consent.
    let denied = format!("/p?error=access_denied&error_description=End-User+aborted&state={state}");
    let response = browser.app.get(&denied);
    assert_refused(&response, &stack, before, "access_denied");
    assert!(
        !browser.app.cookies.contains_key("authorization"),
        "the login is over"
    );
    // Reloading the error page is refused the same way: no loop through the IdP.
    assert_eq!(browser.app.get(&denied).status, 401);
}

#[test]
fn a_forged_state_is_401_and_the_code_is_not_exchanged() {
    let stack = code_flow_stack(json!({}));
    let mut browser = Browser::new(&stack);
    let callback = browser.login_until_callback("/p");
    let code = arg(&query_of(&callback), "code").unwrap();
    stack.clear_idp_events();
    let before = upstream_requests(&stack);
    let response = browser
        .app
        .get(&format!("/p?code={code}&state=forged-by-someone-else"));
    assert_refused(&response, &stack, before, "invalid authorization state");
    assert!(
        stack.idp_events().iter().all(|e| e["type"] != "token"),
        "no code exchange"
    );
}

#[test]
fn a_stale_authorization_cookie_is_401_not_a_new_redirect() {
    let stack = code_flow_stack(json!({"authorization_rolling_timeout": 1}));
    let mut browser = Browser::new(&stack);
    let authorization_url = browser.open_protected("/p");
    // The authorization cookie was saved by this second; it is stale once more than
    // authorization_rolling_timeout (1 s) has passed, i.e. from two seconds on.
    let saved_by = unix_now();
    let callback = location(&browser.sign_in(&authorization_url));
    wait_for_second(saved_by + 2);
    let before = upstream_requests(&stack);
    let response = browser.app.get(&target_of(&callback));
    assert_refused(&response, &stack, before, "expired or invalid");
}

#[test]
fn a_callback_without_the_authorization_cookie_is_401() {
    let stack = code_flow_stack(json!({}));
    let mut browser = Browser::new(&stack);
    let callback = browser.login_until_callback("/p");
    let mut other_browser = stack.client();
    let before = upstream_requests(&stack);
    let response = other_browser.get(&target_of(&callback));
    assert_refused(&response, &stack, before, "without an authorization cookie");
}

#[test]
fn a_replayed_code_is_refused_by_the_idp_and_answered_401() {
    let stack = code_flow_stack(json!({}));
    let mut browser = Browser::new(&stack);
    let callback = browser.login_until_callback("/p");
    let authorization_cookie = browser.app.cookies["authorization"].clone();
    assert_eq!(browser.app.get(&target_of(&callback)).status, 200);

    // Someone who copied the callback URL and the authorization cookie replays them.
    let before = upstream_requests(&stack);
    let cookie = format!("authorization={authorization_cookie}");
    let response = send(
        &stack.proxy(),
        "GET",
        &target_of(&callback),
        &[("Cookie", &cookie)],
        b"",
    );
    assert_refused(&response, &stack, before, "invalid_grant");
    let token_events: Vec<Value> = stack
        .idp_events()
        .into_iter()
        .filter(|e| e["type"] == "token")
        .collect();
    assert_eq!(token_events.len(), 2);
    assert_eq!(token_events[1]["error"], "invalid_grant");
}

#[test]
fn password_and_code_flow_follow_kongs_credential_order() {
    let stack = code_flow_stack(json!({"auth_methods": ["authorization_code", "password", "session"]}));
    let mut scripted = stack.client();
    let response = scripted.request(
        "GET",
        "/api",
        &[("Authorization", &basic("john", "doe"))],
        b"",
    );
    assert_eq!(
        response.status, 200,
        "Basic credentials use the password grant"
    );
    bearer_of(&response.json());
    let mut browser = Browser::new(&stack);
    browser.open_protected("/api");
}

#[test]
fn browser_logout_revokes_ends_the_idp_session_and_the_next_visit_logs_in_again() {
    let stack = code_flow_stack(json!({}));
    let logged_out = format!("http://{}/logged-out", stack.proxy());
    assert_eq!(
        stack
            .patch_config(json!({"logout_redirect_uri": [logged_out.clone()]}))
            .status,
        200
    );
    let mut browser = Browser::new(&stack);
    let callback = browser.login_until_callback("/p");
    let echo = browser.app.get(&target_of(&callback)).json();
    let access_token = bearer_of(&echo);
    stack.clear_idp_events();

    // The page's logout button: a form POST to the logout suffix.
    let response = browser.app.request(
        "POST",
        "/p/logout",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"",
    );
    let end_session = location(&response);
    assert!(!browser.app.cookies.contains_key("session"));
    let args = query_of(&end_session);
    assert!(arg(&args, "id_token_hint").is_some());
    assert_eq!(
        arg(&args, "post_logout_redirect_uri"),
        Some(logged_out.clone())
    );
    let back = browser.idp.get(&target_of(&end_session));
    assert_eq!(location(&back), logged_out);

    let events = stack.idp_events();
    let revocations: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "revocation")
        .collect();
    assert_eq!(revocations.len(), 2, "refresh token then access token");
    let end: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "end_session")
        .collect();
    assert_eq!(end.len(), 1);
    assert_eq!(end[0]["op_session"], true, "the IdP session ended too");
    assert_eq!(stack.introspect(&access_token)["active"], false);

    // The protected page sends the browser to the IdP again, which asks for the password again.
    let authorization_url = browser.open_protected("/p");
    let response = browser.idp.get(&target_of(&authorization_url));
    assert!(
        target_of(&location(&response)).starts_with("/interaction/"),
        "no single sign-on left"
    );
}

} // on_both_hosts!
