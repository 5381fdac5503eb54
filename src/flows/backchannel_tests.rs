//! Back-channel logout end to end in memory: a session is logged in with the password grant
//! (its ID token carries the provider's `sid`), the provider POSTs a logout token to the
//! endpoint, and the same cookie is then refused by the request path. Every refusal of a
//! logout token (forged, replayed, wrong audience, expired, malformed) is 400 and ends nothing.

use crate::flows::harness::*;
use crate::http::form;
use crate::logout::logout_token::BACKCHANNEL_LOGOUT_EVENT;

const SUFFIX: &str = "/backchannel-logout";

/// Sessions and the password grant, with the back-channel logout endpoint at [`SUFFIX`].
fn settings(extra: Value) -> Settings {
    crate::flows::harness::settings(merged(
        json!({"auth_methods": ["session", "password"], "logout_backchannel_uri_suffix": SUFFIX}),
        extra,
    ))
}

/// The provider as a node knows it, its P-256 key under `kid`.
fn provider_with_kid(kid: &str) -> Rc<Provider> {
    let metadata = metadata(json!({})).to_string();
    Rc::new(Provider::from_documents(metadata.as_bytes(), Some(&jwks("rsa1", kid)), NOW).unwrap())
}

fn logout_claims(jti: &str) -> Value {
    json!({
        "iss": ISSUER, "aud": "kong", "iat": NOW + 10, "exp": NOW + 130, "jti": jti,
        "sid": "idp-session-1", "sub": "user-john",
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    })
}

fn logout_token(claims: &Value) -> String {
    testkeys::sign_compact(
        &json!({"alg": "ES256", "kid": "k1", "typ": "logout+jwt"}),
        claims,
        &Signer::P256(&testkeys::p256_key()),
        Algorithm::ES256,
    )
}

fn backchannel_request(token: &str) -> IncomingRequest {
    let body = form::encode([("logout_token", token)]);
    with_body(
        request("POST", &format!("/app{SUFFIX}"), &[]),
        "application/x-www-form-urlencoded",
        &body,
    )
}

/// Logs john in with the password grant at `now`; the ID token carries `sid`. Returns the
/// session cookie (`name=value`).
fn login(settings: &Settings, shared: &Rc<MemoryShared>, sid: &str, now: u64) -> String {
    let id_token = id_token(json!({"sid": sid, "iat": now - 1, "exp": now + 299}));
    let tokens = ok_json(
        json!({"access_token": format!("at-{sid}"), "id_token": id_token,
                                "token_type": "Bearer", "expires_in": 3600}),
    );
    // One password per login: the grant cache would otherwise answer later logins.
    password_login(settings, shared, sid, tokens, now)
}

/// The decision for a request with the session cookie: forwarded or the local answer.
fn use_session(settings: &Settings, shared: &Rc<MemoryShared>, cookie: &str, now: u64) -> Step {
    let request = request("GET", "/", &[("cookie", cookie)]);
    Run::with_shared(settings, request, now, shared.clone())
        .last()
        .clone()
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

/// Sends a logout token to the endpoint of a node that knows `provider`; the flow's final
/// answer (after a JWKS refetch answered with the provider's keys, if one is asked for).
fn post_logout(
    settings: &Settings,
    shared: &Rc<MemoryShared>,
    provider: Rc<Provider>,
    token: &str,
    now: u64,
) -> (LocalResponse, RequestFlow) {
    let request = backchannel_request(token);
    let mut run = Run::start(settings, request, Some(provider), now, shared.clone());
    if let Step::Call(call) = run.last() {
        assert!(call.path.ends_with("/jwks"), "{}", call.path);
        run.feed(settings, ok_bytes(jwks("rsa1", "k1")), now);
    }
    (run.response().clone(), run.flow)
}

fn error_description(response: &LocalResponse) -> String {
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["error"], "invalid_request");
    body["error_description"].as_str().unwrap().to_string()
}

#[test]
fn a_valid_logout_token_is_200_and_the_session_is_refused_on_the_next_request() {
    let settings = settings(json!({}));
    let shared = Rc::new(MemoryShared::default());
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
    let shared = Rc::new(MemoryShared::default());
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
    let shared = Rc::new(MemoryShared::default());
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
        (
            "an ID token",
            id_token(json!({"sid": "idp-session-1"})),
            "jti",
        ),
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
    let not_a_post = request("GET", SUFFIX, &[]);
    let json_body = with_body(request("POST", SUFFIX, &[]), "application/json", "{}");
    let no_token = with_body(
        request("POST", SUFFIX, &[]),
        "application/x-www-form-urlencoded",
        "a=b&c",
    );
    for request in [not_a_post, json_body, no_token] {
        let run = Run::with_shared(&settings, request, NOW + 10, shared.clone());
        assert_eq!(run.response().status, 400);
        error_description(run.response());
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
    let shared = Rc::new(MemoryShared::default());
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
    let shared = Rc::new(MemoryShared::default());
    let cookie = login(&off, &shared, "idp-session-1", NOW);
    let run = Run::with_shared(&off, backchannel_request(&token), NOW + 10, shared.clone());
    assert_eq!(run.response().status, 401);
    assert!(matches!(
        use_session(&off, &shared, &cookie, NOW + 11),
        Step::Forward(_)
    ));
}
