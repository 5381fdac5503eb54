//! Back-channel logout end to end in memory: a session is logged in with the password grant
//! (its ID token carries the provider's `sid`), the provider POSTs a logout token to the
//! endpoint, and the same cookie is then refused by the request path. Every refusal of a
//! logout token (forged, replayed, wrong audience, expired, malformed) is 400 and ends nothing.

use std::cell::Cell;
use std::rc::Rc;

use serde_json::{json, Value};

use crate::config::Config;
use crate::discovery::Algorithm;
use crate::flows::shared_cache::{self, memory::MemoryStore, CacheKind};
use crate::flows::test_env::with_env;
use crate::flows::{Event, IncomingRequest, Provider, RequestFlow, Settings, SharedState};
use crate::http::{basic, form};
use crate::logout::logout_token::BACKCHANNEL_LOGOUT_EVENT;
use crate::step::{CallResponse, LocalResponse, Step};
use crate::token::testkeys::{self, Signer, ISSUER, NOW};

const SECRET: &str = "backchannel-session-secret";
const SUFFIX: &str = "/backchannel-logout";

/// Shared data as the adapter keeps it (the cache in a host-like store).
#[derive(Default)]
struct MemoryShared {
    store: MemoryStore,
    refetches: Cell<u32>,
}

impl SharedState for MemoryShared {
    fn claim_jwks_refetch(&self, _now: u64) -> bool {
        self.refetches.set(self.refetches.get() + 1);
        true
    }

    fn cache_get(&self, kind: CacheKind, key: &str, now: u64) -> Option<Vec<u8>> {
        shared_cache::get(&self.store, kind, key, now)
    }

    fn cache_put(&self, kind: CacheKind, key: &str, value: &[u8], expires_at: u64) {
        shared_cache::put(&self.store, kind, key, value, expires_at, 0);
    }
}

fn settings(extra: Value) -> Settings {
    let mut config = json!({
        "issuer": ISSUER, "client_id": ["kong"], "client_secret": ["secret"],
        "session_secret": SECRET, "auth_methods": ["session", "password"],
        "logout_backchannel_uri_suffix": SUFFIX,
    });
    if let (Value::Object(base), Value::Object(extra)) = (&mut config, extra) {
        base.extend(extra);
    }
    let config = Config::parse(config.to_string().as_bytes()).unwrap();
    Settings::new(config, SECRET.as_bytes()).unwrap()
}

fn provider_with_kid(kid: &str) -> Rc<Provider> {
    let metadata = json!({
        "issuer": ISSUER,
        "token_endpoint": format!("{ISSUER}/token"),
        "jwks_uri": format!("{ISSUER}/jwks"),
    });
    let jwks = testkeys::jwks_json(&[testkeys::p256_jwk(&testkeys::p256_key(), kid)]);
    Rc::new(Provider::from_documents(metadata.to_string().as_bytes(), Some(&jwks), NOW).unwrap())
}

fn provider() -> Rc<Provider> {
    provider_with_kid("k1")
}

fn sign(header: Value, claims: &Value) -> String {
    testkeys::sign_compact(
        &header,
        claims,
        &Signer::P256(&testkeys::p256_key()),
        Algorithm::ES256,
    )
}

fn id_token(sid: &str, iat: u64) -> String {
    let claims = json!({"iss": ISSUER, "sub": "user-john", "aud": "kong", "iat": iat, "exp": iat + 300, "sid": sid});
    sign(json!({"alg": "ES256", "kid": "k1"}), &claims)
}

fn logout_claims(jti: &str) -> Value {
    json!({
        "iss": ISSUER, "aud": "kong", "iat": NOW + 10, "exp": NOW + 130, "jti": jti,
        "sid": "idp-session-1", "sub": "user-john",
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    })
}

fn logout_token(claims: &Value) -> String {
    sign(
        json!({"alg": "ES256", "kid": "k1", "typ": "logout+jwt"}),
        claims,
    )
}

fn request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> IncomingRequest {
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
        body: body.map(|b| b.as_bytes().to_vec()),
    }
}

fn backchannel_request(token: &str) -> IncomingRequest {
    let body = form::encode([("logout_token", token)]);
    let length = body.len().to_string();
    request(
        "POST",
        &format!("/app{SUFFIX}"),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("content-length", &length),
        ],
        Some(&body),
    )
}

/// Logs john in with the password grant at `now`; the ID token carries `sid`. Returns the
/// session cookie (`name=value`).
fn login(settings: &Settings, shared: &MemoryShared, sid: &str, now: u64) -> String {
    // One password per login: the grant cache would otherwise answer later logins.
    let auth = basic::client_authorization("john", sid);
    let mut flow = RequestFlow::new(
        request("GET", "/", &[("authorization", &auth)], None),
        Some(provider()),
    );
    let step = with_env(now, shared, |env| flow.start(settings, env));
    assert!(matches!(step, Step::Call(_)), "{step:?}");
    let body = json!({"access_token": format!("at-{sid}"), "id_token": id_token(sid, now - 1), "token_type": "Bearer", "expires_in": 3600});
    let answer = CallResponse {
        status: Some(200),
        headers: vec![],
        body: body.to_string().into_bytes(),
    };
    let step = with_env(now, shared, |env| {
        flow.on_call_response(settings, env, answer)
    });
    let Step::Forward(forward) = step else {
        panic!("expected Forward, got {step:?}");
    };
    let cookie = forward
        .add_response_headers
        .iter()
        .find(|(n, _)| n == "set-cookie")
        .map(|(_, v)| v.clone())
        .expect("a session cookie");
    cookie.split(';').next().unwrap_or_default().to_string()
}

/// The decision for a request with the session cookie: forwarded or the local answer.
fn use_session(settings: &Settings, shared: &MemoryShared, cookie: &str, now: u64) -> Step {
    let mut flow = RequestFlow::new(
        request("GET", "/", &[("cookie", cookie)], None),
        Some(provider()),
    );
    with_env(now, shared, |env| flow.start(settings, env))
}

fn is_refused_as_expired(step: &Step) -> bool {
    match step {
        Step::Respond(response) => {
            response.status == 401
                && response
                    .headers
                    .iter()
                    .any(|(n, v)| n == "set-cookie" && v.contains("Expires=Thu, 01 Jan 1970"))
        }
        _ => false,
    }
}

/// Sends a logout token to the endpoint with the provider `provider`; the flow's final answer
/// (after a JWKS refetch answered with `refetched_jwks`, if one is asked for).
fn post_logout(
    settings: &Settings,
    shared: &MemoryShared,
    provider: Rc<Provider>,
    token: &str,
    now: u64,
) -> (LocalResponse, RequestFlow) {
    let mut flow = RequestFlow::new(backchannel_request(token), Some(provider));
    let mut step = with_env(now, shared, |env| flow.start(settings, env));
    if let Step::Call(call) = &step {
        assert!(call.path.ends_with("/jwks"), "{}", call.path);
        let jwks = testkeys::jwks_json(&[testkeys::p256_jwk(&testkeys::p256_key(), "k1")]);
        let answer = CallResponse {
            status: Some(200),
            headers: vec![],
            body: jwks,
        };
        step = with_env(now, shared, |env| {
            flow.on_call_response(settings, env, answer)
        });
    }
    match step {
        Step::Respond(response) => (response, flow),
        other => panic!("the endpoint must answer locally, got {other:?}"),
    }
}

fn error_description(response: &LocalResponse) -> String {
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["error"], "invalid_request");
    body["error_description"].as_str().unwrap().to_string()
}

#[test]
fn a_valid_logout_token_is_200_and_the_session_is_refused_on_the_next_request() {
    let settings = settings(json!({}));
    let shared = MemoryShared::default();
    let cookie = login(&settings, &shared, "idp-session-1", NOW);
    assert!(matches!(
        use_session(&settings, &shared, &cookie, NOW + 5),
        Step::Forward(_)
    ));

    let (response, mut flow) = post_logout(
        &settings,
        &shared,
        provider(),
        &logout_token(&logout_claims("jti-1")),
        NOW + 10,
    );
    assert_eq!(response.status, 200);
    assert!(response
        .headers
        .contains(&("cache-control".into(), "no-store".into())));
    assert!(flow.take_events().contains(&Event::Logout));

    assert!(is_refused_as_expired(&use_session(
        &settings,
        &shared,
        &cookie,
        NOW + 11
    )));
}

#[test]
fn a_sid_ends_only_its_session_and_a_sub_ends_the_users_older_sessions() {
    let settings = settings(json!({}));
    let shared = MemoryShared::default();
    let first = login(&settings, &shared, "idp-session-1", NOW);
    let second = login(&settings, &shared, "idp-session-2", NOW + 1);

    let mut sid_only = logout_claims("jti-sid");
    sid_only.as_object_mut().unwrap().remove("sub");
    let (response, _) = post_logout(
        &settings,
        &shared,
        provider(),
        &logout_token(&sid_only),
        NOW + 10,
    );
    assert_eq!(response.status, 200);
    assert!(is_refused_as_expired(&use_session(
        &settings,
        &shared,
        &first,
        NOW + 11
    )));
    assert!(matches!(
        use_session(&settings, &shared, &second, NOW + 11),
        Step::Forward(_)
    ));

    let mut sub_only = logout_claims("jti-sub");
    sub_only.as_object_mut().unwrap().remove("sid");
    let (response, _) = post_logout(
        &settings,
        &shared,
        provider(),
        &logout_token(&sub_only),
        NOW + 20,
    );
    assert_eq!(response.status, 200);
    assert!(is_refused_as_expired(&use_session(
        &settings,
        &shared,
        &second,
        NOW + 21
    )));
    // A login after the logout is a new session of the user: it works.
    let later = login(&settings, &shared, "idp-session-3", NOW + 30);
    assert!(matches!(
        use_session(&settings, &shared, &later, NOW + 31),
        Step::Forward(_)
    ));
}

#[test]
fn forged_replayed_wrong_audience_expired_and_malformed_requests_are_400_and_end_nothing() {
    let settings = settings(json!({}));
    let shared = MemoryShared::default();
    let cookie = login(&settings, &shared, "idp-session-1", NOW);

    let forged = {
        let token = logout_token(&logout_claims("jti-forged"));
        let mut parts: Vec<&str> = token.split('.').collect();
        let claims = logout_claims("jti-forged");
        let mut evil = claims.clone();
        evil["sub"] = json!("user-jane");
        let payload = testkeys::b64(evil.to_string().as_bytes());
        parts[1] = &payload;
        parts.join(".")
    };
    let mut wrong_audience = logout_claims("jti-aud");
    wrong_audience["aud"] = json!("someone-else");
    let mut expired = logout_claims("jti-exp");
    expired["exp"] = json!(NOW - 1);
    let cases = [
        ("forged", forged, "signature"),
        ("wrong audience", logout_token(&wrong_audience), "aud"),
        ("expired", logout_token(&expired), "exp"),
        ("an ID token", id_token("idp-session-1", NOW), "jti"),
    ];
    for (what, token, _) in &cases {
        let (response, _) = post_logout(&settings, &shared, provider(), token, NOW + 10);
        assert_eq!(response.status, 400, "{what}");
        assert!(!error_description(&response).is_empty(), "{what}");
        assert!(
            matches!(
                use_session(&settings, &shared, &cookie, NOW + 11),
                Step::Forward(_)
            ),
            "{what} ended the session"
        );
    }

    // Malformed requests: not a POST, not a form, no token.
    let not_a_post = request("GET", SUFFIX, &[], None);
    let json_body = request(
        "POST",
        SUFFIX,
        &[
            ("content-type", "application/json"),
            ("content-length", "2"),
        ],
        Some("{}"),
    );
    let no_token = request(
        "POST",
        SUFFIX,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("content-length", "5"),
        ],
        Some("a=b&c"),
    );
    for request in [not_a_post, json_body, no_token] {
        let mut flow = RequestFlow::new(request, Some(provider()));
        let step = with_env(NOW + 10, &shared, |env| flow.start(&settings, env));
        let Step::Respond(response) = step else {
            panic!("expected a local answer, got {step:?}");
        };
        assert_eq!(response.status, 400);
        error_description(&response);
    }

    // Replayed: the first use ends the session, the second is refused.
    let valid = logout_token(&logout_claims("jti-replayed"));
    let (first, _) = post_logout(&settings, &shared, provider(), &valid, NOW + 12);
    assert_eq!(first.status, 200);
    let (again, _) = post_logout(&settings, &shared, provider(), &valid, NOW + 13);
    assert_eq!(again.status, 400);
    assert!(error_description(&again).contains("jti"));
}

#[test]
fn an_unknown_key_refetches_the_jwks_once() {
    let settings = settings(json!({}));
    let shared = MemoryShared::default();
    let cookie = login(&settings, &shared, "idp-session-1", NOW);
    // The node knows the key under another kid: the token's kid is unknown until the refetch.
    let (response, _) = post_logout(
        &settings,
        &shared,
        provider_with_kid("old"),
        &logout_token(&logout_claims("jti-rotated")),
        NOW + 10,
    );
    assert_eq!(response.status, 200);
    assert_eq!(shared.refetches.get(), 1);
    assert!(is_refused_as_expired(&use_session(
        &settings,
        &shared,
        &cookie,
        NOW + 11
    )));
}

#[test]
fn the_endpoint_reads_the_body_and_exists_only_when_configured() {
    let settings = settings(json!({}));
    let token = logout_token(&logout_claims("jti-off"));
    assert!(RequestFlow::needs_body(
        &settings,
        &backchannel_request(&token)
    ));

    // Without the setting the path is an ordinary request: no credentials, 401, nothing ended.
    let off = self::settings(json!({"logout_backchannel_uri_suffix": null}));
    assert!(!crate::flows::backchannel::may_need_body(
        &off,
        &backchannel_request(&token)
    ));
    let shared = MemoryShared::default();
    let cookie = login(&off, &shared, "idp-session-1", NOW);
    let mut flow = RequestFlow::new(backchannel_request(&token), Some(provider()));
    let step = with_env(NOW + 10, &shared, |env| flow.start(&off, env));
    assert!(
        matches!(&step, Step::Respond(r) if r.status == 401),
        "{step:?}"
    );
    assert!(matches!(
        use_session(&off, &shared, &cookie, NOW + 11),
        Step::Forward(_)
    ));
}
