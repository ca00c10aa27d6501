//! Plugin work that continues after the sender has its answer (Worksection
//! wants `{"status":"OK"}` within 5 s, whatever the plugin does). Bounded:
//! a few calls at a time, and a backlog cap (in events and in bytes) past
//! which deliveries are refused (503) rather than held in memory without
//! limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::StatusCode;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::error::ApiError;
use crate::bindings::worksection::WorksectionPre;
use crate::bindings::worksection::hookhost::plugin::worksection_types::Event;
use crate::logtext::{MAX_LOGGED, sanitize};
use crate::plugins::LoadedPlugin;
use crate::protocol::worksection::summary;
use crate::runtime::{HostState, Runtime};

/// Events accepted but not yet handled, across all plugins.
pub const MAX_PENDING_EVENTS: usize = 10_000;
/// Delivery bytes accepted but not yet handled, across all plugins. A
/// waiting event holds its raw JSON and its parsed fields: about three
/// times its share of the body.
pub const MAX_PENDING_BYTES: usize = 64 << 20;
/// Deliveries worked on at once; events of one delivery run in order.
const CONCURRENT_DELIVERIES: usize = 32;

pub struct Background {
    tracker: TaskTracker,
    pending: Arc<AtomicUsize>,
    pending_bytes: Arc<AtomicUsize>,
    slots: Arc<Semaphore>,
}

impl Default for Background {
    fn default() -> Self {
        Background {
            tracker: TaskTracker::new(),
            pending: Arc::new(AtomicUsize::new(0)),
            pending_bytes: Arc::new(AtomicUsize::new(0)),
            slots: Arc::new(Semaphore::new(CONCURRENT_DELIVERIES)),
        }
    }
}

impl Background {
    /// Queues a delivery's events (from a body of `bytes`) for `plugin`, in
    /// order, in the current request's log span.
    pub fn worksection(
        &self,
        runtime: Arc<Runtime>,
        plugin: Arc<LoadedPlugin>,
        pre: WorksectionPre<HostState>,
        events: Vec<Event>,
        bytes: usize,
    ) -> Result<(), ApiError> {
        let count = events.len();
        if count == 0 {
            return Ok(());
        }
        let over_count =
            self.pending.fetch_add(count, Ordering::AcqRel) + count > MAX_PENDING_EVENTS;
        let over_bytes =
            self.pending_bytes.fetch_add(bytes, Ordering::AcqRel) + bytes > MAX_PENDING_BYTES;
        if over_count || over_bytes {
            self.pending.fetch_sub(count, Ordering::AcqRel);
            self.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
            tracing::error!(
                plugin = %plugin.name,
                events = count,
                bytes,
                "delivery refused: at most {MAX_PENDING_EVENTS} events / {} MiB may wait",
                MAX_PENDING_BYTES >> 20
            );
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many events waiting; retry later",
            ));
        }
        let (pending, pending_bytes) = (self.pending.clone(), self.pending_bytes.clone());
        let slots = self.slots.clone();
        let work = async move {
            // The semaphore is never closed, so acquiring only waits.
            let _slot = slots.acquire_owned().await;
            for event in events {
                handle(&runtime, &plugin, &pre, &event).await;
                pending.fetch_sub(1, Ordering::AcqRel);
            }
            pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
        };
        self.tracker
            .spawn(work.instrument(tracing::Span::current()));
        Ok(())
    }

    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Waits for all queued work; nothing new may be queued after this.
    pub async fn drain(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }
}

async fn handle(
    runtime: &Runtime,
    plugin: &LoadedPlugin,
    pre: &WorksectionPre<HostState>,
    event: &Event,
) {
    let what = summary(event);
    let failed = match runtime.call_worksection(pre, &plugin.sandbox, event).await {
        Ok(Ok(())) => {
            tracing::info!(plugin = %plugin.name, event = %what, "event handled");
            return;
        }
        Ok(Err(e)) => format!("plugin returned an error: {e:?}"),
        Err(e) => e.to_string(),
    };
    tracing::error!(
        plugin = %plugin.name,
        event = %what,
        raw = %sanitize(&event.raw_json, MAX_LOGGED),
        "event not handled: {}",
        sanitize(&failed, MAX_LOGGED)
    );
}
