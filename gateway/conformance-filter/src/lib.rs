//! A proxy-wasm filter (SDK 0.2.5, ABI 0.2.1) for the gateway's conformance tests.
//!
//! One module, many behaviours: the plugin config's `mode` picks what the filter does, so each
//! test configures exactly the ABI surface it checks. It is a test fixture: it reports what the
//! host did through response headers and bodies, and it panics on purpose in `trap` mode.

mod config;
mod shared;
mod stream;

use config::{Config, Mode};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel, MetricType};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(Root::new(context_id))
    });
}}

/// Metric ids defined in `metrics` mode.
#[derive(Debug, Clone, Copy)]
pub struct MetricIds {
    pub counter: u32,
    pub gauge: u32,
    pub histogram: u32,
}

/// What a root context hands to each HTTP context it creates.
#[derive(Clone)]
pub struct Shared {
    pub config: Rc<Config>,
    pub raw_config: Rc<String>,
    pub vm_config: Rc<String>,
    pub root_id: u32,
    pub ticks: Rc<Cell<u64>>,
    pub metrics: Option<MetricIds>,
}

struct Root {
    shared: Shared,
}

impl Root {
    fn new(root_id: u32) -> Root {
        Root {
            shared: Shared {
                config: Rc::new(Config::default()),
                raw_config: Rc::new(String::new()),
                vm_config: Rc::new(String::new()),
                root_id,
                ticks: Rc::new(Cell::new(0)),
                metrics: None,
            },
        }
    }
}

impl Context for Root {}

impl RootContext for Root {
    fn on_vm_start(&mut self, _size: usize) -> bool {
        let text = self.get_vm_configuration().unwrap_or_default();
        self.shared.vm_config = Rc::new(String::from_utf8_lossy(&text).into_owned());
        true
    }

    fn on_configure(&mut self, _size: usize) -> bool {
        let text = self.get_plugin_configuration().unwrap_or_default();
        let config = match Config::parse(&text) {
            Ok(config) => config,
            Err(reason) => {
                log(LogLevel::Error, &reason);
                return false;
            }
        };
        if let Some(reason) = &config.reject {
            log(LogLevel::Warn, "config refused on request");
            log(LogLevel::Error, reason);
            return false;
        }
        match config.mode {
            Mode::Tick => {
                shared::init_counter("conformance.ticks");
                self.set_tick_period(Duration::from_millis(config.tick_ms));
            }
            Mode::SharedData => shared::init_counter("conformance.counter"),
            Mode::Metrics => self.shared.metrics = define_metrics(),
            _ => {}
        }
        self.shared.raw_config = Rc::new(String::from_utf8_lossy(&text).into_owned());
        self.shared.config = Rc::new(config);
        log(LogLevel::Info, "conformance filter configured");
        true
    }

    fn on_tick(&mut self) {
        self.shared.ticks.set(self.shared.ticks.get() + 1);
        let _ = shared::increment_counter("conformance.ticks");
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(stream::Stream::new(self.shared.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

fn define_metrics() -> Option<MetricIds> {
    Some(MetricIds {
        counter: hostcalls::define_metric(MetricType::Counter, "conformance_requests").ok()?,
        gauge: hostcalls::define_metric(MetricType::Gauge, "conformance_last_value").ok()?,
        histogram: hostcalls::define_metric(MetricType::Histogram, "conformance_value").ok()?,
    })
}

/// Logs through proxy_log; a failure to log has nowhere better to go, so it is dropped.
pub fn log(level: LogLevel, message: &str) {
    let _ = hostcalls::log(level, message);
}
