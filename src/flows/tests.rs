//! The flows end to end in memory: a scripted identity provider answers each call with real
//! signed tokens, so every branch of the request state machine is exercised without a host.

use std::cell::Cell;
use std::rc::Rc;

use serde_json::{json, Value};

use crate::config::Config;
use crate::discovery::Algorithm;
use crate::flows::test_env::with_env;
use crate::flows::{Event, IncomingRequest, Provider, RequestFlow, Settings, SharedState};
use crate::http::basic;
use crate::step::{CallResponse, Forward, LocalResponse, OutboundRequest, Step};
use crate::token::testkeys::{self, Signer, ISSUER, NOW};

const SECRET: &str = "unit-test-session-secret";

struct Shared {
    refetches: Cell<u32>,
}

impl SharedState for Shared {
    fn claim_jwks_refetch(&self, _now: u64) -> bool {
        self.refetches.set(self.refetches.get() + 1);
        true
    }
}

fn settings(extra: Value) -> Settings {
    let mut config = json!({"issuer": ISSUER, "client_id": ["kong"], "client_secret": ["secret"], "session_secret": SECRET});
    if let (Value::Object(base), Value::Object(extra)) = (&mut config, extra) {
        base.extend(extra);
    }
    let config = Config::parse(config.to_string().as_bytes()).unwrap();
    Settings::new(config, SECRET.as_bytes()).unwrap()
}

fn metadata(extra: Value) -> Value {
    let mut metadata = json!({
        "issuer": ISSUER,
        "token_endpoint": format!("{ISSUER}/token"),
        "jwks_uri": format!("{ISSUER}/jwks"),
        "revocation_endpoint": format!("{ISSUER}/token/revocation"),
        "end_session_endpoint": format!("{ISSUER}/session/end"),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    });
    if let (Value::Object(base), Value::Object(extra)) = (&mut metadata, extra) {
        for (k, v) in extra {
            if v.is_null() {
                base.remove(&k);
            } else {
                base.insert(k, v);
            }
        }
    }
    metadata
}

fn jwks(kid: &str) -> Vec<u8> {
    testkeys::jwks_json(&[testkeys::p256_jwk(&testkeys::p256_key(), kid)])
}

fn provider_with(metadata_extra: Value) -> Rc<Provider> {
    let metadata = metadata(metadata_extra).to_string();
    Rc::new(Provider::from_documents(metadata.as_bytes(), Some(&jwks("k1")), NOW).unwrap())
}

fn provider() -> Rc<Provider> {
    provider_with(json!({}))
}

fn id_token(kid: &str, claims_extra: Value) -> String {
    let mut claims = json!({"iss": ISSUER, "sub": "user-john", "aud": "kong", "iat": NOW - 1, "exp": NOW + 300, "email": "john@example.com"});
    if let (Value::Object(base), Value::Object(extra)) = (&mut claims, claims_extra) {
        base.extend(extra);
    }
    testkeys::token(
        Algorithm::ES256,
        Some(kid),
        &claims,
        &Signer::P256(&testkeys::p256_key()),
    )
}

fn token_answer(access: &str, expires_in: u64, id_token: &str) -> CallResponse {
    ok_json(
        json!({"access_token": access, "refresh_token": format!("rt-{access}"), "id_token": id_token, "token_type": "Bearer", "expires_in": expires_in}),
    )
}

fn ok_json(body: Value) -> CallResponse {
    CallResponse {
        status: Some(200),
        headers: vec![],
        body: body.to_string().into_bytes(),
    }
}

fn answer(status: u16, body: &str) -> CallResponse {
    CallResponse {
        status: Some(status),
        headers: vec![],
        body: body.as_bytes().to_vec(),
    }
}

fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> IncomingRequest {
    IncomingRequest {
        http10: false,
        method: method.into(),
        scheme: "http".into(),
        authority: "app.test".into(),
        path: path.into(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
            .collect(),
        body: None,
    }
}

/// Runs a flow: `start`, then feeds each scripted answer to the call it made, recording them.
struct Run {
    steps: Vec<Step>,
    calls: Vec<OutboundRequest>,
    flow: RequestFlow,
    shared: Rc<Shared>,
}

impl Run {
    fn new(
        settings: &Settings,
        request: IncomingRequest,
        provider: Option<Rc<Provider>>,
        now: u64,
    ) -> Run {
        let shared = Rc::new(Shared {
            refetches: Cell::new(0),
        });
        let mut flow = RequestFlow::new(request, provider);
        let step = with_env(now, &*shared, |env| flow.start(settings, env));
        let mut run = Run {
            steps: vec![],
            calls: vec![],
            flow,
            shared,
        };
        run.record(step);
        run
    }

    fn record(&mut self, step: Step) {
        match &step {
            Step::Call(call) => self.calls.push(call.clone()),
            Step::CallAll(calls) => self.calls.extend(calls.iter().cloned()),
            _ => {}
        }
        self.steps.push(step);
    }

    /// Answers every call of the last [`Step::CallAll`] (in the order they were sent).
    fn feed_all(
        &mut self,
        settings: &Settings,
        responses: Vec<CallResponse>,
        now: u64,
    ) -> &mut Run {
        match self.steps.last() {
            Some(Step::CallAll(calls)) => assert_eq!(calls.len(), responses.len()),
            other => panic!("no calls sent together to answer: {other:?}"),
        }
        let shared = self.shared.clone();
        let step = with_env(now, &*shared, |env| {
            self.flow.on_call_responses(settings, env, responses)
        });
        self.record(step);
        self
    }

    fn feed(&mut self, settings: &Settings, response: CallResponse, now: u64) -> &mut Run {
        assert!(
            matches!(self.steps.last(), Some(Step::Call(_))),
            "no call to answer: {:?}",
            self.steps.last()
        );
        let shared = self.shared.clone();
        let step = with_env(now, &*shared, |env| {
            self.flow.on_call_response(settings, env, response)
        });
        self.record(step);
        self
    }

    fn last(&self) -> &Step {
        self.steps.last().unwrap()
    }

    fn forward(&self) -> &Forward {
        match self.last() {
            Step::Forward(forward) => forward,
            other => panic!("expected Forward, got {other:?}"),
        }
    }

    fn response(&self) -> &LocalResponse {
        match self.last() {
            Step::Respond(response) => response,
            other => panic!("expected a local response, got {other:?}"),
        }
    }

    fn last_call(&self) -> &OutboundRequest {
        self.calls.last().expect("a call")
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn set_cookies(headers: &[(String, String)]) -> Vec<&str> {
    headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect()
}

fn body_of(call: &OutboundRequest) -> Vec<(String, String)> {
    crate::http::form::decode(&call.body)
}

fn arg<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    crate::http::form::first(pairs, name)
}

/// Logs john in with the password grant; returns the session cookie (`name=value`).
fn login(settings: &Settings) -> String {
    let auth = basic::client_authorization("john", "doe");
    let mut run = Run::new(
        settings,
        request("GET", "/", &[("authorization", &auth)]),
        Some(provider()),
        NOW,
    );
    run.feed(
        settings,
        token_answer("at-1", 300, &id_token("k1", json!({}))),
        NOW,
    );
    let forward = run.forward();
    let cookie = set_cookies(&forward.add_response_headers)[0];
    cookie.split(';').next().unwrap().to_string()
}

#[test]
fn discovery_then_jwks_then_the_request_is_decided_and_documents_are_shared() {
    // Without the code flow, a request with no credentials is decided with a 401.
    let settings = settings(json!({"auth_methods": ["session", "password"]}));
    let mut run = Run::new(&settings, request("GET", "/", &[]), None, NOW);
    let call = run.last_call().clone();
    assert_eq!(
        (call.method.as_str(), call.authority.as_str()),
        ("GET", "127.0.0.1:3000")
    );
    assert_eq!(call.path, "/.well-known/openid-configuration");
    run.feed(&settings, ok_json(metadata(json!({}))), NOW);
    assert_eq!(run.last_call().path, "/jwks");
    run.feed(
        &settings,
        CallResponse {
            status: Some(200),
            headers: vec![],
            body: jwks("k1"),
        },
        NOW,
    );
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
        let mut run = Run::new(&settings, request("GET", "/", &[]), None, NOW);
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
        Some(provider()),
        NOW,
    );
    let call = run.last_call().clone();
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/token")
    );
    assert_eq!(
        header(&call.headers, "authorization"),
        Some(basic::client_authorization("kong", "secret").as_str())
    );
    let body = body_of(&call);
    assert_eq!(arg(&body, "grant_type"), Some("password"));
    assert_eq!(arg(&body, "username"), Some("john"));
    assert_eq!(arg(&body, "password"), Some("doe"));
    assert_eq!(arg(&body, "scope"), Some("openid"));
    assert_eq!(call.timeout_ms, 10_000);

    run.feed(
        &settings,
        token_answer("at-1", 300, &id_token("k1", json!({}))),
        NOW,
    );
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
    let run = Run::new(
        &settings,
        request("GET", "/", &[("authorization", &auth)]),
        Some(provider()),
        NOW,
    );
    let call = run.last_call();
    assert_eq!(header(&call.headers, "authorization"), None);
    let body = body_of(call);
    assert_eq!(
        (arg(&body, "client_id"), arg(&body, "client_secret")),
        (Some("kong"), Some("secret"))
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
        Some(provider()),
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
    let run = Run::new(&settings, post, Some(provider()), NOW);
    assert_eq!(arg(&body_of(run.last_call()), "password"), Some("b&b"));

    // Basic credentials are not read when `header` is not listed.
    let auth = basic::client_authorization("john", "doe");
    let run = Run::new(
        &settings,
        request("GET", "/", &[("authorization", &auth)]),
        Some(provider()),
        NOW,
    );
    assert_eq!(run.response().status, 401);
}

#[test]
fn refused_credentials_are_401_and_idp_failures_500() {
    // Password alone: with client_credentials on, refused Basic credentials are tried as a
    // client's too (api_clients_tests covers that).
    let settings = settings(json!({"auth_methods": ["session", "password"]}));
    let auth = basic::client_authorization("john", "bad");
    let mut run = Run::new(
        &settings,
        request("GET", "/", &[("authorization", &auth)]),
        Some(provider()),
        NOW,
    );
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
        let mut run = Run::new(
            &settings,
            request("GET", "/", &[("authorization", &auth)]),
            Some(provider()),
            NOW,
        );
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
    let wrong_audience = id_token("k1", json!({"aud": "someone-else"}));
    let expired = id_token("k1", json!({"exp": NOW - 10}));
    for token in [forged, wrong_audience, expired] {
        let mut run = Run::new(
            &settings,
            request("GET", "/", &[("authorization", &auth)]),
            Some(provider()),
            NOW,
        );
        run.feed(&settings, token_answer("at", 300, &token), NOW);
        if let Step::Call(call) = run.last() {
            // A key that does not fit the token may have rotated: one JWKS refetch, then refused.
            assert_eq!(call.path, "/jwks");
            run.feed(
                &settings,
                CallResponse {
                    status: Some(200),
                    headers: vec![],
                    body: jwks("k1"),
                },
                NOW,
            );
        }
        assert_eq!(run.response().status, 401, "{token}");
    }
}

#[test]
fn an_unknown_key_id_refetches_the_jwks_once() {
    let settings = settings(json!({}));
    let auth = basic::client_authorization("john", "doe");
    let mut run = Run::new(
        &settings,
        request("GET", "/", &[("authorization", &auth)]),
        Some(provider()),
        NOW,
    );
    run.feed(
        &settings,
        token_answer("at", 300, &id_token("rotated", json!({}))),
        NOW,
    );
    assert_eq!(run.last_call().path, "/jwks");
    run.feed(
        &settings,
        CallResponse {
            status: Some(200),
            headers: vec![],
            body: jwks("rotated"),
        },
        NOW,
    );
    assert_eq!(
        header(&run.forward().set_request_headers, "authorization"),
        Some("Bearer at")
    );
    assert!(
        run.flow.take_provider_update().is_some(),
        "the new keys are shared"
    );

    // A kid that the new JWKS does not have either: one refetch, then 401 (no loop).
    let mut run = Run::new(
        &settings,
        request("GET", "/", &[("authorization", &auth)]),
        Some(provider()),
        NOW,
    );
    run.feed(
        &settings,
        token_answer("at", 300, &id_token("unknown", json!({}))),
        NOW,
    );
    run.feed(
        &settings,
        CallResponse {
            status: Some(200),
            headers: vec![],
            body: jwks("k1"),
        },
        NOW,
    );
    assert_eq!(run.response().status, 401);
    assert_eq!(run.shared.refetches.get(), 1);
}

#[test]
fn a_session_authenticates_without_calling_the_provider_and_never_reaches_the_upstream() {
    let settings = settings(json!({"auth_methods": ["session", "password"]}));
    let cookie = login(&settings);
    let cookie_header = format!("theme=dark; {cookie}; lang=en");
    let run = Run::new(
        &settings,
        request("GET", "/", &[("cookie", &cookie_header)]),
        Some(provider()),
        NOW + 10,
    );
    let forward = run.forward();
    assert!(run.calls.is_empty());
    assert_eq!(
        header(&forward.set_request_headers, "authorization"),
        Some("Bearer at-1")
    );
    assert_eq!(
        header(&forward.set_request_headers, "cookie"),
        Some("theme=dark; lang=en")
    );

    // A session wins over Basic credentials (no password grant while a session exists).
    let auth = basic::client_authorization("john", "other");
    let run = Run::new(
        &settings,
        request("GET", "/", &[("cookie", &cookie), ("authorization", &auth)]),
        Some(provider()),
        NOW + 10,
    );
    assert!(run.calls.is_empty());
    assert_eq!(
        header(&run.forward().set_request_headers, "authorization"),
        Some("Bearer at-1")
    );
}

#[test]
fn session_is_not_used_when_the_method_is_not_enabled() {
    let settings = settings(json!({"auth_methods": ["password"]}));
    // Without the session method no session is made (Kong); one made elsewhere is not read.
    let cookie = login(&crate::flows::tests::settings(json!({})));
    let run = Run::new(
        &settings,
        request("GET", "/", &[("cookie", &cookie)]),
        Some(provider()),
        NOW + 10,
    );
    assert_eq!(run.response().status, 401);
}

#[test]
fn an_expired_access_token_is_refreshed_with_the_refresh_token() {
    let settings = settings(json!({}));
    let cookie = login(&settings);
    let later = NOW + 301;
    let mut run = Run::new(
        &settings,
        request("GET", "/", &[("cookie", &cookie)]),
        Some(provider()),
        later,
    );
    let body = body_of(run.last_call());
    assert_eq!(arg(&body, "grant_type"), Some("refresh_token"));
    assert_eq!(arg(&body, "refresh_token"), Some("rt-at-1"));
    run.feed(
        &settings,
        ok_json(json!({"access_token": "at-2", "expires_in": 300})),
        later,
    );
    let forward = run.forward();
    assert_eq!(
        header(&forward.set_request_headers, "authorization"),
        Some("Bearer at-2")
    );
    let new_cookie = set_cookies(&forward.add_response_headers)[0]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let session = settings
        .session_codec("http")
        .open(&[&new_cookie], later)
        .unwrap();
    let data = session.data("default").unwrap();
    assert_eq!(
        data["tokens"]["refresh_token"], "rt-at-1",
        "kept when the provider omits it"
    );
    assert_eq!(data["expires"], later + 300);

    // A refused refresh is 401 and the session is destroyed.
    let mut run = Run::new(
        &settings,
        request("GET", "/", &[("cookie", &cookie)]),
        Some(provider()),
        later,
    );
    run.feed(
        &settings,
        answer(400, r#"{"error":"invalid_grant"}"#),
        later,
    );
    assert_eq!(run.response().status, 401);
    assert!(set_cookies(&run.response().headers)
        .iter()
        .any(|c| c.starts_with("session=;")));

    // refresh_tokens=false: an expired token is simply 401.
    let no_refresh = crate::flows::tests::settings(json!({"refresh_tokens": false}));
    let cookie = login(&no_refresh);
    let run = Run::new(
        &no_refresh,
        request("GET", "/", &[("cookie", &cookie)]),
        Some(provider()),
        later,
    );
    assert_eq!(run.response().status, 401);
    assert!(run.calls.is_empty());
}

#[test]
fn a_bad_session_cookie_is_401_and_destroyed() {
    let settings = settings(json!({"auth_methods": ["session", "password"]}));
    let cookie = login(&settings);
    let tampered = format!("{}x", &cookie[..cookie.len() - 1]);
    for bad in [tampered.as_str(), "session=AAAA", "session=", "SESSION=%%"] {
        let run = Run::new(
            &settings,
            request("GET", "/", &[("cookie", bad)]),
            Some(provider()),
            NOW,
        );
        let response = run.response();
        assert_eq!(response.status, 401, "{bad}");
        assert!(
            set_cookies(&response.headers)
                .iter()
                .any(|c| c.starts_with("session=;") && c.contains("Max-Age=0")),
            "{bad}"
        );
    }
    // Idle for longer than session_idling_timeout (900 s).
    let run = Run::new(
        &settings,
        request("GET", "/", &[("cookie", &cookie)]),
        Some(provider()),
        NOW + 901,
    );
    assert_eq!(run.response().status, 401);
}

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
        Some(provider()),
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
        Some(basic::client_authorization("kong", "secret").as_str())
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
    let id_token = id_token("k1", json!({}));
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
        Some(provider()),
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
        Some(provider()),
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
    let run = Run::new(
        &settings,
        request("POST", "/logout", &[("cookie", &cookie)]),
        Some(no_end_session.clone()),
        NOW,
    );
    assert!(run.calls.is_empty());
    assert_eq!(run.response().status, 204);

    let settings = logout_settings(json!({"logout_redirect_uri": ["https://app.test/bye"]}));
    let run = Run::new(
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
        let run = Run::new(&settings, req, Some(provider()), NOW);
        matches!(run.last(), Step::Respond(r) if r.status == 302)
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
    let run = Run::new(&no_suffix, post, Some(provider()), NOW);
    assert_eq!(run.response().status, 401);
}

fn settings_without_suffix() -> Settings {
    settings(
        json!({"logout_post_arg": "signout", "logout_methods": ["POST"], "auth_methods": ["session", "password"]}),
    )
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
    let token = id_token("k1", json!({}));
    let mut run = Run::new(
        &settings,
        request("GET", "/p?a=1", &[("authorization", &auth)]),
        Some(provider()),
        NOW,
    );
    run.feed(&settings, token_answer("at-9", 300, &token), NOW);
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
        Some(provider()),
        NOW,
    );
    run.feed(&settings, token_answer("at-9", 300, &token), NOW);
    assert_eq!(run.forward().new_path.as_deref(), Some("/p?a=1"));
}

#[test]
fn display_errors_and_custom_messages() {
    let settings = settings(
        json!({"unauthorized_error_message": "Go away", "display_errors": true, "expose_error_code": false, "auth_methods": ["session", "password"]}),
    );
    let run = Run::new(&settings, request("GET", "/", &[]), Some(provider()), NOW);
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

#[test]
fn secure_cookies_follow_the_scheme_unless_configured() {
    let settings = settings(json!({}));
    let auth = basic::client_authorization("john", "doe");
    let mut https = request("GET", "/", &[("authorization", &auth)]);
    https.scheme = "https".into();
    let mut run = Run::new(&settings, https, Some(provider()), NOW);
    run.feed(
        &settings,
        token_answer("at", 300, &id_token("k1", json!({}))),
        NOW,
    );
    assert!(set_cookies(&run.forward().add_response_headers)[0].contains("; Secure"));
    let cookie = login(&settings);
    assert!(!cookie.contains("Secure"));
}

#[test]
fn http10_clients_also_get_pragma_no_cache_at_logout() {
    let settings = logout_settings(json!({"logout_revoke": false}));
    let run = Run::new(
        &settings,
        request("POST", "/logout", &[]),
        Some(provider()),
        NOW,
    );
    assert_eq!(
        header(&run.response().headers, "pragma"),
        None,
        "HTTP/1.1 clients get no Pragma"
    );
    let mut old = request("POST", "/logout", &[]);
    old.http10 = true;
    let run = Run::new(&settings, old, Some(provider()), NOW);
    assert_eq!(header(&run.response().headers, "pragma"), Some("no-cache"));
    assert_eq!(
        header(&run.response().headers, "cache-control"),
        Some("no-store")
    );
}
