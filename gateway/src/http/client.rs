//! An HTTP/1.1 client for one worker: keep-alive connections pooled per target, TLS with rustls
//! (ring) for https targets. Used to forward requests upstream and for filters' HTTP calls.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::config::Scheme;
use crate::http::body::OutBody;
use crate::log::{self, Level};

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Target {
    pub(crate) scheme: Scheme,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The name the TLS certificate must match (and the SNI): for a filter's call, the host
    /// of its `:authority` (as Kong uses it); for a service, its host.
    pub(crate) tls_name: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(
                f,
                "{}://[{}]:{}",
                self.scheme.as_str(),
                self.host,
                self.port
            )
        } else {
            write!(f, "{}://{}:{}", self.scheme.as_str(), self.host, self.port)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    #[error("connect failed: {0}")]
    Connect(std::io::Error),
    #[error("`{0}` is not a valid TLS server name")]
    InvalidServerName(String),
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    #[error("HTTP/1.1 handshake failed: {0}")]
    Handshake(hyper::Error),
    #[error("request failed: {0}")]
    Exchange(hyper::Error),
}

impl ClientError {
    /// A short reason in the spirit of ngx_wasm_module's `:dispatch_status` values.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            ClientError::Connect(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                "connection refused"
            }
            ClientError::Connect(_) => "connect failure",
            ClientError::InvalidServerName(_) | ClientError::Tls(_) => "tls handshake failure",
            ClientError::Handshake(_) | ClientError::Exchange(_) => "broken connection",
        }
    }
}

/// Idle keep-alive connections kept per target.
const MAX_IDLE_PER_TARGET: usize = 256;

pub(crate) struct HttpClient {
    idle: RefCell<HashMap<Target, Vec<SendRequest<OutBody>>>>,
    tls: TlsConnector,
}

/// A connection in use; `release` returns it to the pool once the response body has been read.
pub(crate) struct Lease {
    client: Rc<HttpClient>,
    target: Target,
    sender: SendRequest<OutBody>,
}

impl Lease {
    pub(crate) fn release(self) {
        if self.sender.is_closed() {
            return;
        }
        let mut idle = self.client.idle.borrow_mut();
        let list = idle.entry(self.target).or_default();
        if list.len() < MAX_IDLE_PER_TARGET {
            list.push(self.sender);
        }
    }
}

impl HttpClient {
    pub(crate) fn new(tls: Arc<rustls::ClientConfig>) -> Rc<HttpClient> {
        Rc::new(HttpClient {
            idle: RefCell::new(HashMap::new()),
            tls: TlsConnector::from(tls),
        })
    }

    /// Sends the request `build` makes. A pooled connection that turns out to be closed by the
    /// peer is discarded and the request is sent again on another one.
    pub(crate) async fn send(
        self: &Rc<Self>,
        target: &Target,
        build: impl Fn() -> Request<OutBody>,
    ) -> Result<(Response<Incoming>, Lease), ClientError> {
        loop {
            let pooled = self.idle.borrow_mut().get_mut(target).and_then(Vec::pop);
            let Some(mut sender) = pooled else { break };
            if sender.ready().await.is_err() {
                continue;
            }
            match sender.send_request(build()).await {
                Ok(response) => return Ok((response, self.lease(target, sender))),
                Err(e) if e.is_canceled() || e.is_closed() || e.is_incomplete_message() => continue,
                Err(e) => return Err(ClientError::Exchange(e)),
            }
        }
        let mut sender = self.connect(target).await?;
        sender.ready().await.map_err(ClientError::Handshake)?;
        let response = sender
            .send_request(build())
            .await
            .map_err(ClientError::Exchange)?;
        Ok((response, self.lease(target, sender)))
    }

    fn lease(self: &Rc<Self>, target: &Target, sender: SendRequest<OutBody>) -> Lease {
        Lease {
            client: self.clone(),
            target: target.clone(),
            sender,
        }
    }

    async fn connect(&self, target: &Target) -> Result<SendRequest<OutBody>, ClientError> {
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(ClientError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let builder = hyper::client::conn::http1::Builder::new();
        match target.scheme {
            Scheme::Http => {
                let (sender, connection) = builder
                    .handshake(TokioIo::new(tcp))
                    .await
                    .map_err(ClientError::Handshake)?;
                spawn_connection(target, connection);
                Ok(sender)
            }
            Scheme::Https => {
                let name = ServerName::try_from(target.tls_name.clone())
                    .map_err(|_| ClientError::InvalidServerName(target.tls_name.clone()))?;
                let tls = self
                    .tls
                    .connect(name, tcp)
                    .await
                    .map_err(ClientError::Tls)?;
                let (sender, connection) = builder
                    .handshake(TokioIo::new(tls))
                    .await
                    .map_err(ClientError::Handshake)?;
                spawn_connection(target, connection);
                Ok(sender)
            }
        }
    }
}

fn spawn_connection<F>(target: &Target, connection: F)
where
    F: std::future::Future<Output = Result<(), hyper::Error>> + 'static,
{
    let target = target.to_string();
    tokio::task::spawn_local(async move {
        if let Err(e) = connection.await {
            log::gateway(Level::Debug, &format!("connection to {target} ended: {e}"));
        }
    });
}

/// The rustls client config: webpki roots plus the PEM certificates of `ca_file`, if any.
pub(crate) fn tls_config(
    ca_file: Option<&std::path::Path>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        let mut added = 0;
        for cert in certs {
            let cert = cert.map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!(
                "ca_file {}: no PEM certificates found",
                path.display()
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
