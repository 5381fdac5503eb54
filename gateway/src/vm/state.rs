//! The host side of one VM instance: its contexts and what hostcalls need to reach (the
//! current request, process-wide shared state), plus the effects hostcalls leave for the
//! worker to carry out after the VM call returns.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Memory, TypedFunc};

use crate::dispatch::{CallRequest, CallResult};
use crate::gateway::{Gateway, PluginInfo};
use crate::log::Level;
use crate::vm::exchange::Exchange;

/// A plugin (root) context.
#[derive(Debug, Default)]
pub(crate) struct RootState {
    /// 0 when the timer is off.
    pub(crate) tick_period: Duration,
}

/// A stream (HTTP) context: the request it belongs to and its position in the chain.
#[derive(Clone)]
pub(crate) struct StreamBinding {
    pub(crate) exchange: Rc<RefCell<Exchange>>,
    pub(crate) filter: usize,
}

/// Work a hostcall asks of the worker, done after the VM call returns.
pub(crate) enum Effect {
    HttpCall {
        token: u32,
        request: Box<CallRequest>,
    },
    TickPeriodChanged,
    /// proxy_done from a context whose proxy_on_done returned false.
    Finish(u32),
}

pub(crate) struct HostState {
    pub(crate) plugin: Arc<PluginInfo>,
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) worker: usize,
    pub(crate) memory: Option<Memory>,
    pub(crate) allocate: Option<TypedFunc<i32, i32>>,
    /// The instance's memory cap (`vm_memory_limit_bytes`): growing past it traps.
    pub(crate) limits: wasmtime::StoreLimits,
    /// The context the host called into, and the one hostcalls act for (set_effective_context).
    pub(crate) current: u32,
    pub(crate) effective: u32,
    pub(crate) next_context_id: u32,
    /// The root context new HTTP contexts are created under (the newest good config).
    pub(crate) active_root: u32,
    pub(crate) roots: HashMap<u32, RootState>,
    pub(crate) streams: HashMap<u32, StreamBinding>,
    /// The plugin config visible through PLUGIN_CONFIGURATION, only during proxy_on_configure.
    pub(crate) configuring: Option<Vec<u8>>,
    pub(crate) call_result: Option<CallResult>,
    pub(crate) next_call_token: u32,
    /// Outstanding HTTP calls: token to the context that made it.
    pub(crate) calls: HashMap<u32, u32>,
    pub(crate) effects: Vec<Effect>,
    /// Filter log lines at warn and above, collected while a new config is being tried.
    pub(crate) log_capture: Option<Vec<(Level, String)>>,
    /// Contexts whose proxy_on_done returned false, waiting for proxy_done.
    pub(crate) pending_done: HashSet<u32>,
    /// Unterminated output written to stdout and stderr (fd_write), logged line by line.
    pub(crate) stdio_partial: [Vec<u8>; 2],
}

impl HostState {
    pub(crate) fn new(plugin: Arc<PluginInfo>, gateway: Arc<Gateway>, worker: usize) -> HostState {
        let limits = wasmtime::StoreLimitsBuilder::new()
            .memory_size(gateway.config.vm.memory_limit_bytes)
            .trap_on_grow_failure(true)
            .build();
        HostState {
            plugin,
            gateway,
            worker,
            memory: None,
            allocate: None,
            limits,
            current: 0,
            effective: 0,
            next_context_id: 1,
            active_root: 0,
            roots: HashMap::new(),
            streams: HashMap::new(),
            configuring: None,
            call_result: None,
            next_call_token: 1,
            calls: HashMap::new(),
            effects: Vec::new(),
            log_capture: None,
            pending_done: HashSet::new(),
            stdio_partial: [Vec::new(), Vec::new()],
        }
    }

    pub(crate) fn allocate_context_id(&mut self) -> u32 {
        let id = self.next_context_id;
        self.next_context_id = self.next_context_id.wrapping_add(1).max(1);
        id
    }

    /// Call tokens start at 1 and skip values still in use (Envoy never hands out 0).
    pub(crate) fn allocate_call_token(&mut self) -> u32 {
        loop {
            let token = self.next_call_token;
            self.next_call_token = self.next_call_token.wrapping_add(1).max(1);
            if !self.calls.contains_key(&token) {
                return token;
            }
        }
    }

    /// The stream binding of the effective context, if it is an HTTP context.
    pub(crate) fn effective_stream(&self) -> Option<&StreamBinding> {
        self.streams.get(&self.effective)
    }

    pub(crate) fn is_context(&self, id: u32) -> bool {
        self.roots.contains_key(&id) || self.streams.contains_key(&id)
    }

    /// The root context acting now: the effective context itself if it is a root, else the
    /// active root (whose config HTTP contexts run under).
    pub(crate) fn effective_root(&self) -> u32 {
        if self.roots.contains_key(&self.effective) {
            self.effective
        } else {
            self.active_root
        }
    }

    /// `plugin (abc123) ctx 7`, the origin printed on filter log lines.
    pub(crate) fn log_origin(&self) -> String {
        let short = crate::config::short_id(&self.plugin.id);
        format!(
            "filter {} ({short}) worker {} ctx {}",
            self.plugin.name, self.worker, self.effective
        )
    }
}
