//! Client connection limits (nginx's, with its defaults; see config/limits.rs):
//! - `worker_connections`: a worker holds at most this many client connections; one more is
//!   closed at once, with a warning, as nginx does when "worker_connections are not enough";
//! - `client_header_timeout`: the whole request head must arrive in time (hyper's header read
//!   timeout, which also bounds the wait for the next head on a kept-alive connection);
//! - `keepalive_timeout`: a connection with no request in flight and no new byte since its last
//!   response is closed after this time (zero: no keep-alive);
//! - `client_body_timeout` is applied where the body is read (handler.rs).
//!
//! Together they stop Slowloris-style clients (many connections sending a request slowly)
//! from holding a worker's connections for ever.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Counts a worker's open client connections.
#[derive(Default)]
pub(crate) struct ConnectionCount {
    open: Cell<usize>,
}

impl ConnectionCount {
    /// A slot for one more connection, if the cap allows it.
    pub(crate) fn admit(self: &Rc<Self>, cap: usize) -> Option<Admitted> {
        if self.open.get() >= cap {
            return None;
        }
        self.open.set(self.open.get() + 1);
        Some(Admitted {
            count: self.clone(),
        })
    }

    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        self.open.get()
    }
}

/// One admitted connection; frees its slot when dropped.
pub(crate) struct Admitted {
    count: Rc<ConnectionCount>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.count.open.set(self.count.open.get().saturating_sub(1));
    }
}

/// What the keep-alive watchdog needs to know about a connection.
pub(crate) struct Activity {
    bytes_read: Cell<u64>,
    in_flight: Cell<usize>,
    /// When the last response was handed over, and how many bytes had been read then.
    idle_since: Cell<(Instant, u64)>,
}

impl Activity {
    pub(crate) fn new() -> Rc<Activity> {
        Rc::new(Activity {
            bytes_read: Cell::new(0),
            in_flight: Cell::new(0),
            idle_since: Cell::new((Instant::now(), 0)),
        })
    }

    /// A request reached the service; the returned guard marks its end.
    pub(crate) fn request(self: &Rc<Self>) -> InFlight {
        self.in_flight.set(self.in_flight.get() + 1);
        InFlight {
            activity: self.clone(),
        }
    }

    /// When the connection counts as idle from (no request in flight, nothing read since the
    /// last response), if it is idle.
    fn idle_from(&self) -> Option<Instant> {
        let (since, read_then) = self.idle_since.get();
        (self.in_flight.get() == 0 && self.bytes_read.get() == read_then).then_some(since)
    }
}

pub(crate) struct InFlight {
    activity: Rc<Activity>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.activity;
        activity
            .in_flight
            .set(activity.in_flight.get().saturating_sub(1));
        activity
            .idle_since
            .set((Instant::now(), activity.bytes_read.get()));
    }
}

/// Resolves when the connection has been idle for `limit`.
pub(crate) async fn idle_for(activity: &Activity, limit: Duration) {
    loop {
        let wake = match activity.idle_from() {
            Some(since) if since + limit <= Instant::now() => return,
            Some(since) => since + limit,
            // Busy: look again later (the request's own timeouts bound it meanwhile).
            None => Instant::now() + limit,
        };
        tokio::time::sleep_until(wake).await;
    }
}

/// A client stream that counts the bytes read from it.
pub(crate) struct Tracked<S> {
    inner: S,
    activity: Rc<Activity>,
}

impl<S> Tracked<S> {
    pub(crate) fn new(inner: S, activity: Rc<Activity>) -> Tracked<S> {
        Tracked { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        if read > 0 {
            let total = self.activity.bytes_read.get() + read;
            self.activity.bytes_read.set(total);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_admits_until_full_and_frees_on_drop() {
        let count = Rc::new(ConnectionCount::default());
        let first = count.admit(2).unwrap();
        let _second = count.admit(2).unwrap();
        assert!(count.admit(2).is_none());
        drop(first);
        assert!(count.admit(2).is_some());
        assert_eq!(count.open(), 1);
    }

    #[test]
    fn a_connection_is_idle_only_without_requests_or_new_bytes() {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(idle_detection());
    }

    async fn idle_detection() {
        let activity = Activity::new();
        let request = activity.request();
        assert!(activity.idle_from().is_none());
        drop(request);
        assert!(activity.idle_from().is_some());
        activity.bytes_read.set(activity.bytes_read.get() + 10);
        assert!(
            activity.idle_from().is_none(),
            "a new request head is arriving"
        );
        drop(activity.request());
        let started = Instant::now();
        idle_for(&activity, Duration::from_millis(50)).await;
        assert!(Instant::now() - started >= Duration::from_millis(50));
    }
}
