//! The root context: parses the configuration, creates a context per request, and on each tick
//! runs the core's background work (the provider documents' refresh, the caches' sweep).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};

use crate::config::{Config, ConfigError};
use crate::flows::provider_cache::ProviderCache;
use crate::flows::provider_fetch;
use crate::flows::provider_refresh::ProviderRefresh;
use crate::flows::{Settings, SettingsError};
use crate::proxy::dispatch;
use crate::proxy::host;
use crate::proxy::http_context::OidcHttp;
use crate::proxy::metrics::Metrics;
use crate::proxy::shared::{HostData, SharedProviderCache};
use crate::shared::sweep::ExpiryIndex;
use crate::shared::{lock, secret, SharedKeys};
use crate::step::Note;

/// How often the root context looks at the documents' age.
const TICK: Duration = Duration::from_secs(1);

pub(super) struct OidcRoot {
    context_id: u32,
    state: Option<Configured>,
    metrics: Rc<Metrics>,
    /// Where this worker's sweep of expired cache records goes on from.
    expiries: ExpiryIndex,
}

/// Why a configuration was not taken.
#[derive(Debug, thiserror::Error)]
enum ConfigureError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "session_secret: none configured and the host's shared data cannot keep a generated one"
    )]
    NoSecretStore,
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

/// Everything that exists once a configuration was accepted.
struct Configured {
    settings: Rc<Settings>,
    config_json: Vec<u8>,
    keys: SharedKeys,
    provider: SharedProviderCache,
    /// The generated session secret in use (None when the config sets one).
    generated_secret: Option<Vec<u8>>,
    refresh: ProviderRefresh,
    /// The token of the refresh's call in flight.
    refresh_call: Option<u32>,
}

impl OidcRoot {
    pub(super) fn new(context_id: u32) -> OidcRoot {
        OidcRoot {
            context_id,
            state: None,
            metrics: Rc::new(Metrics::define()),
            expiries: ExpiryIndex::default(),
        }
    }

    fn configure(&self, json: &[u8]) -> Result<Configured, ConfigureError> {
        let config = Config::parse(json)?;
        let keys = SharedKeys::for_issuer(&config.issuer);
        let (secret, generated_secret) = match config.session_secret.as_deref() {
            Some(secret) => (secret.as_bytes().to_vec(), None),
            None => {
                let generated = secret::generated(&HostData, &keys, host::random_bytes)
                    .ok_or(ConfigureError::NoSecretStore)?;
                host::log(
                    LogLevel::Warn,
                    "openid-connect: session_secret is not set: using a generated secret that lasts until the proxy restarts",
                );
                (generated.clone(), Some(generated))
            }
        };
        let settings = Settings::new(config, &secret)?;
        lock::prepare(&HostData, &keys);
        provider_fetch::prepare(&HostData, &keys.endpoint_gaps);
        Ok(Configured {
            settings: Rc::new(settings),
            config_json: json.to_vec(),
            provider: Rc::new(RefCell::new(
                ProviderCache::new(keys.provider.clone())
                    .announcing_gaps_at(keys.endpoint_gaps.clone()),
            )),
            keys,
            generated_secret,
            refresh: ProviderRefresh::default(),
            refresh_call: None,
        })
    }
}

/// Logs what the core noted.
fn log_notes(notes: Vec<Note>) {
    for note in notes {
        match note {
            Note::Info(line) => host::log(LogLevel::Info, &format!("openid-connect: {line}")),
            Note::Warn(line) => host::log(LogLevel::Warn, &format!("openid-connect: {line}")),
        }
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
        if state.refresh_call != Some(token_id) {
            return;
        }
        state.refresh_call = None;
        let response = dispatch::read_response(body_size);
        let mut notes = Vec::new();
        // Never dispatch from here: the refresh sends its next call from the next tick.
        if let Some(provider) =
            state
                .refresh
                .on_response(&state.settings, &response, host::now(), &mut notes)
        {
            let missing = state
                .provider
                .borrow_mut()
                .publish(&HostData, &provider, &mut notes);
            self.metrics.record_missing_endpoints(&missing);
        }
        log_notes(notes);
    }
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
        self.expiries.clear_expired(&HostData, now);
        let Some(state) = self.state.as_mut() else {
            return;
        };
        if let Some(generated) = state.generated_secret.as_ref() {
            // Converge on the secret the other workers use (see shared::secret::generated).
            if let Some(current) =
                secret::current(&HostData, &state.keys).filter(|c| c != generated)
            {
                if let Ok(config) = Config::parse(&state.config_json) {
                    if let Ok(settings) = Settings::new(config, &current) {
                        state.settings = Rc::new(settings);
                        state.generated_secret = Some(current);
                    }
                }
            }
        }
        let mut notes = Vec::new();
        let current = state.provider.borrow_mut().current(&HostData, &mut notes);
        let call = state.refresh.on_tick(
            &state.settings,
            &HostData,
            &state.keys,
            current.as_deref(),
            now,
            &mut notes,
        );
        if let Some(request) = call {
            match dispatch::send(&state.settings, &request) {
                Ok(token) => state.refresh_call = Some(token),
                Err(reason) => state
                    .refresh
                    .send_failed(now, &reason.to_string(), &mut notes),
            }
        }
        log_notes(notes);
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        match self.state.as_ref() {
            Some(state) => Some(Box::new(OidcHttp::new(
                context_id,
                state.settings.clone(),
                state.provider.clone(),
                state.keys.clone(),
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
