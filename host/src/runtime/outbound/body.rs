//! The response body a guest reads: cut off past the plugin's byte cap, and
//! when the remote goes quiet for longer than allowed or the call's deadline
//! comes.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::Sleep;
use wasmtime_wasi_http::Error;

use super::CallFlags;
use super::pool::Keep;
use crate::outbound::bounded;

pub(super) struct CappedBody {
    inner: Incoming,
    /// Bytes the guest may still receive.
    left: u64,
    cap: u64,
    /// The longest wait for the next frame.
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    deadline: Instant,
    flags: Arc<CallFlags>,
    /// After an error the body ends: nothing past the cap is handed over.
    done: bool,
    /// The connection, handed back to the pool once the body has ended.
    keep: Option<Keep>,
}

impl CappedBody {
    pub fn new(
        inner: Incoming,
        cap: u64,
        idle: Duration,
        deadline: Instant,
        flags: Arc<CallFlags>,
        keep: Keep,
    ) -> Self {
        let timer = Box::pin(tokio::time::sleep(bounded(idle, deadline)));
        CappedBody {
            inner,
            left: cap,
            cap,
            idle,
            timer,
            deadline,
            flags,
            done: false,
            keep: Some(keep),
        }
    }

    /// Read to its end: the connection can carry the next request. Before
    /// the guest sees the end, so its next request finds it in the pool.
    fn ended(&mut self) {
        if let Some(keep) = self.keep.take() {
            keep.done();
        }
    }

    fn fail(&mut self, error: Error) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.done = true;
        // Bytes may be left on the connection: it is not reused.
        self.keep = None;
        Poll::Ready(Some(Err(error)))
    }
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > this.left {
                        return this.fail(Error::HttpResponseBodySize(Some(this.cap)));
                    }
                    this.left -= len;
                }
                let next = bounded(this.idle, this.deadline);
                this.timer
                    .as_mut()
                    .reset(tokio::time::Instant::now() + next);
                if this.inner.is_end_stream() {
                    this.ended();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => this.fail(Error::Hyper(e)),
            Poll::Ready(None) => {
                this.done = true;
                this.ended();
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                if Instant::now() >= this.deadline {
                    this.flags.deadline_hit.store(true, Ordering::Relaxed);
                }
                this.fail(Error::ConnectionReadTimeout)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
