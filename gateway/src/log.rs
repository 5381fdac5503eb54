//! Logging: gateway and filter messages to stderr, one access log line per request to stdout.
//!
//! Levels are the proxy-wasm ones, so a filter's `proxy_get_log_level` sees the gateway's level.

use std::fmt;
use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

impl Level {
    pub(crate) fn from_abi(value: u32) -> Option<Level> {
        Some(match value {
            0 => Level::Trace,
            1 => Level::Debug,
            2 => Level::Info,
            3 => Level::Warn,
            4 => Level::Error,
            5 => Level::Critical,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Critical => "critical",
        }
    }
}

impl FromStr for Level {
    type Err = String;

    fn from_str(text: &str) -> Result<Level, String> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "trace" => Level::Trace,
            "debug" => Level::Debug,
            "info" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" => Level::Error,
            "critical" | "crit" => Level::Critical,
            _ => {
                return Err(format!(
                    "`{text}` is not a log level (trace, debug, info, warn, error, critical)"
                ))
            }
        })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

pub(crate) fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub(crate) fn level() -> Level {
    Level::from_abi(u32::from(LEVEL.load(Ordering::Relaxed))).unwrap_or(Level::Info)
}

pub(crate) fn enabled(level: Level) -> bool {
    level >= self::level()
}

/// Writes one line to stderr: `<time> [<level>] <origin>: <message>`.
pub(crate) fn emit(level: Level, origin: &str, message: &str) {
    if !enabled(level) {
        return;
    }
    let line = format!(
        "{} [{}] {}: {}\n",
        timestamp(SystemTime::now()),
        level,
        origin,
        message
    );
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Gateway messages (not from a filter).
pub(crate) fn gateway(level: Level, message: &str) {
    emit(level, "gateway", message);
}

/// One access log line on stdout; credential query arguments are redacted (redact.rs).
pub(crate) fn access(
    client: &str,
    method: &str,
    path: &str,
    status: u16,
    bytes: usize,
    duration: Duration,
) {
    let line = format!(
        "{} {} \"{} {} HTTP/1.1\" {} {} {:.3}ms\n",
        timestamp(SystemTime::now()),
        client,
        method,
        crate::redact::request_target(path),
        status,
        bytes,
        duration.as_secs_f64() * 1000.0
    );
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

/// RFC 3339 UTC time with milliseconds.
pub(crate) fn timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_timestamps() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789);
        assert_eq!(timestamp(t), "2024-02-29T12:34:56.789Z");
    }

    #[test]
    fn parses_levels() {
        assert_eq!("WARN".parse::<Level>().unwrap(), Level::Warn);
        assert!("loud".parse::<Level>().is_err());
        assert_eq!(Level::from_abi(4), Some(Level::Error));
        assert_eq!(Level::from_abi(6), None);
    }
}
