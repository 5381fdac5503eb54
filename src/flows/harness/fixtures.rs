//! The scripted identity provider: the plugin's settings, the provider's documents and keys,
//! the tokens it signs and the answers it gives, and the requests a client sends.

use std::rc::Rc;

use serde_json::{json, Value};

use crate::config::Config;
use crate::discovery::Algorithm;
use crate::flows::{IncomingRequest, Provider, Settings};
use crate::step::CallResponse;
use crate::token::testkeys::{self, Signer, ISSUER, NOW};

pub(crate) const SESSION_SECRET: &str = "flow-tests-session-secret";
pub(crate) const CLIENT_SECRET: &str = "client-secret-of-kong";

/// `base` with `extra`'s members over it; a `null` in `extra` removes the member.
pub(crate) fn merged(mut base: Value, extra: Value) -> Value {
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

/// The plugin's settings for client `kong`: Kong's defaults but for `extra`.
pub(crate) fn settings(extra: Value) -> Settings {
    let base = json!({"issuer": ISSUER, "client_id": ["kong"], "client_secret": [CLIENT_SECRET],
                      "session_secret": SESSION_SECRET});
    let config = Config::parse(merged(base, extra).to_string().as_bytes()).unwrap();
    Settings::new(config, SESSION_SECRET.as_bytes()).unwrap()
}

/// The discovery document: every endpoint the flows use, with `extra` over it.
pub(crate) fn metadata(extra: Value) -> Value {
    let base = json!({
        "issuer": ISSUER,
        "authorization_endpoint": format!("{ISSUER}/auth"),
        "token_endpoint": format!("{ISSUER}/token"),
        "jwks_uri": format!("{ISSUER}/jwks"),
        "introspection_endpoint": format!("{ISSUER}/token/introspection"),
        "userinfo_endpoint": format!("{ISSUER}/me"),
        "revocation_endpoint": format!("{ISSUER}/token/revocation"),
        "end_session_endpoint": format!("{ISSUER}/session/end"),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    });
    merged(base, extra)
}

/// The provider's keys: an RSA key (`rsa_kid`, access tokens) and a P-256 key (`ec_kid`, ID
/// and logout tokens).
pub(crate) fn jwks(rsa_kid: &str, ec_kid: &str) -> Vec<u8> {
    testkeys::jwks_json(&[
        testkeys::rsa_jwk(testkeys::rsa_key(), rsa_kid),
        testkeys::p256_jwk(&testkeys::p256_key(), ec_kid),
    ])
}

/// The provider as discovered: [`metadata`] with `extra`, and the keys `rsa1` and `k1`.
pub(crate) fn provider_with(extra: Value) -> Rc<Provider> {
    let metadata = metadata(extra).to_string();
    Rc::new(Provider::from_documents(metadata.as_bytes(), Some(&jwks("rsa1", "k1")), NOW).unwrap())
}

pub(crate) fn provider() -> Rc<Provider> {
    provider_with(json!({}))
}

/// An ES256 ID token for john from key `kid`, with `extra` claims over the usual ones.
pub(crate) fn id_token_by(kid: &str, extra: Value) -> String {
    let claims = merged(
        json!({"iss": ISSUER, "sub": "user-john", "aud": "kong", "iat": NOW - 1, "exp": NOW + 300,
               "email": "john@example.com"}),
        extra,
    );
    testkeys::token(
        Algorithm::ES256,
        Some(kid),
        &claims,
        &Signer::P256(&testkeys::p256_key()),
    )
}

/// An ID token signed with the provider's key `k1`.
pub(crate) fn id_token(extra: Value) -> String {
    id_token_by("k1", extra)
}

/// An RS256 JWT access token as the test IdP issues them, with `extra` claims.
pub(crate) fn access_token(extra: Value) -> String {
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

pub(crate) fn answer(status: u16, body: &str) -> CallResponse {
    CallResponse {
        status: Some(status),
        headers: vec![],
        body: body.as_bytes().to_vec(),
    }
}

/// A 200 answer with `body` (a JWKS, say).
pub(crate) fn ok_bytes(body: Vec<u8>) -> CallResponse {
    CallResponse {
        body,
        ..answer(200, "")
    }
}

pub(crate) fn ok_json(body: Value) -> CallResponse {
    ok_bytes(body.to_string().into_bytes())
}

/// The token endpoint's answer: `access`, its refresh token `rt-{access}`, and `id_token`.
pub(crate) fn token_answer_with(access: &str, expires_in: u64, id_token: &str) -> CallResponse {
    ok_json(
        json!({"access_token": access, "refresh_token": format!("rt-{access}"),
                   "id_token": id_token, "token_type": "Bearer", "expires_in": expires_in}),
    )
}

/// [`token_answer_with`] the usual ID token.
pub(crate) fn token_answer(access: &str, expires_in: u64) -> CallResponse {
    token_answer_with(access, expires_in, &id_token(json!({})))
}

/// A client's request to the protected site.
pub(crate) fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> IncomingRequest {
    IncomingRequest {
        http10: false,
        method: method.into(),
        scheme: "http".into(),
        authority: "app.test:8000".into(),
        path: path.into(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
            .collect(),
        body: None,
    }
}

/// `request` with `body` of `content_type` (and its length) read.
pub(crate) fn with_body(
    mut request: IncomingRequest,
    content_type: &str,
    body: &str,
) -> IncomingRequest {
    request
        .headers
        .push(("content-type".into(), content_type.into()));
    request
        .headers
        .push(("content-length".into(), body.len().to_string()));
    request.body = Some(body.as_bytes().to_vec());
    request
}

pub(crate) fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}
