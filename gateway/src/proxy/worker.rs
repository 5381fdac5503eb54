//! A worker: one OS thread with a current-thread tokio runtime and its own VM instance of
//! every plugin. Connections arrive from the acceptor over a channel, as do admin requests
//! (live reconfiguration) and shared-queue notifications.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::gateway::{Gateway, WorkerMessage};
use crate::log::{self, Level};
use crate::proxy::conn::{self, Activity, Tracked};
use crate::proxy::resources::Worker;
use crate::proxy::{handler, request};

/// Starts worker `index`; `ready` hears whether its VM instances came up.
pub(crate) fn spawn(
    index: usize,
    gateway: Arc<Gateway>,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
) -> std::io::Result<UnboundedSender<WorkerMessage>> {
    let (sender, receiver) = unbounded_channel();
    std::thread::Builder::new()
        .name(format!("worker-{index}"))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready.send(Err(format!(
                        "worker {index}: cannot start its runtime: {e}"
                    )));
                    return;
                }
            };
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, run(index, gateway, ready, receiver));
        })?;
    Ok(sender)
}

async fn run(
    index: usize,
    gateway: Arc<Gateway>,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
    mut receiver: UnboundedReceiver<WorkerMessage>,
) {
    let worker = match Worker::start(index, gateway) {
        Ok(worker) => Rc::new(worker),
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    tokio::task::spawn_local(worker.finished.clone().drain());
    while let Some(message) = receiver.recv().await {
        worker.handle(message);
    }
}

impl Worker {
    fn handle(self: &Rc<Self>, message: WorkerMessage) {
        match message {
            WorkerMessage::Connection { stream, peer, id } => self.serve(stream, peer, id),
            WorkerMessage::Prepare {
                plugin,
                config,
                reply,
            } => {
                let outcome = match self.slots.get(plugin) {
                    Some(slot) => slot.prepare(&config),
                    None => Err(format!("no plugin #{plugin}")),
                };
                let _ = reply.send(outcome);
            }
            WorkerMessage::Commit { plugin, reply } => {
                if let Some(slot) = self.slots.get(plugin) {
                    slot.commit();
                }
                let _ = reply.send(());
            }
            WorkerMessage::Abort { plugin, reply } => {
                if let Some(slot) = self.slots.get(plugin) {
                    slot.abort();
                }
                let _ = reply.send(());
            }
            WorkerMessage::QueueReady { owner, queue } => {
                if let Some(slot) = self.slots.get(owner.plugin) {
                    slot.queue_ready(owner.root_context, queue);
                }
            }
        }
    }

    fn serve(self: &Rc<Self>, stream: std::net::TcpStream, peer: SocketAddr, id: u64) {
        let limits = self.gateway.config.client;
        let Some(admitted) = self.connections.admit(limits.worker_connections) else {
            // nginx: "worker_connections are not enough"; the connection is closed at once.
            log::gateway(
                Level::Warn,
                &format!(
                    "worker {}: {} connections open (worker_connections); closing the one from {peer}",
                    self.index, limits.worker_connections
                ),
            );
            return;
        };
        let stream = match tokio::net::TcpStream::from_std(stream) {
            Ok(stream) => stream,
            Err(e) => {
                log::gateway(
                    Level::Warn,
                    &format!(
                        "worker {}: cannot take connection from {peer}: {e}",
                        self.index
                    ),
                );
                return;
            }
        };
        let local = match stream.local_addr() {
            Ok(local) => local,
            Err(_) => return,
        };
        let connection = Rc::new(request::Connection { peer, local, id });
        let worker = self.clone();
        let activity = Activity::new();
        tokio::task::spawn_local(async move {
            let _admitted = admitted;
            let requests = activity.clone();
            let service = service_fn(move |request| {
                let in_flight = requests.request();
                let handled = handler::handle(worker.clone(), connection.clone(), request);
                async move {
                    let response = handled.await;
                    drop(in_flight);
                    response
                }
            });
            let keep_alive = !limits.keepalive_timeout.is_zero();
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(keep_alive)
                .serve_connection(
                    TokioIo::new(Tracked::new(stream, activity.clone())),
                    service,
                );
            tokio::pin!(served);
            let mut closing = false;
            let served = loop {
                tokio::select! {
                    result = served.as_mut() => break result,
                    _ = conn::idle_for(&activity, limits.keepalive_timeout), if keep_alive && !closing => {
                        // keepalive_timeout: an idle connection is closed.
                        closing = true;
                        served.as_mut().graceful_shutdown();
                    }
                }
            };
            if let Err(e) = served {
                let level = if e.is_timeout() {
                    Level::Info
                } else {
                    Level::Debug
                };
                log::gateway(level, &format!("connection from {peer} ended: {e}"));
            }
        });
    }
}
