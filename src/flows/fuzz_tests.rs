//! Property tests over the whole request state machine: arbitrary requests and arbitrary
//! identity provider answers never panic, never loop, and never let a request through unless
//! the provider actually issued tokens or a genuine session cookie was sent.

use std::cell::Cell;
use std::rc::Rc;

use proptest::prelude::*;
use serde_json::json;

use crate::config::Config;
use crate::flows::{Env, IncomingRequest, Provider, RequestFlow, Settings, SharedState};
use crate::step::{CallResponse, Step};

struct NoRefetchLimit;

impl SharedState for NoRefetchLimit {
    fn claim_jwks_refetch(&self, _now: u64) -> bool {
        true
    }
}

fn settings() -> Settings {
    let config = json!({
        "issuer": "http://idp.test", "client_id": ["kong"], "client_secret": ["s"], "session_secret": "fuzz-secret",
        "logout_uri_suffix": "/logout", "logout_query_arg": "lo", "logout_post_arg": "lo", "logout_revoke": true,
        "password_param_type": ["header", "query", "body"],
    });
    Settings::new(
        Config::parse(config.to_string().as_bytes()).unwrap(),
        b"fuzz-secret",
    )
    .unwrap()
}

fn provider() -> Rc<Provider> {
    let metadata = json!({
        "issuer": "http://idp.test", "token_endpoint": "http://idp.test/token", "jwks_uri": "http://idp.test/jwks",
        "revocation_endpoint": "http://idp.test/revoke", "end_session_endpoint": "http://idp.test/end",
    });
    Rc::new(
        Provider::from_documents(metadata.to_string().as_bytes(), Some(br#"{"keys":[]}"#), 1)
            .unwrap(),
    )
}

fn request_strategy() -> impl Strategy<Value = IncomingRequest> {
    let method = prop_oneof![
        Just("GET".to_string()),
        Just("POST".to_string()),
        Just("DELETE".to_string()),
        "[A-Z]{0,8}"
    ];
    let path = prop_oneof![
        Just("/".to_string()),
        Just("/logout".to_string()),
        "/[ -~]{0,40}",
        ".{0,40}"
    ];
    let header_name = prop_oneof![
        Just("authorization"),
        Just("cookie"),
        Just("content-type"),
        Just("content-length"),
        Just("grant-type"),
        Just("x-other")
    ];
    let header_value = prop_oneof![
        Just("Basic am9objpkb2U=".to_string()),
        Just("application/x-www-form-urlencoded".to_string()),
        Just("application/json".to_string()),
        "session=[A-Za-z0-9_-]{0,200}",
        ".{0,80}"
    ];
    let headers = proptest::collection::vec((header_name, header_value), 0..6);
    let body = proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200));
    (method, path, headers, body).prop_map(|(method, path, headers, body)| IncomingRequest {
        http10: false,
        method,
        scheme: "http".into(),
        authority: "app.test".into(),
        path,
        headers: headers
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect(),
        body,
    })
}

fn answer_strategy() -> impl Strategy<Value = CallResponse> {
    let status = proptest::option::of(prop_oneof![
        Just(200u16),
        Just(204),
        Just(302),
        Just(400),
        Just(500),
        100u16..600
    ]);
    let body = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..120),
        Just(br#"{"error":"invalid_grant"}"#.to_vec()),
        Just(br#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}"#.to_vec()),
        Just(br#"{"issuer":"http://idp.test","token_endpoint":"http://idp.test/token","jwks_uri":"http://idp.test/j"}"#.to_vec()),
        Just(br#"{"access_token":"at","id_token":"a.b.c","expires_in":5}"#.to_vec()),
        Just(br#"{"access_token":"at","expires_in":5}"#.to_vec()),
    ];
    let location = proptest::option::of(prop_oneof![
        Just("http://idp.test/again".to_string()),
        ".{0,30}"
    ]);
    (status, body, location).prop_map(|(status, body, location)| CallResponse {
        status,
        headers: location
            .map(|l| vec![("location".to_string(), l)])
            .unwrap_or_default(),
        body,
    })
}

/// Whether an answer is one from which the flows may legitimately let a request through.
fn issues_tokens(answer: &CallResponse) -> bool {
    answer.status == Some(200)
        && serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| {
                v.get("access_token")
                    .and_then(|t| t.as_str())
                    .map(|t| !t.is_empty())
            })
            .unwrap_or(false)
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    // `make fuzz` raises the count with PROPTEST_CASES.
    #![proptest_config(ProptestConfig::with_cases(cases(512)))]

    #[test]
    fn any_request_and_any_provider_answers_are_decided_without_panic_or_fail_open(
        request in request_strategy(),
        known_provider in any::<bool>(),
        answers in proptest::collection::vec(answer_strategy(), 0..8),
    ) {
        let settings = settings();
        let shared = NoRefetchLimit;
        let counter = Cell::new(0u8);
        let mut random = || { counter.set(counter.get().wrapping_add(1)); Some([counter.get(); 32]) };
        let mut env = Env { now: 1_700_000_000, random: &mut random, shared: &shared };
        let mut flow = RequestFlow::new(request, known_provider.then(provider));
        let mut step = flow.start(&settings, &mut env);
        let mut tokens_issued = false;
        let mut answers = answers.into_iter();
        let mut calls = 0;
        while let Step::Call(_) = step {
            calls += 1;
            prop_assert!(calls <= 8, "a flow makes a bounded number of calls");
            let Some(answer) = answers.next() else { break };
            tokens_issued |= issues_tokens(&answer);
            step = flow.on_call_response(&settings, &mut env, answer);
        }
        if let Step::Forward(_) = step {
            // Random cookies cannot be genuine sessions (AES-GCM + MAC): only issued tokens let a request through.
            prop_assert!(tokens_issued, "forwarded without tokens from the provider");
        }
    }
}
