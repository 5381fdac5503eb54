//! The per-request state machine.

use std::collections::VecDeque;
use std::rc::Rc;

use serde_json::Value;

use crate::config::AuthMethod;
use crate::flows::authorization_code::{self, finish, CodeLogin};
use crate::flows::password::{self, PasswordCredentials};
use crate::flows::provider::Provider;
use crate::flows::provider_fetch::{self, FetchProgress, ProviderFetch};
use crate::flows::request::IncomingRequest;
use crate::flows::responses::{self, Rejection};
use crate::flows::settings::Settings;
use crate::flows::tokens::{self, failure_reason, TokenSet};
use crate::flows::verify::{self, VerifiedLogin};
use crate::flows::{outbound, upstream};
use crate::logout::{self, Revocation, RevocationOutcome};
use crate::session::Session;
use crate::step::{CallResponse, OutboundRequest, Step};

/// What the flow needs from the world besides the request: the clock, randomness and the state
/// shared between workers.
pub struct Env<'a> {
    /// Seconds since the epoch.
    pub now: u64,
    /// 32 fresh random bytes (session ids).
    pub random: &'a mut dyn FnMut() -> [u8; 32],
    pub shared: &'a dyn SharedState,
}

/// State shared by every worker, kept by the adapter in the host's shared data.
pub trait SharedState {
    /// Claims the right to refetch the JWKS after a token named an unknown key. Rate-limited
    /// across workers, so random `kid`s cannot make the filter hammer the identity provider.
    fn claim_jwks_refetch(&self, now: u64) -> bool;
}

/// Something worth counting (the adapter turns these into metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Login,
    SessionHit,
    SessionRefreshed,
    Logout,
    RevocationOk,
    RevocationFailed,
    IdpCallFailed,
    Rejected(&'static str),
}

/// A line for the log, with its weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    Info(String),
    Warn(String),
}

/// One request's progress through the flows.
pub struct RequestFlow {
    request: IncomingRequest,
    provider: Option<Rc<Provider>>,
    provider_updated: bool,
    waiting: Waiting,
    events: Vec<Event>,
    notes: Vec<Note>,
}

mod code_flow;

/// How a fresh login got its tokens: decides the ID token's nonce check, the `auth_method` kept
/// in the session, and how the login ends.
enum LoginOrigin {
    Password,
    AuthorizationCode(Box<CodeLogin>),
}

impl LoginOrigin {
    fn nonce(&self) -> Option<&str> {
        match self {
            LoginOrigin::Password => None,
            LoginOrigin::AuthorizationCode(login) => login.nonce.as_deref(),
        }
    }

    fn auth_method(&self) -> &'static str {
        match self {
            LoginOrigin::Password => "password",
            LoginOrigin::AuthorizationCode(_) => "authorization_code",
        }
    }
}

/// What the flow is waiting for from the identity provider.
enum Waiting {
    Nothing,
    Discovery(ProviderFetch),
    JwksRefetch(TokenSet, LoginOrigin),
    CodeExchange(Box<CodeLogin>),
    PasswordGrant,
    Refresh { session: Box<Session>, previous: TokenSet, auth_method: String },
    Revocation(Box<LogoutInProgress>),
}

struct LogoutInProgress {
    pending: VecDeque<Revocation>,
    current: Option<Revocation>,
    followed_redirect: bool,
    id_token: Option<String>,
    clear_cookies: Vec<String>,
}

impl RequestFlow {
    /// `provider` is what the workers share (None before the first discovery).
    pub fn new(request: IncomingRequest, provider: Option<Rc<Provider>>) -> RequestFlow {
        RequestFlow { request, provider, provider_updated: false, waiting: Waiting::Nothing, events: Vec::new(), notes: Vec::new() }
    }

    /// Whether the flows may read the request body (a form or JSON body that can carry
    /// credentials or the logout argument); the adapter then buffers it before [`start`](Self::start).
    pub fn needs_body(settings: &Settings, request: &IncomingRequest) -> bool {
        (settings.config.enabled(AuthMethod::Password) && password::may_need_body(settings, request))
            || authorization_code::may_need_body(settings, request)
            || logout::may_need_body(settings, request)
    }

    /// Provider documents this flow fetched, for the adapter to share (taken once).
    pub fn take_provider_update(&mut self) -> Option<Rc<Provider>> {
        if !std::mem::take(&mut self.provider_updated) {
            return None;
        }
        self.provider.clone()
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }

    /// Decides what to do with the request.
    pub fn start(&mut self, settings: &Settings, env: &mut Env) -> Step {
        if self.provider.is_none() {
            return self.discover(settings);
        }
        self.authenticate(settings, env)
    }

    /// Continues after the identity provider answered the last [`Step::Call`].
    pub fn on_call_response(&mut self, settings: &Settings, env: &mut Env, response: CallResponse) -> Step {
        if response.status.is_none() {
            self.notes.push(Note::Warn(format!("identity provider call failed: {}", failure_reason(&response))));
            self.events.push(Event::IdpCallFailed);
        }
        match std::mem::replace(&mut self.waiting, Waiting::Nothing) {
            Waiting::Nothing => self.unexpected(settings, Rejection::new("internal", "an answer arrived for no call")),
            Waiting::Discovery(fetch) => self.on_discovery(settings, env, fetch, response),
            Waiting::JwksRefetch(tokens, origin) => self.on_jwks_refetch(settings, env, response, tokens, origin),
            Waiting::CodeExchange(login) => self.on_code_exchange(settings, env, response, *login),
            Waiting::PasswordGrant => self.on_password_grant(settings, env, response),
            Waiting::Refresh { session, previous, auth_method } => {
                self.on_refresh(settings, env, response, *session, previous, auth_method)
            }
            Waiting::Revocation(logout) => self.on_revocation(settings, response, *logout),
        }
    }

    fn call(&mut self, request: OutboundRequest, waiting: Waiting) -> Step {
        self.waiting = waiting;
        Step::Call(request)
    }

    // Discovery (a request that finds no documents fetches them itself) and the JWKS refetch.

    fn discover(&mut self, settings: &Settings) -> Step {
        match ProviderFetch::start(settings) {
            Ok((fetch, request)) => self.call(request, Waiting::Discovery(fetch)),
            Err(e) => self.unexpected(settings, Rejection::new("discovery_failed", e)),
        }
    }

    fn on_discovery(&mut self, settings: &Settings, env: &mut Env, fetch: ProviderFetch, response: CallResponse) -> Step {
        match fetch.on_response(settings, &response, env.now) {
            FetchProgress::Next(fetch, request) => self.call(request, Waiting::Discovery(fetch)),
            FetchProgress::Done(provider) => {
                if provider.jwks.is_empty() {
                    self.notes.push(Note::Warn("the provider publishes no keys: tokens cannot be verified".into()));
                }
                self.provider = Some(Rc::new(provider));
                self.provider_updated = true;
                self.authenticate(settings, env)
            }
            FetchProgress::Failed(e) => self.unexpected(settings, Rejection::new("discovery_failed", e)),
        }
    }

    /// After a token named a key the JWKS lacks: take the new keys (or keep the old ones when the
    /// refetch failed) and finish the login.
    fn on_jwks_refetch(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        response: CallResponse,
        tokens: TokenSet,
        origin: LoginOrigin,
    ) -> Step {
        let refreshed = provider_fetch::ok_body(&response, "JWKS").and_then(|body| match self.provider.as_ref() {
            Some(provider) => provider.with_jwks(body, env.now),
            None => Err("no provider documents".to_string()),
        });
        match refreshed {
            Ok(provider) => {
                self.provider = Some(Rc::new(provider));
                self.provider_updated = true;
            }
            Err(e) => self.notes.push(Note::Warn(format!("JWKS refetch failed, keeping the old keys: {e}"))),
        }
        self.complete_login(settings, env, tokens, origin, false)
    }

    // Authentication, in Kong's order.

    fn authenticate(&mut self, settings: &Settings, env: &mut Env) -> Step {
        let codec = settings.session_codec(&self.request.scheme);
        let cookie_sent = self.request.has_cookie(&settings.config.session_cookie_name);
        let session = if cookie_sent {
            match codec.open(&self.request.cookie_headers(), env.now) {
                Ok(session) => Some(session),
                Err(e) => {
                    self.notes.push(Note::Info(format!("session cookie not usable: {e}")));
                    None
                }
            }
        } else {
            None
        };

        if logout::is_logout_request(settings, &self.request) {
            return self.begin_logout(settings, env, session);
        }

        let audience = settings.config.session_audience.as_str();
        if settings.config.enabled(AuthMethod::Session) {
            if let Some(session) = session.filter(|s| s.data(audience).is_some()) {
                return self.session_auth(settings, env, session);
            }
        }

        if settings.config.enabled(AuthMethod::Password) {
            if let Some(credentials) = password::find_credentials(settings, &self.request) {
                return self.password_grant(settings, &credentials);
            }
        }

        if settings.config.enabled(AuthMethod::AuthorizationCode) {
            return self.authorization_code(settings, env);
        }

        let destroy = cookie_sent;
        self.reject(settings, Rejection::new("no_credentials", "no suitable authorization credentials were provided"), destroy)
    }

    fn password_grant(&mut self, settings: &Settings, credentials: &PasswordCredentials) -> Step {
        let Some(provider) = self.provider.as_ref() else {
            return self.discover(settings);
        };
        match password::token_request(settings, provider, credentials) {
            Ok(request) => self.call(request, Waiting::PasswordGrant),
            Err(e) => self.unexpected(settings, Rejection::new("token_endpoint", e)),
        }
    }

    fn on_password_grant(&mut self, settings: &Settings, env: &mut Env, response: CallResponse) -> Step {
        match TokenSet::from_response(&response) {
            Ok(tokens) => self.complete_login(settings, env, tokens, LoginOrigin::Password, true),
            Err(e) if e.is_provider_failure() => self.unexpected(settings, Rejection::new("idp_failure", e.to_string())),
            Err(e) => self.reject(settings, Rejection::new("invalid_credentials", e.to_string()), false),
        }
    }

    /// Verifies the tokens of a fresh login, creates the session and lets the request through.
    fn complete_login(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        tokens: TokenSet,
        origin: LoginOrigin,
        may_refetch_keys: bool,
    ) -> Step {
        let Some(provider) = self.provider.as_ref() else {
            return self.discover(settings);
        };
        let verified = match verify::verify_login(settings, provider, &tokens, origin.nonce(), env.now) {
            Ok(verified) => verified,
            Err(e) if e.is_unknown_key() && may_refetch_keys && env.shared.claim_jwks_refetch(env.now) => {
                let url = Provider::jwks_endpoint(settings, &provider.metadata).map(str::to_string);
                if let Some(Ok(request)) = url.map(|u| outbound::get(settings, &u)) {
                    self.notes.push(Note::Info(format!("{e}: refetching the JWKS")));
                    return self.call(request, Waiting::JwksRefetch(tokens, origin));
                }
                return self.refuse_login(settings, origin, Rejection::new("invalid_token", e.to_string()));
            }
            Err(e) => return self.refuse_login(settings, origin, Rejection::new("invalid_token", e.to_string())),
        };
        let expires = tokens::expiry(&tokens, env.now);
        let codec = settings.session_codec(&self.request.scheme);
        let mut session = codec.start(env.now);
        let data = tokens::session_data(&tokens, expires, origin.auth_method());
        session.set(&settings.config.session_audience, data, VerifiedLogin::subject(&verified));
        let cookies = match codec.save(&mut session, env.now, (env.random)()) {
            Ok(cookies) => cookies,
            Err(e) => return self.unexpected(settings, Rejection::new("session_save", e.to_string())),
        };
        self.events.push(Event::Login);
        if let LoginOrigin::AuthorizationCode(login) = origin {
            return finish::finish(settings, &self.request, &tokens, *login, cookies);
        }
        let mut forward = upstream::forward(settings, &self.request, &tokens);
        forward.add_response_headers.extend(cookies.into_iter().map(|c| ("set-cookie".to_string(), c)));
        Step::Forward(forward)
    }

    /// A login whose tokens failed verification: 401, the way its flow refuses.
    fn refuse_login(&mut self, settings: &Settings, origin: LoginOrigin, rejection: Rejection) -> Step {
        match origin {
            LoginOrigin::Password => self.reject(settings, rejection, false),
            LoginOrigin::AuthorizationCode(login) => self.refuse_callback(settings, rejection, login.clear_cookies),
        }
    }

    // Session authentication.

    fn session_auth(&mut self, settings: &Settings, env: &mut Env, mut session: Session) -> Step {
        let audience = settings.config.session_audience.clone();
        let data = session.data(&audience).cloned().unwrap_or(Value::Null);
        let Some(tokens) = data.get("tokens").and_then(TokenSet::from_session_value) else {
            return self.reject(settings, Rejection::new("invalid_session", "the session holds no tokens"), true);
        };
        let expires = data.get("expires").and_then(Value::as_u64).unwrap_or(0);
        let auth_method = data.get("auth_method").and_then(Value::as_str).unwrap_or("session").to_string();
        if expires != 0 && expires <= env.now {
            let refresh_token = tokens.refresh_token().map(str::to_string);
            return match (settings.config.refresh_tokens, refresh_token, self.provider.as_ref()) {
                (true, Some(refresh_token), Some(provider)) => match password::refresh_request(settings, provider, &refresh_token) {
                    Ok(request) => self.call(
                        request,
                        Waiting::Refresh { session: Box::new(session), previous: tokens, auth_method },
                    ),
                    Err(e) => self.unexpected(settings, Rejection::new("token_endpoint", e)),
                },
                _ => self.reject(settings, Rejection::new("token_expired", "the access token has expired"), true),
            };
        }
        let codec = settings.session_codec(&self.request.scheme);
        let renewed = match codec.refresh(&mut session, env.now, (env.random)()) {
            Ok(cookies) => cookies.unwrap_or_default(),
            Err(e) => {
                self.notes.push(Note::Warn(format!("session renewal failed: {e}")));
                Vec::new()
            }
        };
        self.events.push(Event::SessionHit);
        let mut forward = upstream::forward(settings, &self.request, &tokens);
        forward.add_response_headers.extend(renewed.into_iter().map(|c| ("set-cookie".to_string(), c)));
        Step::Forward(forward)
    }

    fn on_refresh(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        response: CallResponse,
        mut session: Session,
        previous: TokenSet,
        auth_method: String,
    ) -> Step {
        let tokens = match TokenSet::from_response(&response) {
            Ok(tokens) => tokens.merged_after_refresh(&previous),
            Err(e) => return self.reject(settings, Rejection::new("refresh_failed", e.to_string()), true),
        };
        let subject = session.subject(&settings.config.session_audience).map(str::to_string);
        if let Some(provider) = self.provider.as_ref() {
            if tokens.id_token() != previous.id_token() {
                if let Err(e) = verify::verify_login(settings, provider, &tokens, None, env.now) {
                    return self.reject(settings, Rejection::new("invalid_token", e.to_string()), true);
                }
            }
        }
        let expires = tokens::expiry(&tokens, env.now);
        session.set(&settings.config.session_audience, tokens::session_data(&tokens, expires, &auth_method), subject);
        let codec = settings.session_codec(&self.request.scheme);
        let cookies = match codec.save(&mut session, env.now, (env.random)()) {
            Ok(cookies) => cookies,
            Err(e) => return self.unexpected(settings, Rejection::new("session_save", e.to_string())),
        };
        self.events.push(Event::SessionRefreshed);
        let mut forward = upstream::forward(settings, &self.request, &tokens);
        forward.add_response_headers.extend(cookies.into_iter().map(|c| ("set-cookie".to_string(), c)));
        Step::Forward(forward)
    }

    // Logout.

    fn begin_logout(&mut self, settings: &Settings, env: &mut Env, session: Option<Session>) -> Step {
        let audience = settings.config.session_audience.clone();
        let mut logout = LogoutInProgress {
            pending: VecDeque::new(),
            current: None,
            followed_redirect: false,
            id_token: None,
            clear_cookies: Vec::new(),
        };
        if let Some(mut session) = session {
            if let Some(tokens) = session.data(&audience).and_then(|d| d.get("tokens")).and_then(TokenSet::from_session_value) {
                logout.id_token = tokens.id_token().map(str::to_string);
                logout.pending = logout::revocations(settings, Some(tokens.access_token()), tokens.refresh_token()).into();
            }
            let codec = settings.session_codec(&self.request.scheme);
            logout.clear_cookies = if session.remove(&audience) {
                codec.clear(Some(&session))
            } else {
                match codec.save(&mut session, env.now, (env.random)()) {
                    Ok(cookies) => cookies,
                    Err(e) => return self.unexpected(settings, Rejection::new("session_save", e.to_string())),
                }
            };
        }
        self.events.push(Event::Logout);
        self.next_revocation(settings, logout)
    }

    fn next_revocation(&mut self, settings: &Settings, mut logout: LogoutInProgress) -> Step {
        let Some(provider) = self.provider.as_ref() else {
            return self.discover(settings);
        };
        while let Some(revocation) = logout.pending.pop_front() {
            match logout::revocation_request(settings, provider, &revocation) {
                Ok(request) => {
                    logout.current = Some(revocation);
                    logout.followed_redirect = false;
                    return self.call(request, Waiting::Revocation(Box::new(logout)));
                }
                Err(e) => {
                    self.notes.push(Note::Warn(format!("{} revocation skipped: {e}", revocation.hint)));
                    self.events.push(Event::RevocationFailed);
                }
            }
        }
        let http10 = false;
        let response = logout::final_response(settings, provider, logout.id_token.as_deref(), logout.clear_cookies, http10);
        Step::Respond(response)
    }

    fn on_revocation(&mut self, settings: &Settings, response: CallResponse, mut logout: LogoutInProgress) -> Step {
        let hint = logout.current.as_ref().map(|r| r.hint).unwrap_or("token");
        match logout::revocation_outcome(&response) {
            RevocationOutcome::Revoked => {
                self.notes.push(Note::Info(format!("{hint} revoked")));
                self.events.push(Event::RevocationOk);
            }
            RevocationOutcome::Redirected(location) if !logout.followed_redirect => {
                if let Ok(request) = outbound::get(settings, &location) {
                    logout.followed_redirect = true;
                    return self.call(request, Waiting::Revocation(Box::new(logout)));
                }
                self.notes.push(Note::Warn(format!("{hint} revocation redirected to an invalid URL")));
                self.events.push(Event::RevocationFailed);
            }
            RevocationOutcome::Redirected(_) => {
                self.notes.push(Note::Warn(format!("{hint} revocation redirected twice")));
                self.events.push(Event::RevocationFailed);
            }
            RevocationOutcome::Failed(reason) => {
                self.notes.push(Note::Warn(format!("{hint} revocation failed: {reason}")));
                self.events.push(Event::RevocationFailed);
            }
        }
        logout.current = None;
        self.next_revocation(settings, logout)
    }

    // Refusals.

    /// 401; `destroy_session` expires the session cookies the client sent
    /// (unauthorized_destroy_session, on by default in Kong).
    fn reject(&mut self, settings: &Settings, rejection: Rejection, destroy_session: bool) -> Step {
        self.events.push(Event::Rejected(rejection.label));
        let clear = if destroy_session { settings.session_codec(&self.request.scheme).clear(None) } else { Vec::new() };
        Step::Respond(responses::unauthorized(settings, &rejection, clear))
    }

    fn unexpected(&mut self, settings: &Settings, rejection: Rejection) -> Step {
        self.events.push(Event::Rejected(rejection.label));
        Step::Respond(responses::unexpected(settings, &rejection))
    }
}
