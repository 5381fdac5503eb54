//! The hostcall boundary under arbitrary guests: the entry of the `hostcalls` fuzz target
//! (`fuzz/`) and of the test that replays its corpus on stable.
//!
//! A small module is generated from the linker itself: it imports every host function the
//! gateway defines (proxy-wasm `env` and WASI), and exports one trampoline per import that
//! passes its parameters straight on, plus a bump allocator and its memory. The input then
//! chooses the memory's contents, where the allocator starts (or that it traps) and a sequence of
//! calls with arbitrary pointers, lengths and values, made from inside the guest as a real filter
//! makes them. The host must answer each with a status or a trap, never a panic, and must not
//! touch memory outside the guest's.
//!
//! Compiled only for tests and `cargo fuzz` builds (`--cfg fuzzing`).

// Test and fuzzing only: the harness asserts the host's invariants and must stop loudly when
// one breaks.
#![allow(clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use wasm_encoder::{
    CodeSection, ConstExpr, EntityType, ExportKind, ExportSection, Function, FunctionSection,
    GlobalSection, GlobalType, ImportSection, Instruction, MemorySection, MemoryType, TypeSection,
};
use wasmtime::{Engine, Func, InstancePre, Module, Store, Val, ValType};

use crate::abi::headers::HeaderList;
use crate::dispatch::CallResult;
use crate::gateway::Gateway;
use crate::gateway::PluginInfo;
use crate::vm::exchange::{Exchange, RequestInfo};
use crate::vm::state::{HostState, RootState, StreamBinding};

/// The guest's memory: one page, so that the input's pointers land both inside and outside it.
const PAGE: u64 = 1;
/// At most this many hostcalls per input, so that every input runs in bounded time.
const MAX_CALLS: usize = 64;
/// Context ids the state starts with: a root and an HTTP stream under it.
const ROOT: u32 = 1;
const STREAM: u32 = 2;

/// Everything built once per process: the gateway (for shared data and queues), the linker,
/// the generated module and the names of the host functions it imports, in import order.
struct Harness {
    gateway: Arc<Gateway>,
    pre: InstancePre<HostState>,
    imports: Vec<(String, String)>,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| build_harness().unwrap_or_else(|e| panic!("fuzz harness: {e}")))
}

fn plugin_info() -> Arc<PluginInfo> {
    Arc::new(PluginInfo {
        index: 0,
        id: "fuzz".to_string(),
        name: "fuzz".to_string(),
        root_id: String::new(),
        vm_id: String::new(),
        vm_config: b"vm config".to_vec(),
    })
}

fn build_harness() -> Result<Harness, String> {
    let config = crate::config::parse("fuzz.yaml", "{}", std::path::Path::new("."), |_| None)
        .map_err(|e| e.to_string())?;
    let gateway = Arc::new(Gateway::new(config)?);
    let engine: &Engine = &gateway.engine;
    let linker = crate::vm::linker(engine, &[])?;
    // The host functions and their signatures, as the linker defines them.
    let mut store = Store::new(engine, HostState::new(plugin_info(), gateway.clone(), 0));
    let mut functions: Vec<(String, String, Func)> = linker
        .iter(&mut store)
        .filter_map(|(module, name, item)| {
            item.into_func()
                .map(|func| (module.to_string(), name.to_string(), func))
        })
        .collect();
    functions.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let signatures: Vec<(Vec<ValType>, Vec<ValType>)> = functions
        .iter()
        .map(|(_, _, func)| {
            let ty = func.ty(&store);
            (ty.params().collect(), ty.results().collect())
        })
        .collect();
    let imports: Vec<(String, String)> = functions
        .into_iter()
        .map(|(module, name, _)| (module, name))
        .collect();
    let bytes = guest_module(&imports, &signatures)?;
    let module = Module::new(engine, &bytes).map_err(|e| format!("guest module: {e:#}"))?;
    let pre = linker
        .instantiate_pre(&module)
        .map_err(|e| format!("guest module links: {e:#}"))?;
    Ok(Harness {
        gateway,
        pre,
        imports,
    })
}

fn encoder_type(ty: &ValType) -> Result<wasm_encoder::ValType, String> {
    Ok(match ty {
        ValType::I32 => wasm_encoder::ValType::I32,
        ValType::I64 => wasm_encoder::ValType::I64,
        ValType::F32 => wasm_encoder::ValType::F32,
        ValType::F64 => wasm_encoder::ValType::F64,
        other => return Err(format!("host function with a {other} parameter")),
    })
}

/// The guest: imports 0..n are the host functions, function n is the allocator, n+1.. are the
/// trampolines `call<i>`. Globals: 0 = next allocation, 1 = allocator traps when non-zero.
fn guest_module(
    imports: &[(String, String)],
    signatures: &[(Vec<ValType>, Vec<ValType>)],
) -> Result<Vec<u8>, String> {
    let mut types = TypeSection::new();
    let mut import_section = ImportSection::new();
    for (index, ((module, name), (params, results))) in imports.iter().zip(signatures).enumerate() {
        let params: Vec<_> = params.iter().map(encoder_type).collect::<Result<_, _>>()?;
        let results: Vec<_> = results.iter().map(encoder_type).collect::<Result<_, _>>()?;
        types.ty().function(params, results);
        import_section.import(module, name, EntityType::Function(index as u32));
    }
    let count = imports.len() as u32;
    let allocator_type = count;
    types
        .ty()
        .function([wasm_encoder::ValType::I32], [wasm_encoder::ValType::I32]);

    let mut functions = FunctionSection::new();
    functions.function(allocator_type);
    for index in 0..count {
        functions.function(index);
    }

    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: PAGE,
        maximum: Some(PAGE),
        memory64: false,
        shared: false,
        page_size_log2: None,
    });

    let mut globals = GlobalSection::new();
    let mutable_i32 = GlobalType {
        val_type: wasm_encoder::ValType::I32,
        mutable: true,
        shared: false,
    };
    globals.global(mutable_i32, &ConstExpr::i32_const(0));
    globals.global(mutable_i32, &ConstExpr::i32_const(0));

    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("heap", ExportKind::Global, 0);
    exports.export("allocator_traps", ExportKind::Global, 1);
    exports.export("proxy_on_memory_allocate", ExportKind::Func, count);
    for index in 0..count {
        exports.export(&format!("call{index}"), ExportKind::Func, count + 1 + index);
    }

    let mut code = CodeSection::new();
    let mut allocator = Function::new([]);
    for instruction in [
        Instruction::GlobalGet(1),
        Instruction::If(wasm_encoder::BlockType::Empty),
        Instruction::Unreachable,
        Instruction::End,
        // Return the current value and move it on by the size (wrapping, as a buggy guest may).
        Instruction::GlobalGet(0),
        Instruction::GlobalGet(0),
        Instruction::LocalGet(0),
        Instruction::I32Add,
        Instruction::GlobalSet(0),
        Instruction::End,
    ] {
        allocator.instruction(&instruction);
    }
    code.function(&allocator);
    for (index, (params, _)) in signatures.iter().enumerate() {
        let mut trampoline = Function::new([]);
        for param in 0..params.len() as u32 {
            trampoline.instruction(&Instruction::LocalGet(param));
        }
        trampoline.instruction(&Instruction::Call(index as u32));
        trampoline.instruction(&Instruction::End);
        code.function(&trampoline);
    }

    let mut module = wasm_encoder::Module::new();
    module
        .section(&types)
        .section(&import_section)
        .section(&functions)
        .section(&memories)
        .section(&globals)
        .section(&exports)
        .section(&code);
    Ok(module.finish())
}

/// Reads the input front to back; past its end every read gives zeros.
struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&first, rest)) = self.data.split_first() else {
            return 0;
        };
        self.data = rest;
        first
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        for slot in &mut out {
            *slot = self.byte();
        }
        out
    }

    fn take(&mut self, len: usize) -> &[u8] {
        let (head, rest) = self.data.split_at(len.min(self.data.len()));
        self.data = rest;
        head
    }

    /// Mostly values that matter at the boundary: small sizes, addresses inside the page, the
    /// page's edges, and values whose sign or width could be misread.
    fn i32(&mut self) -> i32 {
        const EDGES: [i32; 8] = [0, -1, i32::MIN, i32::MAX, 65536, 65535, 65532, 65528];
        match self.byte() % 4 {
            0 => i32::from(u16::from_le_bytes(self.bytes())),
            1 => EDGES[usize::from(self.byte() % 8)],
            2 => i32::from(self.byte()),
            _ => i32::from_le_bytes(self.bytes()),
        }
    }

    fn value(&mut self, ty: &ValType) -> Val {
        match ty {
            ValType::I64 => Val::I64(i64::from_le_bytes(self.bytes())),
            ValType::F32 => Val::F32(u32::from_le_bytes(self.bytes())),
            ValType::F64 => Val::F64(u64::from_le_bytes(self.bytes())),
            _ => Val::I32(self.i32()),
        }
    }
}

fn request_info() -> RequestInfo {
    let address = |port| SocketAddr::from(([127, 0, 0, 1], port));
    RequestInfo {
        client: address(40000),
        local: address(8000),
        connection_id: 1,
        request_id: "fuzz".to_string(),
        protocol: "HTTP/1.1",
        started: SystemTime::UNIX_EPOCH,
        route_name: "route".to_string(),
        service_name: "service".to_string(),
    }
}

/// The state a filter sees in the middle of a request: a root and a stream context, request
/// and response headers, bodies, trailers, an HTTP call's answer and the plugin config, with
/// the access the input grants.
fn host_state(harness: &Harness, input: &mut Input) -> HostState {
    let mut state = HostState::new(plugin_info(), harness.gateway.clone(), 0);
    let headers = HeaderList::from_pairs(vec![
        (b":method".to_vec(), b"POST".to_vec()),
        (b":path".to_vec(), b"/a?b=c".to_vec()),
        (b"cookie".to_vec(), b"session=x".to_vec()),
    ]);
    let mut exchange = Exchange::new(request_info(), headers.clone(), 1);
    exchange.grant(0, input.byte());
    exchange.request_body = Some(b"request body".to_vec());
    exchange.request_trailers = Some(headers.clone());
    exchange.response_headers = headers.clone();
    exchange.response_body = Some(b"response body".to_vec());
    state.roots.insert(ROOT, RootState::default());
    state.streams.insert(
        STREAM,
        StreamBinding {
            exchange: Rc::new(RefCell::new(exchange)),
            filter: 0,
        },
    );
    state.next_context_id = STREAM + 1;
    state.active_root = ROOT;
    let context = if input.byte() & 1 == 0 { STREAM } else { ROOT };
    state.current = context;
    state.effective = context;
    state.configuring = Some(b"{\"plugin\":\"config\"}".to_vec());
    state.call_result = Some(CallResult {
        headers,
        body: b"call body".to_vec(),
        ..CallResult::default()
    });
    state
}

/// Runs one input: see the module comment.
pub(crate) fn hostcalls(data: &[u8]) {
    let harness = harness();
    let mut input = Input { data };
    let state = host_state(harness, &mut input);
    let mut store = Store::new(&harness.gateway.engine, state);
    let instance = harness
        .pre
        .instantiate(&mut store)
        .expect("the guest instantiates");
    let memory = instance
        .get_memory(&mut store, "memory")
        .expect("the guest exports its memory");
    let allocate = instance
        .get_typed_func::<i32, i32>(&mut store, "proxy_on_memory_allocate")
        .expect("the guest exports its allocator");
    store.data_mut().memory = Some(memory);
    store.data_mut().allocate = Some(allocate);

    // The allocator's start (anywhere, including outside memory) and whether it traps.
    let heap = input.i32();
    let traps = i32::from(input.byte() == 0xff);
    for (name, value) in [("heap", heap), ("allocator_traps", traps)] {
        instance
            .get_global(&mut store, name)
            .expect("the guest exports its globals")
            .set(&mut store, Val::I32(value))
            .expect("the globals are mutable i32");
    }
    // Memory contents: serialized maps, names and values the calls point at.
    let size = usize::from(u16::from_le_bytes(input.bytes()));
    let contents = input.take(size).to_vec();
    memory.data_mut(&mut store)[..contents.len()].copy_from_slice(&contents);

    for _ in 0..MAX_CALLS {
        if input.data.is_empty() {
            break;
        }
        let index = usize::from(u16::from_le_bytes(input.bytes())) % harness.imports.len();
        let trampoline = instance
            .get_func(&mut store, &format!("call{index}"))
            .expect("every import has a trampoline");
        let ty = trampoline.ty(&store);
        let params: Vec<Val> = ty.params().map(|ty| input.value(&ty)).collect();
        let mut results: Vec<Val> = ty.results().map(|_| Val::I32(0)).collect();
        // A trap (the guest's allocator, proc_exit) ends the VM call, as it ends the
        // instance in the gateway; a status of any kind is a fine answer.
        if trampoline.call(&mut store, &params, &mut results).is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    fn inputs() -> Vec<PathBuf> {
        let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut files: Vec<PathBuf> = ["corpus", "regressions"]
            .iter()
            .filter_map(|kind| std::fs::read_dir(fuzz_dir.join(kind).join("hostcalls")).ok())
            .flatten()
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.is_file())
            .collect();
        files.sort();
        files
    }

    /// Every kept input of the `hostcalls` fuzz target, on stable, through the same entry.
    #[test]
    fn hostcalls_corpus() {
        let files = inputs();
        assert!(!files.is_empty(), "no corpus for fuzz target hostcalls");
        for file in files {
            let data = std::fs::read(&file).expect("corpus file is readable");
            let outcome = std::panic::catch_unwind(|| super::hostcalls(&data));
            assert!(outcome.is_ok(), "hostcalls fails on {}", file.display());
        }
    }

    /// The hostcalls fuzz target compiles the gateway's sources module by module: its list
    /// must name every module `main.rs` declares, or the fuzz build breaks unnoticed.
    #[test]
    fn fuzz_target_declares_every_gateway_module() {
        let read = |path: &str| {
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
                .expect("source is readable")
        };
        let modules = |text: &str, prefix: &str| -> Vec<String> {
            let mut names: Vec<String> = text
                .lines()
                .filter_map(|line| line.strip_prefix(prefix)?.strip_suffix(';'))
                .map(str::to_string)
                .collect();
            names.sort();
            names
        };
        assert_eq!(
            modules(&read("../fuzz/fuzz_targets/hostcalls.rs"), "    pub mod "),
            modules(&read("src/main.rs"), "mod "),
            "fuzz/fuzz_targets/hostcalls.rs must list the modules of gateway/src/main.rs"
        );
    }

    /// The generated guest imports every host function, so the fuzzer reaches all of them.
    #[test]
    fn guest_imports_every_host_function() {
        let harness = super::harness();
        let names: Vec<&str> = harness.imports.iter().map(|(_, n)| n.as_str()).collect();
        for expected in [
            "proxy_log",
            "proxy_get_header_map_pairs",
            "proxy_set_buffer_bytes",
            "proxy_get_property",
            "proxy_http_call",
            "fd_write",
        ] {
            assert!(
                names.contains(&expected),
                "{expected} missing from {names:?}"
            );
        }
    }
}
