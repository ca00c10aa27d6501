//! Connections: the accept loop, the cap on open connections, and one task
//! per connection serving HTTP/1 or HTTP/2 with hyper until the peer is
//! done, the connection has been idle too long, or the host stops.

mod fd_limit;
mod refusal;
mod request;
mod throttle;
mod watchdog;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use refusal::Refused;
use throttle::Throttle;
pub use watchdog::Timeouts;
use watchdog::{Activity, Watched};

pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// HTTP/2: requests at once on one connection (RFC 9113 asks for at least 100).
const H2_MAX_STREAMS: u32 = 100;
/// HTTP/2: the largest header block, decoded, that a request may carry.
const H2_MAX_HEADER_LIST: u32 = 64 << 10;
/// HTTP/2: streams opened and reset by the peer before we saw them
/// (the "rapid reset" flood); past it the connection is closed.
const H2_MAX_PENDING_RESETS: usize = 20;
/// HTTP/2: streams we had to reset for the peer's errors; past it the
/// connection is closed ("made you reset").
const H2_MAX_LOCAL_RESETS: usize = 256;

/// After a failed accept (out of descriptors or memory): long enough for
/// connections to close, short enough that senders barely notice.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one line per this for refusals and failed accepts.
const LOG_EVERY: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub timeouts: Timeouts,
    /// Connections open at once; past it new ones get `503`.
    pub max_connections: usize,
}

impl Limits {
    /// Raises the open-file limit where allowed and fits `max_connections`
    /// (the default if `None`) under it.
    pub fn resolve(timeouts: Timeouts, max_connections: Option<usize>) -> Limits {
        let fds = fd_limit::raise();
        let budget = fd_limit::budget(fds);
        let max_connections = match max_connections {
            Some(wanted) if wanted > budget => {
                tracing::warn!(
                    "--max-connections {wanted} lowered to {budget}: the open-file limit is {fds}"
                );
                budget
            }
            Some(wanted) => wanted.max(1),
            None => budget.min(fd_limit::DEFAULT_CEILING),
        };
        tracing::info!(
            max_connections,
            open_file_limit = fds,
            header_timeout_s = timeouts.header.as_secs_f64(),
            idle_timeout_s = timeouts.idle.as_secs_f64(),
            "connection limits"
        );
        Limits {
            timeouts,
            max_connections,
        }
    }
}

/// What every connection task shares.
struct Shared {
    http: Builder<TokioExecutor>,
    app: Router,
    /// Set on an HTTPS listener: each connection's handshake comes first.
    tls: Option<TlsAcceptor>,
    timeouts: Timeouts,
    /// Cancelled when the host stops: connections finish what they are
    /// doing and close.
    stopping: CancellationToken,
}

/// Places under the connection cap; listeners that share the cap share one.
pub fn slots(limits: &Limits) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(limits.max_connections))
}

/// Accepts connections until `stop` resolves, then waits for the open ones
/// to finish their requests and close. Each holds one of `slots` while open.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    slots: Arc<Semaphore>,
    stop: impl Future<Output = ()>,
) {
    let shared = Arc::new(Shared {
        http: http(limits.timeouts),
        app,
        tls,
        timeouts: limits.timeouts,
        stopping: CancellationToken::new(),
    });
    let refusing = Arc::new(Semaphore::new(fd_limit::REFUSING_AT_ONCE));
    let tracker = TaskTracker::new();
    let mut over_cap = Throttle::new(LOG_EVERY);
    let mut failing = Throttle::new(LOG_EVERY);
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                if accept_failed(&e, &mut failing) {
                    tokio::select! {
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                        () = &mut stop => break,
                    }
                }
                continue;
            }
        };
        if let Some(missed) = failing.settle() {
            tracing::info!("accepting connections again ({missed} more accepts had failed)");
        }
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                if let Some(missed) = over_cap.settle() {
                    tracing::info!(
                        "below the connection cap again ({missed} more connections were refused)"
                    );
                }
                tracker.spawn(connection(stream, peer, shared.clone(), slot));
            }
            Err(_) => {
                crate::metrics::get().unavailable("connections");
                let refused = refusal::refuse(stream, &refusing);
                if let Some(n) = over_cap.hit() {
                    tracing::warn!(
                        %peer,
                        max_connections = limits.max_connections,
                        "refused {n} connection(s) over the cap (--max-connections): {}",
                        match refused {
                            Refused::Answered => "answered 503",
                            Refused::Dropped => "closed, too many refusals at once",
                        }
                    );
                }
            }
        }
    }
    drop(listener);
    shared.stopping.cancel();
    tracker.close();
    tracker.wait().await;
}

/// Logs a failed accept; `true` when it is the process's trouble (out of
/// descriptors or memory) rather than one connection's, so the loop waits.
fn accept_failed(e: &io::Error, failing: &mut Throttle) -> bool {
    use io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
    ) {
        tracing::debug!("a connection was gone before it was accepted: {e}");
        return false;
    }
    if let Some(n) = failing.hit() {
        tracing::error!("cannot accept connections ({n} time(s) since the last line): {e}");
    }
    true
}

fn http(timeouts: Timeouts) -> Builder<TokioExecutor> {
    let mut http = Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        // hyper's own header timer, as a second line: from the same start
        // as the watchdog's, and never due before it.
        .header_read_timeout(2 * timeouts.header + timeouts.idle);
    http.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_STREAMS)
        .max_header_list_size(H2_MAX_HEADER_LIST)
        .max_pending_accept_reset_streams(H2_MAX_PENDING_RESETS)
        .max_local_error_reset_streams(H2_MAX_LOCAL_RESETS);
    http
}

/// Serves one connection while it holds `_slot` under the cap.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    _slot: OwnedSemaphorePermit,
) {
    // Answers are small and written at once: do not wait to fill a segment.
    let _ = stream.set_nodelay(true);
    let activity = Activity::new();
    let io = Watched::new(stream, activity.clone());
    let Some(tls) = &shared.tls else {
        return serve_http(io, peer, &shared, activity).await;
    };
    // The handshake is bound by the clock a request's head is: a peer that
    // connects and stalls mid-handshake is closed as one that says nothing.
    let handshake = tokio::select! {
        done = tls.accept(io) => done,
        why = activity.expired(shared.timeouts) => {
            tracing::debug!(%peer, "connection closed during the TLS handshake: {}", why.reason());
            return;
        }
        () = shared.stopping.cancelled() => return,
    };
    match handshake {
        // An ACME server checking the TLS-ALPN-01 answer: it has seen it.
        Ok(stream) if stream.get_ref().1.alpn_protocol() == Some(super::tls::ACME_TLS_ALPN) => {
            tracing::debug!(%peer, "ACME TLS-ALPN-01 validation connection");
        }
        Ok(stream) => serve_http(stream, peer, &shared, activity).await,
        // A scanner, a client that does not trust the certificate, or
        // plain HTTP sent to the HTTPS port: the peer's business.
        Err(e) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
    }
}

/// Serves HTTP on one connection's (plain or decrypted) byte stream.
async fn serve_http<S>(stream: S, peer: SocketAddr, shared: &Shared, activity: Arc<Activity>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(stream);
    let service = {
        let (app, activity) = (shared.app.clone(), activity.clone());
        service_fn(move |req| request::handle(req, app.clone(), activity.clone(), peer))
    };
    let conn = shared.http.serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                return;
            }
            why = activity.expired(shared.timeouts) => {
                tracing::debug!(%peer, "connection closed: {}", why.reason());
                return;
            }
            () = shared.stopping.cancelled(), if !stopping => {
                stopping = true;
                if activity.is_idle() {
                    return;
                }
                // Finish the requests in progress, then close.
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
