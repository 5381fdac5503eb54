//! Process-wide state: the validated config, the compiled modules, plugin configs (changed live
//! by the admin API), shared data, queues, metrics, and the channels to the workers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;
use wasmtime::{Engine, Module};

use crate::config::{GatewayConfig, PluginSpec};
use crate::log::{self, Level};
use crate::metrics::{GatewayMetrics, Metrics};
use crate::routing::Router;
use crate::shared::{QueueOwner, SharedData, SharedQueues};

/// The static facts about the plugin a VM runs.
#[derive(Debug)]
pub(crate) struct PluginInfo {
    /// Index in the gateway's plugin list.
    pub(crate) index: usize,
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) root_id: String,
    pub(crate) vm_id: String,
    pub(crate) vm_config: Vec<u8>,
}

/// What the acceptor, the admin API and shared queues ask of a worker.
pub(crate) enum WorkerMessage {
    Connection {
        stream: std::net::TcpStream,
        peer: SocketAddr,
        id: u64,
    },
    /// Try a plugin config in a fresh root context; the answer is the filter's verdict.
    Prepare {
        plugin: usize,
        config: Vec<u8>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Commit {
        plugin: usize,
        reply: oneshot::Sender<()>,
    },
    Abort {
        plugin: usize,
        reply: oneshot::Sender<()>,
    },
    QueueReady {
        owner: QueueOwner,
        queue: u32,
    },
}

/// A plugin as configured now.
pub(crate) struct PluginRuntime {
    pub(crate) spec: PluginSpec,
    pub(crate) info: Arc<PluginInfo>,
    pub(crate) module: Module,
    /// `config_schema` from the filter's meta.json, used to coerce admin form values.
    pub(crate) schema: Option<serde_json::Value>,
    pub(crate) enabled: AtomicBool,
    pub(crate) state: Mutex<PluginState>,
    pub(crate) created_at: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct PluginState {
    pub(crate) config: serde_json::Value,
    pub(crate) tags: Option<Vec<String>>,
    pub(crate) updated_at: u64,
}

impl PluginRuntime {
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    pub(crate) fn snapshot(&self) -> PluginState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set_config(&self, config: &serde_json::Value) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.config = config.clone();
    }

    /// The bytes proxy_on_configure sees for the current config.
    pub(crate) fn config_bytes(&self) -> Vec<u8> {
        config_text(&self.snapshot().config)
    }
}

/// A JSON object is sent as its JSON text (as Kong does), a string verbatim, null as nothing.
pub(crate) fn config_text(config: &serde_json::Value) -> Vec<u8> {
    match config {
        serde_json::Value::Null => Vec::new(),
        serde_json::Value::String(text) => text.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) struct Gateway {
    pub(crate) config: GatewayConfig,
    pub(crate) router: Router,
    pub(crate) engine: Engine,
    pub(crate) plugins: Vec<PluginRuntime>,
    pub(crate) shared_data: SharedData,
    pub(crate) queues: SharedQueues,
    pub(crate) metrics: Metrics,
    pub(crate) own_metrics: GatewayMetrics,
    pub(crate) tls: Arc<rustls::ClientConfig>,
    pub(crate) workers: OnceLock<Vec<UnboundedSender<WorkerMessage>>>,
    /// Serializes admin changes to plugin configs.
    pub(crate) admin_lock: tokio::sync::Mutex<()>,
}

impl Gateway {
    /// Compiles every module (once per file) and reads meta.json schemas.
    pub(crate) fn new(config: GatewayConfig) -> Result<Gateway, String> {
        // The hostcall fuzz harness (cfg(fuzzing), replayed in unit tests) runs guest code in
        // stores of its own that set no epoch deadline; the gateway binary always interrupts.
        #[allow(unexpected_cfgs)]
        let interruptible = !cfg!(any(test, fuzzing));
        let engine = crate::engine::engine(interruptible)?;
        let tls = crate::http::client::tls_config(config.ca_file.as_deref())?;
        let mut compiled: HashMap<PathBuf, Module> = HashMap::new();
        let mut plugins = Vec::new();
        let now = unix_now();
        for (index, spec) in config.plugins.iter().enumerate() {
            let label = format!("{}: plugins[{index}]", config.file);
            let module = match compiled.get(&spec.wasm_path) {
                Some(module) => module.clone(),
                None => {
                    let started = std::time::Instant::now();
                    let module = crate::engine::compile(&engine, &spec.wasm_path)
                        .map_err(|e| format!("{label}.wasm: {e}"))?;
                    log::gateway(
                        Level::Info,
                        &format!(
                            "compiled {} in {} ms",
                            spec.wasm_path.display(),
                            started.elapsed().as_millis()
                        ),
                    );
                    compiled.insert(spec.wasm_path.clone(), module.clone());
                    module
                }
            };
            let schema = match &spec.meta_path {
                Some(path) => Some(read_schema(path).map_err(|e| format!("{label}.meta: {e}"))?),
                None => None,
            };
            plugins.push(PluginRuntime {
                info: Arc::new(PluginInfo {
                    index,
                    id: spec.id.clone(),
                    name: spec.name.clone(),
                    root_id: spec.root_id.clone(),
                    vm_id: spec.vm_id.clone(),
                    vm_config: spec.vm_config.clone().into_bytes(),
                }),
                module,
                schema,
                enabled: AtomicBool::new(spec.enabled),
                state: Mutex::new(PluginState {
                    config: spec.config.clone(),
                    tags: spec.tags.clone(),
                    updated_at: now,
                }),
                created_at: now,
                spec: spec.clone(),
            });
        }
        let metrics = Metrics::default();
        let own_metrics = GatewayMetrics::define(&metrics);
        Ok(Gateway {
            router: Router::new(&config),
            config,
            engine,
            plugins,
            shared_data: SharedData::default(),
            queues: SharedQueues::default(),
            metrics,
            own_metrics,
            tls,
            workers: OnceLock::new(),
            admin_lock: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn plugin_by_id(&self, id: &str) -> Option<(usize, &PluginRuntime)> {
        self.plugins
            .iter()
            .enumerate()
            .find(|(_, p)| p.spec.id.eq_ignore_ascii_case(id))
    }

    /// Tells the worker that owns a queue that an item arrived.
    pub(crate) fn notify_queue_ready(&self, owner: QueueOwner, queue: u32) {
        if let Some(sender) = self.workers.get().and_then(|w| w.get(owner.worker)) {
            let _ = sender.send(WorkerMessage::QueueReady { owner, queue });
        }
    }
}

/// Reads `config_schema` from a Kong filter meta.json file.
fn read_schema(path: &std::path::Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let meta: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?;
    meta.get("config_schema")
        .cloned()
        .ok_or_else(|| format!("{} has no config_schema", path.display()))
}
