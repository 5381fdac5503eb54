//! The wasmtime engine (one per process, with the epoch thread that bounds each callback) and
//! module compilation with its ABI checks. Below `gateway` and `vm`: both use it.

use std::collections::HashSet;
use std::path::Path;

use wasmtime::{Engine, Module};

/// How often the engine's epoch advances: the granularity of the per-callback deadline.
pub(crate) const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// The engine. With `interruptible`, compiled code checks the engine's epoch, which a
/// background thread advances every [`EPOCH_TICK`], so a callback that runs past its deadline
/// traps (see `PluginVm::enter`) instead of blocking its worker for ever.
pub(crate) fn engine(interruptible: bool) -> Result<Engine, String> {
    let mut config = wasmtime::Config::new();
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    config.epoch_interruption(interruptible);
    if let Some(strategy) = profiler()? {
        config.profiler(strategy);
    }
    let engine = Engine::new(&config).map_err(|e| format!("cannot set up wasmtime: {e}"))?;
    if interruptible {
        let ticking = engine.weak();
        std::thread::Builder::new()
            .name("vm-epoch".to_string())
            .spawn(move || {
                while let Some(engine) = ticking.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| format!("cannot start the VM epoch thread: {e}"))?;
    }
    Ok(engine)
}

/// The profiler named by `GATEWAY_WASM_PROFILER` (`perfmap` or `jitdump`), so that `perf`
/// can name the functions of the filters' JIT code (bench/profile.sh). Only a gateway built
/// with the `profiling` feature has them; asking another build for one is an error rather
/// than a profile silently without names.
fn profiler() -> Result<Option<wasmtime::ProfilingStrategy>, String> {
    let Ok(name) = std::env::var("GATEWAY_WASM_PROFILER") else {
        return Ok(None);
    };
    let strategy = match name.as_str() {
        "" | "none" => return Ok(None),
        "perfmap" => wasmtime::ProfilingStrategy::PerfMap,
        "jitdump" => wasmtime::ProfilingStrategy::JitDump,
        other => {
            return Err(format!(
                "GATEWAY_WASM_PROFILER: unknown profiler {other:?} (perfmap, jitdump or none)"
            ))
        }
    };
    if cfg!(feature = "profiling") {
        Ok(Some(strategy))
    } else {
        Err("GATEWAY_WASM_PROFILER needs a gateway built with `--features profiling`".to_string())
    }
}

/// The epoch deadline, in ticks, for one callback of at most `timeout`.
pub(crate) fn deadline_ticks(timeout: std::time::Duration) -> u64 {
    let ticks = timeout.as_millis().div_ceil(EPOCH_TICK.as_millis()).max(1);
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// Compiles a module and checks it speaks ABI 0.2.x and exports an allocator.
pub(crate) fn compile(engine: &Engine, path: &Path) -> Result<Module, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let module = Module::new(engine, &bytes)
        .map_err(|e| format!("{} is not a valid wasm module: {e:#}", path.display()))?;
    let exports: HashSet<&str> = module.exports().map(|e| e.name()).collect();
    let abi_02 =
        exports.contains("proxy_abi_version_0_2_1") || exports.contains("proxy_abi_version_0_2_0");
    if !abi_02 {
        return Err(if exports.contains("proxy_abi_version_0_1_0") {
            format!(
                "{} targets proxy-wasm ABI 0.1.0; this host runs ABI 0.2.0 and 0.2.1 modules",
                path.display()
            )
        } else {
            format!(
                "{} does not export proxy_abi_version_0_2_1: not a proxy-wasm module",
                path.display()
            )
        });
    }
    if !exports.contains("proxy_on_memory_allocate") && !exports.contains("malloc") {
        return Err(format!(
            "{} exports neither proxy_on_memory_allocate nor malloc",
            path.display()
        ));
    }
    if !exports.contains("memory") {
        return Err(format!("{} does not export its memory", path.display()));
    }
    Ok(module)
}
