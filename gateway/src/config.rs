//! The gateway's YAML config file: reading, `${ENV}` substitution, and validation into the
//! model the rest of the gateway uses. Every error names the file, the field path and why.

use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::log::Level;

pub(crate) mod host;
pub(crate) mod limits;

pub(crate) use host::{HostBehaviour, HostProfile};
pub(crate) use limits::{AdminAccess, ClientLimits, TrustedIps, VmLimits};

/// A config file that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub(crate) struct ConfigError {
    pub(crate) file: String,
    /// The field path (`plugins[0].service`), empty for file-level problems.
    pub(crate) path: String,
    pub(crate) message: String,
}

impl ConfigError {
    /// `file: message`, or `file: field.path: message`.
    fn describe(&self) -> String {
        if self.path.is_empty() {
            format!("{}: {}", self.file, self.message)
        } else {
            format!("{}: {}: {}", self.file, self.path, self.message)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    pub(crate) fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// An upstream service (Kong's Service entity, the part we use).
#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) scheme: Scheme,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Path prefix prepended to forwarded paths (`/` when the URL has none).
    pub(crate) path: String,
}

/// A route: path prefixes leading to a service.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) id: String,
    pub(crate) name: String,
    /// Index into [`GatewayConfig::services`].
    pub(crate) service: usize,
    pub(crate) paths: Vec<String>,
    /// Kong's `strip_path` (default true): the matched prefix is removed before forwarding.
    pub(crate) strip_path: bool,
    /// Kong's `preserve_host` (default false): send the client's Host upstream.
    pub(crate) preserve_host: bool,
}

/// Where a plugin applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PluginScope {
    Global,
    Service(usize),
    Route(usize),
}

/// A filter instance: a wasm module plus its config.
#[derive(Debug, Clone)]
pub(crate) struct PluginSpec {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) wasm_path: PathBuf,
    /// Kong's `<name>.meta.json` (config schema), when there is one.
    pub(crate) meta_path: Option<PathBuf>,
    pub(crate) scope: PluginScope,
    pub(crate) enabled: bool,
    /// A JSON object (sent to on_configure as JSON text), a string (sent verbatim) or null.
    pub(crate) config: serde_json::Value,
    pub(crate) vm_config: String,
    pub(crate) root_id: String,
    pub(crate) vm_id: String,
    pub(crate) tags: Option<Vec<String>>,
}

impl PluginSpec {
    pub(crate) fn scope_label(&self) -> String {
        format!("{} ({})", self.name, short_id(&self.id))
    }
}

/// The first block of a UUID, enough to tell plugins apart in logs.
pub(crate) fn short_id(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}

#[derive(Debug, Clone)]
pub(crate) struct GatewayConfig {
    pub(crate) file: String,
    pub(crate) proxy_listen: SocketAddr,
    pub(crate) admin_listen: SocketAddr,
    pub(crate) workers: usize,
    pub(crate) node_id: String,
    pub(crate) log_level: Option<Level>,
    pub(crate) pause_timeout: Duration,
    pub(crate) upstream_timeout: Duration,
    pub(crate) max_body_bytes: usize,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) clusters: HashMap<String, String>,
    pub(crate) services: Vec<Service>,
    pub(crate) routes: Vec<Route>,
    pub(crate) plugins: Vec<PluginSpec>,
    /// Which real host the gateway plays where hosts differ (see config/host.rs).
    pub(crate) host: HostBehaviour,
    /// Client connection timeouts and the connection cap.
    pub(crate) client: ClientLimits,
    /// Peers whose X-Forwarded-* and Forwarded headers are kept (Kong's trusted_ips).
    pub(crate) trusted_ips: TrustedIps,
    pub(crate) admin: AdminAccess,
    /// Per-callback deadline and memory cap of every VM instance.
    pub(crate) vm: VmLimits,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    proxy_listen: Option<String>,
    admin_listen: Option<String>,
    workers: Option<usize>,
    node_id: Option<String>,
    log_level: Option<String>,
    pause_timeout_ms: Option<u64>,
    upstream_timeout_ms: Option<u64>,
    max_body_bytes: Option<usize>,
    ca_file: Option<String>,
    #[serde(default)]
    clusters: BTreeMap<String, String>,
    #[serde(default)]
    services: Vec<RawService>,
    #[serde(default)]
    plugins: Vec<RawPlugin>,
    #[serde(default)]
    host_profile: HostProfile,
    #[serde(default)]
    host_behaviour: host::RawHostBehaviour,
    client_header_timeout_ms: Option<u64>,
    client_body_timeout_ms: Option<u64>,
    keepalive_timeout_ms: Option<u64>,
    worker_connections: Option<usize>,
    #[serde(default)]
    trusted_ips: Vec<String>,
    admin_token: Option<String>,
    #[serde(default)]
    admin_hosts: Vec<String>,
    vm_callback_timeout_ms: Option<u64>,
    vm_memory_limit_bytes: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    id: String,
    name: Option<String>,
    url: String,
    #[serde(default)]
    routes: Vec<RawRoute>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    id: String,
    name: Option<String>,
    paths: Vec<String>,
    strip_path: Option<bool>,
    preserve_host: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    id: String,
    name: String,
    wasm: String,
    meta: Option<String>,
    service: Option<String>,
    route: Option<String>,
    enabled: Option<bool>,
    config: Option<serde_json::Value>,
    vm_config: Option<String>,
    root_id: Option<String>,
    vm_id: Option<String>,
    tags: Option<Vec<String>>,
}

pub(crate) const DEFAULT_PROXY_LISTEN: &str = "127.0.0.1:8000";
pub(crate) const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:8001";

/// Reads and validates a config file. Relative paths inside it (wasm, meta, ca_file) are
/// resolved against the config file's directory.
pub(crate) fn load(path: &Path) -> Result<GatewayConfig, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        path: String::new(),
        message: format!("cannot read the config file: {e}"),
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse(&file, &text, &base, |name| std::env::var(name).ok())
}

/// Parses config text; `env` looks up variables for `${NAME}` substitution.
pub(crate) fn parse(
    file: &str,
    text: &str,
    base_dir: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<GatewayConfig, ConfigError> {
    let error = |path: &str, message: String| ConfigError {
        file: file.to_string(),
        path: path.to_string(),
        message,
    };
    let text = substitute_env(text, &env).map_err(|m| error("", m))?;
    let raw: RawConfig = serde_yaml_ng::from_str(&text).map_err(|e| error("", e.to_string()))?;
    Validator { file, base_dir }.validate(raw)
}

/// Replaces `${NAME}` (and `${NAME:-default}`) with environment values; `$${` keeps a literal `${`.
pub(crate) fn substitute_env(
    text: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        if let Some(escaped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = escaped;
            continue;
        }
        if !after.starts_with("${") {
            out.push('$');
            rest = &after[1..];
            continue;
        }
        let line = text[..text.len() - after.len()].matches('\n').count() + 1;
        let Some(end) = after.find('}') else {
            return Err(format!("line {line}: `${{` without a closing `}}`"));
        };
        let inner = &after[2..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "line {line}: `${{{inner}}}` is not a valid environment variable reference"
            ));
        }
        match (env(name), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                return Err(format!(
                    "line {line}: environment variable {name} is not set"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

struct Validator<'a> {
    file: &'a str,
    base_dir: &'a Path,
}

impl Validator<'_> {
    fn err(&self, path: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            path: path.into(),
            message: message.into(),
        }
    }

    fn validate(&self, raw: RawConfig) -> Result<GatewayConfig, ConfigError> {
        let proxy_listen = self.socket_addr(
            "proxy_listen",
            raw.proxy_listen.as_deref(),
            DEFAULT_PROXY_LISTEN,
        )?;
        let admin_listen = self.socket_addr(
            "admin_listen",
            raw.admin_listen.as_deref(),
            DEFAULT_ADMIN_LISTEN,
        )?;
        let workers = match raw.workers {
            Some(0) => return Err(self.err("workers", "must be at least 1")),
            Some(n) => n,
            None => std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(1),
        };
        let log_level = match raw.log_level.as_deref() {
            None => None,
            Some(text) => Some(text.parse().map_err(|e: String| self.err("log_level", e))?),
        };
        let pause_timeout = self.timeout("pause_timeout_ms", raw.pause_timeout_ms)?;
        let upstream_timeout = self.timeout("upstream_timeout_ms", raw.upstream_timeout_ms)?;
        let ca_file = match raw.ca_file {
            None => None,
            Some(path) => Some(self.existing_file("ca_file", &path)?),
        };
        let clusters = self.clusters(raw.clusters)?;
        let mut ids = HashSet::new();
        let (services, routes) = self.services(raw.services, &mut ids)?;
        let client = ClientLimits::from_raw(
            raw.client_header_timeout_ms,
            raw.client_body_timeout_ms,
            raw.keepalive_timeout_ms,
            raw.worker_connections,
        )
        .map_err(|(field, why)| self.err(field, why))?;
        let trusted_ips = TrustedIps::parse(&raw.trusted_ips)
            .map_err(|(index, why)| self.err(format!("trusted_ips[{index}]"), why))?;
        let admin = AdminAccess::new(admin_listen, raw.admin_token, raw.admin_hosts)
            .map_err(|(field, why)| self.err(field, why))?;
        let vm = VmLimits::from_raw(raw.vm_callback_timeout_ms, raw.vm_memory_limit_bytes)
            .map_err(|(field, why)| self.err(field, why))?;
        let host = HostBehaviour::resolve(raw.host_profile, raw.host_behaviour);
        let mut plugins = Vec::new();
        for (p, raw_plugin) in raw.plugins.into_iter().enumerate() {
            let path = format!("plugins[{p}]");
            self.uuid(&format!("{path}.id"), &raw_plugin.id, &mut ids)?;
            plugins.push(self.plugin(&path, raw_plugin, &services, &routes)?);
        }
        Ok(GatewayConfig {
            file: self.file.to_string(),
            proxy_listen,
            admin_listen,
            workers,
            node_id: raw.node_id.unwrap_or_else(|| "gateway".to_string()),
            log_level,
            pause_timeout,
            upstream_timeout,
            max_body_bytes: raw.max_body_bytes.unwrap_or(16 * 1024 * 1024),
            ca_file,
            clusters,
            services,
            routes,
            plugins,
            host,
            client,
            trusted_ips,
            admin,
            vm,
        })
    }

    /// A timeout in milliseconds (default 60 s); 0 is refused.
    fn timeout(&self, field: &str, ms: Option<u64>) -> Result<Duration, ConfigError> {
        let timeout = Duration::from_millis(ms.unwrap_or(60_000));
        if timeout.is_zero() {
            return Err(self.err(field, "must be greater than 0"));
        }
        Ok(timeout)
    }

    /// Cluster names for proxy_http_call, each a `host:port`.
    fn clusters(
        &self,
        raw: BTreeMap<String, String>,
    ) -> Result<HashMap<String, String>, ConfigError> {
        let mut clusters = HashMap::new();
        for (name, address) in raw {
            let path = format!("clusters.{name}");
            parse_host_port(&address, 80).map_err(|e| self.err(&path, e))?;
            clusters.insert(name, address);
        }
        Ok(clusters)
    }

    /// The services and, flattened, their routes (each knowing its service's index).
    fn services(
        &self,
        raw: Vec<RawService>,
        ids: &mut HashSet<String>,
    ) -> Result<(Vec<Service>, Vec<Route>), ConfigError> {
        let mut services = Vec::new();
        let mut routes = Vec::new();
        for (s, raw_service) in raw.into_iter().enumerate() {
            let path = format!("services[{s}]");
            self.uuid(&format!("{path}.id"), &raw_service.id, ids)?;
            let service = self.service(&path, &raw_service)?;
            for (r, raw_route) in raw_service.routes.into_iter().enumerate() {
                let route_path = format!("{path}.routes[{r}]");
                self.uuid(&format!("{route_path}.id"), &raw_route.id, ids)?;
                routes.push(self.route(&route_path, raw_route, s)?);
            }
            services.push(service);
        }
        Ok((services, routes))
    }

    fn route(&self, path: &str, raw: RawRoute, service: usize) -> Result<Route, ConfigError> {
        if raw.paths.is_empty() {
            return Err(self.err(format!("{path}.paths"), "needs at least one path prefix"));
        }
        let mut paths = Vec::new();
        for (p, prefix) in raw.paths.iter().enumerate() {
            if !prefix.starts_with('/') {
                return Err(self.err(
                    format!("{path}.paths[{p}]"),
                    format!("`{prefix}` must start with /"),
                ));
            }
            // Requests are routed on their normalised path: compare like with like.
            let normalized = crate::uri::normalize(prefix).map_err(|why| {
                self.err(
                    format!("{path}.paths[{p}]"),
                    format!("`{prefix}` cannot be normalised: {why}"),
                )
            })?;
            paths.push(normalized);
        }
        Ok(Route {
            name: raw.name.unwrap_or_else(|| raw.id.clone()),
            id: raw.id,
            service,
            paths,
            strip_path: raw.strip_path.unwrap_or(true),
            preserve_host: raw.preserve_host.unwrap_or(false),
        })
    }

    fn socket_addr(
        &self,
        path: &str,
        value: Option<&str>,
        default: &str,
    ) -> Result<SocketAddr, ConfigError> {
        let text = value.unwrap_or(default);
        text.parse().map_err(|_| {
            self.err(
                path,
                format!("`{text}` is not an ip:port address (e.g. {default})"),
            )
        })
    }

    fn uuid(&self, path: &str, id: &str, seen: &mut HashSet<String>) -> Result<(), ConfigError> {
        if !is_uuid(id) {
            return Err(self.err(
                path,
                format!("`{id}` is not a UUID (e.g. 5f35b796-ced6-4c00-9b2a-90eef745f4f9)"),
            ));
        }
        if !seen.insert(id.to_ascii_lowercase()) {
            return Err(self.err(path, format!("id {id} is used twice")));
        }
        Ok(())
    }

    fn service(&self, path: &str, raw: &RawService) -> Result<Service, ConfigError> {
        let url_path = format!("{path}.url");
        let uri: http::Uri = raw
            .url
            .parse()
            .map_err(|e| self.err(&url_path, format!("`{}` is not a URL: {e}", raw.url)))?;
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") => Scheme::Https,
            _ => {
                return Err(self.err(
                    &url_path,
                    format!("`{}` must start with http:// or https://", raw.url),
                ))
            }
        };
        let Some(authority) = uri.authority() else {
            return Err(self.err(&url_path, format!("`{}` has no host", raw.url)));
        };
        if uri.query().is_some() {
            return Err(self.err(&url_path, "a service URL cannot have a query string"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Ok(Service {
            id: raw.id.clone(),
            name: raw.name.clone().unwrap_or_else(|| raw.id.clone()),
            scheme,
            host,
            port: authority.port_u16().unwrap_or(scheme.default_port()),
            path: if uri.path().is_empty() {
                "/".to_string()
            } else {
                uri.path().to_string()
            },
        })
    }

    fn plugin(
        &self,
        path: &str,
        raw: RawPlugin,
        services: &[Service],
        routes: &[Route],
    ) -> Result<PluginSpec, ConfigError> {
        let scope = match (&raw.service, &raw.route) {
            (Some(_), Some(_)) => {
                return Err(self.err(path, "set either `service` or `route`, not both"));
            }
            (Some(id), None) => PluginScope::Service(
                services
                    .iter()
                    .position(|s| s.id.eq_ignore_ascii_case(id))
                    .ok_or_else(|| {
                        self.err(
                            format!("{path}.service"),
                            format!("no service with id {id}"),
                        )
                    })?,
            ),
            (None, Some(id)) => PluginScope::Route(
                routes
                    .iter()
                    .position(|r| r.id.eq_ignore_ascii_case(id))
                    .ok_or_else(|| {
                        self.err(format!("{path}.route"), format!("no route with id {id}"))
                    })?,
            ),
            (None, None) => PluginScope::Global,
        };
        let wasm_path = self.existing_file(&format!("{path}.wasm"), &raw.wasm)?;
        let meta_path = match &raw.meta {
            Some(meta) => Some(self.existing_file(&format!("{path}.meta"), meta)?),
            None => {
                let beside = wasm_path.with_extension("meta.json");
                beside.is_file().then_some(beside)
            }
        };
        let config = match raw.config {
            None | Some(serde_json::Value::Null) => serde_json::Value::Null,
            Some(value @ (serde_json::Value::Object(_) | serde_json::Value::String(_))) => value,
            Some(other) => {
                return Err(self.err(
                    format!("{path}.config"),
                    format!(
                        "must be an object (sent as JSON) or a string (sent verbatim), not {}",
                        json_kind(&other)
                    ),
                ));
            }
        };
        Ok(PluginSpec {
            id: raw.id,
            root_id: raw.root_id.unwrap_or_else(|| raw.name.clone()),
            name: raw.name,
            wasm_path,
            meta_path,
            scope,
            enabled: raw.enabled.unwrap_or(true),
            config,
            vm_config: raw.vm_config.unwrap_or_default(),
            vm_id: raw.vm_id.unwrap_or_default(),
            tags: raw.tags,
        })
    }

    fn existing_file(&self, path: &str, value: &str) -> Result<PathBuf, ConfigError> {
        let candidate = Path::new(value);
        let resolved = if candidate.is_absolute() {
            candidate.to_path_buf()
        } else {
            self.base_dir.join(candidate)
        };
        if resolved.is_file() {
            Ok(resolved)
        } else {
            Err(self.err(
                path,
                format!("file {} not found (relative paths are resolved against the config file's directory)", resolved.display()),
            ))
        }
    }
}

pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// True for the canonical 8-4-4-4-12 hex form Kong uses for entity ids.
pub(crate) fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == lengths.len()
        && groups
            .iter()
            .zip(lengths)
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Splits `host[:port]` (IPv6 in brackets) into its parts; `default_port` when none is given.
pub(crate) fn parse_host_port(text: &str, default_port: u16) -> Result<(String, u16), String> {
    let bad = || format!("`{text}` is not a host:port address");
    if text.is_empty() || text.contains(|c: char| c.is_whitespace() || c == '/' || c == '@') {
        return Err(bad());
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().map_err(|_| bad())?,
            None if after.is_empty() => default_port,
            None => return Err(bad()),
        };
        return Ok((host.to_string(), port));
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            if host.is_empty() {
                return Err(bad());
            }
            Ok((host.to_string(), port.parse().map_err(|_| bad())?))
        }
        Some(_) => Err(bad()),
        None => Ok((text.to_string(), default_port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("9000".to_string()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_variables_and_defaults() {
        assert_eq!(substitute_env("a ${PORT} b", &env).unwrap(), "a 9000 b");
        assert_eq!(substitute_env("${MISSING:-7}", &env).unwrap(), "7");
        assert_eq!(substitute_env("$${PORT} $5", &env).unwrap(), "${PORT} $5");
        let error = substitute_env("x\ny: ${MISSING}", &env).unwrap_err();
        assert_eq!(error, "line 2: environment variable MISSING is not set");
        assert!(substitute_env("${bad name}", &env).is_err());
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(parse_host_port("a:1", 80).unwrap(), ("a".to_string(), 1));
        assert_eq!(parse_host_port("a", 80).unwrap(), ("a".to_string(), 80));
        assert_eq!(
            parse_host_port("[::1]:5", 80).unwrap(),
            ("::1".to_string(), 5)
        );
        assert!(parse_host_port("a:b", 80).is_err());
        assert!(parse_host_port("http://a", 80).is_err());
        assert!(parse_host_port(":80", 80).is_err());
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("5f35b796-ced6-4c00-9b2a-90eef745f4f9"));
        assert!(!is_uuid("5f35b796-ced6-4c00-9b2a"));
        assert!(!is_uuid("zf35b796-ced6-4c00-9b2a-90eef745f4f9"));
    }

    fn parse_text(text: &str) -> Result<GatewayConfig, ConfigError> {
        parse("gw.yaml", text, Path::new("/nonexistent"), env)
    }

    #[test]
    fn rejects_unknown_service_reference_with_path() {
        let text = "
services:
  - id: 5fa9e468-0007-4d7e-9aeb-49ca9edd6ccd
    url: http://127.0.0.1:${PORT}
    routes:
      - id: 6fa9e468-0007-4d7e-9aeb-49ca9edd6ccd
        paths: [/]
plugins:
  - id: 5f35b796-ced6-4c00-9b2a-90eef745f4f9
    name: x
    wasm: x.wasm
    service: 00000000-0000-0000-0000-000000000000
";
        let error = parse_text(text).unwrap_err().to_string();
        assert_eq!(
            error,
            "gw.yaml: plugins[0].service: no service with id 00000000-0000-0000-0000-000000000000"
        );
    }

    #[test]
    fn reports_type_errors_with_their_field_path() {
        let error = parse_text("workers: many\n").unwrap_err().to_string();
        assert!(
            error.starts_with("gw.yaml: workers: invalid type"),
            "{error}"
        );
        let error = parse_text("services:\n  - id: 1\n    url: x\n    colour: red\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("services[0]: unknown field `colour`"),
            "{error}"
        );
    }

    #[test]
    fn parses_services_and_routes() {
        let text = "
proxy_listen: 127.0.0.1:${PORT}
workers: 3
services:
  - id: 5fa9e468-0007-4d7e-9aeb-49ca9edd6ccd
    name: echo
    url: https://example.com/base
    routes:
      - id: 6fa9e468-0007-4d7e-9aeb-49ca9edd6ccd
        paths: [/api]
        strip_path: false
";
        let config = parse_text(text).unwrap();
        assert_eq!(config.proxy_listen.port(), 9000);
        assert_eq!(config.workers, 3);
        let service = &config.services[0];
        assert_eq!(
            (service.scheme, service.host.as_str(), service.port),
            (Scheme::Https, "example.com", 443)
        );
        assert_eq!(service.path, "/base");
        assert!(!config.routes[0].strip_path);
        assert_eq!(config.admin_listen.to_string(), DEFAULT_ADMIN_LISTEN);
    }

    #[test]
    fn rejects_bad_route_prefix_and_listen_address() {
        let text = "
services:
  - id: 5fa9e468-0007-4d7e-9aeb-49ca9edd6ccd
    url: http://a
    routes:
      - id: 6fa9e468-0007-4d7e-9aeb-49ca9edd6ccd
        paths: [api]
";
        let error = parse_text(text).unwrap_err().to_string();
        assert_eq!(
            error,
            "gw.yaml: services[0].routes[0].paths[0]: `api` must start with /"
        );
        let error = parse_text("admin_listen: localhost\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("gw.yaml: admin_listen: `localhost` is not an ip:port"),
            "{error}"
        );
    }
}
