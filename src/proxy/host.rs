//! Panic-free wrappers around the hostcalls the adapter uses.

use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, LogLevel, MapType};

use crate::request_gate::BodyDelivery;

/// How this host gives a waiting filter the request body. Kong's engine (nginx) answers the
/// `ngx.*` properties (nginx variables) and runs the body step only after the headers step
/// continued; every other host we know (Envoy with `allow_on_headers_stop_iteration`, our
/// gateway) delivers it while the headers are held. Asked once per VM.
pub(super) fn body_delivery() -> BodyDelivery {
    thread_local! {
        static DELIVERY: std::cell::OnceCell<BodyDelivery> = const { std::cell::OnceCell::new() };
    }
    DELIVERY.with(|cell| {
        *cell.get_or_init(|| match hostcalls::get_property(vec!["ngx", "hostname"]) {
            Ok(Some(_)) => BodyDelivery::AfterHeadersContinue,
            _ => BodyDelivery::WhileHeadersHeld,
        })
    })
}

/// Whether the host is nginx (Kong's engine) with the nginx variable `name` defined.
pub(super) fn has_nginx_variable(name: &str) -> bool {
    body_delivery() == BodyDelivery::AfterHeadersContinue
        && matches!(hostcalls::get_property(vec!["ngx", name]), Ok(Some(_)))
}

pub(super) fn log(level: LogLevel, message: &str) {
    // Nothing sensible can be done when logging itself fails.
    let _ = hostcalls::log(level, message);
}

/// Seconds since the epoch from the host clock (0 if the host cannot tell, which makes every
/// timed check fail closed rather than pass).
pub(super) fn now() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Header pairs of a map, with names lower-cased and values decoded leniently.
pub(super) fn headers(map: MapType) -> Vec<(String, String)> {
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

pub(super) fn buffer(kind: BufferType, size: usize) -> Vec<u8> {
    hostcalls::get_buffer(kind, 0, size)
        .ok()
        .flatten()
        .unwrap_or_default()
}

pub(super) fn plugin_configuration() -> Vec<u8> {
    buffer(BufferType::PluginConfiguration, usize::MAX)
}

pub(super) fn set_tick_period(period: Duration) {
    if let Err(status) = hostcalls::set_tick_period(period) {
        log(
            LogLevel::Warn,
            &format!("openid-connect: the host refused a tick period: {status:?}"),
        );
    }
}

/// 32 random bytes from the host's WASI `random_get`, or `None` (logged) when the host has
/// none.
///
/// There is no fallback on purpose: session ids feed the AES-GCM key and IV derivation, and
/// state, nonce and PKCE verifiers must be unguessable. A clock hash and a per-worker counter
/// repeat across workers on a host with a coarse clock (nonce reuse) and are predictable, so
/// the core refuses to start a session or login instead (500, `rejections_no_randomness`).
pub(super) fn random_bytes() -> Option<[u8; 32]> {
    let mut bytes = [0u8; 32];
    match getrandom::getrandom(&mut bytes) {
        Ok(()) => Some(bytes),
        Err(e) => {
            log(
                LogLevel::Error,
                &format!("openid-connect: the host gave no randomness ({e}): refusing to draw session ids or login secrets"),
            );
            None
        }
    }
}
