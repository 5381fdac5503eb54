//! OpenID Connect Back-Channel Logout 1.0 (issue 10, part 3): the identity provider POSTs a
//! `logout_token` to `logout_backchannel_uri_suffix` when a user's session there ends, and the
//! sessions it names end on this node at once, for every worker.
//!
//! Cookie sessions keep nothing on the server, so the end is remembered in shared data (the
//! bounded `ended` cache, as for logouts) under two kinds of marks:
//! - "sid S ended": a session whose ID token carries the provider's session id S is refused;
//! - "sessions of sub X created up to T ended": every session of user X at this issuer created
//!   at or before T (the time the logout token arrived) is refused; a later login works.
//!
//! Marks live as long as a session could (its absolute timeout, else [`WITHOUT_ABSOLUTE`]);
//! the `jti` of every accepted token is remembered until its `exp` to refuse replays.
//! The provider is the client here, so refusals are 400 `invalid_request` (section 2.8),
//! never 401, and nothing is forwarded upstream.

use serde_json::Value;

use crate::flows::provider::Provider;
use crate::flows::request::IncomingRequest;
use crate::flows::settings::Settings;
use crate::flows::SharedState;
use crate::http::form;
use crate::logout::detect::suffix_matches;
use crate::logout::logout_token::{verify_logout_token, LogoutClaims, LogoutTokenError};
use crate::session::{Session, SessionPayload};
use crate::shared::cache::{self as shared_cache, CacheKind};
use crate::step::LocalResponse;
use crate::token::decode_unverified;

/// How long marks are kept when sessions have no absolute timeout: a rolling or idling session
/// renewed past this is not refused by a back-channel logout older than this (documented).
pub const WITHOUT_ABSOLUTE: u64 = 30 * 24 * 3600;

/// Whether the request is addressed to the back-channel logout endpoint.
pub fn is_backchannel_request(settings: &Settings, request: &IncomingRequest) -> bool {
    settings
        .config
        .logout_backchannel_uri_suffix
        .as_deref()
        .is_some_and(|suffix| suffix_matches(request.path_only(), suffix))
}

/// Whether the flows must read the body: a POST to the endpoint (its `logout_token`).
pub fn may_need_body(settings: &Settings, request: &IncomingRequest) -> bool {
    request.method.eq_ignore_ascii_case("POST")
        && is_backchannel_request(settings, request)
        && request.has_argument_body()
}

/// What a back-channel logout request came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Valid: the sessions it names are ended.
    Ended(LogoutClaims),
    /// Signed by a key the JWKS lacks (worth one refetch); the error says which.
    UnknownKey(String),
    /// Refused with 400; the description goes to the provider and the log.
    Refused(String),
}

/// Validates the request and its logout token, refuses a replayed `jti`, and ends the sessions
/// the token names.
pub fn receive(
    settings: &Settings,
    provider: &Provider,
    request: &IncomingRequest,
    shared: &dyn SharedState,
    now: u64,
) -> Received {
    let token = match logout_token(request) {
        Ok(token) => token,
        Err(why) => return Received::Refused(why.into()),
    };
    let config = &settings.config;
    let Some(client_id) = config.client_id() else {
        return Received::Refused("no client id is configured to check the audience".into());
    };
    let claims = match verify_logout_token(
        &token,
        &provider.jwks,
        &provider.metadata.issuer,
        client_id,
        config.leeway,
        now,
    ) {
        Ok(claims) => claims,
        Err(LogoutTokenError::Token(e)) if e.is_key_miss() => {
            return Received::UnknownKey(e.to_string())
        }
        Err(e) => return Received::Refused(e.to_string()),
    };
    let issuer = provider.metadata.issuer.as_str();
    let replay_key = shared_cache::digest(&["backchannel-jti#", issuer, "#", &claims.jti]);
    if shared
        .cache_get(CacheKind::Ended, &replay_key, now)
        .is_some()
    {
        return Received::Refused("the logout token was used before (jti replayed)".into());
    }
    let jti_until = claims
        .exp
        .saturating_add(config.leeway)
        .max(now.saturating_add(1));
    shared.cache_put(CacheKind::Ended, &replay_key, b"", jti_until);
    let until = now.saturating_add(mark_lifetime(settings));
    if let Some(sid) = claims.sid.as_deref() {
        shared.cache_put(CacheKind::Ended, &sid_key(issuer, sid), b"", until);
    }
    if let Some(sub) = claims.sub.as_deref() {
        let ended_at = now.to_string();
        shared.cache_put(
            CacheKind::Ended,
            &sub_key(issuer, sub),
            ended_at.as_bytes(),
            until,
        );
    }
    Received::Ended(claims)
}

/// The one `logout_token` of a form POST (section 2.5).
fn logout_token(request: &IncomingRequest) -> Result<String, &'static str> {
    if !request.method.eq_ignore_ascii_case("POST") {
        return Err("back-channel logout requests are POSTs");
    }
    let content_type = request.header("content-type").unwrap_or_default();
    if !form::is_form_content_type(content_type) {
        return Err("the body must be application/x-www-form-urlencoded");
    }
    let args = request.body_args();
    let mut tokens = args.iter().filter(|(name, _)| name == "logout_token");
    match (tokens.next(), tokens.next()) {
        (Some((_, token)), None) if !token.is_empty() => Ok(token.clone()),
        (Some(_), Some(_)) => Err("more than one logout_token"),
        _ => Err("no logout_token in the body"),
    }
}

/// As long as a session created now could live.
fn mark_lifetime(settings: &Settings) -> u64 {
    match settings.config.session_absolute_timeout {
        timeout if timeout > 0 => timeout,
        _ => WITHOUT_ABSOLUTE,
    }
}

fn sid_key(issuer: &str, sid: &str) -> String {
    shared_cache::digest(&["backchannel-sid#", issuer, "#", sid])
}

fn sub_key(issuer: &str, sub: &str) -> String {
    shared_cache::digest(&["backchannel-sub#", issuer, "#", sub])
}

/// Whether a back-channel logout ended this session: its ID token's `sid` is marked, or its
/// user's sessions up to a time at or after its creation are. The ID token was verified at
/// login and travels sealed in the session, so its claims are read without verifying again.
/// Only with the endpoint configured (otherwise nothing can have been marked).
pub fn ended_by_provider(
    settings: &Settings,
    shared: &dyn SharedState,
    session: &Session,
    now: u64,
) -> bool {
    if settings.config.logout_backchannel_uri_suffix.is_none() {
        return false;
    }
    let audience = settings.config.session_audience.as_str();
    let Some(id_token) = SessionPayload::id_token_of(session, audience) else {
        return false;
    };
    let Ok((_, claims)) = decode_unverified(id_token) else {
        return false;
    };
    let Some(issuer) = claims.get("iss").and_then(Value::as_str) else {
        return false;
    };
    if let Some(sid) = claims.get("sid").and_then(Value::as_str) {
        if shared
            .cache_get(CacheKind::Ended, &sid_key(issuer, sid), now)
            .is_some()
        {
            return true;
        }
    }
    if let Some(sub) = claims.get("sub").and_then(Value::as_str) {
        let ended_at = shared
            .cache_get(CacheKind::Ended, &sub_key(issuer, sub), now)
            .and_then(|value| String::from_utf8(value).ok())
            .and_then(|value| value.parse::<u64>().ok());
        if ended_at.is_some_and(|ended_at| session.created_at() <= ended_at) {
            return true;
        }
    }
    false
}

/// 200 with `Cache-Control: no-store` (section 2.8).
pub fn accepted(claims: &LogoutClaims) -> LocalResponse {
    LocalResponse {
        status: 200,
        headers: vec![("cache-control".into(), "no-store".into())],
        body: Vec::new(),
        reason: format!(
            "back-channel logout: ended sid {:?} / sub {:?}",
            claims.sid, claims.sub
        ),
    }
}

/// 400 `invalid_request` with the reason (section 2.8).
pub fn refused(description: &str) -> LocalResponse {
    let body = serde_json::json!({
        "error": "invalid_request",
        "error_description": description,
    });
    LocalResponse {
        status: 400,
        headers: vec![
            ("cache-control".into(), "no-store".into()),
            (
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            ),
        ],
        body: body.to_string().into_bytes(),
        reason: format!("back-channel logout refused: {description}"),
    }
}
