//! End to end over real HTTP: programs calling APIs through the real filter in a real host (our
//! gateway and Kong's Wasm engine), with the real test IdP (oidc-provider). JWT access tokens for
//! `bearer` (and tokens forged with the IdP's own key, or without it), opaque tokens for
//! `introspection` and `userinfo`, the `client_credentials` and `refresh_token` methods, the token
//! cache of the password grant, and one refresh per session when a session's requests arrive
//! together.

// A test crate: its helpers may unwrap, panic and index like its tests (clippy.toml covers
// only the #[test] functions themselves).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::http::{self, basic, Response};
use common::support::*;
use common::Stack;
use hmac::{Hmac, Mac};
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

// Every item below is compiled twice: `gateway::<test>` runs on our gateway, `kong::<test>`
// in Kong's Wasm engine (tests/common/hosts.rs). Kong's engine cannot drop a request header:
// one the filter removes reaches the upstream empty there, so "removed" is "absent or empty".
on_both_hosts! {

/// Asks the IdP's token endpoint directly, as the `kong` client (how a program gets tokens).
fn idp_token(stack: &Stack, form: &[(&str, &str)]) -> Value {
    let body: Vec<String> = form
        .iter()
        .map(|(k, v)| format!("{k}={}", common::urlencode(v)))
        .collect();
    let response = http::send(
        &stack.idp_addr(),
        "POST",
        "/token",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", &basic("kong", "secret")),
        ],
        body.join("&").as_bytes(),
    );
    assert_eq!(
        response.status,
        200,
        "token request refused: {}",
        response.text()
    );
    response.json()
}

fn password_tokens(stack: &Stack, scope: &str) -> Value {
    idp_token(
        stack,
        &[
            ("grant_type", "password"),
            ("username", "john"),
            ("password", "doe"),
            ("scope", scope),
        ],
    )
}

fn get(stack: &Stack, target: &str, headers: &[(&str, &str)]) -> Response {
    http::send(&stack.proxy(), "GET", target, headers, b"")
}

fn bearer_header(token: &str) -> String {
    format!("Bearer {token}")
}

/// The bearer token the upstream received (the request was let through).
fn upstream_bearer(response: &Response) -> String {
    assert_eq!(
        response.status,
        200,
        "not let through: {} {}",
        response.status,
        response.text()
    );
    bearer_of(&response.json())
}

fn assert_refused(stack: &Stack, response: &Response, status: u16, error: &str, reason: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    let challenge = response
        .header("www-authenticate")
        .expect("WWW-Authenticate");
    assert_eq!(
        challenge,
        format!("Bearer realm=\"127.0.0.1\", error=\"{error}\"")
    );
    wait_for_log(stack, reason);
}

/// The IdP's signing key, from the JWKS file the harness gives it (private parts included), so
/// tests can make tokens that are correctly signed but wrong in one precise way.
struct IdpKey {
    kid: String,
    key: RsaPrivateKey,
}

impl IdpKey {
    fn load(stack: &Stack) -> IdpKey {
        let jwks: Value =
            serde_json::from_slice(&std::fs::read(stack.dir.path().join("jwks.json")).unwrap())
                .unwrap();
        let jwk = &jwks["keys"][0];
        let int = |name: &str| {
            BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap())
        };
        let key =
            RsaPrivateKey::from_components(int("n"), int("e"), int("d"), vec![int("p"), int("q")])
                .unwrap();
        IdpKey {
            kid: jwk["kid"].as_str().unwrap().to_string(),
            key,
        }
    }

    fn public_modulus(&self) -> Vec<u8> {
        use rsa::traits::PublicKeyParts;
        self.key.n().to_bytes_be()
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        let signature = self
            .key
            .sign(
                Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(input.as_bytes()),
            )
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// An access token as the IdP makes them, with `claims` changed.
    fn access_token(&self, stack: &Stack, changes: Value) -> String {
        let now = unix_now();
        let mut claims = json!({
            "iss": format!("http://127.0.0.1:{}", stack.idp_port), "sub": "user-john", "aud": "kong",
            "iat": now, "exp": now + 300, "scope": "openid profile", "client_id": "kong",
        });
        if let (Some(claims), Value::Object(changes)) = (claims.as_object_mut(), changes) {
            claims.extend(changes);
        }
        self.sign(
            &json!({"alg": "RS256", "typ": "at+jwt", "kid": self.kid}),
            &claims,
        )
    }
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

#[test]
fn jwt_access_tokens_are_verified_at_the_gateway_without_asking_the_idp() {
    let stack = stack_with_idp(
        json!({"auth_methods": ["bearer"], "hide_credentials": true}),
        vec!["--jwt-access-tokens"],
    );
    let tokens = password_tokens(&stack, "openid profile");
    let access_token = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        access_token.split('.').count(),
        3,
        "the IdP issues JWT access tokens"
    );
    stack.clear_idp_events();

    for headers in [
        vec![("Authorization", bearer_header(&access_token))],
        vec![("X-Access-Token", access_token.clone())],
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let response = get(&stack, "/api", &headers);
        assert_eq!(upstream_bearer(&response), access_token);
        assert!(
            response.json()["headers"].get("x-access-token").is_none_or(|v| v == ""),
            "hide_credentials removed it"
        );
        assert!(
            response.header("set-cookie").is_none(),
            "no session without the session method"
        );
    }
    let response = get(
        &stack,
        &format!("/api?access_token={access_token}&page=2"),
        &[],
    );
    assert_eq!(upstream_bearer(&response), access_token);
    assert_eq!(
        response.json()["query"],
        json!({"page": "2"}),
        "the token left the query"
    );

    let events = stack.idp_events();
    assert!(
        events
            .iter()
            .all(|e| e["type"] != "introspection" && e["type"] != "token"),
        "{events:?}"
    );
}

#[test]
fn forged_and_wrong_tokens_are_refused_with_the_right_status_and_reason() {
    let config = json!({"auth_methods": ["bearer"], "audience_required": ["kong"], "scopes_required": ["profile"]});
    let stack = stack_with_idp(config, vec!["--jwt-access-tokens"]);
    let key = IdpKey::load(&stack);
    let now = unix_now();
    let good = key.access_token(&stack, json!({}));
    assert_eq!(
        upstream_bearer(&get(
            &stack,
            "/",
            &[("Authorization", &bearer_header(&good))]
        )),
        good
    );

    let claims = json!({"iss": format!("http://127.0.0.1:{}", stack.idp_port), "sub": "x", "aud": "kong",
                        "exp": now + 300, "scope": "profile"});
    let unsigned = format!(
        "{}.",
        signing_input(&json!({"alg": "none", "typ": "JWT"}), &claims)
    );
    let hs_input = signing_input(
        &json!({"alg": "HS256", "typ": "JWT", "kid": key.kid}),
        &claims,
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&key.public_modulus()).unwrap();
    mac.update(hs_input.as_bytes());
    let hs_with_public_key = format!(
        "{hs_input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    );
    let unknown_kid = key.sign(&json!({"alg": "RS256", "kid": "rotated-away"}), &claims);

    let unauthorized = [
        (unsigned, "the token's algorithm \"none\" is not accepted"),
        (
            hs_with_public_key,
            "signed with HS256, but HS signatures are disabled",
        ),
        (
            key.access_token(&stack, json!({"iss": "https://evil.example"})),
            "issuer \"https://evil.example\" is not allowed",
        ),
        (
            key.access_token(&stack, json!({"exp": now - 60})),
            "the token expired at",
        ),
        (
            key.access_token(&stack, json!({"nbf": now + 600})),
            "the token is not valid before",
        ),
    ];
    for (token, reason) in unauthorized {
        let response = get(&stack, "/", &[("Authorization", &bearer_header(&token))]);
        assert_refused(&stack, &response, 401, "invalid_token", reason);
        assert_eq!(response.json(), json!({"message": "Unauthorized"}));
    }

    // An unknown key id costs one JWKS refetch (rate-limited), then 401.
    stack.clear_idp_events();
    let response = get(
        &stack,
        "/",
        &[("Authorization", &bearer_header(&unknown_kid))],
    );
    assert_refused(
        &stack,
        &response,
        401,
        "invalid_token",
        "key id \"rotated-away\" is not in the provider's JWKS",
    );
    let response = get(
        &stack,
        "/",
        &[("Authorization", &bearer_header(&unknown_kid))],
    );
    assert_eq!(response.status, 401);
    assert_eq!(
        events_of(&stack, "jwks").len(),
        1,
        "one refetch for two requests"
    );

    let forbidden = [
        (
            key.access_token(&stack, json!({"aud": "someone-else"})),
            "required audience were not found [ someone-else ]",
        ),
        (
            key.access_token(&stack, json!({"scope": "openid"})),
            "required scopes were not found [ openid ]",
        ),
    ];
    for (token, reason) in forbidden {
        let response = get(&stack, "/", &[("Authorization", &bearer_header(&token))]);
        assert_refused(&stack, &response, 403, "insufficient_scope", reason);
        assert_eq!(response.json(), json!({"message": "Forbidden"}));
    }
}

#[test]
fn opaque_tokens_are_introspected_once_and_the_result_goes_upstream() {
    let config = json!({
        "auth_methods": ["bearer", "introspection"], "upstream_introspection_header": "x-introspection",
        "upstream_headers_claims": ["sub"], "upstream_headers_names": ["x-user"],
    });
    let stack = stack_with_idp(config, vec![]);
    let access_token = password_tokens(&stack, "openid profile")["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(access_token.split('.').count(), 1, "opaque");
    stack.clear_idp_events();

    for _ in 0..3 {
        let response = get(
            &stack,
            "/",
            &[("Authorization", &bearer_header(&access_token))],
        );
        assert_eq!(upstream_bearer(&response), access_token);
        let echo = response.json();
        assert_eq!(echo["headers"]["x-user"], "user-john");
        let introspection = STANDARD
            .decode(echo["headers"]["x-introspection"].as_str().unwrap())
            .unwrap();
        let introspection: Value = serde_json::from_slice(&introspection).unwrap();
        assert_eq!(
            (
                introspection["active"].clone(),
                introspection["sub"].clone()
            ),
            (json!(true), json!("user-john"))
        );
    }
    let introspections = events_of(&stack, "introspection");
    assert_eq!(
        introspections.len(),
        1,
        "cached in shared data for both workers: {introspections:?}"
    );
    assert_eq!(introspections[0]["token_type_hint"], "access_token");
    assert_eq!(
        introspections[0]["client_auth_method"],
        "client_secret_basic"
    );

    let response = get(
        &stack,
        "/",
        &[("Authorization", "Bearer not-a-token-the-idp-knows")],
    );
    assert_refused(
        &stack,
        &response,
        401,
        "invalid_token",
        "the token is not active (introspection)",
    );
}

#[test]
fn userinfo_accepts_tokens_its_endpoint_accepts() {
    let stack = stack_with_idp(
        json!({"auth_methods": ["userinfo"], "upstream_user_info_header": "x-userinfo"}),
        vec![],
    );
    let access_token = password_tokens(&stack, "openid email")["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let response = get(
        &stack,
        "/",
        &[("Authorization", &bearer_header(&access_token))],
    );
    assert_eq!(upstream_bearer(&response), access_token);
    let userinfo = STANDARD
        .decode(response.json()["headers"]["x-userinfo"].as_str().unwrap())
        .unwrap();
    let userinfo: Value = serde_json::from_slice(&userinfo).unwrap();
    assert_eq!(userinfo["email"], "john@example.com");
    assert_eq!(events_of(&stack, "userinfo").len(), 1);

    let response = get(&stack, "/", &[("Authorization", "Bearer unknown")]);
    assert_refused(
        &stack,
        &response,
        401,
        "invalid_token",
        "the userinfo endpoint answered 401",
    );
}

#[test]
fn client_credentials_and_refresh_tokens_sent_by_programs_are_exchanged() {
    let config = json!({
        "auth_methods": ["client_credentials", "refresh_token"], "refresh_token_param_name": "x-refresh-token",
        "hide_credentials": true,
    });
    let stack = stack_with_idp(config, vec![]);

    let response = get(
        &stack,
        "/",
        &[
            ("Authorization", &basic("kong", "secret")),
            ("Grant-Type", "client_credentials"),
        ],
    );
    let access_token = upstream_bearer(&response);
    let echo = response.json();
    assert!(echo["headers"].get("grant-type").is_none_or(|v| v == ""), "hidden");
    assert_eq!(stack.introspect(&access_token)["client_id"], "kong");
    let grants = events_of(&stack, "token");
    assert_eq!(grants.last().unwrap()["grant_type"], "client_credentials");
    assert_eq!(grants.last().unwrap()["client_id"], "kong");

    let response = get(
        &stack,
        "/",
        &[
            ("Authorization", &basic("kong", "wrong")),
            ("Grant-Type", "client_credentials"),
        ],
    );
    assert_refused(&stack, &response, 401, "invalid_token", "invalid_client");

    let refresh_token = password_tokens(&stack, "openid")["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    stack.clear_idp_events();
    let response = get(&stack, "/", &[("X-Refresh-Token", &refresh_token)]);
    let access_token = upstream_bearer(&response);
    assert!(
        response.json()["headers"].get("x-refresh-token").is_none_or(|v| v == ""),
        "hidden"
    );
    assert_eq!(stack.introspect(&access_token)["active"], true);
    let grants = events_of(&stack, "token");
    assert_eq!(grants.len(), 1);
    assert_eq!(
        (
            grants[0]["grant_type"].as_str(),
            grants[0]["refresh_token"].as_str()
        ),
        (Some("refresh_token"), Some(refresh_token.as_str()))
    );
}

#[test]
fn the_password_grant_is_cached_so_repeated_basic_logins_cost_one_token_request() {
    let stack = stack_with_idp(json!({"auth_methods": ["password"]}), vec![]);
    let first = upstream_bearer(&get(
        &stack,
        "/",
        &[("Authorization", &basic("john", "doe"))],
    ));
    // Several requests, spread over the gateway's two workers.
    for _ in 0..4 {
        assert_eq!(
            upstream_bearer(&get(
                &stack,
                "/",
                &[("Authorization", &basic("john", "doe"))]
            )),
            first
        );
    }
    let grants = events_of(&stack, "token");
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert_eq!(grants[0]["grant_type"], "password");

    // Other credentials are not served from john's entry.
    let jane = upstream_bearer(&get(
        &stack,
        "/",
        &[("Authorization", &basic("jane", "doe"))],
    ));
    assert_ne!(jane, first);
    assert_eq!(events_of(&stack, "token").len(), 2);
    let response = get(&stack, "/", &[("Authorization", &basic("john", "wrong"))]);
    assert_eq!(response.status, 401);
}

#[test]
fn concurrent_requests_of_one_session_cause_one_refresh() {
    const TTL: u64 = 3;
    const REQUESTS: usize = 8;
    let stack = stack_with_idp(
        json!({"auth_methods": ["password", "session"]}),
        vec!["--access-token-ttl", "3"],
    );
    let mut client = stack.client();
    let logged_in_at = unix_now();
    let response = client.request("GET", "/", &[("Authorization", &basic("john", "doe"))], b"");
    let first_token = upstream_bearer(&response);
    let cookie = client.cookie_header().expect("a session cookie");

    // Wait until the gateway sees the access token as expired.
    wait_for_second(logged_in_at + TTL + 1);
    stack.clear_idp_events();
    let proxy = stack.proxy();
    let threads: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let (proxy, cookie) = (proxy.clone(), cookie.clone());
            std::thread::spawn(move || {
                http::send(&proxy, "GET", "/together", &[("Cookie", &cookie)], b"")
            })
        })
        .collect();
    let responses: Vec<Response> = threads.into_iter().map(|t| t.join().unwrap()).collect();

    let tokens: Vec<String> = responses.iter().map(upstream_bearer).collect();
    assert!(
        tokens.iter().all(|t| *t == tokens[0] && *t != first_token),
        "every request got the one new token: {tokens:?}"
    );
    for response in &responses {
        assert!(
            response
                .headers_named("set-cookie")
                .iter()
                .any(|c| c.starts_with("session=")),
            "a renewed session cookie"
        );
    }
    let refreshes: Vec<Value> = events_of(&stack, "token")
        .into_iter()
        .filter(|e| e["grant_type"] == "refresh_token")
        .collect();
    assert_eq!(
        refreshes.len(),
        1,
        "one refresh for {REQUESTS} concurrent requests: {refreshes:?}"
    );
    // The new token is the one that refresh issued. (Not asked by introspection: the token lives
    // 3 s, which a busy machine can outlive between the refresh and the question.)
    assert_eq!(
        refreshes[0]["issued"]["access_token"],
        tokens[0].as_str(),
        "the upstream got the refreshed token"
    );
}

} // on_both_hosts!
