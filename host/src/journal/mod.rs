//! The delivery journal: every delivery answered before its plugin runs is
//! written here first, so that an acknowledged delivery outlives a crash,
//! a kill -9 or a power loss, and is handled once the host is back.
//!
//! A delivery is appended once, taken by a worker when due, and ends `done`
//! or `dead`; every attempt on the way is kept with its time and error, so
//! the operator can see why a delivery died and replay it.
//!
//! Deliveries belong to a plugin *name*, like state: reloads and redeploys
//! keep a plugin's queue. [`SqliteJournal`] is the implementation today; the
//! trait names no SQLite type, so a PostgreSQL journal can sit behind it.

mod error;
mod sqlite;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

pub use error::JournalError;
pub use sqlite::{JournalOptions, SqliteJournal};

/// Milliseconds since the Unix epoch, the journal's only clock unit.
pub type UnixMs = i64;

/// A delivery's id: a UUID v4 in its hyphenated text form, made by the
/// journal on append.
pub type DeliveryId = String;

/// What every [`Journal`] operation returns. Boxed so that the trait stays
/// object-safe: the server holds one `Arc<dyn Journal>` whatever the backend.
pub type JournalFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, JournalError>> + Send + 'a>>;

/// The clock the journal stamps replays with; callers may use it for
/// `received_at` and `now_ms` arguments too.
pub fn now_ms() -> UnixMs {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Where a delivery is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Not yet tried, or replayed, or part-way through (see `progress`).
    Pending,
    /// Failed at least once; due again at `next_at`.
    Retrying,
    /// Out of attempts, or refused for good: kept for the operator to replay.
    Dead,
    /// Handled; deleted by [`Journal::purge_done`] once old enough.
    Done,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Retrying => "retrying",
            DeliveryState::Dead => "dead",
            DeliveryState::Done => "done",
        }
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryState {
    type Err = JournalError;

    fn from_str(s: &str) -> Result<DeliveryState, JournalError> {
        match s {
            "pending" => Ok(DeliveryState::Pending),
            "retrying" => Ok(DeliveryState::Retrying),
            "dead" => Ok(DeliveryState::Dead),
            "done" => Ok(DeliveryState::Done),
            other => Err(JournalError::UnknownState(other.to_string())),
        }
    }
}

/// What the server hands to [`Journal::append`]. The journal adds the id,
/// the sequence number and the bookkeeping fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub plugin: String,
    /// Which executor handles it, e.g. `worksection` or `http-hook`.
    pub kind: String,
    pub received_at: UnixMs,
    /// The raw body, or whatever the caller serialised; opaque here.
    pub payload: Vec<u8>,
    /// JSON the caller supplies (method, path, headers). Credentials must be
    /// removed before: operators read this back.
    pub meta: String,
}

/// A delivery as the journal holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    /// Increases with every append to this journal: arrival order.
    pub seq: i64,
    pub plugin: String,
    pub kind: String,
    pub received_at: UnixMs,
    pub payload: Vec<u8>,
    pub meta: String,
    pub state: DeliveryState,
    /// Finished attempts since the delivery was appended or last replayed:
    /// what a retry schedule counts. [`Journal::show`] lists every attempt.
    pub attempts: u32,
    /// When the delivery is due (pending or retrying).
    pub next_at: UnixMs,
    /// How many of the delivery's events are already handled, so a retry
    /// resumes at the one that failed.
    pub progress: u32,
}

/// Deliveries not yet handled, by state: see [`Journal::depth`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    pub pending: u64,
    pub retrying: u64,
    pub dead: u64,
}

/// One attempt to hand a delivery to its plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub started_at: UnixMs,
    pub ended_at: UnixMs,
    /// Why it failed; `None` for an attempt that succeeded.
    pub error: Option<String>,
}

/// How an attempt ended, and so what the delivery becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Handled: the delivery is `done`.
    Done,
    /// A checkpoint inside an attempt still running: this many events are
    /// handled. Only `progress` changes; the attempt is recorded (and
    /// counted) by the outcome that ends it.
    Progress(u32),
    /// Failed; due again at `at_ms`.
    Retry { at_ms: UnixMs },
    /// Failed for good, or out of attempts.
    Dead,
}

/// What [`Journal::list`] selects. `None` fields do not filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub plugin: Option<String>,
    pub state: Option<DeliveryState>,
    /// Only deliveries received at or after this time.
    pub since_ms: Option<UnixMs>,
    pub limit: u32,
}

impl Default for Filter {
    fn default() -> Filter {
        Filter {
            plugin: None,
            state: None,
            since_ms: None,
            limit: 100,
        }
    }
}

/// A delivery with its whole attempt history, oldest attempt first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryDetail {
    pub delivery: Delivery,
    pub attempts: Vec<Attempt>,
}

/// An answer given to a request that carried its sender's delivery id
/// (`webhook-id`, `X-GitHub-Delivery`, …): a resend of that id gets it
/// again instead of running the plugin twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Durable storage of deliveries.
///
/// A write is durable when its future resolves `Ok`; implementations may
/// group concurrent writes into one commit. Reads see every write that has
/// returned. Implementations never block the async worker that polls them.
/// A write whose future is dropped unfinished may still complete.
pub trait Journal: Send + Sync + 'static {
    /// Stores a new `pending` delivery, due at once, and returns its id once
    /// it is on the disk: only then may the sender be answered.
    fn append(&self, delivery: NewDelivery) -> JournalFuture<'_, DeliveryId>;

    /// Up to `limit` of the plugin's pending and retrying deliveries that
    /// are due at `now_ms`, in arrival order. A delivery waiting for a later
    /// retry does not hold back the ones behind it.
    fn due(&self, plugin: &str, now_ms: UnixMs, limit: u32) -> JournalFuture<'_, Vec<Delivery>>;

    /// When the plugin's earliest pending or retrying delivery is due, or
    /// `None` when it has none: how long its worker may sleep.
    fn next_due(&self, plugin: &str) -> JournalFuture<'_, Option<UnixMs>>;

    /// Every plugin with pending or retrying deliveries, by name: the
    /// workers to start after a restart.
    fn plugins_with_work(&self) -> JournalFuture<'_, Vec<String>>;

    /// Records how an attempt went and moves the delivery on. An unknown id
    /// is [`JournalError::NotFound`].
    fn record_attempt(&self, id: &str, attempt: Attempt, outcome: Outcome)
    -> JournalFuture<'_, ()>;

    /// Deliveries matching `filter`, newest first.
    fn list(&self, filter: Filter) -> JournalFuture<'_, Vec<Delivery>>;

    /// One delivery and every attempt made on it, or `None` if unknown.
    fn show(&self, id: &str) -> JournalFuture<'_, Option<DeliveryDetail>>;

    /// Makes the deliveries pending and due now, keeping their attempt
    /// history; returns how many of the ids were known. A `done` delivery
    /// starts again from its first event; others resume where they stopped.
    fn replay(&self, ids: Vec<DeliveryId>) -> JournalFuture<'_, u64>;

    /// [`Journal::replay`] for every dead delivery of `plugin` received at
    /// or after `since_ms`.
    fn replay_dead(&self, plugin: &str, since_ms: Option<UnixMs>) -> JournalFuture<'_, u64>;

    /// Deletes `done` deliveries, with their attempts, that finished before
    /// `older_than_ms`; returns how many.
    fn purge_done(&self, older_than_ms: UnixMs) -> JournalFuture<'_, u64>;

    /// How many deliveries wait (pending, retrying) or are dead, for
    /// `/metrics`; handled ones are history, not depth.
    fn depth(&self) -> JournalFuture<'_, Depth>;

    /// Bytes the journal's live data takes on disk, for the size cap. Space
    /// freed by a purge is reused, so it does not count.
    fn size_bytes(&self) -> JournalFuture<'_, u64>;

    /// The answer remembered for the plugin's delivery id `key`, unless it
    /// expired before `now_ms`.
    fn recall(
        &self,
        plugin: &str,
        key: &str,
        now_ms: UnixMs,
    ) -> JournalFuture<'_, Option<SeenAnswer>>;

    /// Remembers the answer for `key` until `expires_at`, replacing any.
    fn remember(
        &self,
        plugin: &str,
        key: &str,
        answer: SeenAnswer,
        expires_at: UnixMs,
    ) -> JournalFuture<'_, ()>;

    /// Forgets answers that expired before `now_ms`; returns how many.
    fn forget_expired(&self, now_ms: UnixMs) -> JournalFuture<'_, u64>;
}
