//! Panic-free wrappers around the hostcalls the adapter uses.

use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, LogLevel, MapType};

pub fn log(level: LogLevel, message: &str) {
    // Nothing sensible can be done when logging itself fails.
    let _ = hostcalls::log(level, message);
}

/// Seconds since the epoch from the host clock (0 if the host cannot tell, which makes every
/// timed check fail closed rather than pass).
pub fn now() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Header pairs of a map, with names lower-cased and values decoded leniently.
pub fn headers(map: MapType) -> Vec<(String, String)> {
    hostcalls::get_map_bytes(map)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                String::from_utf8_lossy(&value).into_owned(),
            )
        })
        .collect()
}

pub fn buffer(kind: BufferType, size: usize) -> Vec<u8> {
    hostcalls::get_buffer(kind, 0, size)
        .ok()
        .flatten()
        .unwrap_or_default()
}

pub fn plugin_configuration() -> Vec<u8> {
    buffer(BufferType::PluginConfiguration, usize::MAX)
}

pub fn set_tick_period(period: Duration) {
    if let Err(status) = hostcalls::set_tick_period(period) {
        log(
            LogLevel::Warn,
            &format!("openid-connect: the host refused a tick period: {status:?}"),
        );
    }
}

/// 32 random bytes from the host's WASI `random_get`.
///
/// A session id feeds the key and IV derivation, so it must never repeat. If the host has no
/// randomness, fall back to a hash of the clock and a counter: predictable but unique, which is
/// what AES-GCM needs (the sid is public anyway: it travels in the cookie header).
pub fn random_bytes() -> [u8; 32] {
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    static FALLBACK_COUNTER: AtomicU64 = AtomicU64::new(0);

    let mut bytes = [0u8; 32];
    if getrandom::getrandom(&mut bytes).is_ok() {
        return bytes;
    }
    log(
        LogLevel::Error,
        "openid-connect: the host gave no randomness; using a unique clock-based session id",
    );
    let nanos = hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let counter = FALLBACK_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hasher = Sha256::new();
    hasher.update(nanos.to_le_bytes());
    hasher.update(counter.to_le_bytes());
    hasher.finalize().into()
}
