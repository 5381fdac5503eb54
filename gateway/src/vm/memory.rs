//! Reading and writing guest memory from hostcalls, and handing data to the guest through its
//! allocator (`proxy_on_memory_allocate`, or `malloc` for old modules).
//!
//! Pointers and sizes are wasm32 values; anything out of bounds is INVALID_MEMORY_ACCESS, never
//! a host panic. A trap inside the guest's allocator is passed on as a trap.

use wasmtime::Caller;

use crate::abi::Status;
use crate::vm::state::HostState;

/// Why a hostcall stopped: a status for the guest, or a trap that ends the VM call.
pub(crate) enum Fault {
    Status(Status),
    Trap(wasmtime::Error),
}

impl From<Status> for Fault {
    fn from(status: Status) -> Fault {
        Fault::Status(status)
    }
}

pub(crate) type HostResult<T> = Result<T, Fault>;

/// Turns a hostcall body's outcome into the i32 status it returns (or the trap it raises).
pub(crate) fn status(result: HostResult<()>) -> wasmtime::Result<i32> {
    match result {
        Ok(()) => Ok(Status::Ok.code()),
        Err(Fault::Status(status)) => Ok(status.code()),
        Err(Fault::Trap(error)) => Err(error),
    }
}

/// wasm32 pointer or size parameter as a host index.
pub(crate) fn index(value: i32) -> usize {
    value as u32 as usize
}

fn range(ptr: i32, len: usize) -> Option<std::ops::Range<usize>> {
    let start = index(ptr);
    let end = start.checked_add(len)?;
    Some(start..end)
}

pub(crate) fn read(caller: &mut Caller<'_, HostState>, ptr: i32, len: i32) -> HostResult<Vec<u8>> {
    let memory = caller.data().memory.ok_or(Status::InvalidMemoryAccess)?;
    let bytes = range(ptr, index(len))
        .and_then(|r| memory.data(&*caller).get(r))
        .ok_or(Status::InvalidMemoryAccess)?;
    Ok(bytes.to_vec())
}

/// Reads UTF-8 text (names, keys); invalid UTF-8 is a BadArgument.
pub(crate) fn read_string(
    caller: &mut Caller<'_, HostState>,
    ptr: i32,
    len: i32,
) -> HostResult<String> {
    String::from_utf8(read(caller, ptr, len)?).map_err(|_| Fault::Status(Status::BadArgument))
}

pub(crate) fn write(caller: &mut Caller<'_, HostState>, ptr: i32, bytes: &[u8]) -> HostResult<()> {
    let memory = caller.data().memory.ok_or(Status::InvalidMemoryAccess)?;
    let target = range(ptr, bytes.len())
        .and_then(|r| memory.data_mut(&mut *caller).get_mut(r))
        .ok_or(Status::InvalidMemoryAccess)?;
    target.copy_from_slice(bytes);
    Ok(())
}

pub(crate) fn write_u32(
    caller: &mut Caller<'_, HostState>,
    ptr: i32,
    value: u32,
) -> HostResult<()> {
    write(caller, ptr, &value.to_le_bytes())
}

pub(crate) fn write_u64(
    caller: &mut Caller<'_, HostState>,
    ptr: i32,
    value: u64,
) -> HostResult<()> {
    write(caller, ptr, &value.to_le_bytes())
}

/// Copies `bytes` into memory the guest allocates, then stores the pointer and size at the
/// two return addresses.
pub(crate) fn hand_over(
    caller: &mut Caller<'_, HostState>,
    bytes: &[u8],
    ret_ptr: i32,
    ret_size: i32,
) -> HostResult<()> {
    let allocate = caller
        .data()
        .allocate
        .clone()
        .ok_or(Status::InvalidMemoryAccess)?;
    let size = i32::try_from(bytes.len()).map_err(|_| Status::InvalidMemoryAccess)?;
    let ptr = allocate.call(&mut *caller, size).map_err(Fault::Trap)?;
    if ptr == 0 {
        return Err(Status::InvalidMemoryAccess.into());
    }
    write(caller, ptr, bytes)?;
    write_u32(caller, ret_ptr, ptr as u32)?;
    write_u32(caller, ret_size, bytes.len() as u32)
}
