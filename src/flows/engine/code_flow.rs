//! The authorization code flow's steps in the request state machine: start a login (redirect
//! to the identity provider), take its callback (check it, exchange the code) and refuse what
//! cannot be a login. The protocol pieces are in `flows::authorization_code`.
//!
//! A request that carries an authorization response (while a login runs: any part of one) is
//! finished here, as a login or as a 401:
//! it is never sent back to the identity provider, so a browser that drops cookies, a stale or
//! forged `state`, or a replayed code cannot start a redirect loop.

use crate::flows::authorization_code::{
    callback, exchange, location, request, CallbackArgs, CodeLogin, LoginSecrets,
    PendingAuthorization,
};
use crate::flows::provider::Provider;
use crate::flows::responses::{self, Rejection};
use crate::flows::settings::Settings;
use crate::flows::tokens::TokenSet;
use crate::session::Session;
use crate::step::{CallResponse, LocalResponse, Step};

use super::{Env, Event, LoginOrigin, Note, RequestFlow, Waiting};

impl RequestFlow {
    /// No other credentials: finish the login this request's callback belongs to, or start one.
    pub(super) fn authorization_code(&mut self, settings: &Settings, env: &mut Env) -> Step {
        let Some(provider) = self.provider.clone() else {
            return self.discover(settings);
        };
        let cookies = &settings.authorization_cookies;
        let args = CallbackArgs::of(&self.request);
        let cookie_sent = cookies.is_sent(&self.request);
        let opened = if cookie_sent {
            match cookies.open(&self.request, env.now) {
                Ok(opened) => Some(opened),
                Err(e) => {
                    self.notes
                        .push(Note::Info(format!("authorization cookie not usable: {e}")));
                    None
                }
            }
        } else {
            None
        };
        let Some((session, pending)) = opened else {
            if args.is_authorization_response() {
                let why = if cookie_sent {
                    "an authorization response whose authorization cookie is expired or invalid"
                } else {
                    "an authorization response without an authorization cookie (expired, never set, or sent by another browser)"
                };
                let clear = if cookie_sent {
                    cookies.clear(&self.request.scheme, None)
                } else {
                    Vec::new()
                };
                return self.refuse_callback(settings, Rejection::new("invalid_state", why), clear);
            }
            return self.redirect_to_provider(settings, env, &provider, None);
        };
        match callback::verify(
            &args,
            &pending.state,
            &provider.metadata.issuer,
            settings.config.client_id(),
        ) {
            Ok(code) => {
                let code = code.to_string();
                self.exchange_code(
                    settings,
                    &provider,
                    &code,
                    args.from_body,
                    &session,
                    pending,
                )
            }
            Err(e) if args.has_response_part() => {
                let label = match e {
                    callback::CallbackError::Refused { .. } => "idp_error",
                    callback::CallbackError::StateMismatch => "invalid_state",
                    _ => "invalid_callback",
                };
                let clear = cookies.clear(&self.request.scheme, Some(&session));
                self.refuse_callback(settings, Rejection::new(label, e.to_string()), clear)
            }
            // Not a callback: another page opened while the login runs. It goes to the provider
            // with the same state, nonce and verifier, so either answer completes the login (Kong).
            Err(_) => self.redirect_to_provider(settings, env, &provider, Some((session, pending))),
        }
    }

    /// 302 to the authorization endpoint, with the login state saved in the authorization cookie.
    fn redirect_to_provider(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        provider: &Provider,
        previous: Option<(Session, PendingAuthorization)>,
    ) -> Step {
        let (Some(redirect_uri), Some(current)) = (
            location::redirect_uri(settings, &self.request),
            location::current_url(&self.request),
        ) else {
            let why = "the request names no usable host (:authority or Host), so no redirect_uri can be made: set redirect_uri";
            return self.unexpected(settings, Rejection::new("authorization_request", why));
        };
        let (session, secrets) = match previous {
            Some((session, pending)) if !pending.nonce.is_empty() => {
                let secrets = LoginSecrets {
                    state: pending.state,
                    nonce: pending.nonce,
                    code_verifier: pending.code_verifier,
                };
                (Some(session), secrets)
            }
            other => {
                let pkce = request::uses_pkce(settings, provider);
                let Some(secrets) = LoginSecrets::generate(env.random, pkce) else {
                    return self.no_randomness(settings);
                };
                (other.map(|(session, _)| session), secrets)
            }
        };
        let url = match request::authorization_url(settings, provider, &redirect_uri, &secrets) {
            Ok(url) => url,
            Err(e) => {
                return self.unexpected(
                    settings,
                    Rejection::new("authorization_request", e.to_string()),
                )
            }
        };
        let pending = PendingAuthorization {
            uri: current,
            uri_args: location::raw_query(&self.request)
                .filter(|_| settings.config.preserve_query_args),
            state: secrets.state,
            nonce: secrets.nonce,
            code_verifier: secrets.code_verifier,
        };
        let scheme = self.request.scheme.clone();
        let Some(sid) = (env.random)() else {
            return self.no_randomness(settings);
        };
        let set_cookies = match settings
            .authorization_cookies
            .save(&scheme, session, &pending, env.now, sid)
        {
            Ok(cookies) => cookies,
            Err(e) => {
                return self.unexpected(
                    settings,
                    Rejection::new("authorization_cookie", e.to_string()),
                )
            }
        };
        let mut headers = vec![
            ("cache-control".to_string(), "no-store".to_string()),
            ("location".to_string(), url),
        ];
        headers.extend(
            set_cookies
                .into_iter()
                .map(|c| ("set-cookie".to_string(), c)),
        );
        let reason = "authorization code flow: redirect to the identity provider".to_string();
        Step::Respond(LocalResponse {
            status: 302,
            headers,
            body: Vec::new(),
            reason,
        })
    }

    /// The callback checked out: the authorization cookie has served and is expired whatever
    /// happens next; the code goes to the token endpoint.
    fn exchange_code(
        &mut self,
        settings: &Settings,
        provider: &Provider,
        code: &str,
        args_from_body: bool,
        session: &Session,
        pending: PendingAuthorization,
    ) -> Step {
        let clear = settings
            .authorization_cookies
            .clear(&self.request.scheme, Some(session));
        let Some(redirect_uri) = location::redirect_uri(settings, &self.request) else {
            return self.refuse_callback(
                settings,
                Rejection::new("invalid_callback", "the callback names no usable host"),
                clear,
            );
        };
        let call = match exchange::token_request(
            settings,
            provider,
            code,
            &redirect_uri,
            pending.code_verifier.as_deref(),
        ) {
            Ok(call) => call,
            Err(e) => {
                return self.fail_callback(settings, Rejection::new("token_endpoint", e), clear)
            }
        };
        let login = CodeLogin {
            nonce: Some(pending.nonce).filter(|n| settings.config.verify_nonce && !n.is_empty()),
            uri: pending.uri,
            uri_args: pending.uri_args,
            clear_cookies: clear,
            args_from_body,
        };
        self.call(call, Waiting::CodeExchange(Box::new(login)))
    }

    pub(super) fn on_code_exchange(
        &mut self,
        settings: &Settings,
        env: &mut Env,
        response: CallResponse,
        login: CodeLogin,
    ) -> Step {
        let tokens = match TokenSet::from_response(&response) {
            Ok(tokens) => tokens,
            Err(e) if e.is_provider_failure() => {
                return self.fail_callback(
                    settings,
                    Rejection::new("idp_failure", e.to_string()),
                    login.clear_cookies,
                )
            }
            // A replayed or expired code, a wrong verifier or redirect_uri: `invalid_grant`.
            Err(e) => {
                return self.refuse_callback(
                    settings,
                    Rejection::new("invalid_grant", e.to_string()),
                    login.clear_cookies,
                )
            }
        };
        if tokens.id_token().is_none() && settings.config.scopes.iter().any(|s| s == "openid") {
            let why = "the token endpoint answered without an id_token although the openid scope was asked for";
            return self.refuse_callback(
                settings,
                Rejection::new("invalid_token", why),
                login.clear_cookies,
            );
        }
        self.complete_login(
            settings,
            env,
            tokens,
            LoginOrigin::AuthorizationCode(Box::new(login)),
            true,
        )
    }

    /// 401 (or `unauthorized_redirect_uri`) for a callback that is not a login, with the
    /// authorization cookie expired and, as Kong does, a session cookie that came along.
    pub(super) fn refuse_callback(
        &mut self,
        settings: &Settings,
        rejection: Rejection,
        mut clear: Vec<String>,
    ) -> Step {
        self.events.push(Event::Rejected(rejection.label));
        if self.request.has_any_cookie(&settings.session_cookie_names) {
            clear.extend(settings.session_codec(&self.request.scheme).clear(None));
        }
        let mut response = responses::unauthorized(settings, &rejection, clear);
        response
            .headers
            .push(("cache-control".to_string(), "no-store".to_string()));
        Step::Respond(response)
    }

    /// 500 for a callback the identity provider could not serve; the cookie is expired too.
    fn fail_callback(
        &mut self,
        settings: &Settings,
        rejection: Rejection,
        clear: Vec<String>,
    ) -> Step {
        self.events.push(Event::Rejected(rejection.label));
        let mut response = responses::unexpected(settings, &rejection);
        response
            .headers
            .extend(clear.into_iter().map(|c| ("set-cookie".to_string(), c)));
        Step::Respond(response)
    }
}
