//! Durable per-plugin key-value state: the storage behind
//! `wasi:keyvalue@0.2.0-draft` (`store`, `atomics` and `batch`).
//!
//! State belongs to a plugin *name*, never to its file hash: two plugins
//! built from identical bytes have separate buckets, and removing or
//! redeploying a plugin keeps its bucket. The runtime calls [`StateStore`];
//! [`SqliteStore`] is its implementation today. The trait names no SQLite
//! type, so a PostgreSQL store can sit behind it later.
//!
//! The operator CLI (`hookhost state`) uses the same trait: [`StateStore::usage`]
//! lists every bucket, and the bucket operations work on any plugin's
//! bucket through a [`Bucket`] made from its name.

mod error;
mod limits;
pub(crate) mod sqlite;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use error::StateError;
pub use limits::{
    MAX_BATCH_ITEMS, MAX_BATCH_RESPONSE_BYTES, MAX_KEY_BYTES, MAX_VALUE_BYTES, PAGE_SIZE, Quota,
};
pub use sqlite::{SqliteOptions, SqliteStore, Synchronous};

/// What every [`StateStore`] operation returns. Boxed so that the trait stays
/// object-safe: the runtime holds one `Arc<dyn StateStore>` whatever the
/// backend, and no generic parameter spreads through the host state.
pub type StateFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StateError>> + Send + 'a>>;

/// A key and its value, as wasi:keyvalue's batch interface pairs them.
pub type Entry = (String, Vec<u8>);

/// One plugin's bucket: the plugin name that owns the state, and the quota
/// its writes are held to. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    name: Arc<str>,
    quota: Quota,
}

impl Bucket {
    pub fn new(name: impl Into<Arc<str>>, quota: Quota) -> Bucket {
        Bucket {
            name: name.into(),
            quota,
        }
    }

    /// The plugin name, which is the bucket's identity.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The same name, shared (a metric label).
    pub fn plugin(&self) -> &Arc<str> {
        &self.name
    }

    pub fn quota(&self) -> Quota {
        self.quota
    }
}

/// One page of [`StateStore::list_keys`], shaped as wasi:keyvalue's
/// `key-response`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPage {
    /// At most [`PAGE_SIZE`] keys, in no promised order.
    pub keys: Vec<String>,
    /// Where the next page starts; `None` once there are no more keys. Opaque
    /// to the caller: pass it back unchanged.
    pub cursor: Option<u64>,
}

/// What one plugin's bucket holds, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketUsage {
    pub plugin: String,
    /// Bytes of keys plus values: what the quota counts.
    pub bytes: u64,
    pub keys: u64,
}

/// Durable key-value storage, one bucket per plugin name.
///
/// Writes are durable when their future resolves `Ok`. Every operation is
/// atomic, `set_many` and `delete_many` included (stronger than the WIT
/// promises): a batch that fails writes nothing. Reads see every write that
/// has returned. Implementations never block the async worker that polls
/// them. A write whose future is dropped unfinished (a plugin's deadline)
/// may still complete; it is then whole, never partial.
pub trait StateStore: Send + Sync + 'static {
    /// The value of `key`, or `None` when it is not set.
    fn get(&self, bucket: &Bucket, key: String) -> StateFuture<'_, Option<Vec<u8>>>;

    /// Sets `key` to `value`, replacing any value it had.
    fn set(&self, bucket: &Bucket, key: String, value: Vec<u8>) -> StateFuture<'_, ()>;

    /// Removes `key`; removing a key that is not set is not an error.
    fn delete(&self, bucket: &Bucket, key: String) -> StateFuture<'_, ()>;

    fn exists(&self, bucket: &Bucket, key: String) -> StateFuture<'_, bool>;

    /// One page of the bucket's keys, starting at `cursor` (`None`: the
    /// first page). Keys set while paging may or may not be listed; a key
    /// present for the whole listing is listed exactly once.
    fn list_keys(&self, bucket: &Bucket, cursor: Option<u64>) -> StateFuture<'_, KeyPage>;

    /// Adds `delta` to the decimal number stored at `key` (a missing key
    /// counts as 0) and returns the new number. The value is stored as
    /// decimal ASCII text, as wasmtime's own wasi:keyvalue does.
    fn increment(&self, bucket: &Bucket, key: String, delta: u64) -> StateFuture<'_, u64>;

    /// For each key, in order, the key and its value, or `None` when unset.
    fn get_many(&self, bucket: &Bucket, keys: Vec<String>) -> StateFuture<'_, Vec<Option<Entry>>>;

    /// Sets every pair, all or nothing; the quota is checked for the whole
    /// batch. A key given twice ends with its last value.
    fn set_many(&self, bucket: &Bucket, pairs: Vec<Entry>) -> StateFuture<'_, ()>;

    /// Removes every key, all or nothing; keys that are not set are skipped.
    fn delete_many(&self, bucket: &Bucket, keys: Vec<String>) -> StateFuture<'_, ()>;

    /// Every bucket that has ever been written, by plugin name.
    fn usage(&self) -> StateFuture<'_, Vec<BucketUsage>>;
}
