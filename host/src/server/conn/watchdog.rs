//! How long a connection has had nothing to do: the one clock behind the
//! header and keep-alive timeouts, for HTTP/1 and HTTP/2 alike. hyper's own
//! header timer covers HTTP/1 only, and not the first bytes it reads to tell
//! the two apart; an HTTP/2 connection without streams has no timer at all.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From the first byte of a request (or, on a new connection, from
    /// accepting it) to the request being handled.
    pub header: Duration,
    /// From the end of an answer to the first byte of the next request.
    pub idle: Duration,
}

/// Why a connection was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expired {
    /// A request started (or the connection opened) and no request head
    /// was complete within the header timeout.
    Header,
    /// Nothing arrived since the last answer.
    Idle,
}

impl Expired {
    pub fn reason(self) -> &'static str {
        match self {
            Expired::Header => "no complete request within the header timeout",
            Expired::Idle => "idle past the keep-alive timeout",
        }
    }
}

/// One connection's activity, shared by its reads and writes, its requests
/// and the task that closes it when the clock runs out.
pub struct Activity {
    state: Mutex<State>,
    /// Woken when a deadline may have moved earlier, or appeared.
    changed: Notify,
}

struct State {
    /// Requests being handled now (HTTP/2 may have many at once): while
    /// there is one, the request's own deadlines apply instead.
    busy: usize,
    /// When the connection last had nothing to do: accepted, an answer
    /// finished, or an answer's bytes were last taken by the peer.
    since: Instant,
    /// The first byte that arrived since `since`, if one has.
    heard: Option<Instant>,
    /// No request yet: a silent new connection gets the header timeout.
    fresh: bool,
}

impl State {
    fn deadline(&self, t: Timeouts) -> Option<(Instant, Expired)> {
        if self.busy > 0 {
            return None;
        }
        Some(match self.heard {
            Some(at) => (at + t.header, Expired::Header),
            None if self.fresh => (self.since + t.header, Expired::Header),
            None => (self.since + t.idle, Expired::Idle),
        })
    }
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            state: Mutex::new(State {
                busy: 0,
                since: Instant::now(),
                heard: None,
                fresh: true,
            }),
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A request is being handled until the guard is dropped.
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.lock().busy += 1;
        Busy(self.clone())
    }

    /// No request is being handled.
    pub fn is_idle(&self) -> bool {
        self.lock().busy == 0
    }

    fn heard(&self) {
        let mut state = self.lock();
        if state.busy == 0 && state.heard.is_none() {
            // The header clock starts: it may end before the idle one would.
            state.heard = Some(Instant::now());
            drop(state);
            self.changed.notify_waiters();
        }
    }

    fn wrote(&self) {
        let mut state = self.lock();
        if state.busy == 0 && state.heard.is_none() {
            // A slow reader taking its answer is not idle.
            state.since = Instant::now();
        }
    }

    /// Resolves once the connection has had nothing to do for too long.
    pub async fn expired(&self, timeouts: Timeouts) -> Expired {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the state is read, so no change is missed.
            changed.as_mut().enable();
            let deadline = self.lock().deadline(timeouts);
            match deadline {
                None => changed.await,
                Some((at, why)) if at <= Instant::now() => return why,
                Some((at, _)) => tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = changed => {}
                },
            }
        }
    }
}

/// A request in progress; its end starts the idle clock.
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.busy = state.busy.saturating_sub(1);
        if state.busy == 0 {
            state.since = Instant::now();
            state.heard = None;
            state.fresh = false;
            drop(state);
            // From no deadline to the idle one.
            self.0.changed.notify_waiters();
        }
    }
}

/// A connection's socket, telling its [`Activity`] what it reads and writes.
pub struct Watched<T> {
    io: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    pub fn new(io: T, activity: Arc<Activity>) -> Self {
        Watched { io, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.io).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            self.activity.heard();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.io).poll_write(cx, buf))?;
        if written > 0 {
            self.activity.wrote();
        }
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.io).poll_write_vectored(cx, bufs))?;
        if written > 0 {
            self.activity.wrote();
        }
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(30),
    };

    #[tokio::test(start_paused = true)]
    async fn a_silent_new_connection_gets_the_header_timeout() {
        let activity = Activity::new();
        let start = Instant::now();
        assert_eq!(activity.expired(T).await, Expired::Header);
        assert_eq!(start.elapsed(), T.header);
    }

    #[tokio::test(start_paused = true)]
    async fn after_an_answer_the_idle_clock_runs_until_a_byte_arrives() {
        let activity = Activity::new();
        drop(activity.begin());
        let start = Instant::now();
        assert_eq!(activity.expired(T).await, Expired::Idle);
        assert_eq!(start.elapsed(), T.idle);

        drop(activity.begin());
        tokio::time::advance(Duration::from_secs(1)).await;
        activity.heard();
        let heard = Instant::now();
        assert_eq!(activity.expired(T).await, Expired::Header);
        assert_eq!(heard.elapsed(), T.header);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_progress_has_no_deadline_here() {
        let activity = Activity::new();
        let busy = activity.begin();
        let waiting = tokio::time::timeout(T.idle * 10, activity.expired(T)).await;
        assert!(waiting.is_err(), "closed with a request in progress");
        drop(busy);
        let start = Instant::now();
        assert_eq!(activity.expired(T).await, Expired::Idle);
        assert_eq!(start.elapsed(), T.idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_byte_while_waiting_moves_the_deadline_earlier() {
        let activity = Activity::new();
        drop(activity.begin());
        let waiter = {
            let activity = activity.clone();
            tokio::spawn(async move { activity.expired(T).await })
        };
        tokio::time::advance(Duration::from_secs(1)).await;
        activity.heard();
        let heard = Instant::now();
        assert_eq!(waiter.await.ok(), Some(Expired::Header));
        assert_eq!(heard.elapsed(), T.header);
    }
}
