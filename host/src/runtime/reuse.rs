//! Opt-in instance reuse (sidecar `instances = { reuse = N, idle_s = S }`):
//! an instance that answered goes back to its plugin version's pool and
//! serves later calls, one at a time, up to `N` calls in all, unless it sat
//! unused for `S` seconds. This trades per-request isolation for speed:
//! whatever the guest keeps in its memory or its resource table is there
//! at its next call of the *same* plugin version. A pool belongs to one
//! loaded version of one plugin, so nothing crosses plugins (or reloads).
//!
//! An instance is put back only after a call that answered: one that
//! trapped, ran out of time or memory, was cut short, or was denied an
//! outbound request is dropped with its store.

use std::any::Any;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use wasmtime::Store;

use super::state::HostState;

/// The most calls one instance may serve.
pub const MAX_REUSE: u32 = 1_000_000;
/// The longest an idle instance may be kept.
pub const MAX_IDLE: Duration = Duration::from_secs(3600);
pub const DEFAULT_IDLE: Duration = Duration::from_secs(60);

/// What a plugin's sidecar asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReusePolicy {
    /// Calls one instance serves before it is dropped (at least 1).
    pub max_uses: u32,
    /// How long an unused instance is kept.
    pub idle: Duration,
}

/// The idle instances of one loaded plugin version.
pub struct InstancePool {
    policy: ReusePolicy,
    idle: Mutex<Vec<Idle>>,
}

/// An instance waiting for its next call, with the store it lives in.
pub(super) struct Idle {
    pub store: Store<HostState>,
    /// The world's typed instance (`W::Instance`).
    pub instance: Box<dyn Any + Send>,
    /// Calls it has served.
    pub uses: u32,
    since: Instant,
}

impl std::fmt::Debug for InstancePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstancePool")
            .field("policy", &self.policy)
            .field("idle", &self.len())
            .finish()
    }
}

impl InstancePool {
    /// A pool, and on a running tokio runtime a task that drops instances
    /// idle for longer than the policy allows (it ends with the pool).
    /// [`Runtime::instance_pool`](super::Runtime::instance_pool) makes one
    /// the runtime can empty when its instance slots run out.
    pub(super) fn new(policy: ReusePolicy) -> Arc<InstancePool> {
        let pool = Arc::new(InstancePool {
            policy,
            idle: Mutex::new(Vec::new()),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep(Arc::downgrade(&pool), policy.idle));
        }
        pool
    }

    pub fn policy(&self) -> ReusePolicy {
        self.policy
    }

    /// Instances waiting for a call.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently used idle instance still within its idle time:
    /// its memory is the likeliest to be warm.
    pub(super) fn take(&self) -> Option<Idle> {
        let now = Instant::now();
        let mut stale = Vec::new();
        let found = {
            let mut idle = self.lock();
            loop {
                match idle.pop() {
                    None => break None,
                    Some(entry) if now.duration_since(entry.since) <= self.policy.idle => {
                        break Some(entry);
                    }
                    Some(entry) => stale.push(entry),
                }
            }
        };
        // Stores are dropped outside the lock: that returns their slots to
        // the instance allocator, which takes a moment.
        drop(stale);
        found
    }

    /// Keeps an instance that answered its call, unless it has served its
    /// share of calls.
    pub(super) fn put(&self, store: Store<HostState>, instance: Box<dyn Any + Send>, uses: u32) {
        if uses >= self.policy.max_uses {
            return;
        }
        self.lock().push(Idle {
            store,
            instance,
            uses,
            since: Instant::now(),
        });
    }

    /// Drops every idle instance; how many there were.
    pub(super) fn clear(&self) -> usize {
        let idle = std::mem::take(&mut *self.lock());
        idle.len()
    }

    /// Drops the instances idle for longer than the policy allows.
    fn sweep(&self, now: Instant) {
        let stale: Vec<Idle> = {
            let mut idle = self.lock();
            let (keep, stale) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|entry| now.duration_since(entry.since) <= self.policy.idle);
            *idle = keep;
            stale
        };
        drop(stale);
    }
}

async fn sweep(pool: Weak<InstancePool>, idle: Duration) {
    // Often enough that an instance outlives its idle time by at most a
    // fifth of it (and a second at most).
    let every = (idle / 5).clamp(Duration::from_millis(100), Duration::from_secs(1));
    loop {
        tokio::time::sleep(every).await;
        let Some(pool) = pool.upgrade() else { return };
        pool.sweep(Instant::now());
    }
}
