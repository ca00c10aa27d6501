//! Keep-alive for one plugin's outbound connections. A connection whose
//! response was read to its end comes back here and carries the plugin's
//! next request to the same origin, as reqwest's and hyper-util's pools do:
//! a new TCP (and TLS) handshake per request would cost more than the rest
//! of the call.
//!
//! The pool belongs to one loaded plugin version, so no other plugin's
//! request ever rides on its connections and a reload starts empty. Its
//! connections were checked against the allow-list and the SSRF rule when
//! they were opened, and every request on them was admitted by the same
//! plugin's policy. An idle connection keeps its permit under
//! `max_connections`; a plugin at its limit closes its oldest idle one
//! rather than wait for it to time out.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;
use wasmtime_wasi_http::WasiBody;

use super::origin::Origin;

/// How long an unused connection is kept open. Servers close idle ones
/// themselves (nginx after 75 s, Node after 5 s), which a pooled
/// connection notices as soon as it happens.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

type Sender = SendRequest<WasiBody>;

#[derive(Default)]
pub(super) struct Pool {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Oldest first.
    idle: Vec<Idle>,
    /// A task is closing connections idle for longer than [`IDLE_TIMEOUT`].
    reaping: bool,
}

struct Idle {
    origin: Origin,
    sender: Sender,
    since: Instant,
}

impl Idle {
    fn usable(&self) -> bool {
        !self.sender.is_closed() && self.since.elapsed() < IDLE_TIMEOUT
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("idle", &self.lock().idle.len())
            .finish()
    }
}

/// A connection whose response is being read: it goes back to the pool
/// when the body has been read to its end ([`Keep::done`]), and closes if
/// this is dropped first (hyper cannot reuse a connection with unread
/// bytes on it).
pub(super) struct Keep {
    pool: Weak<Pool>,
    origin: Origin,
    sender: Sender,
}

impl Keep {
    pub fn done(self) {
        if let Some(pool) = self.pool.upgrade() {
            pool.put(self.origin, self.sender);
        }
    }
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing under the lock can leave the list half-changed.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection to `origin` ready for a request, the most recently used
    /// first. One handed back a moment ago may still be finishing its last
    /// response inside hyper; that takes one turn of its task.
    pub async fn take(&self, origin: &Origin) -> Option<Sender> {
        loop {
            let mut sender = {
                let mut inner = self.lock();
                inner.idle.retain(Idle::usable);
                let at = inner.idle.iter().rposition(|c| &c.origin == origin)?;
                inner.idle.remove(at).sender
            };
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    /// Closes the connection idle the longest; its permit comes back once
    /// its task has ended.
    pub fn close_oldest(&self) {
        let mut inner = self.lock();
        inner.idle.retain(Idle::usable);
        if !inner.idle.is_empty() {
            inner.idle.remove(0);
        }
    }

    pub fn keep(self: &Arc<Self>, origin: Origin, sender: Sender) -> Keep {
        Keep {
            pool: Arc::downgrade(self),
            origin,
            sender,
        }
    }

    fn put(self: Arc<Self>, origin: Origin, sender: Sender) {
        let reaper = {
            let mut inner = self.lock();
            inner.idle.push(Idle {
                origin,
                sender,
                since: Instant::now(),
            });
            !std::mem::replace(&mut inner.reaping, true)
        };
        // Always inside the runtime (a guest's read); without one, stale
        // connections are still dropped by the next `take`.
        if reaper && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(reap(Arc::downgrade(&self)));
        }
    }
}

/// Closes idle connections as they pass [`IDLE_TIMEOUT`]; ends when none
/// is left (the next one kept starts another) or the pool is gone.
async fn reap(pool: Weak<Pool>) {
    loop {
        tokio::time::sleep(IDLE_TIMEOUT / 4).await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        let mut inner = pool.lock();
        inner.idle.retain(Idle::usable);
        if inner.idle.is_empty() {
            inner.reaping = false;
            return;
        }
    }
}
