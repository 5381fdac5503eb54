//! `gateway`: a reverse proxy that runs proxy-wasm (ABI v0.2.1) filters on wasmtime, with the
//! part of Kong's Admin API needed to inspect and reconfigure them. See README.md.
//!
//! Modules are layered; each uses only the layers below it (`scripts/check-cycles.py`):
//! 1. leaves: `abi` (the ABI's codes, enums and map serialization), `log`, `redact`, `uri`
//!    (request path normalisation);
//! 2. `config` (the validated YAML), then what builds on it alone: `routing`, `http` (bodies,
//!    the upstream client), `shared` (shared data and queues), `metrics`, `engine` (wasmtime
//!    and module compilation), `dispatch` (filters' HTTP calls);
//! 3. `gateway`: the process-wide state those make up, and the messages to workers;
//! 4. `vm`: one instance per plugin per worker and the host functions it imports;
//! 5. `proxy` (workers, the filter-chain pipeline and its async driver) and `admin`;
//! 6. this file: arguments, startup, listeners.

mod abi;
mod admin;
mod config;
mod dispatch;
mod engine;
mod gateway;
mod http;
mod log;
mod metrics;
mod proxy;
mod redact;
mod routing;
mod shared;
mod uri;
mod vm;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use log::Level;

const USAGE: &str = "usage: gateway --config <file.yaml> [--log-level trace|debug|info|warn|error|critical] [--check]

  --config     the gateway config (YAML; ${ENV_VAR} and ${ENV_VAR:-default} are substituted)
  --log-level  overrides the config's log_level (default info); filter logs below it are dropped
  --check      validate the config and load the filters, then exit
  --export-config <file> --on-change <command>
               admin-only mode for another host running the filter (Kong's engine in nginx):
               no proxy, no workers; each admin config change is written to <file> (the
               filter's JSON config) and applied by the shell command (see admin/export.rs)";

struct Args {
    config: PathBuf,
    log_level: Option<Level>,
    check: bool,
    export: Option<admin::export::Export>,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut config = None;
    let mut log_level = None;
    let mut check = false;
    let mut export_file = None;
    let mut on_change = String::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--config" | "-c" => config = Some(PathBuf::from(value("--config")?)),
            "--log-level" => log_level = Some(value("--log-level")?.parse()?),
            "--check" => check = true,
            "--export-config" => export_file = Some(PathBuf::from(value("--export-config")?)),
            "--on-change" => on_change = value("--on-change")?,
            "--help" | "-h" => return Ok(None),
            "--version" | "-V" => {
                println!("gateway {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let config = config.ok_or("--config <file.yaml> is required")?;
    if export_file.is_none() && !on_change.is_empty() {
        return Err("--on-change needs --export-config".into());
    }
    let export = export_file.map(|file| admin::export::Export { file, on_change });
    Ok(Some(Args {
        config,
        log_level,
        check,
        export,
    }))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("gateway: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let config = config::load(&args.config).map_err(|e| e.to_string())?;
    log::set_level(args.log_level.or(config.log_level).unwrap_or(Level::Info));
    let gateway = Arc::new(gateway::Gateway::new(config)?);
    if args.check {
        println!("{}: configuration OK", gateway.config.file);
        return Ok(());
    }
    let bind = |address: std::net::SocketAddr, field: &str| {
        let listener = std::net::TcpListener::bind(address)
            .map_err(|e| format!("cannot listen on {address} ({field}): {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("{field}: {e}"))?;
        Ok::<_, String>(listener)
    };
    if let Some(export) = args.export {
        return run_admin_only(gateway, export, bind);
    }
    let proxy_listener = bind(gateway.config.proxy_listen, "proxy_listen")?;
    let admin_listener = bind(gateway.config.admin_listen, "admin_listen")?;

    let (ready, started) = std::sync::mpsc::channel();
    let mut workers = Vec::new();
    for index in 0..gateway.config.workers {
        let sender = proxy::worker::spawn(index, gateway.clone(), ready.clone())
            .map_err(|e| format!("cannot start worker {index}: {e}"))?;
        workers.push(sender);
    }
    for _ in 0..workers.len() {
        started
            .recv()
            .map_err(|_| "a worker stopped while starting".to_string())??;
    }
    let _ = gateway.workers.set(workers.clone());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let proxy_listener = tokio::net::TcpListener::from_std(proxy_listener)
            .map_err(|e| format!("proxy_listen: {e}"))?;
        let admin_listener = tokio::net::TcpListener::from_std(admin_listener)
            .map_err(|e| format!("admin_listen: {e}"))?;
        log::gateway(
            Level::Info,
            &format!(
                "listening: proxy on {}, admin on {}, {} workers, {} plugins",
                gateway.config.proxy_listen,
                gateway.config.admin_listen,
                gateway.config.workers,
                gateway.plugins.len()
            ),
        );
        tokio::spawn(admin::serve(admin_listener, gateway.clone()));
        proxy::accept(proxy_listener, workers).await;
        Ok(())
    })
}

/// Admin-only mode: the admin listener alone, exporting config changes (admin/export.rs).
fn run_admin_only(
    gateway: Arc<gateway::Gateway>,
    export: admin::export::Export,
    bind: impl Fn(std::net::SocketAddr, &str) -> Result<std::net::TcpListener, String>,
) -> Result<(), String> {
    admin::export::enable(export.clone());
    admin::export::write_initial(&gateway)?;
    let admin_listener = bind(gateway.config.admin_listen, "admin_listen")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let admin_listener = tokio::net::TcpListener::from_std(admin_listener)
            .map_err(|e| format!("admin_listen: {e}"))?;
        log::gateway(
            Level::Info,
            &format!(
                "admin-only: admin on {}, config exported to {}",
                gateway.config.admin_listen,
                export.file.display()
            ),
        );
        admin::serve(admin_listener, gateway).await;
        Ok(())
    })
}
