//! Admin-only mode (`--export-config <file> --on-change <command>`): the gateway serves only
//! Kong's Admin API for another host that runs the filter, e.g. Kong's Wasm engine in plain nginx,
//! which has no admin API of its own. The proxy listener and the workers do not start; a PATCH
//! is decoded and coerced exactly as in normal mode (form.rs, the filter's meta.json), then the
//! plugin's merged config is written to the file (as the JSON text the filter gets) and the
//! command applies it (for nginx: re-render nginx.conf and reload). The answer waits for the
//! command; if it fails, the previous config is written back and the PATCH is refused.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

use crate::gateway::{config_text, Gateway};
use crate::log::{self, Level};

/// Where the config goes and what applies it.
#[derive(Debug, Clone)]
pub(crate) struct Export {
    pub(crate) file: PathBuf,
    /// A shell command line (`sh -c`), run after each write; empty means none.
    pub(crate) on_change: String,
}

static EXPORT: OnceLock<Export> = OnceLock::new();

/// Turns admin-only mode on (once, from main, before the admin listener starts).
pub(crate) fn enable(export: Export) {
    let _ = EXPORT.set(export);
}

/// The export settings when the gateway runs in admin-only mode.
pub(crate) fn active() -> Option<&'static Export> {
    EXPORT.get()
}

/// The file's content for a plugin config: what `proxy_on_configure` would get.
fn file_text(config: &Value) -> Vec<u8> {
    config_text(config)
}

/// Writes the file atomically (temp file + rename) so a concurrent reader never sees half of it.
fn write_file(export: &Export, config: &Value) -> Result<(), String> {
    let tmp = export.file.with_extension("tmp");
    std::fs::write(&tmp, file_text(config))
        .and_then(|()| std::fs::rename(&tmp, &export.file))
        .map_err(|e| format!("cannot write {}: {e}", export.file.display()))
}

/// Writes the first plugin's current config at start, so the other host can start from it.
pub(crate) fn write_initial(gateway: &Gateway) -> Result<(), String> {
    let (Some(export), Some(plugin)) = (active(), gateway.plugins.first()) else {
        return Ok(());
    };
    if gateway.plugins.len() > 1 {
        return Err("admin-only mode exports one plugin's config; the config has several".into());
    }
    write_file(export, &plugin.snapshot().config)
}

async fn run_command(command: &str) -> Result<(), String> {
    if command.is_empty() {
        return Ok(());
    }
    let command = command.to_string();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .stdin(std::process::Stdio::null())
            .output()
    })
    .await
    .map_err(|e| format!("the on-change command did not run: {e}"))?
    .map_err(|e| format!("cannot run the on-change command: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!(
            "the host refused the new config ({}): {}",
            output.status,
            stderr.trim()
        ))
    }
}

/// Applies `config` through the file and the command; on failure restores `previous`.
pub(crate) async fn apply(export: &Export, previous: &Value, config: &Value) -> Result<(), String> {
    write_file(export, config)?;
    match run_command(&export.on_change).await {
        Ok(()) => Ok(()),
        Err(reason) => {
            log::gateway(Level::Error, &format!("admin-only: {reason}"));
            if let Err(e) = write_file(export, previous) {
                log::gateway(Level::Error, &format!("admin-only: rollback failed: {e}"));
            } else if let Err(e) = run_command(&export.on_change).await {
                log::gateway(Level::Error, &format!("admin-only: rollback failed: {e}"));
            }
            Err(reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn temp_export(on_change: &str) -> Export {
        let dir = std::env::temp_dir().join(format!(
            "gateway-export-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Export {
            file: dir.join("filter-config.json"),
            on_change: on_change.to_string(),
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn writes_the_config_and_runs_the_command() {
        let export = temp_export("");
        let marker = export.file.with_file_name("ran");
        let export = Export {
            on_change: format!("cat '{}' > '{}'", export.file.display(), marker.display()),
            ..export
        };
        let config = json!({"issuer": "http://idp", "logout_methods": ["POST"]});
        runtime()
            .block_on(apply(&export, &json!({}), &config))
            .unwrap();
        let written: Value = serde_json::from_slice(&std::fs::read(&export.file).unwrap()).unwrap();
        assert_eq!(written, config);
        let seen: Value = serde_json::from_slice(&std::fs::read(&marker).unwrap()).unwrap();
        assert_eq!(seen, config, "the command runs after the file is written");
    }

    #[test]
    fn a_failing_command_refuses_and_restores_the_previous_config() {
        let export = temp_export("echo 'nginx: [emerg] bad' >&2; exit 3");
        let previous = json!({"issuer": "http://old"});
        let error = runtime()
            .block_on(apply(&export, &previous, &json!({"issuer": "http://new"})))
            .unwrap_err();
        assert!(error.contains("[emerg] bad"), "{error}");
        let written: Value = serde_json::from_slice(&std::fs::read(&export.file).unwrap()).unwrap();
        assert_eq!(written, previous);
    }
}
