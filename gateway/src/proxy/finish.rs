//! A stream's end of life: once its response is sent (or the request is abandoned, or the
//! connection reset), every filter that saw it gets proxy_on_done/log/delete and the access
//! log gets its line. Drop handlers cannot call into a VM, so they queue the work and a task
//! of the worker drains the queue.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use http::Response;
use tokio::sync::Notify;

use crate::http::body::OutBody;
use crate::log;
use crate::vm::exchange::{access, Exchange};
use crate::vm::slot::{PluginSlot, StreamHandle};

pub(crate) struct AccessRecord {
    pub(crate) client: SocketAddr,
    pub(crate) method: String,
    pub(crate) path: String,
    /// 0 until a response exists (a reset or an abandoned request).
    pub(crate) status: u16,
    pub(crate) bytes: usize,
    pub(crate) started: Instant,
}

/// A finished stream waiting for proxy_on_done/log/delete and its access log line.
pub(crate) struct Finished {
    exchange: Option<Rc<RefCell<Exchange>>>,
    filters: Vec<(Rc<PluginSlot>, StreamHandle)>,
    access: AccessRecord,
}

/// Streams that ended, waiting for their end-of-life work.
#[derive(Default)]
pub(crate) struct FinishQueue {
    items: RefCell<VecDeque<Finished>>,
    notify: Notify,
}

impl FinishQueue {
    fn push(&self, finished: Finished) {
        self.items.borrow_mut().push_back(finished);
        self.notify.notify_one();
    }

    /// Runs the end-of-life work of every stream that ends, for ever (a task of the worker).
    pub(crate) async fn drain(self: Rc<Self>) {
        loop {
            let next = self.items.borrow_mut().pop_front();
            match next {
                Some(finished) => finish(finished),
                None => self.notify.notified().await,
            }
        }
    }
}

/// Owned by the request, then by the response body: when dropped (response sent, request
/// abandoned, or connection reset) the stream's end-of-life work is queued.
pub(crate) struct StreamGuard {
    queue: Rc<FinishQueue>,
    finished: Option<Finished>,
}

impl StreamGuard {
    pub(crate) fn new(queue: Rc<FinishQueue>, access: AccessRecord) -> StreamGuard {
        StreamGuard {
            queue,
            finished: Some(Finished {
                exchange: None,
                filters: Vec::new(),
                access,
            }),
        }
    }

    /// The request's exchange, whose filters get their end-of-life callbacks.
    pub(crate) fn set_exchange(&mut self, exchange: Rc<RefCell<Exchange>>) {
        if let Some(f) = self.finished.as_mut() {
            f.exchange = Some(exchange);
        }
    }

    /// Records that the filter at the next chain position has a stream context.
    pub(crate) fn enter(&mut self, slot: Rc<PluginSlot>, handle: StreamHandle) {
        if let Some(f) = self.finished.as_mut() {
            f.filters.push((slot, handle));
        }
    }

    /// How many filters (a prefix of the chain) have a stream context.
    pub(crate) fn entered(&self) -> usize {
        self.finished.as_ref().map_or(0, |f| f.filters.len())
    }

    pub(crate) fn handle(&self, index: usize) -> Option<StreamHandle> {
        self.finished
            .as_ref()
            .and_then(|f| f.filters.get(index))
            .map(|(_, h)| *h)
    }

    /// Hands the guard to the response body, recording what the access log prints.
    pub(crate) fn attach(mut self, response: Response<OutBody>) -> Response<OutBody> {
        if let Some(f) = self.finished.as_mut() {
            f.access.status = response.status().as_u16();
            f.access.bytes = response.body().len();
        }
        response.map(|body| body.with_guard(self))
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if let Some(finished) = self.finished.take() {
            self.queue.push(finished);
        }
    }
}

/// End-of-stream work: each filter's context may log, then is retired; then the access line.
fn finish(finished: Finished) {
    if let Some(exchange) = &finished.exchange {
        for (index, (slot, handle)) in finished.filters.iter().enumerate() {
            {
                let mut exchange = exchange.borrow_mut();
                exchange.revoke(index, u8::MAX);
                exchange.grant(index, access::LOG);
            }
            slot.finish_stream(handle);
        }
    }
    let a = &finished.access;
    log::access(
        &a.client.to_string(),
        &a.method,
        &a.path,
        a.status,
        a.bytes,
        a.started.elapsed(),
    );
}
