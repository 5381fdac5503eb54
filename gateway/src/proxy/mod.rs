//! The proxy listener: an acceptor spreads connections over the workers, which run the filter
//! chains and forward to the upstream services.

pub(crate) mod conn;
pub(crate) mod finish;
pub(crate) mod forward;
pub(crate) mod handler;
pub(crate) mod pipeline;
pub(crate) mod reply;
pub(crate) mod request;
pub(crate) mod resources;
pub(crate) mod worker;

use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedSender;

use crate::gateway::WorkerMessage;
use crate::log::{self, Level};

/// Accepts connections and hands them to the workers in turn.
pub(crate) async fn accept(listener: TcpListener, workers: Vec<UnboundedSender<WorkerMessage>>) {
    let mut next = 0usize;
    let mut id = 0u64;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Typically out of file descriptors: back off instead of spinning.
                log::gateway(Level::Warn, &format!("proxy listener: accept failed: {e}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(e) => {
                log::gateway(
                    Level::Warn,
                    &format!("proxy listener: cannot hand over the connection from {peer}: {e}"),
                );
                continue;
            }
        };
        id += 1;
        let Some(worker) = workers.get(next % workers.len().max(1)) else {
            return;
        };
        next = next.wrapping_add(1);
        if worker
            .send(WorkerMessage::Connection { stream, peer, id })
            .is_err()
        {
            log::gateway(
                Level::Error,
                "a worker has stopped; dropping its connection",
            );
        }
    }
}
