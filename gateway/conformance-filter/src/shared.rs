//! Helpers over shared data and VM identity used by several modes.

use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;
use std::cell::OnceCell;

thread_local! {
    static INSTANCE_ID: OnceCell<String> = const { OnceCell::new() };
}

/// A random id for this VM instance (drawn once with WASI random_get), so tests can tell VMs
/// (workers, or a VM replaced after a trap) apart.
pub fn instance_id() -> String {
    INSTANCE_ID.with(|cell| {
        cell.get_or_init(|| {
            let mut bytes = [0u8; 8];
            match getrandom::getrandom(&mut bytes) {
                Ok(()) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
                Err(e) => format!("no-random-{e}"),
            }
        })
        .clone()
    })
}

/// Reads a decimal counter from shared data; absent or unparsable counts as 0.
pub fn read_counter(key: &str) -> (u64, Option<u32>) {
    match hostcalls::get_shared_data(key) {
        Ok((Some(bytes), cas)) => {
            let value = std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            (value, cas)
        }
        _ => (0, None),
    }
}

/// Adds one to a shared counter with a compare-and-swap loop; returns the new value and how
/// many times the swap lost a race.
pub fn increment_counter(key: &str) -> Result<(u64, u32), Status> {
    let mut retries = 0;
    loop {
        let (value, cas) = read_counter(key);
        let next = value + 1;
        match hostcalls::set_shared_data(key, Some(next.to_string().as_bytes()), cas) {
            Ok(()) => return Ok((next, retries)),
            Err(Status::CasMismatch) => retries += 1,
            Err(other) => return Err(other),
        }
    }
}

/// Creates a counter at 0 unless some VM already did.
pub fn init_counter(key: &str) {
    if let Ok((None, _)) = hostcalls::get_shared_data(key) {
        let _ = hostcalls::set_shared_data(key, Some(b"0"), None);
    }
}
