//! Deliveries answered before their plugin runs: Worksection's, and
//! generic hooks with `mode = "async"`. Each is committed to the journal
//! before the sender gets its answer, then handled by its plugin's own
//! worker: at most the plugin's `concurrency` at once, so a slow or failing
//! plugin never delays another's; a failed attempt is retried on the
//! plugin's schedule with full jitter, and a delivery out of attempts goes
//! dead, kept for `hookhost replay`. After a crash the journal still holds
//! everything not done, and the workers start again from it (at least
//! once). A stop lets running attempts end and leaves the rest journaled.

mod run;
mod worker;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, header};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::error::ApiError;
use crate::journal::{
    Delivery, DeliveryDetail, DeliveryId, Depth, Filter, Journal, JournalError, NewDelivery,
    SeenAnswer, now_ms,
};
use crate::plugins::SharedRegistry;
use crate::runtime::Runtime;

pub use run::{HTTP_HOOK, HookMeta, WORKSECTION};

/// The journal's default size cap; past it new deliveries get 503.
pub const DEFAULT_JOURNAL_CAP: u64 = 1 << 30;
/// How often handled deliveries past `--keep-days` are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How often the journal's size is read again for the cap.
const SIZE_EVERY: Duration = Duration::from_secs(1);

pub struct Deliveries {
    shared: Arc<Shared>,
}

struct Shared {
    journal: Arc<dyn Journal>,
    registry: SharedRegistry,
    runtime: Arc<Runtime>,
    /// One wake-up per plugin with a worker.
    workers: Mutex<HashMap<Arc<str>, Arc<Notify>>>,
    tracker: TaskTracker,
    stop: CancellationToken,
    /// Attempts running now, across plugins.
    running: AtomicUsize,
    cap_bytes: u64,
    size: Mutex<(Instant, u64)>,
    size_bytes: AtomicU64,
}

impl Deliveries {
    pub fn new(
        journal: Arc<dyn Journal>,
        registry: SharedRegistry,
        runtime: Arc<Runtime>,
        cap_bytes: u64,
    ) -> Deliveries {
        Deliveries {
            shared: Arc::new(Shared {
                journal,
                registry,
                runtime,
                workers: Mutex::default(),
                tracker: TaskTracker::new(),
                stop: CancellationToken::new(),
                running: AtomicUsize::new(0),
                cap_bytes,
                // Read at the first delivery.
                size: Mutex::new((Instant::now() - SIZE_EVERY, 0)),
                size_bytes: AtomicU64::new(0),
            }),
        }
    }

    /// Starts a worker for every plugin the journal holds work for (what
    /// was accepted before a crash or a stop), and the hourly deletion of
    /// deliveries handled longer than `keep` ago.
    pub async fn recover(&self, keep: Duration) -> Result<usize, crate::journal::JournalError> {
        let plugins = self.shared.journal.plugins_with_work().await?;
        for plugin in &plugins {
            self.wake(plugin);
        }
        let shared = self.shared.clone();
        self.shared.tracker.spawn(async move {
            let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
            loop {
                match shared
                    .journal
                    .purge_done(now_ms().saturating_sub(keep_ms))
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        deliveries = n,
                        "handled deliveries deleted from the journal"
                    ),
                    Err(e) => tracing::warn!("cannot delete old deliveries: {e}"),
                }
                tokio::select! {
                    () = tokio::time::sleep(PURGE_EVERY) => {}
                    () = shared.stop.cancelled() => return,
                }
            }
        });
        Ok(plugins.len())
    }

    /// Commits the delivery to the journal; `Ok` only once it is on disk,
    /// so the sender may be told it was accepted.
    pub async fn accept(
        &self,
        plugin: &str,
        kind: &str,
        payload: Vec<u8>,
        meta: String,
    ) -> Result<DeliveryId, ApiError> {
        let unavailable = |cause, why: &'static str| {
            ApiError::unavailable(cause, why)
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("60"))
        };
        if self.shared.stop.is_cancelled() {
            return Err(unavailable("shutting_down", "shutting down; retry later"));
        }
        let size = self.journal_size().await;
        if size >= self.shared.cap_bytes {
            tracing::error!(
                plugin,
                journal_bytes = size,
                "delivery refused: the journal is over its cap of {} MiB",
                self.shared.cap_bytes >> 20
            );
            return Err(unavailable(
                "journal_full",
                "too many deliveries waiting; retry later",
            ));
        }
        let delivery = NewDelivery {
            plugin: plugin.to_owned(),
            kind: kind.to_owned(),
            received_at: now_ms(),
            payload,
            meta,
        };
        let id = self.shared.journal.append(delivery).await.map_err(|e| {
            tracing::error!(plugin, "delivery refused: journal write failed: {e}");
            unavailable(
                "journal_error",
                "the delivery could not be stored; retry later",
            )
        })?;
        self.wake(plugin);
        Ok(id)
    }

    /// Deliveries matching `filter`, newest first (the admin page).
    pub async fn list(&self, filter: Filter) -> Result<Vec<Delivery>, JournalError> {
        self.shared.journal.list(filter).await
    }

    pub async fn show(&self, id: &str) -> Result<Option<DeliveryDetail>, JournalError> {
        self.shared.journal.show(id).await
    }

    /// Makes the deliveries pending again and wakes their workers at once;
    /// how many of the ids were known.
    pub async fn replay(&self, ids: Vec<DeliveryId>) -> Result<u64, JournalError> {
        let known = self.shared.journal.replay(ids).await?;
        for plugin in self.shared.journal.plugins_with_work().await? {
            self.wake(&plugin);
        }
        Ok(known)
    }

    /// [`Self::replay`] for every dead delivery of `plugin` since `since_ms`.
    pub async fn replay_dead(
        &self,
        plugin: &str,
        since_ms: Option<i64>,
    ) -> Result<u64, JournalError> {
        let known = self.shared.journal.replay_dead(plugin, since_ms).await?;
        self.wake(plugin);
        Ok(known)
    }

    /// How many deliveries wait or are dead, now.
    pub async fn depth(&self) -> Result<Depth, JournalError> {
        self.shared.journal.depth().await
    }

    /// The journal's size, read at most every [`SIZE_EVERY`].
    async fn journal_size(&self) -> u64 {
        let stale = {
            let mut size = lock(&self.shared.size);
            let stale = size.0.elapsed() >= SIZE_EVERY;
            if stale {
                size.0 = Instant::now();
            }
            stale
        };
        if stale {
            match self.shared.journal.size_bytes().await {
                Ok(bytes) => self.shared.size_bytes.store(bytes, Ordering::Relaxed),
                Err(e) => tracing::warn!("cannot read the journal's size: {e}"),
            }
        }
        self.shared.size_bytes.load(Ordering::Relaxed)
    }

    /// Tells the plugin's worker there is work, starting it if needed.
    fn wake(&self, plugin: &str) {
        let shared = &self.shared;
        let mut workers = lock(&shared.workers);
        if let Some(wake) = workers.get(plugin) {
            wake.notify_one();
            return;
        }
        let wake = Arc::new(Notify::new());
        let name: Arc<str> = Arc::from(plugin);
        workers.insert(name.clone(), wake.clone());
        shared
            .tracker
            .spawn(worker::work(shared.clone(), name, wake));
    }

    /// What the plugin answered to the delivery its sender called `key`,
    /// if it was a success and not too long ago. A journal that cannot be
    /// read is logged and the request runs (at least once, as without ids).
    pub async fn recall(&self, plugin: &str, key: &str) -> Option<SeenAnswer> {
        let recalled = self.shared.journal.recall(plugin, key, now_ms()).await;
        recalled.unwrap_or_else(|e| {
            tracing::warn!(plugin, "cannot look up the delivery id: {e}");
            None
        })
    }

    pub async fn remember(&self, plugin: &str, key: &str, answer: SeenAnswer, for_ms: i64) {
        let until = now_ms().saturating_add(for_ms);
        let remembered = self.shared.journal.remember(plugin, key, answer, until);
        if let Err(e) = remembered.await {
            tracing::warn!(plugin, "cannot remember the delivery id: {e}");
        }
    }

    /// Attempts running now.
    pub fn running(&self) -> usize {
        self.shared.running.load(Ordering::Acquire)
    }

    /// Until nothing runs and nothing is due now: `hookhost test` waits for
    /// its delivery's first attempt (a retry is reported, not waited for).
    pub async fn settle(&self) {
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if self.running() > 0 {
                continue;
            }
            let Ok(plugins) = self.shared.journal.plugins_with_work().await else {
                return;
            };
            let mut due = false;
            for plugin in plugins {
                if let Ok(Some(at)) = self.shared.journal.next_due(&plugin).await {
                    due |= at <= now_ms();
                }
            }
            if !due && self.running() == 0 {
                return;
            }
        }
    }

    /// No new attempt starts; running ones end (each within its plugin's
    /// timeout). Everything else stays in the journal for the next start.
    pub async fn stop(&self) {
        self.shared.stop.cancel();
        self.shared.tracker.close();
        self.shared.tracker.wait().await;
    }
}

/// What these locks guard is whole after every change, so a poisoned lock
/// is still used.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
