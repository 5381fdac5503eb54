//! The admin listener: the part of Kong's Admin API the project uses (`/plugins`), the node
//! status (`/`, `/status`) and Prometheus metrics (`/metrics`).

pub(crate) mod access;
pub(crate) mod export;
pub(crate) mod form;
pub(crate) mod plugins;
pub(crate) mod secrets;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use crate::gateway::Gateway;
use crate::log::{self, Level};

/// Admin request bodies larger than this are refused.
const MAX_ADMIN_BODY: usize = 1024 * 1024;

pub(crate) async fn serve(listener: tokio::net::TcpListener, gateway: Arc<Gateway>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                log::gateway(Level::Warn, &format!("admin listener: accept failed: {e}"));
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let gateway = gateway.clone();
        let Ok(local) = stream.local_addr() else {
            continue;
        };
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let gateway = gateway.clone();
                async move {
                    if let Some(refused) = refuse(&gateway, local, peer, &request) {
                        return Ok::<_, Infallible>(refused);
                    }
                    Ok::<_, Infallible>(route(gateway, request).await)
                }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                log::gateway(
                    Level::Debug,
                    &format!("admin connection from {peer} ended: {e}"),
                );
            }
        });
    }
}

/// The answer to a request the admin access rules refuse (access.rs), if they do.
fn refuse(
    gateway: &Gateway,
    local: std::net::SocketAddr,
    peer: std::net::SocketAddr,
    request: &Request<Incoming>,
) -> Option<Response<Full<Bytes>>> {
    let headers = request.headers();
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok());
    // The readiness probe needs no token (it tells nothing but "up"); the Host check holds.
    let probe = request.method() == Method::GET && request.uri().path() == "/status";
    let token = headers.get(access::token_header()).map(|v| v.as_bytes());
    match access::check(&gateway.config.admin, local, host, token, probe) {
        Ok(()) => None,
        Err(access::Refusal::Host(host)) => {
            log::gateway(
                Level::Warn,
                &format!(
                    "admin: refused a request from {peer} for Host `{host}` (not this listener)"
                ),
            );
            Some(json_response(
                StatusCode::MISDIRECTED_REQUEST,
                &json!({ "message": "this Host is not served by the admin API" }),
            ))
        }
        Err(access::Refusal::Token) => {
            log::gateway(
                Level::Warn,
                &format!("admin: refused a request from {peer} without a valid admin token"),
            );
            Some(json_response(
                StatusCode::UNAUTHORIZED,
                &json!({ "message": "Invalid credentials. Token or User credentials required" }),
            ))
        }
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

async fn route(gateway: Arc<Gateway>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().clone();
    let path = request.uri().path().trim_end_matches('/').to_string();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let response = match (method.clone(), segments.as_slice()) {
        (Method::GET, []) => json_response(StatusCode::OK, &node_info(&gateway)),
        (Method::GET, ["status"]) => json_response(StatusCode::OK, &status(&gateway)),
        (Method::GET, ["metrics"]) => {
            let mut response = Response::new(Full::new(Bytes::from(gateway.metrics.render())));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        (Method::GET, ["plugins"]) => json_response(StatusCode::OK, &plugins::list_json(&gateway)),
        (Method::GET, ["plugins", id]) => match gateway.plugin_by_id(id) {
            Some((_, plugin)) => {
                json_response(StatusCode::OK, &plugins::plugin_json(&gateway, plugin))
            }
            None => json_response(StatusCode::NOT_FOUND, &json!({ "message": "Not found" })),
        },
        (Method::PATCH, ["plugins", id]) => {
            let id = id.to_string();
            let content_type = request
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            match Limited::new(request.into_body(), MAX_ADMIN_BODY)
                .collect()
                .await
            {
                Ok(body) => {
                    let (status, body) =
                        plugins::patch(&gateway, &id, &content_type, &body.to_bytes()).await;
                    json_response(status, &body)
                }
                Err(e) => json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({ "message": format!("cannot read the request body: {e}") }),
                ),
            }
        }
        (_, [] | ["status"] | ["metrics"] | ["plugins"] | ["plugins", _]) => json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({ "message": "Method not allowed" }),
        ),
        _ => json_response(StatusCode::NOT_FOUND, &json!({ "message": "Not found" })),
    };
    log::gateway(
        Level::Debug,
        &format!("admin {method} {path} -> {}", response.status().as_u16()),
    );
    response
}

fn node_info(gateway: &Gateway) -> Value {
    let config = &gateway.config;
    let plugins: Vec<&str> = gateway
        .plugins
        .iter()
        .map(|p| p.spec.name.as_str())
        .collect();
    json!({
        "tagline": "Welcome to gateway",
        "version": env!("CARGO_PKG_VERSION"),
        "node_id": config.node_id,
        "hostname": config.node_id,
        "configuration": {
            "proxy_listen": [config.proxy_listen.to_string()],
            "admin_listen": [config.admin_listen.to_string()],
            "workers": config.workers,
        },
        "plugins": { "enabled_in_cluster": plugins },
    })
}

fn status(gateway: &Gateway) -> Value {
    json!({
        "database": { "reachable": true },
        "server": {
            // Tells a readiness probe that this process answers, not another that took a
            // port meant for it.
            "pid": std::process::id(),
            "workers": gateway.config.workers,
            "plugins": gateway.plugins.len(),
        },
    })
}
