//! A fully buffered HTTP body (data, then optional trailers) used for everything the gateway
//! sends: responses to clients, requests upstream, dispatched calls.

use std::any::Any;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

#[derive(Default)]
pub(crate) struct OutBody {
    data: Option<Bytes>,
    trailers: Option<http::HeaderMap>,
    /// Kept alive until the body is dropped (sent or abandoned); its Drop runs end-of-stream
    /// work such as proxy_on_log and the access log line.
    guard: Option<Box<dyn Any>>,
}

impl OutBody {
    pub(crate) fn new(data: impl Into<Bytes>, trailers: Option<http::HeaderMap>) -> OutBody {
        let data = data.into();
        OutBody {
            data: (!data.is_empty()).then_some(data),
            trailers: trailers.filter(|t| !t.is_empty()),
            guard: None,
        }
    }

    pub(crate) fn empty() -> OutBody {
        OutBody::default()
    }

    pub(crate) fn with_guard(mut self, guard: impl Any) -> OutBody {
        self.guard = Some(Box::new(guard));
        self
    }

    pub(crate) fn len(&self) -> usize {
        self.data.as_ref().map_or(0, Bytes::len)
    }
}

impl Body for OutBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(data) = this.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if self.trailers.is_some() {
            // Trailers need chunked encoding: leave the length open.
            let mut hint = SizeHint::new();
            hint.set_lower(self.len() as u64);
            hint
        } else {
            SizeHint::with_exact(self.len() as u64)
        }
    }
}
