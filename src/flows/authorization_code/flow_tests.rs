//! The authorization code flow end to end in memory: the request state machine driven through
//! the redirect, the callback and the code exchange, with a scripted identity provider that
//! answers with real signed ID tokens. Every branch: success for each login action, PKCE on and
//! off, form_post, and each way a callback is refused.

use crate::flows::authorization_code::request::s256_challenge;
use crate::flows::harness::*;
use crate::http::form;

/// The code flow and sessions are the methods (Kong's default lists every method).
fn settings(extra: Value) -> Settings {
    crate::flows::harness::settings(merged(
        json!({"auth_methods": ["authorization_code", "session"]}),
        extra,
    ))
}

/// An ID token of this login (its `nonce`), signed with the key `kid`.
fn id_token(kid: &str, nonce: &str) -> String {
    id_token_by(kid, json!({"nonce": nonce}))
}

/// The token endpoint's answer to the code exchange (`at-code`, `rt-at-code`).
fn code_tokens(id_token: &str) -> CallResponse {
    token_answer_with("at-code", 300, id_token)
}

/// The redirect a protected page gets: the authorization URL's arguments and the cookie.
struct Started {
    args: Vec<(String, String)>,
    cookie: String,
}

fn start_login(settings: &Settings, path: &str) -> Started {
    let run = Run::new(settings, request("GET", path, &[]), NOW);
    let response = run.response();
    assert_eq!(response.status, 302, "{}", response.reason);
    let location = header(&response.headers, "location").unwrap();
    let cookie = cookie_named(&response.headers, "authorization").expect("an authorization cookie");
    Started {
        args: query_of(location),
        cookie,
    }
}

impl Started {
    fn state(&self) -> &str {
        arg(&self.args, "state").unwrap()
    }

    fn nonce(&self) -> &str {
        arg(&self.args, "nonce").unwrap()
    }

    /// The browser coming back to `path` with the provider's `query`.
    fn callback(&self, settings: &Settings, path_and_query: &str, now: u64) -> Run {
        Run::new(
            settings,
            request("GET", path_and_query, &[("cookie", &self.cookie)]),
            now,
        )
    }

    /// The normal callback: `code=c1`, the right state and issuer.
    fn good_callback(&self, settings: &Settings, path: &str) -> Run {
        let query = form::encode([("code", "c1"), ("state", self.state()), ("iss", ISSUER)]);
        self.callback(settings, &format!("{path}?{query}"), NOW + 5)
    }
}

#[test]
fn a_page_without_credentials_is_sent_to_the_provider_with_state_nonce_and_pkce() {
    let settings = settings(json!({}));
    let run = Run::new(&settings, request("GET", "/app/page?x=1", &[]), NOW);
    let response = run.response();
    assert_eq!(response.status, 302);
    assert_eq!(header(&response.headers, "cache-control"), Some("no-store"));
    let location = header(&response.headers, "location").unwrap();
    assert!(
        location.starts_with(&format!("{ISSUER}/auth?")),
        "{location}"
    );
    let args = query_of(location);
    assert_eq!(arg(&args, "response_type"), Some("code"));
    assert_eq!(arg(&args, "client_id"), Some("kong"));
    assert_eq!(
        arg(&args, "redirect_uri"),
        Some("http://app.test:8000/app/page"),
        "the current URL without its query"
    );
    assert_eq!(arg(&args, "scope"), Some("openid"));
    assert_eq!(arg(&args, "response_mode"), Some("query"));
    assert_eq!(arg(&args, "code_challenge_method"), Some("S256"));
    let (state, nonce) = (arg(&args, "state").unwrap(), arg(&args, "nonce").unwrap());
    assert!(state.len() >= 24 && nonce.len() >= 24 && state != nonce);

    // The cookie holds what the callback needs, and the verifier matches the challenge.
    let cookie = cookie_named(&response.headers, "authorization").unwrap();
    let opened = settings
        .authorization_cookies
        .open(&request("GET", "/", &[("cookie", &cookie)]), NOW)
        .unwrap()
        .1;
    assert_eq!(
        (opened.state.as_str(), opened.nonce.as_str()),
        (state, nonce)
    );
    assert_eq!(opened.uri, "http://app.test:8000/app/page");
    assert_eq!(
        opened.uri_args, None,
        "the query is kept only with preserve_query_args"
    );
    assert_eq!(
        Some(s256_challenge(opened.code_verifier.as_deref().unwrap()).as_str()),
        arg(&args, "code_challenge")
    );
    assert!(run.calls.is_empty(), "nothing was asked of the provider");
}

#[test]
fn pkce_follows_discovery_unless_configured() {
    let without_methods = provider_with(json!({"code_challenge_methods_supported": null}));
    for (config, provider, expected) in [
        (json!({}), provider(), true),
        (json!({}), without_methods.clone(), false),
        (
            json!({"require_proof_key_for_code_exchange": true}),
            without_methods,
            true,
        ),
        (
            json!({"require_proof_key_for_code_exchange": false}),
            provider(),
            false,
        ),
    ] {
        let settings = settings(config.clone());
        let mut flow = RequestFlow::new(request("GET", "/", &[]), Some(provider));
        let step = with_env(NOW, &MemoryShared::default(), |env| {
            flow.start(&settings, env)
        });
        let Step::Respond(response) = step else {
            panic!("{step:?}")
        };
        let args = query_of(header(&response.headers, "location").unwrap());
        assert_eq!(arg(&args, "code_challenge").is_some(), expected, "{config}");
    }
}

#[test]
fn the_callback_exchanges_the_code_and_the_upstream_gets_the_tokens() {
    let settings = settings(json!({}));
    let started = start_login(&settings, "/app/page");
    let mut run = started.good_callback(&settings, "/app/page");
    let call = run.call().clone();
    let body = token_request_form(&call, &basic::client_authorization("kong", CLIENT_SECRET));
    assert_eq!(arg(&body, "grant_type"), Some("authorization_code"));
    assert_eq!(arg(&body, "code"), Some("c1"));
    assert_eq!(
        arg(&body, "redirect_uri"),
        Some("http://app.test:8000/app/page")
    );
    let opened = settings
        .authorization_cookies
        .open(&request("GET", "/", &[("cookie", &started.cookie)]), NOW)
        .unwrap()
        .1;
    assert_eq!(arg(&body, "code_verifier"), opened.code_verifier.as_deref());

    run.feed(
        &settings,
        code_tokens(&id_token("k1", started.nonce())),
        NOW + 6,
    );
    let forward = run.forward();
    assert_eq!(
        header(&forward.set_request_headers, "authorization"),
        Some("Bearer at-code")
    );
    assert_eq!(
        forward.new_path.as_deref(),
        Some("/app/page"),
        "code, state and iss stripped"
    );
    assert!(
        forward.remove_request_headers.iter().any(|h| h == "cookie"),
        "the authorization cookie stays here"
    );
    let headers = &forward.add_response_headers;
    assert!(
        expires(headers, "authorization"),
        "the authorization cookie is destroyed: {headers:?}"
    );
    let session = cookie_named(headers, "session").expect("a session");

    // The session now authenticates on its own, as a code-flow session.
    let run = Run::new(
        &settings,
        request("GET", "/app/other", &[("cookie", &session)]),
        NOW + 10,
    );
    assert_eq!(
        header(&run.forward().set_request_headers, "authorization"),
        Some("Bearer at-code")
    );
    let opened = settings
        .session_codec("http")
        .open(&[session.as_str()], NOW + 10)
        .unwrap();
    assert_eq!(
        opened.data("default").unwrap()["auth_method"],
        "authorization_code"
    );
    assert_eq!(opened.subject("default"), Some("user-john"));
}

#[test]
fn other_cookies_and_arguments_reach_the_upstream() {
    let settings = settings(json!({}));
    let started = start_login(&settings, "/p");
    let query = form::encode([
        ("keep", "1"),
        ("code", "c1"),
        ("session_state", "x"),
        ("state", started.state()),
    ]);
    let cookies = format!("theme=dark; {}", started.cookie);
    let mut run = Run::new(
        &settings,
        request("GET", &format!("/p?{query}"), &[("cookie", &cookies)]),
        NOW,
    );
    run.feed(
        &settings,
        code_tokens(&id_token("k1", started.nonce())),
        NOW,
    );
    let forward = run.forward();
    assert_eq!(forward.new_path.as_deref(), Some("/p?keep=1"));
    assert_eq!(
        header(&forward.set_request_headers, "cookie"),
        Some("theme=dark")
    );
}

#[test]
fn preserve_query_args_gives_the_original_query_back() {
    let settings = settings(json!({"preserve_query_args": true}));
    let started = start_login(&settings, "/report?year=2025&q=a%20b");
    let mut run = started.good_callback(&settings, "/report");
    run.feed(
        &settings,
        code_tokens(&id_token("k1", started.nonce())),
        NOW,
    );
    assert_eq!(
        run.forward().new_path.as_deref(),
        Some("/report?year=2025&q=a%20b")
    );
}

#[test]
fn a_configured_redirect_uri_is_used_for_both_legs() {
    let settings = settings(json!({"redirect_uri": ["https://app.example.com/callback"]}));
    let started = start_login(&settings, "/deep/page");
    assert_eq!(
        arg(&started.args, "redirect_uri"),
        Some("https://app.example.com/callback")
    );
    let run = started.good_callback(&settings, "/callback");
    assert_eq!(
        arg(&form::decode(&run.call().body), "redirect_uri"),
        Some("https://app.example.com/callback")
    );
}

#[test]
fn login_action_response_answers_the_login_tokens() {
    let token = id_token("k1", "ignored");
    for (tokens, status, expected) in [
        (json!(null), 200, json!({"id_token": token})),
        (
            json!(["access_token", "refresh_token"]),
            200,
            json!({"access_token": "at-code", "refresh_token": "rt-at-code"}),
        ),
        (
            json!(["id_token", "tokens"]),
            200,
            json!({"access_token": "at-code", "refresh_token": "rt-at-code", "id_token": token, "token_type": "Bearer", "expires_in": 300}),
        ),
        (json!([]), 204, json!(null)),
        (json!(["introspection"]), 204, json!(null)),
    ] {
        let settings = settings(
            json!({"login_action": "response", "login_tokens": tokens, "verify_nonce": false}),
        );
        let started = start_login(&settings, "/login");
        let mut run = started.good_callback(&settings, "/login");
        run.feed(&settings, code_tokens(&token), NOW);
        let response = run.response();
        assert_eq!(response.status, status, "{tokens}");
        assert_eq!(header(&response.headers, "cache-control"), Some("no-store"));
        assert!(
            cookie_named(&response.headers, "session").is_some()
                && expires(&response.headers, "authorization")
        );
        if status == 200 {
            assert_eq!(
                serde_json::from_slice::<Value>(&response.body).unwrap(),
                expected,
                "{tokens}"
            );
        } else {
            assert!(response.body.is_empty());
        }
    }
}

#[test]
fn login_action_redirect_goes_back_to_the_page_that_started_the_login() {
    let settings = settings(json!({"login_action": "redirect", "preserve_query_args": true}));
    let started = start_login(&settings, "/app/page?tab=2");
    let mut run = started.good_callback(&settings, "/app/page");
    let token = id_token("k1", started.nonce());
    run.feed(&settings, code_tokens(&token), NOW);
    let response = run.response();
    assert_eq!(response.status, 302);
    assert_eq!(
        header(&response.headers, "location"),
        Some(format!("http://app.test:8000/app/page?tab=2#id_token={token}").as_str())
    );
    assert!(
        cookie_named(&response.headers, "session").is_some()
            && expires(&response.headers, "authorization")
    );

    let settings = self::settings(json!({
        "login_action": "redirect", "login_redirect_uri": ["https://app.example.com/welcome?from=sso"],
        "login_redirect_mode": "query", "login_tokens": ["access_token"],
    }));
    let started = start_login(&settings, "/x");
    let mut run = started.good_callback(&settings, "/x");
    run.feed(
        &settings,
        code_tokens(&id_token("k1", started.nonce())),
        NOW,
    );
    assert_eq!(
        header(&run.response().headers, "location"),
        Some("https://app.example.com/welcome?from=sso&access_token=at-code")
    );
}

#[test]
fn form_post_reads_and_strips_the_body() {
    let settings = settings(json!({"response_mode": "form_post"}));
    let started = start_login(&settings, "/app");
    assert_eq!(arg(&started.args, "response_mode"), Some("form_post"));
    let body = form::encode([
        ("code", "c1"),
        ("state", started.state()),
        ("iss", ISSUER),
        ("other", "kept"),
    ]);
    let mut post = request(
        "POST",
        "/app",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("content-length", &body.len().to_string()),
            ("cookie", &started.cookie),
        ],
    );
    assert!(
        RequestFlow::needs_body(&settings, &post),
        "a form POST may be the authorization response"
    );
    post.body = Some(body.into_bytes());
    let mut run = Run::new(&settings, post, NOW);
    assert_eq!(arg(&form::decode(&run.call().body), "code"), Some("c1"));
    run.feed(
        &settings,
        code_tokens(&id_token("k1", started.nonce())),
        NOW,
    );
    let forward = run.forward();
    assert_eq!(forward.new_body.as_deref(), Some(b"other=kept".as_slice()));
    assert_eq!(
        header(&forward.set_request_headers, "content-length"),
        Some("10")
    );
    assert_eq!(forward.new_path, None);
}

#[test]
fn a_second_page_during_a_login_reuses_its_state() {
    let settings = settings(json!({}));
    let started = start_login(&settings, "/first");
    let run = started.callback(&settings, "/second", NOW + 30);
    let response = run.response();
    assert_eq!(response.status, 302);
    let args = query_of(header(&response.headers, "location").unwrap());
    assert_eq!(
        (arg(&args, "state"), arg(&args, "nonce")),
        (Some(started.state()), Some(started.nonce()))
    );
    assert_eq!(
        arg(&args, "code_challenge"),
        arg(&started.args, "code_challenge")
    );
    let cookie = cookie_named(&response.headers, "authorization").unwrap();
    let opened = settings
        .authorization_cookies
        .open(&request("GET", "/", &[("cookie", &cookie)]), NOW + 30)
        .unwrap()
        .1;
    assert_eq!(
        opened.uri, "http://app.test:8000/second",
        "the login now returns to the latest page"
    );
}

/// Checks a refused callback: 401, no token request, the authorization cookie expired, the
/// reason labelled for the log and metrics.
fn assert_refused(run: &Run, label: &str) {
    let response = run.response();
    assert_eq!(response.status, 401, "{}", response.reason);
    assert!(
        response.reason.starts_with(label),
        "{} does not start with {label}",
        response.reason
    );
    assert_eq!(response.body, br#"{"message":"Unauthorized"}"#);
    assert!(header(&response.headers, "www-authenticate").is_some());
    assert_eq!(header(&response.headers, "cache-control"), Some("no-store"));
    assert!(run.calls.iter().all(|c| c.path != "/auth"));
}

#[test]
fn an_error_from_the_provider_is_401_without_a_token_request() {
    let settings = settings(json!({}));
    let started = start_login(&settings, "/p");
    let query = form::encode([
        ("error", "access_denied"),
        ("error_description", "The user said no"),
        ("state", started.state()),
    ]);
    let run = started.callback(&settings, &format!("/p?{query}"), NOW);
    assert_refused(&run, "idp_error");
    assert!(run
        .response()
        .reason
        .contains("access_denied (The user said no)"));
    assert!(run.calls.is_empty());
    assert!(expires(&run.response().headers, "authorization"));
}

#[test]
fn a_forged_or_stale_state_is_401_and_never_a_new_redirect() {
    let settings = settings(json!({}));
    let started = start_login(&settings, "/p");

    let forged = started.callback(&settings, "/p?code=c1&state=forged", NOW);
    assert_refused(&forged, "invalid_state");
    assert!(forged.calls.is_empty());

    // The cookie outlived authorization_rolling_timeout (600 s).
    let query = form::encode([("code", "c1"), ("state", started.state())]);
    let stale = started.callback(&settings, &format!("/p?{query}"), NOW + 601);
    assert_refused(&stale, "invalid_state");
    assert!(stale.response().reason.contains("expired or invalid"));
    assert!(expires(&stale.response().headers, "authorization"));

    // No cookie at all: another browser, or the cookie was never stored.
    let cookieless = Run::new(&settings, request("GET", &format!("/p?{query}"), &[]), NOW);
    assert_refused(&cookieless, "invalid_state");
    assert!(cookieless.calls.is_empty());
    let error_without_cookie = Run::new(
        &settings,
        request("GET", "/p?error=login_required&state=s", &[]),
        NOW,
    );
    assert_refused(&error_without_cookie, "invalid_state");

    // A provider answering an error without the state, while the login runs, is not bounced back.
    let stateless_error = started.callback(&settings, "/p?error=server_error", NOW);
    assert_refused(&stateless_error, "idp_error");
    let code_only = started.callback(&settings, "/p?code=c1", NOW);
    assert_refused(&code_only, "invalid_callback");
}

#[test]
fn a_wrong_issuer_is_401() {
    let settings = settings(json!({}));
    let started = start_login(&settings, "/p");
    let query = form::encode([
        ("code", "c1"),
        ("state", started.state()),
        ("iss", "http://evil.test"),
    ]);
    assert_refused(
        &started.callback(&settings, &format!("/p?{query}"), NOW),
        "invalid_callback",
    );
}

#[test]
fn a_replayed_code_is_401_and_a_failing_provider_500() {
    let settings = settings(json!({}));
    let started = start_login(&settings, "/p");
    let mut run = started.good_callback(&settings, "/p");
    run.feed(
        &settings,
        answer(
            400,
            r#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#,
        ),
        NOW,
    );
    assert_refused(&run, "invalid_grant");
    assert!(expires(&run.response().headers, "authorization"));

    let mut run = started.good_callback(&settings, "/p");
    run.feed(&settings, answer(503, r#"{"error":"server_error"}"#), NOW);
    assert_eq!(run.response().status, 500);
    assert!(expires(&run.response().headers, "authorization"));
    let mut run = started.good_callback(&settings, "/p");
    run.feed(&settings, CallResponse::default(), NOW);
    assert_eq!(run.response().status, 500, "an unreachable token endpoint");
}

#[test]
fn the_id_token_must_carry_the_nonce_of_this_login() {
    let settings = settings(json!({}));
    let started = start_login(&settings, "/p");
    let mut run = started.good_callback(&settings, "/p");
    run.feed(
        &settings,
        code_tokens(&id_token("k1", "another-login")),
        NOW,
    );
    assert_refused(&run, "invalid_token");
    assert!(
        run.response().reason.contains("nonce"),
        "{}",
        run.response().reason
    );
    assert!(expires(&run.response().headers, "authorization"));

    let lenient = self::settings(json!({"verify_nonce": false}));
    let started = start_login(&lenient, "/p");
    let mut run = started.good_callback(&lenient, "/p");
    run.feed(&lenient, code_tokens(&id_token("k1", "another-login")), NOW);
    run.forward();

    // Without an ID token the nonce cannot be checked: refused while `openid` is asked for.
    let mut run = started.good_callback(&lenient, "/p");
    run.feed(&lenient, answer(200, r#"{"access_token":"at"}"#), NOW);
    assert_refused(&run, "invalid_token");
}

#[test]
fn a_new_signing_key_is_fetched_once_and_the_nonce_still_checked() {
    let settings = settings(json!({}));
    let started = start_login(&settings, "/p");
    let mut run = started.good_callback(&settings, "/p");
    run.feed(
        &settings,
        code_tokens(&id_token("k2", started.nonce())),
        NOW,
    );
    assert_eq!(run.call().path, "/jwks");
    run.feed(&settings, ok_bytes(jwks("rsa1", "k2")), NOW);
    assert!(expires(
        &run.forward().add_response_headers,
        "authorization"
    ));
}

#[test]
fn unauthorized_redirect_uri_replaces_the_401() {
    let settings =
        settings(json!({"unauthorized_redirect_uri": ["https://app.example.com/sorry"]}));
    let started = start_login(&settings, "/p");
    let run = started.callback(&settings, "/p?error=access_denied&state=x", NOW);
    let response = run.response();
    assert_eq!(response.status, 302);
    assert_eq!(
        header(&response.headers, "location"),
        Some("https://app.example.com/sorry")
    );
    assert!(expires(&response.headers, "authorization"));
}

#[test]
fn kongs_credential_order_with_password_and_code_flow() {
    let settings = settings(json!({"auth_methods": ["authorization_code", "password", "session"]}));
    // Basic credentials: the password grant, no redirect.
    let auth = basic::client_authorization("john", "doe");
    let run = Run::get(&settings, ("authorization", &auth), NOW);
    assert_eq!(
        arg(&form::decode(&run.call().body), "grant_type"),
        Some("password")
    );
    // None: the browser is sent to the login page.
    assert_eq!(
        Run::new(&settings, request("GET", "/", &[]), NOW)
            .response()
            .status,
        302
    );
    // Code flow off: a plain 401.
    let no_code = self::settings(json!({"auth_methods": ["password", "session"]}));
    assert_eq!(
        Run::new(&no_code, request("GET", "/", &[]), NOW)
            .response()
            .status,
        401
    );
}

#[test]
fn configuration_problems_are_500_not_a_broken_redirect() {
    let settings = settings(json!({}));
    let mut flow = RequestFlow::new(
        request("GET", "/", &[]),
        Some(provider_with(json!({"authorization_endpoint": null}))),
    );
    let step = with_env(NOW, &MemoryShared::default(), |env| {
        flow.start(&settings, env)
    });
    assert!(
        matches!(&step, Step::Respond(r) if r.status == 500 && r.reason.contains("authorization endpoint")),
        "{step:?}"
    );

    let mut no_host = request("GET", "/", &[]);
    no_host.authority = String::new();
    let run = Run::new(&settings, no_host, NOW);
    assert_eq!(run.response().status, 500);
    assert!(run.response().reason.contains("redirect_uri"));
}

#[test]
fn a_code_flow_session_logs_out_with_revocation_and_end_session() {
    let settings = settings(
        json!({"logout_uri_suffix": "/logout", "logout_revoke": true, "logout_redirect_uri": ["http://app.test:8000/bye"]}),
    );
    let started = start_login(&settings, "/p");
    let mut run = started.good_callback(&settings, "/p");
    let token = id_token("k1", started.nonce());
    run.feed(&settings, code_tokens(&token), NOW);
    let session = cookie_named(&run.forward().add_response_headers, "session").unwrap();

    let form_post = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("content-length", "0"),
        ("cookie", session.as_str()),
    ];
    let mut run = Run::new(
        &settings,
        request("POST", "/app/logout", &form_post),
        NOW + 20,
    );
    // Both revocations go out together, refresh token first (Kong's order).
    let revoked: Vec<Option<String>> = run
        .calls
        .iter()
        .map(|c| arg(&form::decode(&c.body), "token").map(str::to_string))
        .collect();
    assert_eq!(
        revoked,
        vec![Some("rt-at-code".to_string()), Some("at-code".to_string())]
    );
    run.feed(&settings, answer(200, ""), NOW + 20);
    run.feed(&settings, answer(200, ""), NOW + 20);
    let response = run.response();
    assert_eq!(response.status, 302);
    let args = query_of(header(&response.headers, "location").unwrap());
    assert_eq!(arg(&args, "id_token_hint"), Some(token.as_str()));
    assert_eq!(
        arg(&args, "post_logout_redirect_uri"),
        Some("http://app.test:8000/bye")
    );
    assert!(expires(&response.headers, "session"));
}
