//! One plugin's worker: takes its due deliveries from the journal in
//! arrival order, runs up to the plugin's `concurrency` of them at once,
//! and records how each attempt went.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::Shared;
use super::run::{self, Failure};
use crate::journal::{Attempt, Delivery, DeliveryId, Outcome, UnixMs, now_ms};
use crate::plugins::{DeliveryPolicy, RetryPolicy};

/// The longest a worker sleeps without looking at the journal: a replay
/// made by `hookhost replay` beside a running host is picked up by then.
const POLL: Duration = Duration::from_secs(1);

pub(super) async fn work(shared: Arc<Shared>, plugin: Arc<str>, wake: Arc<Notify>) {
    let mut running: JoinSet<DeliveryId> = JoinSet::new();
    let mut in_flight: HashSet<DeliveryId> = HashSet::new();
    while !shared.stop.is_cancelled() {
        let policy = policy(&shared, &plugin);
        let free = (policy.concurrency.0 as usize).saturating_sub(in_flight.len());
        if free > 0 {
            let limit = (free + in_flight.len()) as u32;
            match shared.journal.due(&plugin, now_ms(), limit).await {
                Ok(due) => {
                    let fresh: Vec<Delivery> = due
                        .into_iter()
                        .filter(|d| !in_flight.contains(&d.id))
                        .take(free)
                        .collect();
                    for delivery in fresh {
                        in_flight.insert(delivery.id.clone());
                        shared.running.fetch_add(1, Ordering::AcqRel);
                        let span =
                            tracing::info_span!("delivery", id = %delivery.id, plugin = %plugin);
                        running.spawn(attempt(shared.clone(), delivery).instrument(span));
                    }
                }
                Err(e) => tracing::error!(plugin = %plugin, "cannot read the journal: {e}"),
            }
        }
        // A due delivery that waits for a free slot is taken when one is
        // freed, not by spinning on the journal.
        let due = shared.journal.next_due(&plugin).await.ok().flatten();
        let wait = due.map(until).filter(|w| *w > Duration::from_millis(1));
        let wait = wait.map_or(POLL, |w| w.min(POLL));
        tokio::select! {
            Some(done) = running.join_next(), if !running.is_empty() => {
                if let Ok(id) = done {
                    in_flight.remove(&id);
                }
            }
            () = wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
            () = shared.stop.cancelled() => {}
        }
    }
    // Running attempts end on their own (each has its plugin's deadline).
    while running.join_next().await.is_some() {}
}

fn until(at: UnixMs) -> Duration {
    Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0))
}

/// The serving version's policy; the defaults while none is served.
fn policy(shared: &Shared, plugin: &str) -> DeliveryPolicy {
    shared
        .registry
        .load()
        .get(plugin)
        .and_then(|entry| entry.serving.as_ref().map(|p| p.delivery))
        .unwrap_or_default()
}

async fn attempt(shared: Arc<Shared>, delivery: Delivery) -> DeliveryId {
    let started_at = now_ms();
    // Pins the serving version (and the rule table) for the attempt.
    let registry = shared.registry.load_full();
    let serving = registry
        .get(&delivery.plugin)
        .and_then(|entry| entry.serving.clone());
    let result = match &serving {
        Some(plugin) => run::attempt(&shared.runtime, &registry, plugin, &delivery).await,
        None => Err(Failure {
            error: format!("plugin {} is not served", delivery.plugin),
            last: false,
            progress: delivery.progress,
        }),
    };
    let ended_at = now_ms();
    let retry = serving.map(|p| p.delivery.retry).unwrap_or_default();
    let attempts = delivery.attempts.saturating_add(1);
    let (outcome, error) = match result {
        Ok(()) => {
            tracing::info!(attempt = attempts, "delivery handled");
            (Outcome::Done, None)
        }
        Err(failure) => {
            if failure.progress > delivery.progress {
                let progress = Outcome::Progress(failure.progress);
                record(&shared, &delivery.id, None, progress).await;
            }
            let outcome = next(&retry, attempts, failure.last, ended_at);
            match outcome {
                Outcome::Retry { at_ms } => tracing::warn!(
                    attempt = attempts,
                    of = retry.attempts,
                    retry_in_ms = at_ms - ended_at,
                    "delivery failed, will retry: {}",
                    failure.error
                ),
                _ => tracing::error!(
                    attempt = attempts,
                    "delivery dead: {}; `hookhost replay {}` runs it again",
                    failure.error,
                    delivery.id
                ),
            }
            (outcome, Some(failure.error))
        }
    };
    let counted = match outcome {
        Outcome::Done => "done",
        Outcome::Retry { .. } | Outcome::Progress(_) => "retry",
        Outcome::Dead => "dead",
    };
    crate::metrics::get().attempt(&Arc::from(delivery.plugin.as_str()), counted);
    let attempt = Attempt {
        started_at,
        ended_at,
        error,
    };
    record(&shared, &delivery.id, Some(attempt), outcome).await;
    shared.running.fetch_sub(1, Ordering::AcqRel);
    delivery.id
}

/// What a failed attempt makes of the delivery: dead when it was the
/// last, else a retry after a wait drawn in (0, backoff] (full jitter).
fn next(retry: &RetryPolicy, attempts: u32, last: bool, now: UnixMs) -> Outcome {
    if last || attempts >= retry.attempts {
        return Outcome::Dead;
    }
    let ceiling = retry.backoff(attempts).as_millis().max(1) as u64;
    let wait = fastrand::u64(1..=ceiling);
    Outcome::Retry {
        at_ms: now.saturating_add(i64::try_from(wait).unwrap_or(i64::MAX)),
    }
}

async fn record(shared: &Shared, id: &str, attempt: Option<Attempt>, outcome: Outcome) {
    let attempt = attempt.unwrap_or(Attempt {
        started_at: now_ms(),
        ended_at: now_ms(),
        error: None,
    });
    if let Err(e) = shared.journal.record_attempt(id, attempt, outcome).await {
        // The delivery stays as it was in the journal: it runs again.
        tracing::error!("cannot record the attempt in the journal: {e}");
    }
}
