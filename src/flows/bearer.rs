//! The `bearer` method: finding an access token in the request (Kong's search order) and
//! verifying it as a JWT against the provider's keys and the configured claims policy.
//!
//! The token's `alg` is only trusted when the key fits it ([`crate::token::verify_jwt`]):
//! `none` is never accepted, and HS256/384/512 are verified with the client secret, never with a
//! key of the JWKS, and only with `enable_hs_signatures`.

use crate::config::ParamType;
use crate::flows::provider::Provider;
use crate::flows::request::IncomingRequest;
use crate::flows::settings::Settings;
use crate::flows::used_credential::UsedCredential;
use crate::http::{cookies, form};
use crate::token::{self, TokenError, VerifiedJwt, VerifyPolicy};

/// The argument name of a token in the query or the body.
const ACCESS_TOKEN_ARG: &str = "access_token";
/// The headers that carry a raw token, after `Authorization: Bearer` (Kong reads
/// `access_token` and `x_access_token`, which nginx spells with hyphens).
const TOKEN_HEADERS: [&str; 2] = ["access-token", "x-access-token"];

/// A bearer token and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerToken {
    pub token: String,
    pub used: UsedCredential,
}

/// Looks for a token in `bearer_token_param_type` order: `header` (`Authorization: Bearer`,
/// then `access-token`, then `x-access-token`), `cookie` (`bearer_token_cookie_name`), `query`
/// and `body` (`access_token`, in a form or JSON body).
pub fn find_token(settings: &Settings, request: &IncomingRequest) -> Option<BearerToken> {
    let config = &settings.config;
    config
        .bearer_token_param_type
        .iter()
        .find_map(|location| match location {
            ParamType::Header => from_headers(request),
            ParamType::Cookie => {
                let name = config.bearer_token_cookie_name.as_deref()?;
                let cookie_headers = request.cookie_headers();
                let value = cookies::find(&cookie_headers, name).filter(|v| !v.is_empty())?;
                Some(BearerToken {
                    token: value.to_string(),
                    used: UsedCredential::cookie(name),
                })
            }
            ParamType::Query => form::first(&request.query_args(), ACCESS_TOKEN_ARG)
                .filter(|t| !t.is_empty())
                .map(|t| BearerToken {
                    token: t.to_string(),
                    used: UsedCredential::query_args(&[ACCESS_TOKEN_ARG]),
                }),
            ParamType::Body => form::first(&request.body_args(), ACCESS_TOKEN_ARG)
                .filter(|t| !t.is_empty())
                .map(|t| BearerToken {
                    token: t.to_string(),
                    used: UsedCredential::body_args(&[ACCESS_TOKEN_ARG]),
                }),
        })
}

fn from_headers(request: &IncomingRequest) -> Option<BearerToken> {
    let bearer = request
        .header_values("authorization")
        .into_iter()
        .find_map(|value| {
            let (scheme, token) = value.trim().split_once(|c: char| c.is_ascii_whitespace())?;
            let token = token.trim();
            (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
        });
    if let Some(token) = bearer {
        return Some(BearerToken {
            token,
            used: UsedCredential::headers(&["authorization"]),
        });
    }
    TOKEN_HEADERS.iter().find_map(|name| {
        let value = request.header(name)?.trim();
        (!value.is_empty()).then(|| BearerToken {
            token: value.to_string(),
            used: UsedCredential::headers(&[name]),
        })
    })
}

/// Whether a token may be in the body, so the adapter must read it first.
pub fn may_need_body(settings: &Settings, request: &IncomingRequest) -> bool {
    settings
        .config
        .bearer_token_param_type
        .contains(&ParamType::Body)
        && request.has_argument_body()
}

/// The policy bearer JWTs are verified with: signature (HS only with `enable_hs_signatures`
/// and the client secret), `iss` in `issuers_allowed` (else the discovered issuer), `exp`,
/// `nbf` and `iat` with `leeway`. Audience, scopes, groups and roles are authorization
/// requirements, checked afterwards (403, as Kong answers).
pub fn policy(settings: &Settings, provider: &Provider) -> VerifyPolicy {
    let config = &settings.config;
    VerifyPolicy {
        issuers_allowed: provider.issuers_allowed(settings),
        audiences: Vec::new(),
        leeway: config.leeway,
        verify_signature: config.verify_signature,
        verify_claims: config.verify_claims,
        enable_hs_signatures: config.enable_hs_signatures,
        hs_secret: config.client_secret().map(|s| s.as_bytes().to_vec()),
        nonce: None,
        require_exp: false,
    }
}

/// Verifies a bearer token that looks like a JWT.
pub fn verify(
    settings: &Settings,
    provider: &Provider,
    token: &str,
    now: u64,
) -> Result<VerifiedJwt, TokenError> {
    token::verify_jwt(token, &provider.jwks, &policy(settings, provider), now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::json;

    fn settings(extra: serde_json::Value) -> Settings {
        let mut config = json!({"issuer": "http://127.0.0.1:3000", "session_secret": "s"});
        if let (Some(base), serde_json::Value::Object(extra)) = (config.as_object_mut(), extra) {
            base.extend(extra);
        }
        Settings::new(Config::parse(config.to_string().as_bytes()).unwrap(), b"s").unwrap()
    }

    fn request(path: &str, headers: &[(&str, &str)], body: Option<&str>) -> IncomingRequest {
        let mut headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        if let Some(body) = body {
            headers.push((
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
            headers.push(("content-length".into(), body.len().to_string()));
        }
        IncomingRequest {
            http10: false,
            method: "POST".into(),
            scheme: "http".into(),
            authority: "api.test".into(),
            path: path.into(),
            headers,
            body: body.map(|b| b.as_bytes().to_vec()),
        }
    }

    fn found(settings: &Settings, request: &IncomingRequest) -> Option<(String, UsedCredential)> {
        find_token(settings, request).map(|b| (b.token, b.used))
    }

    #[test]
    fn header_order_is_authorization_then_access_token_then_x_access_token() {
        let settings = settings(json!({}));
        let all = request(
            "/",
            &[
                ("access-token", "a"),
                ("x-access-token", "x"),
                ("authorization", "Basic abc"),
                ("authorization", "bearer  t1 "),
            ],
            None,
        );
        assert_eq!(
            found(&settings, &all),
            Some(("t1".into(), UsedCredential::headers(&["authorization"])))
        );
        let no_bearer = request(
            "/",
            &[
                ("authorization", "Basic abc"),
                ("x-access-token", "x"),
                ("access-token", "a"),
            ],
            None,
        );
        assert_eq!(
            found(&settings, &no_bearer),
            Some(("a".into(), UsedCredential::headers(&["access-token"])))
        );
        let only_x = request("/", &[("x-access-token", "x")], None);
        assert_eq!(found(&settings, &only_x).unwrap().0, "x");
        assert_eq!(
            found(
                &settings,
                &request("/", &[("authorization", "Bearer")], None)
            ),
            None
        );
    }

    #[test]
    fn locations_follow_bearer_token_param_type() {
        let settings = settings(
            json!({"bearer_token_param_type": ["query", "cookie", "body", "header"], "bearer_token_cookie_name": "at"}),
        );
        let req = request(
            "/?access_token=q",
            &[("authorization", "Bearer h"), ("cookie", "x=1; AT=c")],
            Some("access_token=b"),
        );
        assert_eq!(
            found(&settings, &req),
            Some(("q".into(), UsedCredential::query_args(&["access_token"])))
        );
        let req = request(
            "/",
            &[("authorization", "Bearer h"), ("cookie", "x=1; AT=c")],
            Some("access_token=b"),
        );
        assert_eq!(
            found(&settings, &req),
            Some(("c".into(), UsedCredential::cookie("at")))
        );
        let req = request(
            "/",
            &[("authorization", "Bearer h")],
            Some("access_token=b"),
        );
        assert_eq!(
            found(&settings, &req),
            Some(("b".into(), UsedCredential::body_args(&["access_token"])))
        );
        assert!(may_need_body(&settings, &req));

        // The default has no cookie: a token there is not looked at.
        let default = super::tests::settings(json!({}));
        assert_eq!(
            found(&default, &request("/", &[("cookie", "at=c")], None)),
            None
        );
        let header_only = super::tests::settings(json!({"bearer_token_param_type": ["header"]}));
        assert_eq!(
            found(&header_only, &request("/?access_token=q", &[], None)),
            None
        );
        assert!(!may_need_body(&header_only, &req));
    }
}
