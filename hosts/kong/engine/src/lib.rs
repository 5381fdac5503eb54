//! wasmtime's C API (`wasm.h`, `wasi.h`, `wasmtime.h`) as `libwasmtime.a`, for nginx + ngx_wasm_module.
pub use wasmtime_c_api::*;
