//! The root context: parses the configuration, creates a context per request, and keeps the
//! provider documents fresh in the background (stale-while-revalidate: requests go on with the
//! last good documents while a refresh runs or after it fails).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};

use crate::config::Config;
use crate::flows::provider_fetch::{FetchProgress, ProviderFetch};
use crate::flows::Settings;
use crate::proxy::dispatch;
use crate::proxy::host;
use crate::proxy::http_context::OidcHttp;
use crate::proxy::metrics::Metrics;
use crate::proxy::shared::{self, ProviderCache, SharedExpiries, SharedKeys, SharedProviderCache};
use crate::step::OutboundRequest;

/// How often the root context looks at the documents' age.
const TICK: Duration = Duration::from_secs(1);
/// After a failed refresh, wait this long before the next try (Kong 3.8 waits 5 s).
const RETRY_AFTER_FAILURE: u64 = 5;

pub struct OidcRoot {
    context_id: u32,
    state: Option<Configured>,
    metrics: Rc<Metrics>,
    /// The cache entries this worker stored, cleared on the tick once expired.
    expiries: SharedExpiries,
}

/// Everything that exists once a configuration was accepted.
struct Configured {
    settings: Rc<Settings>,
    config_json: Vec<u8>,
    keys: SharedKeys,
    provider: SharedProviderCache,
    /// The generated session secret in use (None when the config sets one).
    generated_secret: Option<Vec<u8>>,
    refresh: Option<(u32, ProviderFetch)>,
    /// The refresh's next call (JWKS after discovery), sent on the next tick: a dispatch from
    /// the root's `on_http_call_response` crashes Kong's engine (its fake request has no pool).
    next_call: Option<(ProviderFetch, OutboundRequest)>,
    next_refresh_attempt: u64,
}

impl OidcRoot {
    pub fn new(context_id: u32) -> OidcRoot {
        OidcRoot {
            context_id,
            state: None,
            metrics: Rc::new(Metrics::define()),
            expiries: SharedExpiries::default(),
        }
    }

    fn configure(&self, json: &[u8]) -> Result<Configured, String> {
        let config = Config::parse(json).map_err(|e| e.to_string())?;
        let keys = SharedKeys::for_issuer(&config.issuer);
        let (secret, generated_secret) = match config.session_secret.as_deref() {
            Some(secret) => (secret.as_bytes().to_vec(), None),
            None => {
                let generated = shared::generated_session_secret(&keys)
                    .ok_or("session_secret: none configured and the host's shared data cannot keep a generated one")?;
                host::log(
                    LogLevel::Warn,
                    "openid-connect: session_secret is not set: using a generated secret that lasts until the proxy restarts",
                );
                (generated.clone(), Some(generated))
            }
        };
        let settings = Settings::new(config, &secret).map_err(|e| e.to_string())?;
        shared::prepare_refresh_locks(&keys);
        Ok(Configured {
            settings: Rc::new(settings),
            config_json: json.to_vec(),
            provider: Rc::new(RefCell::new(ProviderCache::new(keys.clone()))),
            keys,
            generated_secret,
            refresh: None,
            next_call: None,
            next_refresh_attempt: 0,
        })
    }
}

impl Context for OidcRoot {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        _num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let Some(state) = self.state.as_mut() else {
            return;
        };
        let Some((token, fetch)) = state.refresh.take() else {
            return;
        };
        if token != token_id {
            state.refresh = Some((token, fetch));
            return;
        }
        let response = dispatch::read_response(body_size);
        let now = host::now();
        match fetch.on_response(&state.settings, &response, now) {
            // Never dispatch from here (see `next_call`): the tick sends it.
            FetchProgress::Next(fetch, request) => state.next_call = Some((fetch, request)),
            FetchProgress::Done(provider) => {
                state.provider.borrow_mut().publish(&Rc::new(provider));
                host::log(
                    LogLevel::Info,
                    "openid-connect: provider documents refreshed",
                );
            }
            FetchProgress::Failed(e) => refresh_failed(state, now, &e),
        }
    }
}

fn refresh_failed(state: &mut Configured, now: u64, reason: &str) {
    state.next_refresh_attempt = now + RETRY_AFTER_FAILURE;
    host::log(
        LogLevel::Warn,
        &format!("openid-connect: provider refresh failed, keeping the last documents: {reason}"),
    );
}

impl RootContext for OidcRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let json = host::plugin_configuration();
        match self.configure(&json) {
            Ok(configured) => {
                self.state = Some(configured);
                host::set_tick_period(TICK);
                true
            }
            Err(reason) => {
                host::log(
                    LogLevel::Error,
                    &format!("openid-connect: invalid configuration: {reason}"),
                );
                false
            }
        }
    }

    fn on_tick(&mut self) {
        let now = host::now();
        shared::clear_expired(&self.expiries, now);
        let Some(state) = self.state.as_mut() else {
            return;
        };
        if let Some(generated) = state.generated_secret.as_ref() {
            // Converge on the secret the other workers use (see shared::generated_session_secret).
            if let Some(current) =
                shared::current_session_secret(&state.keys).filter(|c| c != generated)
            {
                if let Ok(config) = Config::parse(&state.config_json) {
                    if let Ok(settings) = Settings::new(config, &current) {
                        state.settings = Rc::new(settings);
                        state.generated_secret = Some(current);
                    }
                }
            }
        }
        if let Some((fetch, request)) = state.next_call.take() {
            match dispatch::send(&state.settings, &request) {
                Ok(token) => state.refresh = Some((token, fetch)),
                Err(e) => refresh_failed(state, now, &e),
            }
            return;
        }
        if state.refresh.is_some() || now < state.next_refresh_attempt {
            return;
        }
        let stale = match state.provider.borrow_mut().current() {
            Some(provider) => provider.is_stale(&state.settings, now),
            None => true,
        };
        let lease = (state.settings.config.timeout / 1000).max(1) * 2;
        if !stale || !shared::claim_fetch_lease(&state.keys, now, lease) {
            return;
        }
        match ProviderFetch::start(&state.settings).and_then(|(fetch, request)| {
            dispatch::send(&state.settings, &request).map(|token| (token, fetch))
        }) {
            Ok(in_flight) => state.refresh = Some(in_flight),
            Err(e) => refresh_failed(state, now, &e),
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        match self.state.as_ref() {
            Some(state) => Some(Box::new(OidcHttp::new(
                context_id,
                state.settings.clone(),
                state.provider.clone(),
                state.keys.clone(),
                self.expiries.clone(),
                self.metrics.clone(),
            ))),
            None => {
                host::log(
                    LogLevel::Error,
                    &format!(
                        "openid-connect: root {} has no valid configuration",
                        self.context_id
                    ),
                );
                Some(Box::new(OidcHttp::unconfigured(context_id)))
            }
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
