//! The small part of `wasi_snapshot_preview1` proxy-wasm modules import (the spec's list, as
//! Envoy implements it): stdout/stderr go to the log, clocks, randomness from the OS, an empty
//! environment and argument list. Files do not exist: fd calls other than stdio answer BADF.

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use wasmtime::{Caller, Linker};

use crate::abi::Status;
use crate::log::Level;
use crate::vm::hostcalls::emit_filter_log;
use crate::vm::memory::{index, read, write, write_u32, write_u64, Fault, HostResult};
use crate::vm::state::HostState;

pub(crate) const ERRNO_SUCCESS: i32 = 0;
pub(crate) const ERRNO_BADF: i32 = 8;
pub(crate) const ERRNO_FAULT: i32 = 21;
pub(crate) const ERRNO_INVAL: i32 = 28;
pub(crate) const ERRNO_NOSYS: i32 = 52;
pub(crate) const ERRNO_NOTSUP: i32 = 58;
pub(crate) const ERRNO_SPIPE: i32 = 70;

/// The most random_get hands out in one call.
const MAX_RANDOM_BYTES: usize = 64 * 1024;

type C<'a> = Caller<'a, HostState>;

/// Maps a hostcall outcome to a WASI errno: memory faults are FAULT, traps pass through.
fn errno(result: Result<(), Fault>) -> wasmtime::Result<i32> {
    match result {
        Ok(()) => Ok(ERRNO_SUCCESS),
        Err(Fault::Status(_)) => Ok(ERRNO_FAULT),
        Err(Fault::Trap(error)) => Err(error),
    }
}

/// A module asked to exit; the VM ends (and is replaced) like after a trap.
#[derive(Debug, thiserror::Error)]
#[error("the module called proc_exit({0})")]
pub(crate) struct ProcExit(pub(crate) i32);

macro_rules! wasi {
    ($linker:expr, $defined:expr, $name:literal, $func:expr) => {{
        $linker.func_wrap("wasi_snapshot_preview1", $name, $func)?;
        $defined.insert(("wasi_snapshot_preview1".to_string(), $name.to_string()));
    }};
}

pub(crate) fn define(
    linker: &mut Linker<HostState>,
    defined: &mut HashSet<(String, String)>,
) -> wasmtime::Result<()> {
    wasi!(
        linker,
        defined,
        "fd_write",
        |mut c: C, fd: i32, iovs: i32, count: i32, ret: i32| fd_write(&mut c, fd, iovs, count, ret)
    );
    wasi!(
        linker,
        defined,
        "fd_read",
        |mut c: C, fd: i32, _iovs: i32, _count: i32, ret: i32| {
            if fd != 0 {
                return Ok(ERRNO_BADF);
            }
            errno(write_u32(&mut c, ret, 0))
        }
    );
    wasi!(linker, defined, "fd_close", |_c: C, fd: i32| Ok(
        if (0..=2).contains(&fd) {
            ERRNO_SUCCESS
        } else {
            ERRNO_BADF
        }
    ));
    wasi!(
        linker,
        defined,
        "fd_seek",
        |_c: C, fd: i32, _offset: i64, _whence: i32, _ret: i32| {
            Ok(if (0..=2).contains(&fd) {
                ERRNO_SPIPE
            } else {
                ERRNO_BADF
            })
        }
    );
    wasi!(
        linker,
        defined,
        "fd_fdstat_get",
        |mut c: C, fd: i32, ret: i32| {
            if !(0..=2).contains(&fd) {
                return Ok(ERRNO_BADF);
            }
            // filetype CHARACTER_DEVICE, no flags, all rights.
            let mut stat = [0u8; 24];
            stat[0] = 2;
            stat[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
            stat[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
            errno(write(&mut c, ret, &stat))
        }
    );
    wasi!(
        linker,
        defined,
        "fd_prestat_get",
        |_c: C, _fd: i32, _ret: i32| Ok(ERRNO_BADF)
    );
    wasi!(
        linker,
        defined,
        "fd_prestat_dir_name",
        |_c: C, _fd: i32, _p: i32, _l: i32| Ok(ERRNO_BADF)
    );
    wasi!(
        linker,
        defined,
        "clock_time_get",
        |mut c: C, id: i32, _precision: i64, ret: i32| {
            let nanos = match id {
                0 => SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0),
                1 => monotonic_origin().elapsed().as_nanos() as u64,
                _ => return Ok(ERRNO_NOTSUP),
            };
            errno(write_u64(&mut c, ret, nanos))
        }
    );
    wasi!(
        linker,
        defined,
        "clock_res_get",
        |mut c: C, id: i32, ret: i32| {
            if !(0..=1).contains(&id) {
                return Ok(ERRNO_NOTSUP);
            }
            errno(write_u64(&mut c, ret, 1))
        }
    );
    wasi!(
        linker,
        defined,
        "random_get",
        |mut c: C, ptr: i32, len: i32| {
            let len = index(len);
            if len > MAX_RANDOM_BYTES {
                return Ok(ERRNO_INVAL);
            }
            let mut bytes = vec![0u8; len];
            if getrandom::getrandom(&mut bytes).is_err() {
                return Ok(ERRNO_NOSYS);
            }
            errno(write(&mut c, ptr, &bytes))
        }
    );
    wasi!(
        linker,
        defined,
        "environ_sizes_get",
        |mut c: C, ret_count: i32, ret_size: i32| {
            errno(write_u32(&mut c, ret_count, 0).and_then(|()| write_u32(&mut c, ret_size, 0)))
        }
    );
    wasi!(
        linker,
        defined,
        "environ_get",
        |_c: C, _array: i32, _buffer: i32| Ok(ERRNO_SUCCESS)
    );
    wasi!(
        linker,
        defined,
        "args_sizes_get",
        |mut c: C, ret_argc: i32, ret_size: i32| {
            errno(write_u32(&mut c, ret_argc, 0).and_then(|()| write_u32(&mut c, ret_size, 0)))
        }
    );
    wasi!(
        linker,
        defined,
        "args_get",
        |_c: C, _argv: i32, _buffer: i32| Ok(ERRNO_SUCCESS)
    );
    wasi!(linker, defined, "sched_yield", |_c: C| Ok(ERRNO_SUCCESS));
    wasi!(
        linker,
        defined,
        "poll_oneoff",
        |_c: C, _in: i32, _out: i32, _n: i32, _ret: i32| Ok(ERRNO_NOTSUP)
    );
    wasi!(linker, defined, "proc_exit", |_c: C,
                                         code: i32|
     -> wasmtime::Result<()> {
        Err(wasmtime::Error::new(ProcExit(code)))
    });
    Ok(())
}

fn monotonic_origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// stdout is logged at info, stderr at error (the spec's rule), one log line per output line
/// (Rust's unbuffered stderr writes a line in several pieces); other descriptors are BADF.
fn fd_write(c: &mut C, fd: i32, iovs: i32, count: i32, ret: i32) -> wasmtime::Result<i32> {
    let (level, stream) = match fd {
        1 => (Level::Info, 0),
        2 => (Level::Error, 1),
        _ => return Ok(ERRNO_BADF),
    };
    errno(gather_and_log(c, level, stream, iovs, count, ret))
}

/// A partial line longer than this is logged without waiting for its end.
const MAX_PARTIAL_LINE: usize = 16 * 1024;

fn gather_and_log(
    c: &mut C,
    level: Level,
    stream: usize,
    iovs: i32,
    count: i32,
    ret: i32,
) -> HostResult<()> {
    let mut text = Vec::new();
    for n in 0..index(count) {
        let entry = read(c, iovs.wrapping_add((n * 8) as i32), 8)?;
        // An iovec: the buffer's address and length, little-endian (`read` gave 8 bytes).
        let [p0, p1, p2, p3, l0, l1, l2, l3] = entry[..] else {
            return Err(Status::InvalidMemoryAccess.into());
        };
        let ptr = i32::from_le_bytes([p0, p1, p2, p3]);
        let len = i32::from_le_bytes([l0, l1, l2, l3]);
        text.extend_from_slice(&read(c, ptr, len)?);
    }
    write_u32(c, ret, text.len() as u32)?;
    let state = c.data_mut();
    let Some(partial) = state.stdio_partial.get_mut(stream) else {
        return Ok(());
    };
    let mut pending = std::mem::take(partial);
    pending.extend_from_slice(&text);
    while let Some(end) = pending.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = pending.drain(..=end).collect();
        let line = line.strip_suffix(b"\n").unwrap_or(&line);
        let message = String::from_utf8_lossy(line).into_owned();
        emit_filter_log(state, level, message.trim_end_matches('\r'));
    }
    if pending.len() > MAX_PARTIAL_LINE {
        let message = String::from_utf8_lossy(&pending).into_owned();
        emit_filter_log(state, level, &message);
        pending.clear();
    }
    if let Some(partial) = state.stdio_partial.get_mut(stream) {
        *partial = pending;
    }
    Ok(())
}
