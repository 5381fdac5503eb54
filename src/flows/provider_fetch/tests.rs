//! The fetch's stages with RFC 8414's fallback: when it is asked, what it may give, and what a
//! failed or foreign answer leaves (discovery goes on either way).

use serde_json::{json, Value};

use super::*;
use crate::config::Config;

const ISSUER: &str = "http://idp.test/o";
const SECRET: &str = "0123456789abcdef0123456789abcdef";
const NOW: u64 = 1_000_000;

fn settings(extra: Value) -> Settings {
    let mut config = json!({
        "issuer": ISSUER, "client_id": ["kong"], "client_secret": ["secret"],
        "session_secret": SECRET, "auth_methods": ["session", "password"],
        "logout_revoke": true,
    });
    if let (Value::Object(base), Value::Object(extra)) = (&mut config, extra) {
        base.extend(extra);
    }
    let config = Config::parse(config.to_string().as_bytes()).unwrap();
    Settings::new(config, SECRET.as_bytes()).unwrap()
}

/// Discovery as django-oauth-toolkit serves it: no revocation or introspection endpoint.
fn discovery() -> Value {
    json!({
        "issuer": ISSUER,
        "token_endpoint": format!("{ISSUER}/token/"),
        "jwks_uri": format!("{ISSUER}/.well-known/jwks.json"),
    })
}

fn oauth_metadata() -> Value {
    json!({
        "issuer": ISSUER,
        "token_endpoint": format!("{ISSUER}/token/"),
        "revocation_endpoint": format!("{ISSUER}/revoke_token/"),
        "introspection_endpoint": format!("{ISSUER}/introspect/"),
    })
}

fn answer(status: Option<u16>, body: &Value) -> CallResponse {
    CallResponse {
        status,
        headers: Vec::new(),
        body: body.to_string().into_bytes(),
    }
}

fn ok(body: &Value) -> CallResponse {
    answer(Some(200), body)
}

fn url_of(request: &OutboundRequest) -> String {
    format!("{}://{}{}", request.scheme, request.authority, request.path)
}

/// Feeds discovery's answer; returns the next request and the fetch.
fn after_discovery(settings: &Settings, discovery: &Value) -> (ProviderFetch, OutboundRequest) {
    let (fetch, request) = ProviderFetch::start(settings).unwrap();
    assert_eq!(
        url_of(&request),
        format!("{ISSUER}/.well-known/openid-configuration")
    );
    match fetch.on_response(settings, &ok(discovery), NOW) {
        FetchProgress::Next(fetch, request) => (fetch, request),
        other => panic!("expected a next call, got {other:?}"),
    }
}

/// Feeds the JWKS answer to a fetch that asked for it.
fn finish(settings: &Settings, fetch: ProviderFetch, request: &OutboundRequest) -> Provider {
    assert_eq!(url_of(request), format!("{ISSUER}/.well-known/jwks.json"));
    match fetch.on_response(settings, &ok(&json!({"keys": []})), NOW) {
        FetchProgress::Done(provider) => provider,
        other => panic!("expected the documents, got {other:?}"),
    }
}

/// Discovery lacking what `settings` need, then `oauth` as the RFC 8414 answer.
fn with_oauth_answer(settings: &Settings, oauth: CallResponse) -> Provider {
    let (fetch, request) = after_discovery(settings, &discovery());
    assert_eq!(
        url_of(&request),
        "http://idp.test/.well-known/oauth-authorization-server/o",
        "RFC 8414 puts the well-known segment before the issuer's path"
    );
    assert_eq!(request.method, "GET");
    let FetchProgress::Next(fetch, request) = fetch.on_response(settings, &oauth, NOW) else {
        panic!("the JWKS comes next, whatever RFC 8414 answered");
    };
    finish(settings, fetch, &request)
}

#[test]
fn a_revocation_endpoint_only_in_rfc_8414_metadata_is_used() {
    let settings = settings(json!({}));
    let provider = with_oauth_answer(&settings, ok(&oauth_metadata()));
    assert_eq!(
        provider.revocation_endpoint(&settings),
        Some("http://idp.test/o/revoke_token/")
    );
    // Introspection is not enabled: not taken.
    assert_eq!(provider.metadata.introspection_endpoint, None);
    assert_eq!(
        provider.endpoint_gaps.as_ref().map(|g| g.missing.len()),
        Some(0)
    );
    // Cached and shared with it: another worker's copy has the endpoint too.
    let shared = Provider::from_shared(&provider.to_shared()).unwrap();
    assert_eq!(
        shared.revocation_endpoint(&settings),
        Some("http://idp.test/o/revoke_token/")
    );
    assert_eq!(shared.endpoint_gaps, None, "only the fetcher reports gaps");
}

#[test]
fn introspection_is_taken_when_the_introspection_method_is_on() {
    let settings = settings(json!({"auth_methods": ["introspection"], "logout_revoke": false}));
    let provider = with_oauth_answer(&settings, ok(&oauth_metadata()));
    assert_eq!(
        provider.metadata.introspection_endpoint.as_deref(),
        Some("http://idp.test/o/introspect/")
    );
    assert_eq!(
        provider.metadata.revocation_endpoint, None,
        "not needed, not taken"
    );
}

#[test]
fn session_checks_take_introspection_from_rfc_8414_and_do_not_miss_it() {
    let settings = settings(json!({"logout_revoke": false, "session_idp_check_interval": 5}));
    let provider = with_oauth_answer(&settings, ok(&oauth_metadata()));
    assert_eq!(
        provider.metadata.introspection_endpoint.as_deref(),
        Some("http://idp.test/o/introspect/")
    );
    // Without it the checks refresh instead: no gap to announce.
    let provider = with_oauth_answer(&settings, answer(Some(404), &json!({})));
    assert_eq!(
        provider.endpoint_gaps,
        Some(EndpointGaps {
            missing: Vec::new(),
            oauth_metadata: Some("it answered 404".into())
        })
    );
}

#[test]
fn rfc_8414_metadata_of_another_issuer_gives_nothing() {
    let settings = settings(json!({}));
    let mut foreign = oauth_metadata();
    foreign["issuer"] = json!("http://evil.test/o");
    let provider = with_oauth_answer(&settings, ok(&foreign));
    assert_eq!(provider.revocation_endpoint(&settings), None);
    let gaps = provider.endpoint_gaps.unwrap();
    assert_eq!(gaps.missing, [OptionalEndpoint::Revocation]);
    let reason = gaps.oauth_metadata.unwrap();
    assert!(reason.contains("evil.test"), "{reason}");
}

#[test]
fn a_failed_rfc_8414_request_leaves_the_gap_and_discovery_goes_on() {
    let settings = settings(json!({}));
    for (answer, reason) in [
        (
            answer(Some(404), &json!({"error": "not_found"})),
            "it answered 404",
        ),
        (answer(None, &json!(null)), "it request failed"),
        (
            CallResponse {
                status: Some(200),
                headers: Vec::new(),
                body: b"<html>".to_vec(),
            },
            "not valid JSON",
        ),
    ] {
        let provider = with_oauth_answer(&settings, answer);
        assert_eq!(provider.revocation_endpoint(&settings), None);
        let gaps = provider.endpoint_gaps.unwrap();
        assert_eq!(gaps.missing, [OptionalEndpoint::Revocation]);
        let said = gaps.oauth_metadata.unwrap();
        assert!(said.contains(reason), "{said}");
    }
    // A document of ours without the endpoint.
    let provider = with_oauth_answer(&settings, ok(&json!({"issuer": ISSUER})));
    let gaps = provider.endpoint_gaps.unwrap();
    assert_eq!(gaps.missing, [OptionalEndpoint::Revocation]);
    assert_eq!(gaps.oauth_metadata.as_deref(), Some("it has none"));
}

#[test]
fn rfc_8414_is_not_asked_when_nothing_is_missing() {
    // Discovery has it.
    let settings_revoking = settings(json!({}));
    let mut full = discovery();
    full["revocation_endpoint"] = json!(format!("{ISSUER}/revoke_token/"));
    let (fetch, request) = after_discovery(&settings_revoking, &full);
    let provider = finish(&settings_revoking, fetch, &request);
    assert_eq!(provider.endpoint_gaps, Some(EndpointGaps::default()));

    // The configuration has it, or does not revoke at all.
    for extra in [
        json!({"revocation_endpoint": "http://idp.test/o/revoke"}),
        json!({"logout_revoke": false}),
    ] {
        let settings = settings(extra);
        let (fetch, request) = after_discovery(&settings, &discovery());
        let provider = finish(&settings, fetch, &request);
        assert_eq!(provider.endpoint_gaps, Some(EndpointGaps::default()));
    }
}

#[test]
fn an_issuer_configured_as_its_rfc_8414_url_is_not_asked_twice() {
    let settings = settings(json!({
        "issuer": "http://idp.test/.well-known/oauth-authorization-server",
    }));
    let (fetch, request) = ProviderFetch::start(&settings).unwrap();
    assert_eq!(
        url_of(&request),
        "http://idp.test/.well-known/oauth-authorization-server"
    );
    let mut document = discovery();
    document["issuer"] = json!("http://idp.test");
    let FetchProgress::Next(fetch, request) = fetch.on_response(&settings, &ok(&document), NOW)
    else {
        panic!("the JWKS comes next");
    };
    let provider = finish(&settings, fetch, &request);
    let gaps = provider.endpoint_gaps.unwrap();
    assert_eq!(gaps.missing, [OptionalEndpoint::Revocation]);
    assert!(gaps
        .oauth_metadata
        .unwrap()
        .contains("discovery is the RFC 8414 document"));
}

#[test]
fn without_a_jwks_uri_the_documents_are_done_after_rfc_8414() {
    let settings = settings(json!({}));
    let mut bare = discovery();
    bare.as_object_mut().unwrap().remove("jwks_uri");
    let (fetch, _) = after_discovery(&settings, &bare);
    let FetchProgress::Done(provider) = fetch.on_response(&settings, &ok(&oauth_metadata()), NOW)
    else {
        panic!("no keys to fetch");
    };
    assert_eq!(
        provider.revocation_endpoint(&settings),
        Some("http://idp.test/o/revoke_token/")
    );
}

/// What a failed fetch logs: the error's kind and the reason text the log lines carry.
#[test]
fn a_failed_fetch_says_which_document_and_why() {
    let settings = settings(json!({"logout_revoke": false}));
    let failed = |response: CallResponse| {
        let (fetch, _) = ProviderFetch::start(&settings).unwrap();
        match fetch.on_response(&settings, &response, NOW) {
            FetchProgress::Failed(e) => e,
            other => panic!("expected a failure, got {other:?}"),
        }
    };
    let refused = failed(answer(Some(503), &json!({})));
    assert!(matches!(
        refused,
        FetchError::Status {
            what: "discovery",
            status: 503
        }
    ));
    assert_eq!(refused.to_string(), "discovery answered 503");
    let unanswered = failed(CallResponse {
        status: None,
        headers: vec![(":dispatch_status".into(), "timeout".into())],
        body: Vec::new(),
    });
    assert_eq!(unanswered.to_string(), "discovery request failed (timeout)");
    let rejected = failed(ok(&json!({"token_endpoint": "x"})));
    assert!(matches!(
        rejected,
        FetchError::Documents(DocumentError::Metadata(DiscoveryError::MissingIssuer))
    ));
    assert!(
        rejected
            .to_string()
            .starts_with("discovery document rejected: "),
        "{rejected}"
    );

    let (fetch, _) = after_discovery(&settings, &discovery());
    let FetchProgress::Failed(jwks) = fetch.on_response(&settings, &ok(&json!([])), NOW) else {
        panic!("a JWKS that is not an object fails the fetch");
    };
    assert!(matches!(
        jwks,
        FetchError::Documents(DocumentError::Jwks(_))
    ));
    assert!(jwks.to_string().starts_with("JWKS rejected: "), "{jwks}");
}
