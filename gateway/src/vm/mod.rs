//! Running proxy-wasm modules with wasmtime: one instance per plugin per worker, the host
//! functions they import (`hostcalls`, `wasi`) and what those reach (`state`, `exchange`).

pub(crate) mod exchange;
// The hostcall fuzz target's entry (fuzz/) and its corpus replay; never in the gateway binary.
#[cfg(any(test, fuzzing))]
pub(crate) mod fuzzing;
pub(crate) mod hostcalls;
pub(crate) mod instance;
pub(crate) mod memory;
pub(crate) mod properties;
pub(crate) mod slot;
pub(crate) mod state;
pub(crate) mod wasi;

use std::collections::HashSet;

use wasmtime::{Engine, ExternType, Linker, Module, Val, ValType};

use crate::abi::Status;
use crate::log::{self, Level};
use state::HostState;

/// The host functions (env and the WASI subset), plus stubs for any other function the modules
/// import: an unknown hostcall answers UNIMPLEMENTED (ENOSYS for WASI) instead of failing to
/// link or trapping.
pub(crate) fn linker(engine: &Engine, modules: &[&Module]) -> Result<Linker<HostState>, String> {
    let mut linker = Linker::new(engine);
    let mut defined = HashSet::new();
    hostcalls::define(&mut linker, &mut defined)
        .map_err(|e| format!("cannot define hostcalls: {e}"))?;
    wasi::define(&mut linker, &mut defined)
        .map_err(|e| format!("cannot define WASI functions: {e}"))?;
    for module in modules {
        for import in module.imports() {
            let key = (import.module().to_string(), import.name().to_string());
            if defined.contains(&key) {
                continue;
            }
            let ExternType::Func(ty) = import.ty() else {
                return Err(format!("module imports {}.{} which is not a function; only function imports are supported", key.0, key.1));
            };
            let code = if key.0 == "wasi_snapshot_preview1" {
                wasi::ERRNO_NOSYS
            } else {
                Status::Unimplemented.code()
            };
            log::gateway(
                Level::Debug,
                &format!(
                    "module imports unknown host function {}.{}; it will answer {code}",
                    key.0, key.1
                ),
            );
            let results: Vec<ValType> = ty.results().collect();
            linker
                .func_new(&key.0, &key.1, ty.clone(), move |_caller, _params, out| {
                    for (slot, kind) in out.iter_mut().zip(&results) {
                        *slot = match kind {
                            ValType::I32 => Val::I32(code),
                            ValType::I64 => Val::I64(i64::from(code)),
                            ValType::F32 => Val::F32(0),
                            ValType::F64 => Val::F64(0),
                            _ => Val::I32(0),
                        };
                    }
                    Ok(())
                })
                .map_err(|e| format!("cannot stub {}.{}: {e}", key.0, key.1))?;
            defined.insert(key);
        }
    }
    Ok(linker)
}
