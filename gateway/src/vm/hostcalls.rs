//! The `env` host functions of proxy-wasm ABI v0.2.1 (and the 0.1 names SDKs still import).
//!
//! Each function returns a `proxy_status_t`; only a trap inside the guest's own allocator ends
//! the VM call. Anything that must run the request forward (continue, local response, calls,
//! timers) is recorded here and carried out by the worker after the VM call returns, which is
//! what Envoy does too and what keeps the SDK's dispatcher from being re-entered.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmtime::{Caller, Linker};

use crate::abi::headers::{deserialize_pairs, HeaderList};
use crate::abi::{BufferType, MapType, MetricType, Status, StreamType};
use crate::config::host::ChainedDispatch;
use crate::dispatch;
use crate::log::{self, Level};
use crate::shared::QueueOwner;
use crate::vm::exchange::{access, LocalResponse};
use crate::vm::memory::{
    hand_over, index, read, read_string, status, write_u32, write_u64, HostResult,
};
use crate::vm::properties;
use crate::vm::state::{Effect, HostState};

type C<'a> = Caller<'a, HostState>;

macro_rules! env {
    ($linker:expr, $defined:expr, $name:literal, $func:expr) => {{
        $linker.func_wrap("env", $name, $func)?;
        $defined.insert(("env".to_string(), $name.to_string()));
    }};
}

pub(crate) fn define(
    linker: &mut Linker<HostState>,
    defined: &mut HashSet<(String, String)>,
) -> wasmtime::Result<()> {
    env!(
        linker,
        defined,
        "proxy_log",
        |mut c: C, level: i32, ptr: i32, len: i32| status(log_message(&mut c, level, ptr, len))
    );
    env!(
        linker,
        defined,
        "proxy_get_log_level",
        |mut c: C, ret: i32| status(write_u32(&mut c, ret, log::level() as u32))
    );
    env!(
        linker,
        defined,
        "proxy_get_current_time_nanoseconds",
        |mut c: C, ret: i32| status(write_u64(&mut c, ret, now_nanos()))
    );
    env!(
        linker,
        defined,
        "proxy_set_tick_period_milliseconds",
        |mut c: C, period: i32| status(set_tick_period(&mut c, period))
    );

    env!(
        linker,
        defined,
        "proxy_get_buffer_bytes",
        |mut c: C, kind: i32, start: i32, max: i32, ret_ptr: i32, ret_size: i32| {
            status(get_buffer_bytes(
                &mut c, kind, start, max, ret_ptr, ret_size,
            ))
        }
    );
    env!(
        linker,
        defined,
        "proxy_set_buffer_bytes",
        |mut c: C, kind: i32, start: i32, size: i32, ptr: i32, len: i32| {
            status(set_buffer_bytes(&mut c, kind, start, size, ptr, len))
        }
    );
    env!(
        linker,
        defined,
        "proxy_get_buffer_status",
        |mut c: C, kind: i32, ret_size: i32, ret_flags: i32| {
            status(get_buffer_status(&mut c, kind, ret_size, ret_flags))
        }
    );

    env!(
        linker,
        defined,
        "proxy_get_header_map_pairs",
        |mut c: C, map: i32, ret_ptr: i32, ret_size: i32| {
            status(get_map_pairs(&mut c, map, ret_ptr, ret_size))
        }
    );
    env!(
        linker,
        defined,
        "proxy_set_header_map_pairs",
        |mut c: C, map: i32, ptr: i32, len: i32| { status(set_map_pairs(&mut c, map, ptr, len)) }
    );
    env!(
        linker,
        defined,
        "proxy_get_header_map_size",
        |mut c: C, map: i32, ret: i32| status(get_map_size(&mut c, map, ret))
    );
    env!(
        linker,
        defined,
        "proxy_get_header_map_value",
        |mut c: C, map: i32, kp: i32, kl: i32, ret_ptr: i32, ret_size: i32| {
            status(get_map_value(&mut c, map, kp, kl, ret_ptr, ret_size))
        }
    );
    env!(
        linker,
        defined,
        "proxy_add_header_map_value",
        |mut c: C, map: i32, kp: i32, kl: i32, vp: i32, vl: i32| {
            status(edit_map(&mut c, map, kp, kl, Some((vp, vl)), Edit::Add))
        }
    );
    env!(
        linker,
        defined,
        "proxy_replace_header_map_value",
        |mut c: C, map: i32, kp: i32, kl: i32, vp: i32, vl: i32| {
            status(edit_map(&mut c, map, kp, kl, Some((vp, vl)), Edit::Replace))
        }
    );
    env!(
        linker,
        defined,
        "proxy_remove_header_map_value",
        |mut c: C, map: i32, kp: i32, kl: i32| {
            status(edit_map(&mut c, map, kp, kl, None, Edit::Remove))
        }
    );

    env!(
        linker,
        defined,
        "proxy_get_property",
        |mut c: C, pp: i32, pl: i32, ret_ptr: i32, ret_size: i32| {
            status(get_property(&mut c, pp, pl, ret_ptr, ret_size))
        }
    );
    env!(
        linker,
        defined,
        "proxy_set_property",
        |mut c: C, pp: i32, pl: i32, vp: i32, vl: i32| {
            status(set_property(&mut c, pp, pl, vp, vl))
        }
    );

    env!(
        linker,
        defined,
        "proxy_get_shared_data",
        |mut c: C, kp: i32, kl: i32, ret_ptr: i32, ret_size: i32, ret_cas: i32| {
            status(get_shared_data(&mut c, kp, kl, ret_ptr, ret_size, ret_cas))
        }
    );
    env!(
        linker,
        defined,
        "proxy_set_shared_data",
        |mut c: C, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32| {
            status(set_shared_data(&mut c, kp, kl, vp, vl, cas))
        }
    );
    env!(
        linker,
        defined,
        "proxy_register_shared_queue",
        |mut c: C, np: i32, nl: i32, ret: i32| { status(register_queue(&mut c, np, nl, ret)) }
    );
    env!(
        linker,
        defined,
        "proxy_resolve_shared_queue",
        |mut c: C, vp: i32, vl: i32, np: i32, nl: i32, ret: i32| {
            status(resolve_queue(&mut c, vp, vl, np, nl, ret))
        }
    );
    env!(
        linker,
        defined,
        "proxy_enqueue_shared_queue",
        |mut c: C, id: i32, vp: i32, vl: i32| { status(enqueue(&mut c, id, vp, vl)) }
    );
    env!(
        linker,
        defined,
        "proxy_dequeue_shared_queue",
        |mut c: C, id: i32, ret_ptr: i32, ret_size: i32| {
            status(dequeue(&mut c, id, ret_ptr, ret_size))
        }
    );

    env!(
        linker,
        defined,
        "proxy_continue_stream",
        |mut c: C, kind: i32| status(continue_stream(&mut c, kind as u32))
    );
    env!(
        linker,
        defined,
        "proxy_close_stream",
        |mut c: C, kind: i32| status(close_stream(&mut c, kind as u32))
    );
    // ABI 0.1.0 names, still imported by older SDKs.
    env!(
        linker,
        defined,
        "proxy_continue_request",
        |mut c: C| status(continue_stream(&mut c, 0))
    );
    env!(linker, defined, "proxy_continue_response", |mut c: C| {
        status(continue_stream(&mut c, 1))
    });
    env!(linker, defined, "proxy_clear_route_cache", |_c: C| Ok(
        Status::Ok.code()
    ));

    env!(
        linker,
        defined,
        "proxy_send_local_response",
        |mut c: C, code: i32, dp: i32, dl: i32, bp: i32, bl: i32, hp: i32, hl: i32, _grpc: i32| {
            status(send_local_response(
                &mut c,
                code,
                (dp, dl),
                (bp, bl),
                (hp, hl),
            ))
        }
    );
    env!(
        linker,
        defined,
        "proxy_http_call",
        |mut c: C,
         up: i32,
         ul: i32,
         hp: i32,
         hl: i32,
         bp: i32,
         bl: i32,
         tp: i32,
         tl: i32,
         timeout: i32,
         ret: i32| {
            status(http_call(
                &mut c,
                (up, ul),
                (hp, hl),
                (bp, bl),
                (tp, tl),
                timeout as u32,
                ret,
            ))
        }
    );
    env!(
        linker,
        defined,
        "proxy_grpc_call",
        |mut c: C,
         _a: i32,
         _b: i32,
         _x: i32,
         _d: i32,
         _e: i32,
         _f: i32,
         _g: i32,
         _h: i32,
         _i: i32,
         _j: i32,
         _k: i32,
         _ret: i32| { status(grpc_unsupported(&mut c)) }
    );
    env!(
        linker,
        defined,
        "proxy_grpc_stream",
        |mut c: C,
         _a: i32,
         _b: i32,
         _x: i32,
         _d: i32,
         _e: i32,
         _f: i32,
         _g: i32,
         _h: i32,
         _ret: i32| { status(grpc_unsupported(&mut c)) }
    );
    env!(
        linker,
        defined,
        "proxy_grpc_send",
        |_c: C, _t: i32, _p: i32, _l: i32, _e: i32| Ok(Status::NotFound.code())
    );
    env!(linker, defined, "proxy_grpc_cancel", |_c: C, _t: i32| Ok(
        Status::NotFound.code()
    ));
    env!(linker, defined, "proxy_grpc_close", |_c: C, _t: i32| Ok(
        Status::NotFound.code()
    ));
    env!(
        linker,
        defined,
        "proxy_get_status",
        |mut c: C, ret_code: i32, ret_ptr: i32, ret_size: i32| {
            status(get_status(&mut c, ret_code, ret_ptr, ret_size))
        }
    );
    env!(
        linker,
        defined,
        "proxy_set_effective_context",
        |mut c: C, id: i32| status(set_effective_context(&mut c, id as u32))
    );
    env!(linker, defined, "proxy_done", |mut c: C| status(done(
        &mut c
    )));
    env!(
        linker,
        defined,
        "proxy_call_foreign_function",
        |_c: C, _a: i32, _b: i32, _d: i32, _e: i32, _f: i32, _g: i32| {
            Ok(Status::NotFound.code())
        }
    );

    env!(
        linker,
        defined,
        "proxy_define_metric",
        |mut c: C, kind: i32, np: i32, nl: i32, ret: i32| {
            status(define_metric(&mut c, kind, np, nl, ret))
        }
    );
    env!(
        linker,
        defined,
        "proxy_increment_metric",
        |c: C, id: i32, delta: i64| { status(metric_op(&c, id, |m| m.increment(delta))) }
    );
    env!(
        linker,
        defined,
        "proxy_record_metric",
        |c: C, id: i32, value: i64| {
            status(metric_op(&c, id, |m| {
                m.record(value as u64);
                Ok(())
            }))
        }
    );
    env!(
        linker,
        defined,
        "proxy_get_metric",
        |mut c: C, id: i32, ret: i32| status(get_metric(&mut c, id, ret))
    );
    Ok(())
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Writes a filter's log line (and keeps warn/error lines while a config is being tried).
pub(crate) fn emit_filter_log(state: &mut HostState, level: Level, message: &str) {
    if level >= Level::Warn {
        if let Some(capture) = state.log_capture.as_mut() {
            capture.push((level, message.to_string()));
        }
    }
    log::emit(level, &state.log_origin(), message);
}

fn log_message(c: &mut C, level: i32, ptr: i32, len: i32) -> HostResult<()> {
    let level = Level::from_abi(level as u32).ok_or(Status::BadArgument)?;
    let message = read(c, ptr, len)?;
    emit_filter_log(c.data_mut(), level, &String::from_utf8_lossy(&message));
    Ok(())
}

fn set_tick_period(c: &mut C, period: i32) -> HostResult<()> {
    let state = c.data_mut();
    let root = state.effective_root();
    if let Some(root) = state.roots.get_mut(&root) {
        root.tick_period = Duration::from_millis(u64::from(period as u32));
    }
    state.effects.push(Effect::TickPeriodChanged);
    Ok(())
}

/// Runs `f` on the bytes of a buffer the effective context may read now.
fn read_buffer<R>(
    state: &HostState,
    kind: BufferType,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R, Status> {
    match kind {
        BufferType::HttpRequestBody | BufferType::HttpResponseBody => {
            let binding = state.effective_stream().ok_or(Status::NotFound)?;
            let exchange = binding.exchange.borrow();
            let (bit, body) = if kind == BufferType::HttpRequestBody {
                (access::REQUEST_BODY, &exchange.request_body)
            } else {
                (access::RESPONSE_BODY, &exchange.response_body)
            };
            match body {
                Some(body) if exchange.allowed(binding.filter, bit) => Ok(f(body)),
                _ => Err(Status::NotFound),
            }
        }
        BufferType::HttpCallResponseBody => state
            .call_result
            .as_ref()
            .map(|r| f(&r.body))
            .ok_or(Status::NotFound),
        BufferType::VmConfiguration => Ok(f(&state.plugin.vm_config)),
        BufferType::PluginConfiguration => {
            state.configuring.as_deref().map(f).ok_or(Status::NotFound)
        }
        BufferType::DownstreamData
        | BufferType::UpstreamData
        | BufferType::GrpcCallMessage
        | BufferType::ForeignFunctionArguments => Err(Status::NotFound),
    }
}

fn get_buffer_bytes(
    c: &mut C,
    kind: i32,
    start: i32,
    max: i32,
    ret_ptr: i32,
    ret_size: i32,
) -> HostResult<()> {
    let kind = BufferType::from_abi(kind as u32).ok_or(Status::BadArgument)?;
    let (start, max) = (index(start), index(max));
    let bytes = read_buffer(c.data(), kind, |buffer| {
        let rest = buffer.get(start..)?;
        Some(rest.iter().take(max).copied().collect::<Vec<u8>>())
    })?
    .ok_or(Status::BadArgument)?;
    if bytes.is_empty() {
        write_u32(c, ret_ptr, 0)?;
        return write_u32(c, ret_size, 0);
    }
    hand_over(c, &bytes, ret_ptr, ret_size)
}

fn get_buffer_status(c: &mut C, kind: i32, ret_size: i32, ret_flags: i32) -> HostResult<()> {
    let kind = BufferType::from_abi(kind as u32).ok_or(Status::BadArgument)?;
    let size = read_buffer(c.data(), kind, <[u8]>::len)?;
    write_u32(c, ret_size, size as u32)?;
    write_u32(c, ret_flags, 0)
}

/// Replaces `size` bytes at `start`; `start` at or past the end appends (the spec's prepend,
/// append, inject and replace operations).
pub(crate) fn splice(buffer: &mut Vec<u8>, start: usize, size: usize, data: &[u8]) {
    if start >= buffer.len() {
        buffer.extend_from_slice(data);
    } else {
        let end = start.saturating_add(size).min(buffer.len());
        buffer.splice(start..end, data.iter().copied());
    }
}

fn set_buffer_bytes(
    c: &mut C,
    kind: i32,
    start: i32,
    size: i32,
    ptr: i32,
    len: i32,
) -> HostResult<()> {
    let kind = BufferType::from_abi(kind as u32).ok_or(Status::BadArgument)?;
    let data = read(c, ptr, len)?;
    let state = c.data();
    match kind {
        BufferType::HttpRequestBody | BufferType::HttpResponseBody => {
            let binding = state.effective_stream().ok_or(Status::NotFound)?;
            let mut exchange = binding.exchange.borrow_mut();
            let (bit, request) = if kind == BufferType::HttpRequestBody {
                (access::REQUEST_BODY, true)
            } else {
                (access::RESPONSE_BODY, false)
            };
            if !exchange.allowed(binding.filter, bit) {
                return Err(Status::NotFound.into());
            }
            let body = if request {
                &mut exchange.request_body
            } else {
                &mut exchange.response_body
            };
            let body = body.as_mut().ok_or(Status::NotFound)?;
            splice(body, index(start), index(size), &data);
            Ok(())
        }
        BufferType::HttpCallResponseBody
        | BufferType::VmConfiguration
        | BufferType::PluginConfiguration => Err(Status::BadArgument.into()),
        _ => Err(Status::NotFound.into()),
    }
}

/// Runs `f` on a header map the effective context may read now (`None` when it may not).
fn read_map<R>(state: &HostState, map: MapType, f: impl FnOnce(Option<&HeaderList>) -> R) -> R {
    match map {
        MapType::HttpCallResponseHeaders => f(state.call_result.as_ref().map(|r| &r.headers)),
        MapType::HttpCallResponseTrailers => f(state.call_result.as_ref().map(|r| &r.trailers)),
        MapType::GrpcInitialMetadata | MapType::GrpcTrailingMetadata => f(None),
        _ => match state.effective_stream() {
            Some(binding) => {
                let exchange = binding.exchange.borrow();
                f(exchange.readable_map(binding.filter, map))
            }
            None => f(None),
        },
    }
}

fn map_type(value: i32) -> Result<MapType, Status> {
    MapType::from_abi(value as u32).ok_or(Status::BadArgument)
}

fn get_map_pairs(c: &mut C, map: i32, ret_ptr: i32, ret_size: i32) -> HostResult<()> {
    let map = map_type(map)?;
    // A map that is not available reads as empty, as in Envoy.
    let bytes = read_map(c.data(), map, |list| {
        list.filter(|l| !l.is_empty()).map(HeaderList::serialize)
    });
    match bytes {
        Some(bytes) => hand_over(c, &bytes, ret_ptr, ret_size),
        None => {
            write_u32(c, ret_ptr, 0)?;
            write_u32(c, ret_size, 0)
        }
    }
}

fn get_map_size(c: &mut C, map: i32, ret: i32) -> HostResult<()> {
    let map = map_type(map)?;
    let size = read_map(c.data(), map, |list| list.map(HeaderList::serialized_size))
        .ok_or(Status::BadArgument)?;
    write_u32(c, ret, size as u32)
}

fn get_map_value(
    c: &mut C,
    map: i32,
    kp: i32,
    kl: i32,
    ret_ptr: i32,
    ret_size: i32,
) -> HostResult<()> {
    let map = map_type(map)?;
    let key = read(c, kp, kl)?;
    let value = read_map(c.data(), map, |list| {
        list.map(|l| l.get(&key).map(<[u8]>::to_vec))
    });
    match value {
        None => Err(Status::BadArgument.into()),
        Some(None) => Err(Status::NotFound.into()),
        Some(Some(value)) => hand_over(c, &value, ret_ptr, ret_size),
    }
}

/// Runs `f` on a header map the effective context may modify now.
fn write_map(
    state: &HostState,
    map: MapType,
    f: impl FnOnce(&mut HeaderList),
) -> Result<(), Status> {
    let binding = state.effective_stream().ok_or(Status::BadArgument)?;
    let mut exchange = binding.exchange.borrow_mut();
    let list = exchange
        .writable_map(binding.filter, map)
        .ok_or(Status::BadArgument)?;
    f(list);
    Ok(())
}

fn set_map_pairs(c: &mut C, map: i32, ptr: i32, len: i32) -> HostResult<()> {
    let map = map_type(map)?;
    let bytes = read(c, ptr, len)?;
    let pairs = deserialize_pairs(&bytes).map_err(|_| Status::BadArgument)?;
    write_map(c.data(), map, |list| *list = HeaderList::from_pairs(pairs))?;
    Ok(())
}

enum Edit {
    Add,
    Replace,
    Remove,
}

fn edit_map(
    c: &mut C,
    map: i32,
    kp: i32,
    kl: i32,
    value: Option<(i32, i32)>,
    edit: Edit,
) -> HostResult<()> {
    let map = map_type(map)?;
    let key = read(c, kp, kl)?;
    let value = match value {
        Some((vp, vl)) => read(c, vp, vl)?,
        None => Vec::new(),
    };
    let kong_cookie = map == MapType::HttpRequestHeaders
        && key.eq_ignore_ascii_case(b"cookie")
        && c.data().gateway.config.host.cookie_removal_ignored;
    write_map(c.data(), map, |list| match edit {
        Edit::Add => list.add(&key, &value),
        // Kong's engine: replacing `Cookie` changes only its first line, removing it nothing.
        Edit::Replace if kong_cookie => list.replace_first(&key, &value),
        Edit::Remove if kong_cookie => {}
        Edit::Replace => list.replace(&key, &value),
        Edit::Remove => list.remove(&key),
    })?;
    Ok(())
}

fn get_property(c: &mut C, pp: i32, pl: i32, ret_ptr: i32, ret_size: i32) -> HostResult<()> {
    let path = read(c, pp, pl)?;
    let segments = properties::split_path(&path);
    let value = properties::lookup(c.data(), &segments).ok_or(Status::NotFound)?;
    hand_over(c, &value, ret_ptr, ret_size)
}

fn set_property(c: &mut C, pp: i32, pl: i32, vp: i32, vl: i32) -> HostResult<()> {
    let path = read(c, pp, pl)?;
    let value = read(c, vp, vl)?;
    let key = properties::dotted(&properties::split_path(&path));
    // Like Envoy's filter state, custom properties live with the request.
    let binding = c.data().effective_stream().ok_or(Status::NotFound)?;
    binding.exchange.borrow_mut().properties.insert(key, value);
    Ok(())
}

fn get_shared_data(
    c: &mut C,
    kp: i32,
    kl: i32,
    ret_ptr: i32,
    ret_size: i32,
    ret_cas: i32,
) -> HostResult<()> {
    let key = read_string(c, kp, kl)?;
    let state = c.data();
    let (value, cas) = state
        .gateway
        .shared_data
        .get(&state.plugin.vm_id, &key)
        .ok_or(Status::NotFound)?;
    hand_over(c, &value, ret_ptr, ret_size)?;
    write_u32(c, ret_cas, cas)
}

fn set_shared_data(c: &mut C, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32) -> HostResult<()> {
    let key = read_string(c, kp, kl)?;
    let value = read(c, vp, vl)?;
    let state = c.data();
    state.gateway.shared_data.set(
        &state.plugin.vm_id,
        &key,
        value,
        cas as u32,
        state.gateway.config.host.cas_zero,
    )?;
    Ok(())
}

fn register_queue(c: &mut C, np: i32, nl: i32, ret: i32) -> HostResult<()> {
    let name = read_string(c, np, nl)?;
    let state = c.data();
    let owner = QueueOwner {
        worker: state.worker,
        plugin: state.plugin.index,
        root_context: state.effective_root(),
    };
    let id = state
        .gateway
        .queues
        .register(&state.plugin.vm_id, &name, owner);
    write_u32(c, ret, id)
}

fn resolve_queue(c: &mut C, vp: i32, vl: i32, np: i32, nl: i32, ret: i32) -> HostResult<()> {
    let vm_id = read_string(c, vp, vl)?;
    let name = read_string(c, np, nl)?;
    let id = c
        .data()
        .gateway
        .queues
        .resolve(&vm_id, &name)
        .ok_or(Status::NotFound)?;
    write_u32(c, ret, id)
}

fn enqueue(c: &mut C, id: i32, vp: i32, vl: i32) -> HostResult<()> {
    let value = read(c, vp, vl)?;
    let gateway = c.data().gateway.clone();
    let owner = gateway.queues.enqueue(id as u32, value)?;
    gateway.notify_queue_ready(owner, id as u32);
    Ok(())
}

fn dequeue(c: &mut C, id: i32, ret_ptr: i32, ret_size: i32) -> HostResult<()> {
    let value = c.data().gateway.queues.dequeue(id as u32)?;
    hand_over(c, &value, ret_ptr, ret_size)
}

fn continue_stream(c: &mut C, kind: u32) -> HostResult<()> {
    let kind = StreamType::from_abi(kind).ok_or(Status::BadArgument)?;
    if matches!(kind, StreamType::Downstream | StreamType::Upstream) {
        return Err(Status::Unimplemented.into());
    }
    // Outside an HTTP context there is nothing to continue; Envoy answers OK.
    if let Some(binding) = c.data().effective_stream() {
        let mut exchange = binding.exchange.borrow_mut();
        let pending = if kind == StreamType::HttpRequest {
            &mut exchange.signals.continue_request
        } else {
            &mut exchange.signals.continue_response
        };
        if !pending.contains(&binding.filter) {
            pending.push(binding.filter);
        }
        exchange.wake();
    }
    Ok(())
}

fn close_stream(c: &mut C, kind: u32) -> HostResult<()> {
    let kind = StreamType::from_abi(kind).ok_or(Status::BadArgument)?;
    if matches!(kind, StreamType::Downstream | StreamType::Upstream) {
        return Err(Status::Unimplemented.into());
    }
    if let Some(binding) = c.data().effective_stream() {
        let mut exchange = binding.exchange.borrow_mut();
        exchange.signals.reset = true;
        exchange.wake();
    }
    Ok(())
}

fn send_local_response(
    c: &mut C,
    code: i32,
    details: (i32, i32),
    body: (i32, i32),
    headers: (i32, i32),
) -> HostResult<()> {
    let details = String::from_utf8_lossy(&read(c, details.0, details.1)?).into_owned();
    let body = read(c, body.0, body.1)?;
    let headers =
        deserialize_pairs(&read(c, headers.0, headers.1)?).map_err(|_| Status::BadArgument)?;
    let status = u16::try_from(code)
        .ok()
        .filter(|s| (100..=999).contains(s))
        .ok_or(Status::BadArgument)?;
    let state = c.data_mut();
    let Some(binding) = state.effective_stream().cloned() else {
        emit_filter_log(
            state,
            Level::Warn,
            "proxy_send_local_response outside an HTTP context is ignored",
        );
        return Ok(());
    };
    let mut exchange = binding.exchange.borrow_mut();
    exchange.signals.local_response = Some(LocalResponse {
        status,
        headers: HeaderList::from_pairs(headers),
        body,
        details,
        filter: binding.filter,
    });
    exchange.wake();
    Ok(())
}

fn http_call(
    c: &mut C,
    upstream: (i32, i32),
    headers: (i32, i32),
    body: (i32, i32),
    trailers: (i32, i32),
    timeout_ms: u32,
    ret: i32,
) -> HostResult<()> {
    let upstream = read_string(c, upstream.0, upstream.1)?;
    let headers =
        deserialize_pairs(&read(c, headers.0, headers.1)?).map_err(|_| Status::BadArgument)?;
    let body = read(c, body.0, body.1)?;
    let trailers =
        deserialize_pairs(&read(c, trailers.0, trailers.1)?).map_err(|_| Status::BadArgument)?;
    let state = c.data_mut();
    let gateway = state.gateway.clone();
    let config = &gateway.config;
    if state.call_result.is_some() && config.host.chained_dispatch == ChainedDispatch::Fail {
        // Kong's engine: a call started from a call's answer spins the worker (stream) or
        // crashes it (root context). Fail loudly instead of pretending it works.
        let why = concat!(
            "proxy_http_call from proxy_on_http_call_response: Kong's engine breaks on this ",
            "(chained_dispatch: fail); start the next call on a tick or send the calls together"
        );
        log::gateway(
            Level::Error,
            &format!("filter {}: {why}", state.plugin.name),
        );
        if let Some(binding) = state.effective_stream() {
            binding.exchange.borrow_mut().signals.failure = Some(why.to_string());
        }
        return Err(Status::InternalFailure.into());
    }
    let request = match dispatch::build_call(
        &config.clusters,
        &upstream,
        headers,
        body,
        trailers,
        timeout_ms,
        config.upstream_timeout,
    ) {
        Ok(request) => request,
        Err(rejected) => {
            emit_filter_log(
                state,
                Level::Warn,
                &format!("proxy_http_call to `{upstream}` refused: {rejected}"),
            );
            return Err(Status::BadArgument.into());
        }
    };
    let token = state.allocate_call_token();
    write_u32(c, ret, token)?;
    let state = c.data_mut();
    let context = state.effective;
    state.calls.insert(token, context);
    state.effects.push(Effect::HttpCall {
        token,
        request: Box::new(request),
    });
    Ok(())
}

fn grpc_unsupported(c: &mut C) -> HostResult<()> {
    emit_filter_log(
        c.data_mut(),
        Level::Warn,
        "gRPC calls are not supported by this host",
    );
    Err(Status::InternalFailure.into())
}

fn get_status(c: &mut C, ret_code: i32, ret_ptr: i32, ret_size: i32) -> HostResult<()> {
    let (code, message) = match &c.data().call_result {
        Some(result) => (result.status_code, result.status_message.clone()),
        None => (0, String::new()),
    };
    write_u32(c, ret_code, code)?;
    hand_over(c, message.as_bytes(), ret_ptr, ret_size)
}

fn set_effective_context(c: &mut C, id: u32) -> HostResult<()> {
    let state = c.data_mut();
    if !state.is_context(id) {
        return Err(Status::BadArgument.into());
    }
    state.effective = id;
    Ok(())
}

fn done(c: &mut C) -> HostResult<()> {
    let state = c.data_mut();
    let context = state.effective;
    if !state.pending_done.remove(&context) {
        return Err(Status::NotFound.into());
    }
    state.effects.push(Effect::Finish(context));
    Ok(())
}

fn define_metric(c: &mut C, kind: i32, np: i32, nl: i32, ret: i32) -> HostResult<()> {
    let kind = MetricType::from_abi(kind as u32).ok_or(Status::BadArgument)?;
    let name = read_string(c, np, nl)?;
    let id = c.data().gateway.metrics.define(kind, &name);
    write_u32(c, ret, id)
}

fn metric_op(
    c: &C,
    id: i32,
    f: impl FnOnce(&crate::metrics::Metric) -> Result<(), Status>,
) -> HostResult<()> {
    let metric = c
        .data()
        .gateway
        .metrics
        .find(id as u32)
        .ok_or(Status::NotFound)?;
    f(&metric)?;
    Ok(())
}

fn get_metric(c: &mut C, id: i32, ret: i32) -> HostResult<()> {
    let metric = c
        .data()
        .gateway
        .metrics
        .find(id as u32)
        .ok_or(Status::NotFound)?;
    let value = metric.get()?;
    write_u64(c, ret, value)
}

#[cfg(test)]
mod tests {
    use super::splice;

    #[test]
    fn splice_follows_the_spec_operations() {
        let mut b = b"body".to_vec();
        splice(&mut b, 0, 0, b"<");
        assert_eq!(b, b"<body");
        splice(&mut b, usize::MAX, 0, b">");
        assert_eq!(b, b"<body>");
        splice(&mut b, 1, 4, b"BODY");
        assert_eq!(b, b"<BODY>");
        splice(&mut b, 0, usize::MAX, b"all");
        assert_eq!(b, b"all");
        splice(&mut b, 1, 0, b"-");
        assert_eq!(b, b"a-ll");
    }
}
