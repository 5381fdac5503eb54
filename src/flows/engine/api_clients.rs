//! The methods of programs calling APIs, in the request state machine: a bearer token
//! (`bearer`: a JWT verified here; `introspection` and `userinfo`: asked of the provider), and
//! the grants a request's own credentials lead to (`password`, `client_credentials`,
//! `refresh_token`), with the token cache in front of the token endpoint.
//!
//! Kong's order for a bearer token: verify it as a JWT when `bearer` is on; when that fails (or
//! the token is opaque), introspect it when `introspection` is on; failing that, ask userinfo
//! when `userinfo` is on. An inactive introspection result is final.

use std::collections::VecDeque;
use std::rc::Rc;

use serde_json::{json, Map, Value};

use crate::config::AuthMethod;
use crate::flows::bearer::{self, BearerToken};
use crate::flows::grants::Grant;
use crate::flows::introspection;
use crate::flows::outbound;
use crate::flows::provider::Provider;
use crate::flows::provider_fetch::{self, FetchError};
use crate::flows::responses::Rejection;
use crate::flows::settings::Settings;
use crate::flows::token_cache;
use crate::flows::token_lookup::{self, LookupError, LookupKind};
use crate::flows::tokens::TokenSet;
use crate::flows::used_credential::UsedCredential;
use crate::shared::cache::CacheKind;
use crate::step::{CallResponse, Step};

use super::authorize::{Authorized, Ending, Lookup, SessionStep};
use super::{Env, LoginOrigin, Note, RequestFlow, Waiting};

/// A bearer token being checked.
pub(in crate::flows) struct BearerCheck {
    token: String,
    used: UsedCredential,
    /// The claims of the token, once it verified as a JWT.
    jwt_claims: Option<Map<String, Value>>,
    /// Why it did not verify as a JWT, for the refusal.
    jwt_error: Option<String>,
}

/// A token-endpoint grant being made for the request's credentials.
pub(in crate::flows) struct GrantLogin {
    pub grant: Grant,
    /// Grants to try when this one is refused (client credentials after password, as Kong).
    pub fallback: VecDeque<Grant>,
    pub cache_key: Option<String>,
    /// The tokens came from the token cache (if they do not verify, the grant is made anew).
    pub from_cache: bool,
}

impl RequestFlow {
    // Bearer tokens.

    pub(super) fn bearer(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        found: BearerToken,
    ) -> Step {
        let check = BearerCheck {
            token: found.token,
            used: found.used,
            jwt_claims: None,
            jwt_error: None,
        };
        self.verify_bearer(settings, env, check, true)
    }

    fn verify_bearer(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        mut check: BearerCheck,
        may_refetch_keys: bool,
    ) -> Step {
        let Some(provider) = self.provider.clone() else {
            return self.discover(settings);
        };
        if settings.config.enabled(AuthMethod::Bearer) {
            match bearer::verify(settings, &provider, env.shared, &check.token, env.now) {
                Ok(jwt) => {
                    check.jwt_claims = Some(jwt.claims);
                    return self.bearer_verified(settings, env, check);
                }
                Err(e)
                    if e.is_key_miss()
                        && may_refetch_keys
                        && env.shared.claim_jwks_refetch(env.now) =>
                {
                    let url =
                        Provider::jwks_endpoint(settings, &provider.metadata).map(str::to_string);
                    if let Some(Ok(request)) = url.map(|u| outbound::get(settings, &u)) {
                        self.notes.push(Note::Info(format!(
                            "bearer token: {e}: refetching the JWKS"
                        )));
                        return self.call(request, Waiting::BearerJwksRefetch(Box::new(check)));
                    }
                    check.jwt_error = Some(e.to_string());
                }
                Err(e) => check.jwt_error = Some(e.to_string()),
            }
        }
        self.look_up_bearer(settings, env, check)
    }

    pub(super) fn on_bearer_jwks_refetch(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        response: CallResponse,
        check: BearerCheck,
    ) -> Step {
        self.adopt_refetched_jwks(&response, env.now);
        self.verify_bearer(settings, env, check, false)
    }

    /// A JWT that verified: authenticated, unless `introspect_jwt_tokens` wants the provider
    /// to confirm it is still active.
    fn bearer_verified(&mut self, settings: &Settings, env: &mut Env, check: BearerCheck) -> Step {
        if settings.config.introspect_jwt_tokens {
            return self.look_up_token(settings, env, check, LookupKind::Introspection);
        }
        self.bearer_authenticated(settings, env, check, AuthMethod::Bearer, None, None)
    }

    /// Not a JWT that verified: introspection, then userinfo, whichever are on.
    fn look_up_bearer(&mut self, settings: &Settings, env: &mut Env, check: BearerCheck) -> Step {
        let config = &settings.config;
        if config.enabled(AuthMethod::Introspection) {
            return self.look_up_token(settings, env, check, LookupKind::Introspection);
        }
        if config.enabled(AuthMethod::Userinfo) {
            return self.look_up_token(settings, env, check, LookupKind::Userinfo);
        }
        let why = check
            .jwt_error
            .unwrap_or_else(|| "the bearer token could not be verified".to_string());
        self.reject(settings, Rejection::new("invalid_token", why), false)
    }

    fn look_up_token(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        check: BearerCheck,
        kind: LookupKind,
    ) -> Step {
        let Some(provider) = self.provider.clone() else {
            return self.discover(settings);
        };
        if let Some(answer) =
            token_lookup::cached(settings, env.shared, &provider, kind, &check.token, env.now)
        {
            return self.on_looked_up(settings, env, check, kind, Ok(answer));
        }
        match token_lookup::request(settings, &provider, kind, &check.token) {
            Ok(request) => self.call(request, Waiting::TokenLookup(Box::new(check), kind)),
            Err(e) => self.on_looked_up(settings, env, check, kind, Err(e)),
        }
    }

    pub(super) fn on_token_lookup(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        response: CallResponse,
        check: BearerCheck,
        kind: LookupKind,
    ) -> Step {
        let Some(provider) = self.provider.clone() else {
            return self.discover(settings);
        };
        let answer = token_lookup::answer(
            settings,
            env.shared,
            &provider,
            kind,
            &check.token,
            &response,
            env.now,
        );
        self.on_looked_up(settings, env, check, kind, answer)
    }

    fn on_looked_up(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        check: BearerCheck,
        kind: LookupKind,
        answer: Result<Map<String, Value>, LookupError>,
    ) -> Step {
        let config = &settings.config;
        let verified_jwt = check.jwt_claims.is_some();
        match (kind, answer) {
            (LookupKind::Introspection, Ok(result)) => {
                if config.introspection_check_active && !introspection::is_active(&result) {
                    let why = if verified_jwt {
                        "the JWT bearer token is not active any more or was revoked (introspection)"
                    } else {
                        "the token is not active (introspection)"
                    };
                    return self.reject(settings, Rejection::new("inactive_token", why), false);
                }
                let method = if verified_jwt {
                    AuthMethod::Bearer
                } else {
                    AuthMethod::Introspection
                };
                self.bearer_authenticated(settings, env, check, method, Some(result), None)
            }
            (LookupKind::Introspection, Err(e))
                if !verified_jwt && config.enabled(AuthMethod::Userinfo) =>
            {
                self.notes
                    .push(Note::Info(format!("{e}: trying the userinfo endpoint")));
                self.look_up_token(settings, env, check, LookupKind::Userinfo)
            }
            (LookupKind::Userinfo, Ok(claims)) => self.bearer_authenticated(
                settings,
                env,
                check,
                AuthMethod::Userinfo,
                None,
                Some(claims),
            ),
            (_, Err(e)) => {
                let why = match check.jwt_error {
                    Some(jwt_error) if !verified_jwt => format!("{jwt_error}; {e}"),
                    _ => e.to_string(),
                };
                self.reject(settings, Rejection::new("invalid_token", why), false)
            }
        }
    }

    fn bearer_authenticated(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        check: BearerCheck,
        method: AuthMethod,
        introspection: Option<Map<String, Value>>,
        userinfo: Option<Map<String, Value>>,
    ) -> Step {
        let exp = [check.jwt_claims.as_ref(), introspection.as_ref()]
            .into_iter()
            .flatten()
            .find_map(|claims| claims.get("exp").and_then(Value::as_u64));
        if exp.is_some_and(|exp| exp.saturating_add(settings.config.leeway) <= env.now) {
            return self.reject(
                settings,
                Rejection::new("token_expired", "the access token has expired"),
                false,
            );
        }
        let expires = exp.unwrap_or_else(|| default_expiry(settings, env.now));
        let subject = [
            check.jwt_claims.as_ref(),
            introspection.as_ref(),
            userinfo.as_ref(),
        ]
        .into_iter()
        .flatten()
        .find_map(|claims| {
            claims
                .get("sub")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let Some(tokens) = TokenSet::from_session_value(&json!({ "access_token": check.token }))
        else {
            return self.reject(
                settings,
                Rejection::new("invalid_token", "empty bearer token"),
                false,
            );
        };
        let mut auth = Authorized::new(
            tokens,
            method,
            expires,
            SessionStep::Create { subject },
            Ending::Forward,
        );
        auth.access_claims = check.jwt_claims;
        auth.introspection = Lookup::from_answer(introspection);
        auth.userinfo = Lookup::from_answer(userinfo);
        auth.used = Some(check.used);
        self.authorize(settings, env, auth)
    }

    // Grants for the request's own credentials.

    /// Tries `grants` in order (Kong tries the password grant, then client credentials, when
    /// both credentials are there).
    pub(super) fn grant(&mut self, settings: &Settings, env: &mut Env, grants: Vec<Grant>) -> Step {
        let mut grants: VecDeque<Grant> = grants.into();
        let Some(grant) = grants.pop_front() else {
            return self.reject(
                settings,
                Rejection::new(
                    "no_credentials",
                    "no suitable authorization credentials were provided",
                ),
                false,
            );
        };
        let login = GrantLogin {
            grant,
            fallback: grants,
            cache_key: None,
            from_cache: false,
        };
        self.run_grant(settings, env, login, true)
    }

    fn run_grant(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        mut login: GrantLogin,
        use_cache: bool,
    ) -> Step {
        let Some(provider) = self.provider.clone() else {
            return self.discover(settings);
        };
        login.cache_key = login.grant.cache_key(settings, &provider);
        login.from_cache = false;
        if use_cache {
            let cached = login
                .cache_key
                .as_deref()
                .and_then(|key| env.shared.cache_get(CacheKind::Tokens, key, env.now))
                .and_then(|bytes| token_cache::decode(&bytes))
                .filter(|tokens| {
                    !token_cache::is_revoked(env.shared, tokens.access_token(), env.now)
                });
            if let Some(tokens) = cached {
                login.from_cache = true;
                return self.complete_login(
                    settings,
                    env,
                    tokens,
                    LoginOrigin::Grant(Box::new(login)),
                    true,
                );
            }
        }
        match login.grant.request(settings, &provider) {
            Ok(request) => self.call(request, Waiting::Grant(Box::new(login))),
            Err(e) => self.unexpected(settings, Rejection::new("token_endpoint", e)),
        }
    }

    pub(super) fn on_grant(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        response: CallResponse,
        mut login: GrantLogin,
    ) -> Step {
        match TokenSet::from_response(&response) {
            Ok(tokens) => self.complete_login(
                settings,
                env,
                tokens,
                LoginOrigin::Grant(Box::new(login)),
                true,
            ),
            Err(e) if e.is_provider_failure() => {
                self.unexpected(settings, Rejection::new("idp_failure", e.to_string()))
            }
            Err(e) => match login.fallback.pop_front() {
                Some(next) => {
                    self.notes.push(Note::Info(format!(
                        "{} grant refused ({e}): trying {}",
                        login.grant.method(),
                        next.method()
                    )));
                    let next = GrantLogin {
                        grant: next,
                        fallback: login.fallback,
                        cache_key: None,
                        from_cache: false,
                    };
                    self.run_grant(settings, env, next, true)
                }
                None => self.reject(
                    settings,
                    Rejection::new("invalid_credentials", e.to_string()),
                    false,
                ),
            },
        }
    }

    /// Cached tokens that no longer verify (keys rotated, clock moved): ask the token endpoint.
    pub(super) fn retry_grant_uncached(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        login: GrantLogin,
    ) -> Step {
        self.notes.push(Note::Info(format!(
            "cached {} tokens did not verify: asking the token endpoint",
            login.grant.method()
        )));
        self.run_grant(settings, env, login, false)
    }

    /// Tokens of a grant that verified go into the token cache (unless they came from it).
    pub(super) fn remember_grant_tokens(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        login: &GrantLogin,
        tokens: &TokenSet,
    ) {
        if let (Some(key), false) = (login.cache_key.as_deref(), login.from_cache) {
            let expires_at = token_cache::expiry(settings, tokens, env.now);
            if expires_at > env.now {
                env.shared.cache_put(
                    CacheKind::Tokens,
                    key,
                    &token_cache::encode(tokens),
                    expires_at,
                );
            }
        }
    }

    /// After a JWKS refetch: the new keys replace the old ones for this request and are
    /// shared; a failed refetch keeps the old keys.
    pub(super) fn adopt_refetched_jwks(&mut self, response: &CallResponse, now: u64) {
        let refreshed = provider_fetch::ok_body(response, "JWKS").and_then(|body| {
            match self.provider.as_ref() {
                Some(provider) => Ok(provider.with_jwks(body, now)?),
                None => Err(FetchError::NoProvider),
            }
        });
        match refreshed {
            Ok(provider) => {
                self.provider = Some(Rc::new(provider));
                self.provider_updated = true;
            }
            Err(e) => self.notes.push(Note::Warn(format!(
                "JWKS refetch failed, keeping the old keys: {e}"
            ))),
        }
    }
}

/// The expiry of a token whose own is unknown: `cache_ttl` from now (0: none, as Kong).
fn default_expiry(settings: &Settings, now: u64) -> u64 {
    match settings.config.cache_ttl {
        0 => 0,
        ttl => now.saturating_add(ttl),
    }
}
