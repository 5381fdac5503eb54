//! The API-client methods end to end in memory: bearer JWTs (and forged ones), introspection,
//! userinfo, client credentials, the refresh_token method, the token cache, required claims,
//! upstream headers, hide_credentials, and one refresh per session under concurrent requests.
//! A scripted identity provider answers with real signed tokens; the shared state is an
//! in-memory map with expiries and locks, as the adapter keeps them in the host's shared data.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

use crate::config::Config;
use crate::discovery::Algorithm;
use crate::flows::shared_cache::memory::MemoryStore;
use crate::flows::shared_cache::{self, CacheKind};
use crate::flows::test_env::with_env;
use crate::flows::{Env, IncomingRequest, Provider, RequestFlow, Settings, SharedState};
use crate::http::{basic, form};
use crate::step::{CallResponse, Forward, LocalResponse, OutboundRequest, Step};
use crate::token::testkeys::{self, Signer, ISSUER, NOW};

const SECRET: &str = "api-clients-session-secret";
const CLIENT_SECRET: &str = "client-secret-of-kong";

/// Shared data as the adapter keeps it: the cache's buckets in a host-like store, and locks.
#[derive(Default)]
struct MemoryShared {
    store: MemoryStore,
    locks: RefCell<HashMap<String, u64>>,
    refetches: Cell<u32>,
}

impl SharedState for MemoryShared {
    fn claim_jwks_refetch(&self, _now: u64) -> bool {
        self.refetches.set(self.refetches.get() + 1);
        self.refetches.get() == 1
    }

    fn cache_get(&self, kind: CacheKind, key: &str, now: u64) -> Option<Vec<u8>> {
        shared_cache::get(&self.store, kind, key, now)
    }

    fn cache_put(&self, kind: CacheKind, key: &str, value: &[u8], expires_at: u64) {
        shared_cache::put(&self.store, kind, key, value, expires_at, 0);
    }

    fn try_lock(&self, key: &str, now: u64, until: u64) -> bool {
        let mut locks = self.locks.borrow_mut();
        if locks.get(key).is_some_and(|held_until| *held_until > now) {
            return false;
        }
        locks.insert(key.to_string(), until);
        true
    }

    fn unlock(&self, key: &str) {
        self.locks.borrow_mut().remove(key);
    }
}

impl MemoryShared {
    fn count(&self, kind: CacheKind) -> usize {
        shared_cache::entry_count(&self.store, kind)
    }
}

fn settings(extra: Value) -> Settings {
    let mut config = json!({"issuer": ISSUER, "client_id": ["kong"], "client_secret": [CLIENT_SECRET], "session_secret": SECRET});
    if let (Value::Object(base), Value::Object(extra)) = (&mut config, extra) {
        base.extend(extra);
    }
    let config = Config::parse(config.to_string().as_bytes()).unwrap();
    Settings::new(config, SECRET.as_bytes()).unwrap()
}

fn metadata() -> Value {
    json!({
        "issuer": ISSUER,
        "token_endpoint": format!("{ISSUER}/token"),
        "jwks_uri": format!("{ISSUER}/jwks"),
        "introspection_endpoint": format!("{ISSUER}/token/introspection"),
        "userinfo_endpoint": format!("{ISSUER}/me"),
        "revocation_endpoint": format!("{ISSUER}/token/revocation"),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    })
}

/// The provider's keys: an RSA key (`rsa1`, access tokens) and a P-256 key (`k1`, ID tokens).
fn jwks_with(rsa_kid: &str) -> Vec<u8> {
    testkeys::jwks_json(&[
        testkeys::rsa_jwk(testkeys::rsa_key(), rsa_kid),
        testkeys::p256_jwk(&testkeys::p256_key(), "k1"),
    ])
}

fn provider() -> Rc<Provider> {
    Rc::new(
        Provider::from_documents(
            metadata().to_string().as_bytes(),
            Some(&jwks_with("rsa1")),
            NOW,
        )
        .unwrap(),
    )
}

fn merged(base: Value, extra: Value) -> Value {
    let mut base = base;
    if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
        for (k, v) in extra {
            if v.is_null() {
                base.remove(&k);
            } else {
                base.insert(k, v);
            }
        }
    }
    base
}

/// An RS256 JWT access token as the test IdP issues them (`typ: at+jwt`).
fn access_token(extra: Value) -> String {
    let claims = merged(
        json!({"iss": ISSUER, "sub": "user-john", "aud": "kong", "iat": NOW - 5, "exp": NOW + 300,
               "scope": "openid profile", "groups": ["users"], "roles": ["viewer"], "email": "john@example.com"}),
        extra,
    );
    testkeys::token(
        Algorithm::RS256,
        Some("rsa1"),
        &claims,
        &Signer::Rsa(testkeys::rsa_key()),
    )
}

fn id_token(extra: Value) -> String {
    let claims = merged(
        json!({"iss": ISSUER, "sub": "user-john", "aud": "kong", "iat": NOW - 1, "exp": NOW + 300}),
        extra,
    );
    testkeys::token(
        Algorithm::ES256,
        Some("k1"),
        &claims,
        &Signer::P256(&testkeys::p256_key()),
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

fn token_answer(access: &str, expires_in: u64) -> CallResponse {
    ok_json(
        json!({"access_token": access, "refresh_token": format!("rt-{access}"), "id_token": id_token(json!({})),
                   "token_type": "Bearer", "expires_in": expires_in}),
    )
}

fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> IncomingRequest {
    IncomingRequest {
        http10: false,
        method: method.into(),
        scheme: "http".into(),
        authority: "api.test".into(),
        path: path.into(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
            .collect(),
        body: None,
    }
}

fn with_body(mut request: IncomingRequest, content_type: &str, body: &str) -> IncomingRequest {
    request
        .headers
        .push(("content-type".into(), content_type.into()));
    request
        .headers
        .push(("content-length".into(), body.len().to_string()));
    request.body = Some(body.as_bytes().to_vec());
    request
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A flow driven by hand: `start`, then each answer to the call it made.
struct Run {
    steps: Vec<Step>,
    calls: Vec<OutboundRequest>,
    flow: RequestFlow,
    shared: Rc<MemoryShared>,
    /// Answers gathered for calls sent together (fed once all are in).
    answers: Vec<CallResponse>,
}

impl Run {
    fn new(settings: &Settings, request: IncomingRequest, now: u64) -> Run {
        Run::with_shared(settings, request, now, Rc::new(MemoryShared::default()))
    }

    fn with_shared(
        settings: &Settings,
        request: IncomingRequest,
        now: u64,
        shared: Rc<MemoryShared>,
    ) -> Run {
        let mut flow = RequestFlow::new(request, Some(provider()));
        let step = with_env(now, &*shared, |env| flow.start(settings, env));
        let mut run = Run {
            steps: vec![],
            calls: vec![],
            flow,
            shared,
            answers: vec![],
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

    fn feed(&mut self, settings: &Settings, response: CallResponse, now: u64) -> &mut Run {
        if let Some(Step::CallAll(calls)) = self.steps.last() {
            // Calls sent together: answered one by one here, fed all at once.
            let expected = calls.len();
            self.answers.push(response);
            if self.answers.len() == expected {
                let answers = std::mem::take(&mut self.answers);
                let shared = self.shared.clone();
                let step = with_env(now, &*shared, |env| {
                    self.flow.on_call_responses(settings, env, answers)
                });
                self.record(step);
            }
            return self;
        }
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

    fn notes(&mut self) -> String {
        format!("{:?}", self.flow.take_notes())
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
    form::decode(&call.body)
}

fn arg<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form::first(pairs, name)
}

/// Asserts a 401 whose log reason has `label` and `detail`.
fn assert_unauthorized(run: &Run, label: &str, detail: &str) {
    let response = run.response();
    assert_eq!(response.status, 401, "{}", response.reason);
    assert_eq!(response.body, br#"{"message":"Unauthorized"}"#);
    assert_eq!(
        header(&response.headers, "www-authenticate"),
        Some(r#"Bearer realm="127.0.0.1", error="invalid_token""#)
    );
    assert!(
        response.reason.starts_with(&format!("{label}: ")),
        "{}",
        response.reason
    );
    assert!(
        response.reason.contains(detail),
        "{} lacks {detail}",
        response.reason
    );
}

fn assert_forbidden(run: &Run, detail: &str) {
    let response = run.response();
    assert_eq!(response.status, 403, "{}", response.reason);
    assert_eq!(response.body, br#"{"message":"Forbidden"}"#);
    assert_eq!(
        header(&response.headers, "www-authenticate"),
        Some(r#"Bearer realm="127.0.0.1", error="insufficient_scope""#)
    );
    assert!(
        response.reason.starts_with("insufficient_scope: "),
        "{}",
        response.reason
    );
    assert!(
        response.reason.contains(detail),
        "{} lacks {detail}",
        response.reason
    );
}

fn session_data(settings: &Settings, forward: &Forward, now: u64) -> Value {
    let cookie = set_cookies(&forward.add_response_headers)[0]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let session = settings
        .session_codec("http")
        .open(&[&cookie], now)
        .unwrap();
    session.data("default").unwrap().clone()
}

// Bearer JWTs.

#[test]
fn a_valid_jwt_is_accepted_without_calling_the_provider_and_opens_a_session() {
    let settings = settings(json!({}));
    let token = access_token(json!({}));
    let run = Run::new(
        &settings,
        request("GET", "/api", &[("authorization", &bearer(&token))]),
        NOW,
    );
    assert!(run.calls.is_empty());
    let forward = run.forward();
    assert_eq!(
        header(&forward.set_request_headers, "authorization"),
        Some(bearer(&token).as_str())
    );
    // Kong keeps the token in a session (unless disable_session lists bearer).
    let data = session_data(&settings, forward, NOW);
    assert_eq!(data["tokens"]["access_token"], token.as_str());
    assert_eq!(data["auth_method"], "bearer");
    assert_eq!(data["expires"], NOW + 300);

    let no_session = self::settings(json!({"disable_session": ["bearer"]}));
    let run = Run::new(
        &no_session,
        request("GET", "/api", &[("authorization", &bearer(&token))]),
        NOW,
    );
    assert!(set_cookies(&run.forward().add_response_headers).is_empty());
    let no_session_method = self::settings(json!({"auth_methods": ["bearer"]}));
    let run = Run::new(
        &no_session_method,
        request("GET", "/api", &[("authorization", &bearer(&token))]),
        NOW,
    );
    assert!(set_cookies(&run.forward().add_response_headers).is_empty());
}

#[test]
fn forged_and_invalid_jwts_are_refused_with_their_reason() {
    let settings = settings(json!({"auth_methods": ["bearer"]}));
    let rsa = testkeys::rsa_key();
    let good = json!({"iss": ISSUER, "sub": "x", "aud": "kong", "iat": NOW - 5, "exp": NOW + 300});
    let unsigned = format!(
        "{}.{}.",
        testkeys::b64(br#"{"alg":"none","typ":"JWT"}"#),
        testkeys::b64(good.to_string().as_bytes())
    );
    // The classic confusion attack: HS256 with the provider's RSA public key as the secret.
    let public_key_bytes = rsa.to_public_key().n().to_bytes_be();
    let hs_with_public_key = testkeys::token(
        Algorithm::HS256,
        Some("rsa1"),
        &good,
        &Signer::Hmac(&public_key_bytes),
    );
    let other_key = testkeys::token(
        Algorithm::RS256,
        Some("rsa1"),
        &good,
        &Signer::Rsa(testkeys::other_rsa_key()),
    );
    let cases = [
        (unsigned, "the token's algorithm \"none\" is not accepted"),
        (hs_with_public_key, "HS signatures are disabled"),
        (other_key, "signature is invalid"),
        (
            access_token(json!({"iss": "https://evil.example"})),
            "issuer \"https://evil.example\" is not allowed",
        ),
        (access_token(json!({"exp": NOW - 1})), "expired"),
        (access_token(json!({"nbf": NOW + 60})), "not valid before"),
        (
            access_token(json!({"iat": NOW + 60})),
            "issued in the future",
        ),
        ("not-a-jwt".to_string(), "malformed"),
    ];
    for (token, reason) in cases {
        let run = Run::new(
            &settings,
            request("GET", "/", &[("authorization", &bearer(&token))]),
            NOW,
        );
        assert!(run.calls.is_empty(), "{reason}");
        assert_unauthorized(&run, "invalid_token", reason);
    }

    // With enable_hs_signatures the secret is the client secret, never the public key.
    let hs = self::settings(json!({"auth_methods": ["bearer"], "enable_hs_signatures": true}));
    let forged = testkeys::token(
        Algorithm::HS256,
        None,
        &good,
        &Signer::Hmac(&public_key_bytes),
    );
    let run = Run::new(
        &hs,
        request("GET", "/", &[("authorization", &bearer(&forged))]),
        NOW,
    );
    assert_unauthorized(&run, "invalid_token", "signature is invalid");
    let genuine = testkeys::token(
        Algorithm::HS256,
        None,
        &good,
        &Signer::Hmac(CLIENT_SECRET.as_bytes()),
    );
    let run = Run::new(
        &hs,
        request("GET", "/", &[("authorization", &bearer(&genuine))]),
        NOW,
    );
    assert!(run
        .forward()
        .set_request_headers
        .iter()
        .any(|(_, v)| v == &bearer(&genuine)));
    let run = Run::new(
        &settings,
        request("GET", "/", &[("authorization", &bearer(&genuine))]),
        NOW,
    );
    assert_unauthorized(&run, "invalid_token", "HS signatures are disabled");
}

#[test]
fn leeway_and_issuers_allowed_apply() {
    let token = access_token(json!({"exp": NOW - 5}));
    let lenient = settings(json!({"auth_methods": ["bearer"], "leeway": 10}));
    let run = Run::new(
        &lenient,
        request("GET", "/", &[("authorization", &bearer(&token))]),
        NOW,
    );
    run.forward();
    let other_issuer = access_token(json!({"iss": "https://other.example"}));
    let allowed =
        settings(json!({"auth_methods": ["bearer"], "issuers_allowed": ["https://other.example"]}));
    let run = Run::new(
        &allowed,
        request("GET", "/", &[("authorization", &bearer(&other_issuer))]),
        NOW,
    );
    run.forward();
    let run = Run::new(
        &allowed,
        request(
            "GET",
            "/",
            &[("authorization", &bearer(&access_token(json!({}))))],
        ),
        NOW,
    );
    assert_unauthorized(&run, "invalid_token", "is not allowed");
}

#[test]
fn an_unknown_key_id_refetches_the_jwks_once_then_decides() {
    let settings = settings(json!({"auth_methods": ["bearer"]}));
    let rotated = testkeys::token(
        Algorithm::RS256,
        Some("rsa2"),
        &json!({"iss": ISSUER, "sub": "x", "exp": NOW + 60}),
        &Signer::Rsa(testkeys::rsa_key()),
    );
    let mut run = Run::new(
        &settings,
        request("GET", "/", &[("authorization", &bearer(&rotated))]),
        NOW,
    );
    assert_eq!(run.last_call().path, "/jwks");
    run.feed(
        &settings,
        CallResponse {
            status: Some(200),
            headers: vec![],
            body: jwks_with("rsa2"),
        },
        NOW,
    );
    run.forward();
    assert!(
        run.flow.take_provider_update().is_some(),
        "the new keys are shared"
    );

    // Still unknown after the refetch: 401, and no second refetch.
    let shared = Rc::new(MemoryShared::default());
    let unknown = testkeys::token(
        Algorithm::RS256,
        Some("nope"),
        &json!({"iss": ISSUER, "exp": NOW + 60}),
        &Signer::Rsa(testkeys::rsa_key()),
    );
    let mut run = Run::with_shared(
        &settings,
        request("GET", "/", &[("authorization", &bearer(&unknown))]),
        NOW,
        shared.clone(),
    );
    run.feed(
        &settings,
        CallResponse {
            status: Some(200),
            headers: vec![],
            body: jwks_with("rsa1"),
        },
        NOW,
    );
    assert_unauthorized(
        &run,
        "invalid_token",
        "key id \"nope\" is not in the provider's JWKS",
    );
    // The refetch is rate-limited across requests: the next one with a random kid gets no call.
    let run = Run::with_shared(
        &settings,
        request("GET", "/", &[("authorization", &bearer(&unknown))]),
        NOW,
        shared,
    );
    assert!(run.calls.is_empty());
    assert_unauthorized(&run, "invalid_token", "not in the provider's JWKS");
}

#[test]
fn required_scopes_audience_groups_and_roles_are_403_insufficient_scope() {
    let token = access_token(json!({}));
    let allowed = [
        json!({"scopes_required": ["openid profile"]}),
        json!({"scopes_required": ["admin", "profile"]}),
        json!({"audience_required": ["kong"]}),
        json!({"groups_required": ["users"]}),
        json!({"roles_required": ["viewer"]}),
    ];
    for extra in allowed {
        let settings = settings(merged(json!({"auth_methods": ["bearer"]}), extra.clone()));
        let run = Run::new(
            &settings,
            request("GET", "/", &[("authorization", &bearer(&token))]),
            NOW,
        );
        assert!(
            matches!(run.last(), Step::Forward(_)),
            "{extra}: {:?}",
            run.last()
        );
    }
    let refused = [
        (
            json!({"scopes_required": ["admin"]}),
            "required scopes were not found [ openid, profile ]",
        ),
        (
            json!({"scopes_required": ["openid admin"]}),
            "required scopes were not found",
        ),
        (
            json!({"audience_required": ["api"]}),
            "required audience were not found [ kong ]",
        ),
        (
            json!({"groups_required": ["admins"]}),
            "required groups were not found [ users ]",
        ),
        (
            json!({"roles_required": ["admin"]}),
            "required roles were not found [ viewer ]",
        ),
        (
            json!({"roles_required": ["admin"], "roles_claim": ["realm_access", "roles"]}),
            "roles required but no roles found",
        ),
    ];
    for (extra, reason) in refused {
        let settings = settings(merged(
            json!({"auth_methods": ["bearer", "session"]}),
            extra,
        ));
        let run = Run::new(
            &settings,
            request("GET", "/", &[("authorization", &bearer(&token))]),
            NOW,
        );
        assert_forbidden(&run, reason);
        assert!(
            set_cookies(&run.response().headers).is_empty(),
            "no session for a forbidden request"
        );
    }
}

#[test]
fn token_locations_and_hide_credentials_remove_exactly_the_credential_used() {
    let token = access_token(json!({}));
    let settings = settings(json!({
        "auth_methods": ["bearer"], "hide_credentials": true,
        "bearer_token_param_type": ["header", "cookie", "query", "body"], "bearer_token_cookie_name": "at",
        "upstream_access_token_header": "x-token",
    }));
    let run = Run::new(
        &settings,
        request(
            "GET",
            "/",
            &[("authorization", &bearer(&token)), ("x-other", "1")],
        ),
        NOW,
    );
    assert_eq!(run.forward().remove_request_headers, ["authorization"]);
    assert_eq!(
        header(&run.forward().set_request_headers, "x-token"),
        Some(token.as_str())
    );

    let run = Run::new(
        &settings,
        request("GET", "/", &[("x-access-token", &token)]),
        NOW,
    );
    assert_eq!(run.forward().remove_request_headers, ["x-access-token"]);

    let run = Run::new(
        &settings,
        request("GET", "/", &[("cookie", &format!("a=1; at={token}; b=2"))]),
        NOW,
    );
    assert_eq!(
        header(&run.forward().set_request_headers, "cookie"),
        Some("a=1; b=2")
    );

    let run = Run::new(
        &settings,
        request("GET", &format!("/p?x=1&access_token={token}&y=2"), &[]),
        NOW,
    );
    assert_eq!(run.forward().new_path.as_deref(), Some("/p?x=1&y=2"));

    let post = with_body(
        request("POST", "/p", &[]),
        "application/x-www-form-urlencoded",
        &format!("a=1&access_token={token}"),
    );
    assert!(RequestFlow::needs_body(&settings, &post));
    let run = Run::new(&settings, post, NOW);
    assert_eq!(run.forward().new_body.as_deref(), Some(&b"a=1"[..]));
    assert_eq!(
        header(&run.forward().set_request_headers, "content-length"),
        Some("3")
    );

    let json_post = with_body(
        request("POST", "/p", &[]),
        "application/json",
        &json!({"access_token": token, "n": 1}).to_string(),
    );
    let run = Run::new(&settings, json_post, NOW);
    assert_eq!(run.forward().new_body.as_deref(), Some(&br#"{"n":1}"#[..]));

    // Without hide_credentials nothing is removed.
    let keep = self::settings(json!({"auth_methods": ["bearer"]}));
    let run = Run::new(
        &keep,
        request("GET", &format!("/p?access_token={token}"), &[]),
        NOW,
    );
    assert_eq!(run.forward().new_path, None);
}

// Introspection and userinfo.

#[test]
fn opaque_tokens_are_introspected_and_the_result_is_cached_until_exp_or_cache_ttl() {
    let settings = settings(json!({
        "auth_methods": ["bearer", "introspection", "session"], "cache_ttl": 600,
        "upstream_introspection_header": "x-introspection",
        "upstream_headers_claims": ["username", "email"], "upstream_headers_names": ["x-username", "x-email"],
    }));
    let shared = Rc::new(MemoryShared::default());
    let result = json!({"active": true, "sub": "user-john", "username": "john", "scope": "openid", "exp": NOW + 120, "client_id": "kong"});
    let mut run = Run::with_shared(
        &settings,
        request("GET", "/", &[("authorization", "Bearer opaque-1")]),
        NOW,
        shared.clone(),
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
    let run = Run::with_shared(
        &settings,
        request("GET", "/", &[("authorization", "Bearer opaque-1")]),
        NOW + 60,
        shared.clone(),
    );
    assert!(run.calls.is_empty());
    run.forward();
    // The entry ends at the token's exp (before cache_ttl): asked again.
    let run = Run::with_shared(
        &settings,
        request("GET", "/", &[("authorization", "Bearer opaque-1")]),
        NOW + 120,
        shared.clone(),
    );
    assert_eq!(run.calls.len(), 1);

    // cache_introspection=false: every request asks.
    let uncached =
        self::settings(json!({"auth_methods": ["introspection"], "cache_introspection": false}));
    let shared = Rc::new(MemoryShared::default());
    let mut run = Run::with_shared(
        &uncached,
        request("GET", "/", &[("authorization", "Bearer o")]),
        NOW,
        shared.clone(),
    );
    run.feed(&uncached, ok_json(json!({"active": true})), NOW);
    let run = Run::with_shared(
        &uncached,
        request("GET", "/", &[("authorization", "Bearer o")]),
        NOW,
        shared.clone(),
    );
    assert_eq!(run.calls.len(), 1);
    assert_eq!(shared.count(CacheKind::Introspection), 0);
}

#[test]
fn inactive_unknown_and_failed_introspections_are_401() {
    let settings = settings(json!({"auth_methods": ["introspection"]}));
    let mut run = Run::new(
        &settings,
        request("GET", "/", &[("authorization", "Bearer gone")]),
        NOW,
    );
    run.feed(&settings, ok_json(json!({"active": false})), NOW);
    assert_unauthorized(&run, "inactive_token", "not active");

    for (failure, reason) in [
        (answer(500, ""), "answered 500"),
        (CallResponse::default(), "could not be reached"),
        (answer(200, "<html>"), "JSON object"),
    ] {
        let mut run = Run::new(
            &settings,
            request("GET", "/", &[("authorization", "Bearer t")]),
            NOW,
        );
        run.feed(&settings, failure, NOW);
        assert_unauthorized(&run, "invalid_token", reason);
    }

    // introspection_check_active=false takes the result as it is.
    let lax = self::settings(
        json!({"auth_methods": ["introspection"], "introspection_check_active": false}),
    );
    let mut run = Run::new(
        &lax,
        request("GET", "/", &[("authorization", "Bearer gone")]),
        NOW,
    );
    run.feed(&lax, ok_json(json!({"active": false})), NOW);
    run.forward();

    // An introspection result whose exp passed is an expired token.
    let mut run = Run::new(
        &settings,
        request("GET", "/", &[("authorization", "Bearer old")]),
        NOW,
    );
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
    let run = Run::new(
        &custom,
        request("GET", "/", &[("authorization", "Bearer x")]),
        NOW,
    );
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
    let mut run = Run::new(
        &settings,
        request("GET", "/", &[("authorization", &bearer(&expired))]),
        NOW,
    );
    assert_eq!(run.last_call().path, "/token/introspection");
    run.feed(&settings, ok_json(json!({"active": false})), NOW);
    assert_unauthorized(&run, "inactive_token", "not active");

    let strict = self::settings(
        json!({"auth_methods": ["bearer", "introspection"], "introspect_jwt_tokens": true}),
    );
    let token = access_token(json!({}));
    let mut run = Run::new(
        &strict,
        request("GET", "/", &[("authorization", &bearer(&token))]),
        NOW,
    );
    assert_eq!(run.last_call().path, "/token/introspection");
    run.feed(&strict, ok_json(json!({"active": false})), NOW);
    assert_unauthorized(&run, "inactive_token", "revoked");
    let mut run = Run::new(
        &strict,
        request("GET", "/", &[("authorization", &bearer(&token))]),
        NOW,
    );
    run.feed(&strict, ok_json(json!({"active": true})), NOW);
    run.forward();
    let mut run = Run::new(
        &strict,
        request("GET", "/", &[("authorization", &bearer(&token))]),
        NOW,
    );
    run.feed(
        &strict,
        answer(400, r#"{"error":"unsupported_token_type"}"#),
        NOW,
    );
    assert_unauthorized(&run, "invalid_token", "answered 400");
}

#[test]
fn userinfo_accepts_a_token_its_endpoint_accepts_and_follows_failed_introspection() {
    let settings = settings(
        json!({"auth_methods": ["userinfo"], "upstream_user_info_header": "x-userinfo",
                                    "upstream_headers_claims": ["email"], "upstream_headers_names": ["x-email"]}),
    );
    let shared = Rc::new(MemoryShared::default());
    let mut run = Run::with_shared(
        &settings,
        request("GET", "/", &[("authorization", "Bearer u1")]),
        NOW,
        shared.clone(),
    );
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
    let run = Run::with_shared(
        &settings,
        request("GET", "/", &[("authorization", "Bearer u1")]),
        NOW + 10,
        shared.clone(),
    );
    assert!(run.calls.is_empty(), "cache_user_info");

    let mut run = Run::new(
        &settings,
        request("GET", "/", &[("authorization", "Bearer bad")]),
        NOW,
    );
    run.feed(&settings, answer(401, r#"{"error":"invalid_token"}"#), NOW);
    assert_unauthorized(&run, "invalid_token", "userinfo endpoint answered 401");

    let both = self::settings(json!({"auth_methods": ["introspection", "userinfo"]}));
    let mut run = Run::new(
        &both,
        request("GET", "/", &[("authorization", "Bearer t")]),
        NOW,
    );
    run.feed(&both, answer(503, ""), NOW);
    assert_eq!(run.last_call().path, "/me");
    run.feed(&both, ok_json(json!({"sub": "s"})), NOW);
    run.forward();
}

// Grants for the request's own credentials.

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
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/token")
    );
    assert_eq!(
        header(&call.headers, "authorization"),
        Some(caller.as_str())
    );
    let body = body_of(&call);
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
    let mut run = Run::new(
        &settings,
        request("GET", "/", &[("authorization", &auth)]),
        NOW,
    );
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

    let mut run = Run::new(
        &settings,
        request("GET", "/", &[("authorization", &auth)]),
        NOW,
    );
    run.feed(&settings, answer(400, r#"{"error":"invalid_grant"}"#), NOW);
    run.feed(&settings, answer(401, r#"{"error":"invalid_client"}"#), NOW);
    assert_unauthorized(&run, "invalid_credentials", "invalid_client");
}

#[test]
fn the_refresh_token_method_exchanges_a_refresh_token_from_the_request() {
    let settings = settings(
        json!({"auth_methods": ["refresh_token", "session"], "refresh_token_param_name": "x-refresh-token",
                                    "refresh_token_param_type": ["header", "query"], "hide_credentials": true}),
    );
    let mut run = Run::new(
        &settings,
        request("GET", "/", &[("x-refresh-token", "Bearer rt-1")]),
        NOW,
    );
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
    let mut run = Run::new(
        &settings,
        request("GET", "/", &[("x-refresh-token", "rt-bad")]),
        NOW,
    );
    run.feed(&settings, answer(400, r#"{"error":"invalid_grant"}"#), NOW);
    assert_unauthorized(&run, "invalid_credentials", "invalid_grant");

    // Without refresh_token_param_name the method finds nothing.
    let unnamed = self::settings(json!({"auth_methods": ["refresh_token"]}));
    let run = Run::new(&unnamed, request("GET", "/?refresh_token=x", &[]), NOW);
    assert!(run.calls.is_empty());
    assert_eq!(run.response().status, 401);
}

#[test]
fn the_token_cache_spares_the_token_endpoint_and_expires_with_the_token() {
    let settings = settings(json!({"auth_methods": ["password", "session"]}));
    let shared = Rc::new(MemoryShared::default());
    let auth = basic::client_authorization("john", "doe");
    let mut run = Run::with_shared(
        &settings,
        request("GET", "/", &[("authorization", &auth)]),
        NOW,
        shared.clone(),
    );
    run.feed(&settings, token_answer("at-c", 300), NOW);
    run.forward();
    assert_eq!(shared.count(CacheKind::Tokens), 1);

    let run = Run::with_shared(
        &settings,
        request("GET", "/", &[("authorization", &auth)]),
        NOW + 100,
        shared.clone(),
    );
    assert!(run.calls.is_empty(), "served from the token cache");
    assert_eq!(
        header(&run.forward().set_request_headers, "authorization"),
        Some("Bearer at-c")
    );
    // Other credentials, or the same after the token expired: the token endpoint.
    let other = basic::client_authorization("john", "other");
    let run = Run::with_shared(
        &settings,
        request("GET", "/", &[("authorization", &other)]),
        NOW + 100,
        shared.clone(),
    );
    assert_eq!(run.calls.len(), 1);
    let run = Run::with_shared(
        &settings,
        request("GET", "/", &[("authorization", &auth)]),
        NOW + 300,
        shared.clone(),
    );
    assert_eq!(run.calls.len(), 1);

    // cache_tokens=false asks every time.
    let uncached = self::settings(json!({"auth_methods": ["password"], "cache_tokens": false}));
    let shared = Rc::new(MemoryShared::default());
    let mut run = Run::with_shared(
        &uncached,
        request("GET", "/", &[("authorization", &auth)]),
        NOW,
        shared.clone(),
    );
    run.feed(&uncached, token_answer("at", 300), NOW);
    let run = Run::with_shared(
        &uncached,
        request("GET", "/", &[("authorization", &auth)]),
        NOW,
        shared,
    );
    assert_eq!(run.calls.len(), 1);
}

#[test]
fn cached_tokens_that_no_longer_verify_are_asked_for_again() {
    let settings = settings(json!({"auth_methods": ["password"]}));
    let shared = Rc::new(MemoryShared::default());
    let auth = basic::client_authorization("john", "doe");
    let mut run = Run::with_shared(
        &settings,
        request("GET", "/", &[("authorization", &auth)]),
        NOW,
        shared.clone(),
    );
    run.feed(&settings, token_answer("at-1", 3600), NOW);
    // An hour later the cached ID token (exp NOW+300) has expired: verify fails, ask anew.
    let later = NOW + 1000;
    let mut run = Run::with_shared(
        &settings,
        request("GET", "/", &[("authorization", &auth)]),
        later,
        shared.clone(),
    );
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

// Required claims for tokens the filter got itself, and for sessions.

#[test]
fn requirements_apply_to_logins_and_sessions_and_opaque_tokens_are_introspected_for_them() {
    let settings =
        settings(json!({"auth_methods": ["password", "session"], "scopes_required": ["email"]}));
    let auth = basic::client_authorization("john", "doe");
    let mut run = Run::new(
        &settings,
        request("GET", "/", &[("authorization", &auth)]),
        NOW,
    );
    run.feed(&settings, token_answer("opaque-at", 300), NOW);
    // The access token is opaque: its scopes come from introspection.
    assert_eq!(run.last_call().path, "/token/introspection");
    run.feed(
        &settings,
        ok_json(json!({"active": true, "scope": "openid"})),
        NOW,
    );
    assert_forbidden(&run, "required scopes were not found [ openid ]");
    assert!(set_cookies(&run.response().headers).is_empty());

    let mut run = Run::new(
        &settings,
        request("GET", "/", &[("authorization", &auth)]),
        NOW,
    );
    run.feed(&settings, token_answer("opaque-at", 300), NOW);
    run.feed(
        &settings,
        ok_json(json!({"active": true, "scope": "openid email"})),
        NOW,
    );
    let cookie = set_cookies(&run.forward().add_response_headers)[0]
        .split(';')
        .next()
        .unwrap()
        .to_string();

    // A session whose token lacks a scope that became required is refused and destroyed.
    let stricter = self::settings(
        json!({"auth_methods": ["password", "session"], "scopes_required": ["admin"]}),
    );
    let mut run = Run::new(
        &stricter,
        request("GET", "/", &[("cookie", &cookie)]),
        NOW + 10,
    );
    run.feed(
        &stricter,
        ok_json(json!({"active": true, "scope": "openid email"})),
        NOW + 10,
    );
    assert_forbidden(&run, "required scopes were not found");
    assert!(set_cookies(&run.response().headers)
        .iter()
        .any(|c| c.starts_with("session=;")));

    // No introspection endpoint: nothing to read the scopes from.
    let no_endpoint = self::settings(
        json!({"auth_methods": ["password"], "scopes_required": ["email"],
                                            "introspection_endpoint": null}),
    );
    let metadata = merged(metadata(), json!({"introspection_endpoint": null}));
    let provider = Rc::new(
        Provider::from_documents(
            metadata.to_string().as_bytes(),
            Some(&jwks_with("rsa1")),
            NOW,
        )
        .unwrap(),
    );
    let shared = Rc::new(MemoryShared::default());
    let mut flow = RequestFlow::new(
        request("GET", "/", &[("authorization", &auth)]),
        Some(provider),
    );
    with_env(NOW, &*shared, |env| flow.start(&no_endpoint, env));
    let step = with_env(NOW, &*shared, |env| {
        flow.on_call_response(&no_endpoint, env, token_answer("opaque", 300))
    });
    assert!(
        matches!(step, Step::Respond(ref r) if r.status == 403),
        "{step:?}"
    );
}

// One refresh per session.

fn login_cookie(settings: &Settings, shared: &Rc<MemoryShared>) -> String {
    let auth = basic::client_authorization("john", "doe");
    let mut run = Run::with_shared(
        settings,
        request("GET", "/", &[("authorization", &auth)]),
        NOW,
        shared.clone(),
    );
    run.feed(settings, token_answer("at-1", 300), NOW);
    set_cookies(&run.forward().add_response_headers)[0]
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn concurrent_requests_of_a_session_share_one_refresh() {
    let settings = settings(json!({"auth_methods": ["password", "session"]}));
    let shared = Rc::new(MemoryShared::default());
    let cookie = login_cookie(&settings, &shared);
    let later = NOW + 301;
    let with_cookie = || request("GET", "/", &[("cookie", &cookie)]);

    let mut first = Run::with_shared(&settings, with_cookie(), later, shared.clone());
    assert_eq!(
        arg(&body_of(first.last_call()), "grant_type"),
        Some("refresh_token")
    );
    let mut second = Run::with_shared(&settings, with_cookie(), later, shared.clone());
    let mut third = Run::with_shared(&settings, with_cookie(), later, shared.clone());
    for waiting in [&second, &third] {
        let poll = waiting.last_call();
        assert_eq!(
            (poll.method.as_str(), poll.path.as_str()),
            ("GET", "/.well-known/openid-configuration")
        );
    }
    // A poll that comes back before the refresh finished polls again.
    second.feed(&settings, ok_json(metadata()), later);
    assert_eq!(second.last_call().path, "/.well-known/openid-configuration");

    let refreshed = ok_json(
        json!({"access_token": "at-2", "expires_in": 300, "id_token": id_token(json!({"iat": later, "exp": later + 300}))}),
    );
    first.feed(&settings, refreshed, later);
    assert_eq!(
        header(&first.forward().set_request_headers, "authorization"),
        Some("Bearer at-2")
    );
    second.feed(&settings, ok_json(metadata()), later);
    third.feed(&settings, CallResponse::default(), later);
    for run in [&first, &second, &third] {
        let forward = run.forward();
        assert_eq!(
            header(&forward.set_request_headers, "authorization"),
            Some("Bearer at-2")
        );
        assert_eq!(
            session_data(&settings, forward, later)["tokens"]["refresh_token"],
            "rt-at-1"
        );
    }
    let token_calls = [&first, &second, &third]
        .iter()
        .flat_map(|r| r.calls.iter())
        .filter(|c| c.path == "/token")
        .count();
    assert_eq!(token_calls, 1, "one refresh for the session");
    assert!(shared.locks.borrow().is_empty(), "the lock was given back");

    // A request that comes later with the old cookie takes the shared tokens at once.
    let late = Run::with_shared(&settings, with_cookie(), later + 5, shared.clone());
    assert!(late.calls.is_empty());
    assert_eq!(
        header(&late.forward().set_request_headers, "authorization"),
        Some("Bearer at-2")
    );
}

#[test]
fn a_lock_whose_holder_vanished_is_taken_over_after_its_lease_and_polls_are_bounded() {
    let settings = settings(json!({"auth_methods": ["password", "session"], "timeout": 2000}));
    let shared = Rc::new(MemoryShared::default());
    let cookie = login_cookie(&settings, &shared);
    let later = NOW + 301;
    let holder = Run::with_shared(
        &settings,
        request("GET", "/", &[("cookie", &cookie)]),
        later,
        shared.clone(),
    );
    assert_eq!(holder.last_call().path, "/token");
    // The holder never hears back (its worker died). After the lease (timeout + 1 s) the
    // waiter takes the lock and refreshes itself.
    let mut waiter = Run::with_shared(
        &settings,
        request("GET", "/", &[("cookie", &cookie)]),
        later,
        shared.clone(),
    );
    waiter.feed(&settings, ok_json(metadata()), later + 1);
    assert_eq!(waiter.last_call().path, "/.well-known/openid-configuration");
    waiter.feed(&settings, ok_json(metadata()), later + 3);
    assert_eq!(waiter.last_call().path, "/token");
    waiter.feed(&settings, token_answer("at-3", 300), later + 3);
    assert_eq!(
        header(&waiter.forward().set_request_headers, "authorization"),
        Some("Bearer at-3")
    );

    // A lease that never ends (a stuck slot): after MAX_POLLS polls the waiter refreshes anyway.
    let stuck = Rc::new(MemoryShared::default());
    let cookie = login_cookie(&settings, &stuck);
    let mut first = Run::with_shared(
        &settings,
        request("GET", "/", &[("cookie", &cookie)]),
        later,
        stuck.clone(),
    );
    assert_eq!(first.last_call().path, "/token");
    for held_until in stuck.locks.borrow_mut().values_mut() {
        *held_until = u64::MAX;
    }
    let mut waiter = Run::with_shared(
        &settings,
        request("GET", "/", &[("cookie", &cookie)]),
        later,
        stuck.clone(),
    );
    let mut polls = 0;
    while waiter.last_call().path != "/token" {
        polls += 1;
        assert!(polls <= 200, "polls are bounded");
        waiter.feed(&settings, CallResponse::default(), later);
    }
    assert_eq!(polls, 200);
    assert!(waiter.notes().contains("did not finish after 200 polls"));
    first.feed(
        &settings,
        answer(400, r#"{"error":"invalid_grant"}"#),
        later,
    );
    assert_eq!(first.response().status, 401);
}

#[test]
fn a_refused_refresh_releases_the_lock_and_the_session_ends() {
    let settings = settings(json!({"auth_methods": ["password", "session"]}));
    let shared = Rc::new(MemoryShared::default());
    let cookie = login_cookie(&settings, &shared);
    let later = NOW + 301;
    let mut first = Run::with_shared(
        &settings,
        request("GET", "/", &[("cookie", &cookie)]),
        later,
        shared.clone(),
    );
    let mut second = Run::with_shared(
        &settings,
        request("GET", "/", &[("cookie", &cookie)]),
        later,
        shared.clone(),
    );
    first.feed(
        &settings,
        answer(400, r#"{"error":"invalid_grant"}"#),
        later,
    );
    assert_unauthorized(&first, "refresh_failed", "invalid_grant");
    assert!(shared.locks.borrow().is_empty());
    // The waiter then tries itself (and is refused the same way).
    second.feed(&settings, ok_json(metadata()), later);
    assert_eq!(second.last_call().path, "/token");
    second.feed(
        &settings,
        answer(400, r#"{"error":"invalid_grant"}"#),
        later,
    );
    assert_eq!(second.response().status, 401);
}

#[test]
fn tokens_revoked_at_logout_are_never_served_from_the_caches() {
    let settings = settings(
        json!({"auth_methods": ["password", "session", "introspection"], "logout_uri_suffix": "/logout",
                                    "logout_methods": ["POST"], "logout_revoke": true}),
    );
    let shared = Rc::new(MemoryShared::default());
    let auth = basic::client_authorization("john", "doe");
    let mut run = Run::with_shared(
        &settings,
        request("GET", "/", &[("authorization", &auth)]),
        NOW,
        shared.clone(),
    );
    run.feed(&settings, token_answer("at-1", 300), NOW);
    let cookie = set_cookies(&run.forward().add_response_headers)[0]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    // at-1 introspected (and cached) as a bearer token.
    let mut run = Run::with_shared(
        &settings,
        request("GET", "/", &[("authorization", "Bearer at-1")]),
        NOW,
        shared.clone(),
    );
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

    let run = Run::with_shared(
        &settings,
        request("GET", "/", &[("authorization", &auth)]),
        NOW + 2,
        shared.clone(),
    );
    assert_eq!(
        run.last_call().path,
        "/token",
        "the revoked tokens are not reused"
    );
    let run = Run::with_shared(
        &settings,
        request("GET", "/", &[("authorization", "Bearer at-1")]),
        NOW + 2,
        shared.clone(),
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
    let mut run = Run::with_shared(
        &keep,
        request("GET", "/", &[("authorization", &auth)]),
        NOW,
        shared.clone(),
    );
    run.feed(&keep, token_answer("at-1", 300), NOW);
    let cookie = set_cookies(&run.forward().add_response_headers)[0]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let logout = Run::with_shared(
        &keep,
        request("POST", "/logout", &[("cookie", &cookie)]),
        NOW + 1,
        shared.clone(),
    );
    assert!(logout.calls.is_empty());
    let run = Run::with_shared(
        &keep,
        request("GET", "/", &[("authorization", &auth)]),
        NOW + 2,
        shared.clone(),
    );
    assert!(run.calls.is_empty());
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// JWT-shaped strings: random segments, real headers with random algorithms and key ids,
    /// and genuine tokens with one byte changed.
    fn token_strategy() -> impl Strategy<Value = String> {
        let segment = "[A-Za-z0-9_-]{0,60}";
        let header = (
            prop_oneof![
                Just("none".to_string()),
                Just("HS256".to_string()),
                Just("RS256".to_string()),
                Just("ES256".to_string()),
                "[A-Z0-9]{0,6}"
            ],
            "[a-z0-9]{0,6}",
        )
            .prop_map(|(alg, kid)| {
                testkeys::b64(json!({"alg": alg, "kid": kid}).to_string().as_bytes())
            });
        let tampered = (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(at, byte)| {
            let mut bytes = access_token(json!({})).into_bytes();
            let i = at.index(bytes.len());
            bytes[i] = if byte.is_ascii_alphanumeric() {
                byte
            } else {
                b'A'
            };
            String::from_utf8(bytes).unwrap()
        });
        prop_oneof![
            (segment, segment, segment).prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
            (header, segment, segment).prop_map(|(h, b, c)| format!("{h}.{b}.{c}")),
            tampered,
            ".{0,120}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn only_genuine_tokens_pass_the_bearer_method(token in token_strategy()) {
            let settings = settings(json!({"auth_methods": ["bearer"]}));
            let genuine = access_token(json!({}));
            let mut run = Run::new(&settings, request("GET", "/", &[("authorization", &format!("Bearer {token}"))]), NOW);
            // An unknown key id may cost one JWKS refetch; the provider's keys do not change.
            if matches!(run.last(), Step::Call(_)) {
                run.feed(&settings, CallResponse { status: Some(200), headers: vec![], body: jwks_with("rsa1") }, NOW);
            }
            match run.last() {
                Step::Forward(_) => prop_assert!(token.trim() == genuine, "forwarded a token that is not genuine"),
                Step::Respond(response) => prop_assert_eq!(response.status, 401),
                Step::Call(call) => prop_assert!(false, "a second call: {:?}", call),
                Step::CallAll(calls) => prop_assert!(false, "more calls: {:?}", calls),
            }
        }
    }
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
        let mut run = Run::with_shared(
            &settings,
            request("GET", "/", &[("authorization", &bearer)]),
            NOW,
            shared.clone(),
        );
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
        let mut run = Run::with_shared(
            &settings,
            request("GET", "/", &[("authorization", &bearer)]),
            NOW,
            shared.clone(),
        );
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

fn logout_settings() -> Settings {
    settings(
        json!({"auth_methods": ["password", "session"], "logout_uri_suffix": "/logout",
                    "logout_methods": ["POST"]}),
    )
}

/// Logs out with `cookie` (no revocation: the answer comes at once).
fn log_out(settings: &Settings, shared: &Rc<MemoryShared>, cookie: &str, now: u64) {
    let logout = Run::with_shared(
        settings,
        request("POST", "/logout", &[("cookie", cookie)]),
        now,
        shared.clone(),
    );
    assert!(logout.calls.is_empty());
    assert!(matches!(logout.last(), Step::Respond(_)));
}

/// Marks tokens revoked as a logout with `logout_revoke` does (that logout leaves these marks
/// is `tokens_revoked_at_logout_are_never_served_from_the_caches`).
fn revoke(shared: &Rc<MemoryShared>, access: &str, until: u64) {
    let tokens = crate::flows::tokens::TokenSet::from_session_value(
        &json!({"access_token": access, "refresh_token": format!("rt-{access}")}),
    )
    .unwrap();
    crate::flows::token_cache::mark_revoked(shared.as_ref(), &tokens, until);
}

/// Issue 10, part 1: a copy of the cookie taken before logout is refused by the next request
/// (every worker reads the same shared data), with its cookies expired; the user's other
/// sessions are not touched. It failed before: the copy was forwarded with its tokens.
#[test]
fn a_copy_of_a_logged_out_session_is_refused_at_once() {
    let settings = logout_settings();
    let shared = Rc::new(MemoryShared::default());
    let copy = login_cookie(&settings, &shared);
    let run = Run::with_shared(
        &settings,
        request("GET", "/", &[("cookie", &copy)]),
        NOW + 1,
        shared.clone(),
    );
    run.forward();
    // Another login of the same user, later: another session.
    let other = {
        let auth = basic::client_authorization("john", "doe");
        let no_cache =
            self::settings(json!({"auth_methods": ["password", "session"], "cache_tokens": false}));
        let mut run = Run::with_shared(
            &no_cache,
            request("GET", "/", &[("authorization", &auth)]),
            NOW + 5,
            shared.clone(),
        );
        run.feed(&no_cache, token_answer("at-other", 300), NOW + 5);
        set_cookies(&run.forward().add_response_headers)[0]
            .split(';')
            .next()
            .unwrap()
            .to_string()
    };

    log_out(&settings, &shared, &copy, NOW + 10);
    assert_eq!(shared.count(CacheKind::Ended), 1);

    let mut replay = Run::with_shared(
        &settings,
        request("GET", "/", &[("cookie", &copy)]),
        NOW + 11,
        shared.clone(),
    );
    assert_unauthorized(&replay, "no_credentials", "no suitable");
    let expired = set_cookies(&replay.response().headers);
    assert!(
        !expired.is_empty()
            && expired
                .iter()
                .all(|c| c.contains("Expires=Thu, 01 Jan 1970")),
        "{expired:?}"
    );
    assert!(replay.notes().contains("ended on this node"));

    let run = Run::with_shared(
        &settings,
        request("GET", "/", &[("cookie", &other)]),
        NOW + 11,
        shared.clone(),
    );
    run.forward();
}

/// Issue 10, part 1: a session the filter destroys for another reason (here a 403 with
/// `forbidden_destroy_session`) is ended on the node too.
#[test]
fn a_session_destroyed_by_a_refusal_is_ended_on_the_node() {
    let settings =
        settings(json!({"auth_methods": ["password", "session"], "cache_tokens": false}));
    let shared = Rc::new(MemoryShared::default());
    let cookie = login_cookie(&settings, &shared);
    let strict = self::settings(
        json!({"auth_methods": ["password", "session"], "scopes_required": ["admin"]}),
    );
    let mut run = Run::with_shared(
        &strict,
        request("GET", "/", &[("cookie", &cookie)]),
        NOW + 1,
        shared.clone(),
    );
    // The opaque access token is introspected for its scopes.
    run.feed(
        &strict,
        ok_json(json!({"active": true, "scope": "openid"})),
        NOW + 1,
    );
    assert_eq!(run.response().status, 403);
    let again = Run::with_shared(
        &settings,
        request("GET", "/", &[("cookie", &cookie)]),
        NOW + 2,
        shared.clone(),
    );
    assert_eq!(again.response().status, 401);
}

/// Finding 13.9: another session holding tokens a logout revoked (two logins served by the
/// token cache share them) never forwards them. It failed before: the second session was
/// forwarded with the revoked access token.
#[test]
fn a_session_holding_revoked_tokens_never_forwards_them() {
    let settings = logout_settings();
    let shared = Rc::new(MemoryShared::default());
    login_cookie(&settings, &shared);
    let auth = basic::client_authorization("john", "doe");
    let second_login = Run::with_shared(
        &settings,
        request("GET", "/", &[("authorization", &auth)]),
        NOW + 5,
        shared.clone(),
    );
    assert!(second_login.calls.is_empty(), "served by the token cache");
    let second = set_cookies(&second_login.forward().add_response_headers)[0]
        .split(';')
        .next()
        .unwrap()
        .to_string();

    revoke(&shared, "at-1", NOW + 300);
    let run = Run::with_shared(
        &settings,
        request("GET", "/", &[("cookie", &second)]),
        NOW + 11,
        shared.clone(),
    );
    assert_unauthorized(&run, "invalid_token", "revoked at logout");
    assert!(
        !set_cookies(&run.response().headers).is_empty(),
        "the session is destroyed"
    );
}

/// Finding 13.9, the refreshed-tokens cache: tokens one copy's refresh got and a logout then
/// revoked are not picked up by another copy of the session.
#[test]
fn refreshed_tokens_revoked_at_logout_are_not_picked_up() {
    let settings = logout_settings();
    let shared = Rc::new(MemoryShared::default());
    let copy = login_cookie(&settings, &shared);
    let later = NOW + 301;
    let mut refresh = Run::with_shared(
        &settings,
        request("GET", "/", &[("cookie", &copy)]),
        later,
        shared.clone(),
    );
    refresh.feed(&settings, token_answer("at-2", 300), later);
    let refreshed = set_cookies(&refresh.forward().add_response_headers)[0]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    // A logout with the refreshed cookie revokes at-2 (and its refresh token).
    assert!(refreshed.starts_with("session="));
    revoke(&shared, "at-2", later + 300);
    let replay = Run::with_shared(
        &settings,
        request("GET", "/", &[("cookie", &copy)]),
        later + 2,
        shared.clone(),
    );
    // Not forwarded with at-2: the copy refreshes with its own refresh token instead.
    assert_eq!(
        arg(&body_of(replay.last_call()), "refresh_token"),
        Some("rt-at-1")
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

/// OpenID Connect Core 5.3.2: a userinfo answer whose `sub` is not the ID token's is not
/// used (here for the upstream header); one with the same `sub` is.
#[test]
fn a_userinfo_answer_for_another_subject_is_not_used() {
    let settings = settings(json!({"auth_methods": ["password", "session"],
                                   "upstream_user_info_header": "x-userinfo", "cache_user_info": false}));
    let auth = basic::client_authorization("john", "doe");
    for (sub, used) in [("someone-else", false), ("user-john", true)] {
        let mut run = Run::new(
            &settings,
            request("GET", "/", &[("authorization", &auth)]),
            NOW,
        );
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
