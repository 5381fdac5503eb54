//! One instance of a module: its store and the callbacks it exports. Each method sets the
//! context the call acts for, calls the export if the module has it (all callbacks are optional)
//! and returns what the module answered; a trap comes back as the error.

use wasmtime::{Instance, InstancePre, Store, TypedFunc, WasmParams, WasmResults};

use crate::abi::Action;
use crate::dispatch::CallResult;
use crate::log::Level;
use crate::vm::state::{HostState, RootState, StreamBinding};

type Callback<P, R> = Option<TypedFunc<P, R>>;

struct Exports {
    context_create: Callback<(i32, i32), ()>,
    vm_start: Callback<(i32, i32), i32>,
    configure: Callback<(i32, i32), i32>,
    request_headers: Callback<(i32, i32, i32), i32>,
    request_body: Callback<(i32, i32, i32), i32>,
    request_trailers: Callback<(i32, i32), i32>,
    response_headers: Callback<(i32, i32, i32), i32>,
    response_body: Callback<(i32, i32, i32), i32>,
    response_trailers: Callback<(i32, i32), i32>,
    done: Callback<i32, i32>,
    log: Callback<i32, ()>,
    delete: Callback<i32, ()>,
    tick: Callback<i32, ()>,
    http_call_response: Callback<(i32, i32, i32, i32, i32), ()>,
    queue_ready: Callback<(i32, i32), ()>,
}

/// The request/response callbacks the driver calls on a stream context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamCallback {
    RequestHeaders { headers: usize, end_of_stream: bool },
    RequestBody { size: usize, end_of_stream: bool },
    RequestTrailers { trailers: usize },
    ResponseHeaders { headers: usize, end_of_stream: bool },
    ResponseBody { size: usize, end_of_stream: bool },
    ResponseTrailers { trailers: usize },
}

impl StreamCallback {
    pub(crate) fn name(self) -> &'static str {
        match self {
            StreamCallback::RequestHeaders { .. } => "proxy_on_request_headers",
            StreamCallback::RequestBody { .. } => "proxy_on_request_body",
            StreamCallback::RequestTrailers { .. } => "proxy_on_request_trailers",
            StreamCallback::ResponseHeaders { .. } => "proxy_on_response_headers",
            StreamCallback::ResponseBody { .. } => "proxy_on_response_body",
            StreamCallback::ResponseTrailers { .. } => "proxy_on_response_trailers",
        }
    }
}

pub(crate) struct PluginVm {
    pub(crate) store: Store<HostState>,
    exports: Exports,
}

/// wasm32 size parameters: values beyond u32 cannot occur for data we hold, so saturate.
fn size(value: usize) -> i32 {
    u32::try_from(value).unwrap_or(u32::MAX) as i32
}

fn lookup<P: WasmParams, R: WasmResults>(
    instance: &Instance,
    store: &mut Store<HostState>,
    name: &str,
) -> wasmtime::Result<Callback<P, R>> {
    match instance.get_func(&mut *store, name) {
        None => Ok(None),
        Some(func) => func.typed::<P, R>(&*store).map(Some).map_err(|e| {
            wasmtime::Error::msg(format!("export {name} has an unexpected signature: {e}"))
        }),
    }
}

impl PluginVm {
    /// Instantiates the module and runs its start function (`_initialize` then `main`, or
    /// `_start`), as the spec's integration section says.
    pub(crate) fn instantiate(
        pre: &InstancePre<HostState>,
        state: HostState,
    ) -> wasmtime::Result<PluginVm> {
        let mut store = Store::new(pre.module().engine(), state);
        store.limiter(|state| &mut state.limits);
        store.epoch_deadline_trap();
        let ticks = crate::engine::deadline_ticks(store.data().gateway.config.vm.callback_timeout);
        store.set_epoch_deadline(ticks);
        let instance = pre.instantiate(&mut store)?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| wasmtime::Error::msg("the module exports no memory"))?;
        let allocate = match lookup::<i32, i32>(&instance, &mut store, "proxy_on_memory_allocate")?
        {
            Some(f) => Some(f),
            None => lookup::<i32, i32>(&instance, &mut store, "malloc")?,
        };
        store.data_mut().memory = Some(memory);
        store.data_mut().allocate = allocate;
        if let Some(initialize) = lookup::<(), ()>(&instance, &mut store, "_initialize")? {
            initialize.call(&mut store, ())?;
            if let Some(main) = lookup::<(i32, i32), i32>(&instance, &mut store, "main")? {
                main.call(&mut store, (0, 0))?;
            }
        } else if let Some(start) = lookup::<(), ()>(&instance, &mut store, "_start")? {
            start.call(&mut store, ())?;
        }
        let exports = Exports {
            context_create: lookup(&instance, &mut store, "proxy_on_context_create")?,
            vm_start: lookup(&instance, &mut store, "proxy_on_vm_start")?,
            configure: lookup(&instance, &mut store, "proxy_on_configure")?,
            request_headers: lookup(&instance, &mut store, "proxy_on_request_headers")?,
            request_body: lookup(&instance, &mut store, "proxy_on_request_body")?,
            request_trailers: lookup(&instance, &mut store, "proxy_on_request_trailers")?,
            response_headers: lookup(&instance, &mut store, "proxy_on_response_headers")?,
            response_body: lookup(&instance, &mut store, "proxy_on_response_body")?,
            response_trailers: lookup(&instance, &mut store, "proxy_on_response_trailers")?,
            done: lookup(&instance, &mut store, "proxy_on_done")?,
            log: lookup(&instance, &mut store, "proxy_on_log")?,
            delete: lookup(&instance, &mut store, "proxy_on_delete")?,
            tick: lookup(&instance, &mut store, "proxy_on_tick")?,
            http_call_response: lookup(&instance, &mut store, "proxy_on_http_call_response")?,
            queue_ready: lookup(&instance, &mut store, "proxy_on_queue_ready")?,
        };
        Ok(PluginVm { store, exports })
    }

    pub(crate) fn state(&self) -> &HostState {
        self.store.data()
    }

    pub(crate) fn state_mut(&mut self) -> &mut HostState {
        self.store.data_mut()
    }

    /// Before every callback: the context it runs for, and a fresh deadline
    /// (`vm_callback_timeout_ms`) after which the callback traps.
    fn enter(&mut self, context: u32) {
        let timeout = self.store.data().gateway.config.vm.callback_timeout;
        self.store
            .set_epoch_deadline(crate::engine::deadline_ticks(timeout));
        let state = self.store.data_mut();
        state.current = context;
        state.effective = context;
    }

    /// Creates a plugin (root) context.
    pub(crate) fn create_root(&mut self) -> wasmtime::Result<u32> {
        let id = self.state_mut().allocate_context_id();
        self.state_mut().roots.insert(id, RootState::default());
        self.enter(id);
        if let Some(f) = &self.exports.context_create {
            f.call(&mut self.store, (id as i32, 0))?;
        }
        Ok(id)
    }

    pub(crate) fn vm_start(&mut self, root: u32) -> wasmtime::Result<bool> {
        self.enter(root);
        let size = size(self.state().plugin.vm_config.len());
        match &self.exports.vm_start {
            Some(f) => Ok(f.call(&mut self.store, (root as i32, size))? != 0),
            None => Ok(true),
        }
    }

    /// Runs proxy_on_configure with `config`; returns the answer and the warn/error lines the
    /// filter logged meanwhile (the reason when it says no).
    pub(crate) fn configure(
        &mut self,
        root: u32,
        config: &[u8],
    ) -> wasmtime::Result<(bool, Vec<(Level, String)>)> {
        self.enter(root);
        let state = self.state_mut();
        state.configuring = Some(config.to_vec());
        state.log_capture = Some(Vec::new());
        let result = match &self.exports.configure {
            Some(f) => f
                .call(&mut self.store, (root as i32, size(config.len())))
                .map(|r| r != 0),
            None => Ok(true),
        };
        let state = self.state_mut();
        state.configuring = None;
        let logs = state.log_capture.take().unwrap_or_default();
        Ok((result?, logs))
    }

    /// Creates an HTTP context under the active root.
    pub(crate) fn create_stream(&mut self, binding: StreamBinding) -> wasmtime::Result<u32> {
        let state = self.state_mut();
        let id = state.allocate_context_id();
        let root = state.active_root;
        state.streams.insert(id, binding);
        self.enter(id);
        if let Some(f) = &self.exports.context_create {
            f.call(&mut self.store, (id as i32, root as i32))?;
        }
        Ok(id)
    }

    pub(crate) fn stream_callback(
        &mut self,
        context: u32,
        callback: StreamCallback,
    ) -> wasmtime::Result<Action> {
        self.enter(context);
        let c = context as i32;
        let e = &self.exports;
        let raw = match callback {
            StreamCallback::RequestHeaders {
                headers,
                end_of_stream,
            } => call3(
                &e.request_headers,
                &mut self.store,
                c,
                size(headers),
                end_of_stream,
            )?,
            StreamCallback::RequestBody {
                size: n,
                end_of_stream,
            } => call3(&e.request_body, &mut self.store, c, size(n), end_of_stream)?,
            StreamCallback::RequestTrailers { trailers } => {
                call2(&e.request_trailers, &mut self.store, c, size(trailers))?
            }
            StreamCallback::ResponseHeaders {
                headers,
                end_of_stream,
            } => call3(
                &e.response_headers,
                &mut self.store,
                c,
                size(headers),
                end_of_stream,
            )?,
            StreamCallback::ResponseBody {
                size: n,
                end_of_stream,
            } => call3(&e.response_body, &mut self.store, c, size(n), end_of_stream)?,
            StreamCallback::ResponseTrailers { trailers } => {
                call2(&e.response_trailers, &mut self.store, c, size(trailers))?
            }
        };
        Ok(Action::from_abi(raw))
    }

    /// proxy_on_done: true when the context may be finalized now.
    pub(crate) fn done(&mut self, context: u32) -> wasmtime::Result<bool> {
        self.enter(context);
        match &self.exports.done {
            Some(f) => Ok(f.call(&mut self.store, context as i32)? != 0),
            None => Ok(true),
        }
    }

    pub(crate) fn log(&mut self, context: u32) -> wasmtime::Result<()> {
        self.enter(context);
        if let Some(f) = &self.exports.log {
            f.call(&mut self.store, context as i32)?;
        }
        Ok(())
    }

    /// proxy_on_delete, then the host forgets the context and its outstanding calls.
    pub(crate) fn delete(&mut self, context: u32) -> wasmtime::Result<()> {
        self.enter(context);
        let result = match &self.exports.delete {
            Some(f) => f.call(&mut self.store, context as i32),
            None => Ok(()),
        };
        let state = self.state_mut();
        state.streams.remove(&context);
        state.roots.remove(&context);
        state.pending_done.remove(&context);
        state.calls.retain(|_, owner| *owner != context);
        result
    }

    pub(crate) fn tick(&mut self, root: u32) -> wasmtime::Result<()> {
        self.enter(root);
        if let Some(f) = &self.exports.tick {
            f.call(&mut self.store, root as i32)?;
        }
        Ok(())
    }

    pub(crate) fn queue_ready(&mut self, root: u32, queue: u32) -> wasmtime::Result<()> {
        self.enter(root);
        if let Some(f) = &self.exports.queue_ready {
            f.call(&mut self.store, (root as i32, queue as i32))?;
        }
        Ok(())
    }

    /// Delivers a call's result to the context that made it; does nothing when that context is
    /// gone (Envoy cancels a context's calls when it is deleted).
    pub(crate) fn http_call_response(
        &mut self,
        token: u32,
        result: CallResult,
    ) -> wasmtime::Result<()> {
        let Some(context) = self.state_mut().calls.remove(&token) else {
            return Ok(());
        };
        if !self.state().is_context(context) {
            return Ok(());
        }
        let counts = (
            size(result.headers.len()),
            size(result.body.len()),
            size(result.trailers.len()),
        );
        self.state_mut().call_result = Some(result);
        self.enter(context);
        let outcome = match &self.exports.http_call_response {
            Some(f) => f.call(
                &mut self.store,
                (context as i32, token as i32, counts.0, counts.1, counts.2),
            ),
            None => Ok(()),
        };
        self.state_mut().call_result = None;
        outcome
    }
}

fn call3(
    f: &Callback<(i32, i32, i32), i32>,
    store: &mut Store<HostState>,
    context: i32,
    size: i32,
    end_of_stream: bool,
) -> wasmtime::Result<i32> {
    match f {
        Some(f) => f.call(store, (context, size, i32::from(end_of_stream))),
        None => Ok(0),
    }
}

fn call2(
    f: &Callback<(i32, i32), i32>,
    store: &mut Store<HostState>,
    context: i32,
    size: i32,
) -> wasmtime::Result<i32> {
    match f {
        Some(f) => f.call(store, (context, size)),
        None => Ok(0),
    }
}
