//! One plugin's VM instance inside one worker: every call into the VM goes through here, so a
//! trap is handled in one place (the instance is replaced and reconfigured, requests bound to
//! it fail), effects left by hostcalls are carried out after each call, and the timer, HTTP
//! calls and live reconfiguration are driven from here.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use wasmtime::InstancePre;

use crate::abi::Action;
use crate::dispatch::{self, CallRequest};
use crate::gateway::{Gateway, PluginRuntime};
use crate::http::client::HttpClient;
use crate::log::{self, Level};
use crate::vm::exchange::Exchange;
use crate::vm::instance::{PluginVm, StreamCallback};
use crate::vm::state::{Effect, HostState, StreamBinding};

#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum VmError {
    /// There is no working instance (it could not be re-created after a trap).
    #[error("the filter is unavailable: {0}")]
    Unavailable(String),
    /// The call trapped, or the instance the context lived in was replaced.
    #[error("{0}")]
    Trap(String),
}

/// An HTTP context in a specific instance generation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamHandle {
    pub(crate) context: u32,
    generation: u64,
}

/// A new config tried in prepare, made live by commit.
enum Pending {
    Root(u32),
    Vm(Box<PluginVm>),
}

/// How long to wait before trying again to create an instance that failed to start.
const RETRY_INSTANTIATE_AFTER: Duration = Duration::from_secs(1);

pub(crate) struct PluginSlot {
    this: Weak<PluginSlot>,
    pub(crate) plugin: usize,
    pub(crate) worker: usize,
    gateway: Arc<Gateway>,
    pre: InstancePre<HostState>,
    client: Rc<HttpClient>,
    vm: RefCell<Option<PluginVm>>,
    generation: Cell<u64>,
    tick: Rc<Notify>,
    pending: RefCell<Option<Pending>>,
    last_attempt: Cell<Option<Instant>>,
}

impl PluginSlot {
    /// Creates and configures the instance; a failure here is a startup error.
    pub(crate) fn start(
        plugin: usize,
        worker: usize,
        gateway: Arc<Gateway>,
        pre: InstancePre<HostState>,
        client: Rc<HttpClient>,
    ) -> Result<Rc<PluginSlot>, String> {
        let slot = Rc::new_cyclic(|this| PluginSlot {
            this: this.clone(),
            plugin,
            worker,
            gateway,
            pre,
            client,
            vm: RefCell::new(None),
            generation: Cell::new(0),
            tick: Rc::new(Notify::new()),
            pending: RefCell::new(None),
            last_attempt: Cell::new(None),
        });
        let vm = slot.instantiate(&slot.runtime()?.config_bytes())?;
        slot.install(vm);
        tokio::task::spawn_local(tick_loop(Rc::downgrade(&slot), slot.tick.clone()));
        Ok(slot)
    }

    /// The plugin this slot runs (its index comes from the gateway's own list).
    fn runtime(&self) -> Result<&PluginRuntime, String> {
        self.gateway
            .plugins
            .get(self.plugin)
            .ok_or_else(|| format!("no plugin #{}", self.plugin))
    }

    fn origin(&self) -> String {
        let label = self
            .runtime()
            .map(|runtime| runtime.spec.scope_label())
            .unwrap_or_default();
        format!("filter {label} worker {}", self.worker)
    }

    /// A new instance, configured with the plugin's current config.
    fn reinstantiate(&self) -> Result<PluginVm, String> {
        self.instantiate(&self.runtime()?.config_bytes())
    }

    fn instantiate(&self, config: &[u8]) -> Result<PluginVm, String> {
        let runtime = self.runtime()?;
        let state = HostState::new(runtime.info.clone(), self.gateway.clone(), self.worker);
        let fail = |stage: &str, e: wasmtime::Error| format!("{stage} trapped: {}", describe(&e));
        let mut vm =
            PluginVm::instantiate(&self.pre, state).map_err(|e| fail("instantiation", e))?;
        let root = vm
            .create_root()
            .map_err(|e| fail("proxy_on_context_create", e))?;
        if !vm
            .vm_start(root)
            .map_err(|e| fail("proxy_on_vm_start", e))?
        {
            return Err(
                "the filter refused its VM configuration (proxy_on_vm_start returned false)"
                    .to_string(),
            );
        }
        let (accepted, logs) = vm
            .configure(root, config)
            .map_err(|e| fail("proxy_on_configure", e))?;
        if !accepted {
            return Err(format!(
                "the filter refused its configuration: {}",
                refusal_reason(&logs)
            ));
        }
        vm.state_mut().active_root = root;
        Ok(vm)
    }

    fn install(&self, vm: PluginVm) {
        *self.vm.borrow_mut() = Some(vm);
        self.generation.set(self.generation.get() + 1);
        self.after_call();
        self.tick.notify_one();
    }

    /// Re-creates a missing instance, at most once per RETRY_INSTANTIATE_AFTER.
    fn ensure_vm(&self) -> Result<(), VmError> {
        if self.vm.borrow().is_some() {
            return Ok(());
        }
        let now = Instant::now();
        if self
            .last_attempt
            .get()
            .is_some_and(|t| now.duration_since(t) < RETRY_INSTANTIATE_AFTER)
        {
            return Err(VmError::Unavailable(
                "its VM instance could not be re-created".to_string(),
            ));
        }
        self.last_attempt.set(Some(now));
        match self.reinstantiate() {
            Ok(vm) => {
                log::emit(Level::Info, &self.origin(), "VM instance re-created");
                self.install(vm);
                Ok(())
            }
            Err(e) => Err(VmError::Unavailable(e)),
        }
    }

    /// Runs `f` against the instance; a trap replaces it.
    fn call<R>(
        &self,
        what: &str,
        f: impl FnOnce(&mut PluginVm) -> wasmtime::Result<R>,
    ) -> Result<R, VmError> {
        self.ensure_vm()?;
        let result = {
            let mut guard = self
                .vm
                .try_borrow_mut()
                .map_err(|_| VmError::Unavailable("re-entrant call into the VM".to_string()))?;
            let vm = guard
                .as_mut()
                .ok_or_else(|| VmError::Unavailable("no VM instance".to_string()))?;
            f(vm)
        };
        match result {
            Ok(value) => {
                self.after_call();
                Ok(value)
            }
            Err(error) => Err(self.trapped(what, &error)),
        }
    }

    fn trapped(&self, what: &str, error: &wasmtime::Error) -> VmError {
        let message = format!("{what} trapped: {}", describe(error));
        log::emit(
            Level::Error,
            &self.origin(),
            &format!("{message}; replacing the VM instance"),
        );
        self.gateway.own_metrics.filter_traps.record(1);
        let old = self.vm.borrow_mut().take();
        let pending = self.pending.borrow_mut().take();
        drop(pending);
        self.generation.set(self.generation.get() + 1);
        if let Some(old) = old {
            for binding in old.state().streams.values() {
                let mut exchange = binding.exchange.borrow_mut();
                exchange.signals.failure = Some(message.clone());
                exchange.wake();
            }
        }
        self.last_attempt.set(Some(Instant::now()));
        match self.reinstantiate() {
            Ok(vm) => {
                log::emit(Level::Info, &self.origin(), "VM instance replaced and reconfigured");
                self.install(vm);
            }
            Err(e) => log::emit(
                Level::Error,
                &self.origin(),
                &format!("could not replace the VM instance: {e}; requests through this filter fail until it can be re-created"),
            ),
        }
        VmError::Trap(message)
    }

    /// Carries out what hostcalls asked for during the last VM call.
    fn after_call(&self) {
        loop {
            let effects = match self.vm.borrow_mut().as_mut() {
                Some(vm) => std::mem::take(&mut vm.state_mut().effects),
                None => return,
            };
            if effects.is_empty() {
                return;
            }
            for effect in effects {
                match effect {
                    Effect::HttpCall { token, request } => self.spawn_call(token, request),
                    Effect::TickPeriodChanged => self.tick.notify_one(),
                    Effect::Finish(context) => self.finalize(context),
                }
            }
        }
    }

    fn spawn_call(&self, token: u32, request: Box<CallRequest>) {
        let Some(this) = self.this.upgrade() else {
            return;
        };
        let generation = self.generation.get();
        self.gateway.own_metrics.http_calls.record(1);
        tokio::task::spawn_local(async move {
            let max_body = this.gateway.config.max_body_bytes;
            let result = dispatch::perform(&this.client, &request, max_body).await;
            if result.headers.is_empty() {
                this.gateway.own_metrics.http_call_failures.record(1);
                log::emit(
                    Level::Warn,
                    &this.origin(),
                    &format!(
                        "HTTP call {} {} to {} ({}) failed: {}",
                        request.method,
                        request.path,
                        request.upstream,
                        request.target,
                        result.status_message
                    ),
                );
            }
            if this.generation.get() == generation {
                let _ = this.call("proxy_on_http_call_response", |vm| {
                    vm.http_call_response(token, result)
                });
            }
        });
    }

    fn check(&self, handle: &StreamHandle) -> Result<(), VmError> {
        if handle.generation == self.generation.get() {
            Ok(())
        } else {
            Err(VmError::Trap(
                "the filter's VM instance was replaced after a trap".to_string(),
            ))
        }
    }

    pub(crate) fn create_stream(
        &self,
        exchange: &Rc<RefCell<Exchange>>,
        filter: usize,
    ) -> Result<StreamHandle, VmError> {
        let binding = StreamBinding {
            exchange: exchange.clone(),
            filter,
        };
        let context = self.call("proxy_on_context_create", |vm| vm.create_stream(binding))?;
        Ok(StreamHandle {
            context,
            generation: self.generation.get(),
        })
    }

    pub(crate) fn stream_callback(
        &self,
        handle: &StreamHandle,
        callback: StreamCallback,
    ) -> Result<Action, VmError> {
        self.check(handle)?;
        self.call(callback.name(), |vm| {
            vm.stream_callback(handle.context, callback)
        })
    }

    /// End of stream: proxy_on_done, then proxy_on_log and proxy_on_delete now or, if the
    /// filter asked to wait, when it calls proxy_done.
    pub(crate) fn finish_stream(&self, handle: &StreamHandle) {
        if self.check(handle).is_ok() {
            self.retire(handle.context);
        }
    }

    fn retire(&self, context: u32) {
        match self.call("proxy_on_done", |vm| vm.done(context)) {
            Ok(true) => self.finalize(context),
            Ok(false) => {
                if let Some(vm) = self.vm.borrow_mut().as_mut() {
                    vm.state_mut().pending_done.insert(context);
                }
            }
            Err(_) => {}
        }
    }

    fn finalize(&self, context: u32) {
        if self.call("proxy_on_log", |vm| vm.log(context)).is_ok() {
            let _ = self.call("proxy_on_delete", |vm| vm.delete(context));
        }
    }

    fn active_root(&self) -> Option<u32> {
        self.vm.borrow().as_ref().map(|vm| vm.state().active_root)
    }

    fn tick_period(&self) -> Duration {
        let vm = self.vm.borrow();
        vm.as_ref()
            .and_then(|vm| {
                vm.state()
                    .roots
                    .get(&vm.state().active_root)
                    .map(|r| r.tick_period)
            })
            .unwrap_or_default()
    }

    fn on_tick(&self) {
        if let Some(root) = self.active_root() {
            let _ = self.call("proxy_on_tick", |vm| vm.tick(root));
        }
    }

    pub(crate) fn queue_ready(&self, root: u32, queue: u32) {
        let _ = self.call("proxy_on_queue_ready", |vm| {
            if vm.state().roots.contains_key(&root) {
                vm.queue_ready(root, queue)
            } else {
                Ok(())
            }
        });
    }

    /// Tries a new config in a fresh root context (Kong rebuilds the filter chain the same
    /// way); the old root stays in force until commit. Err carries the filter's reason.
    pub(crate) fn prepare(&self, config: &[u8]) -> Result<(), String> {
        self.abort();
        if self.vm.borrow().is_none() {
            let vm = self.instantiate(config)?;
            *self.pending.borrow_mut() = Some(Pending::Vm(Box::new(vm)));
            return Ok(());
        }
        let root = self
            .call("proxy_on_context_create", |vm| vm.create_root())
            .map_err(|e| e.to_string())?;
        match self.call("proxy_on_configure", |vm| vm.configure(root, config)) {
            Ok((true, _)) => {
                *self.pending.borrow_mut() = Some(Pending::Root(root));
                Ok(())
            }
            Ok((false, logs)) => {
                self.retire(root);
                Err(refusal_reason(&logs))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Makes the prepared config live; the previous root context is retired.
    pub(crate) fn commit(&self) {
        let pending = self.pending.borrow_mut().take();
        match pending {
            Some(Pending::Root(root)) => {
                let previous = match self.vm.borrow_mut().as_mut() {
                    Some(vm) => std::mem::replace(&mut vm.state_mut().active_root, root),
                    None => return,
                };
                self.tick.notify_one();
                self.retire(previous);
            }
            Some(Pending::Vm(vm)) => self.install(*vm),
            None => {}
        }
    }

    pub(crate) fn abort(&self) {
        let pending = self.pending.borrow_mut().take();
        if let Some(Pending::Root(root)) = pending {
            self.retire(root);
        }
    }
}

/// The reason a filter gave for refusing a config: its error (else warn) log lines.
pub(crate) fn refusal_reason(logs: &[(Level, String)]) -> String {
    let errors: Vec<&str> = logs
        .iter()
        .filter(|(l, _)| *l >= Level::Error)
        .map(|(_, m)| m.as_str())
        .collect();
    let lines = if errors.is_empty() {
        logs.iter().map(|(_, m)| m.as_str()).collect()
    } else {
        errors
    };
    if lines.is_empty() {
        "the filter refused the configuration (proxy_on_configure returned false)".to_string()
    } else {
        lines.join("; ")
    }
}

/// A one-line description of a wasmtime error: the trap code, or the root cause (proc_exit,
/// a link error), without the wasm backtrace.
fn describe(error: &wasmtime::Error) -> String {
    if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        return match trap {
            wasmtime::Trap::Interrupt => {
                "wasm trap: the callback ran past vm_callback_timeout_ms".to_string()
            }
            other => format!("wasm trap: {other}"),
        };
    }
    let cause = error
        .root_cause()
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    // The StoreLimits refusal (vm_memory_limit_bytes), made a trap on purpose.
    if let Some(size) = cause.strip_prefix("forcing trap when growing memory to ") {
        return format!("the instance's memory would grow to {size}, past vm_memory_limit_bytes");
    }
    cause
}

/// Calls proxy_on_tick on the active root every tick period; a change of period (or of root)
/// restarts the wait.
async fn tick_loop(slot: Weak<PluginSlot>, changed: Rc<Notify>) {
    loop {
        let Some(period) = slot.upgrade().map(|s| s.tick_period()) else {
            return;
        };
        if period.is_zero() {
            changed.notified().await;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => match slot.upgrade() {
                Some(slot) => slot.on_tick(),
                None => return,
            },
            _ = changed.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_reason_prefers_error_lines() {
        let logs = vec![
            (Level::Warn, "w".to_string()),
            (Level::Error, "e1".to_string()),
            (Level::Critical, "e2".to_string()),
        ];
        assert_eq!(refusal_reason(&logs), "e1; e2");
        assert_eq!(refusal_reason(&logs[..1]), "w");
        assert!(refusal_reason(&[]).contains("returned false"));
    }
}
