//! [`StateStore`] on one SQLite file, `state.db`, in the state folder.
//!
//! SQLite calls block, so each operation runs on tokio's blocking pool
//! (`spawn_blocking`) and the async workers only await it. One writer
//! connection behind a mutex serialises writes, which SQLite does anyway;
//! a few reader connections serve reads beside it, which WAL allows. A
//! dedicated thread would serialise reads behind every fsync instead.
//!
//! The hop to the blocking pool costs more than a read, so a get or exists
//! of a key read or written lately is answered from [`cache::ReadCache`] on
//! the async worker. Writes go through the cache under the writer lock. The
//! operator CLI writes from another process, which only SQLite sees: before
//! answering from the cache, the store asks the writer connection for
//! `PRAGMA data_version` (which moves only on another connection's commit,
//! and no other connection here writes) and drops the cache when it moved.
//! That check reads SQLite's shared-memory index, never the disk, and never
//! waits: when the writer is busy or the check would wait for a lock, the
//! read goes to the blocking pool as any other.

mod cache;
#[cfg(test)]
mod durability_tests;
mod ops;
mod pool;
pub(crate) mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::Connection;

use self::cache::ReadCache;
use self::pool::Readers;
use super::{Bucket, BucketUsage, Entry, KeyPage, StateError, StateFuture, StateStore};

/// When a commit reaches the disk. In WAL mode both survive a killed
/// process; only `Full` also survives a power loss or an OS crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// fsync the WAL at every commit.
    #[default]
    Full,
    /// fsync only at checkpoints: a commit is in the OS's hands, not yet on
    /// the disk, when it returns.
    Normal,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    pub synchronous: Synchronous,
    /// Reader connections; reads beyond this many at once wait.
    pub readers: usize,
    /// Bytes of keys and values kept in memory for gets; 0 turns the cache
    /// off.
    pub cache_bytes: usize,
    /// Values larger than this are always read from the database.
    pub cache_max_value: usize,
}

impl Default for SqliteOptions {
    fn default() -> SqliteOptions {
        SqliteOptions {
            synchronous: Synchronous::Full,
            readers: 4,
            cache_bytes: 32 << 20,
            cache_max_value: 64 << 10,
        }
    }
}

/// Plugin state in `<state dir>/state.db`. Cheap to clone; clones share the
/// connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Writer>,
    readers: Readers,
    cache: ReadCache,
}

struct Writer {
    conn: Connection,
    /// `PRAGMA data_version` as last read: it moves when another process
    /// commits, never on this connection's own commits.
    data_version: i64,
}

impl Writer {
    /// Whether another process committed since the last look. Called on an
    /// async worker, so it must not wait: with no busy timeout, a lock held
    /// elsewhere is an error rather than a sleep.
    fn saw_other_commits(&mut self) -> Result<bool, rusqlite::Error> {
        self.conn.busy_timeout(Duration::ZERO)?;
        let version = self
            .conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut stmt| stmt.query_row([], |row| row.get::<_, i64>(0)));
        self.conn.busy_timeout(schema::BUSY_TIMEOUT)?;
        let version = version?;
        let moved = version != self.data_version;
        self.data_version = version;
        Ok(moved)
    }
}

impl Inner {
    /// Whether the cache may answer now. Never waits.
    fn cache_is_current(&self) -> bool {
        // A busy writer is mid-commit (perhaps in an fsync): the read goes
        // to the database, which is current by definition.
        let Ok(mut writer) = self.writer.try_lock() else {
            return false;
        };
        match writer.saw_other_commits() {
            Ok(false) => true,
            Ok(true) => {
                self.cache.clear();
                false
            }
            Err(_) => false,
        }
    }

    /// What the cache knows of `key`, when it may answer; else the key back.
    fn cached(&self, bucket: &Bucket, key: String) -> Result<Option<Vec<u8>>, String> {
        if self.cache_is_current() {
            self.cache.lookup(&bucket.name, key)
        } else {
            Err(key)
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) `state.db` in `dir`, with the defaults.
    /// Blocks on the file system: call it at startup or off the async
    /// workers.
    pub fn open(dir: &Path) -> Result<SqliteStore, StateError> {
        SqliteStore::open_with(dir, SqliteOptions::default())
    }

    pub fn open_with(dir: &Path, options: SqliteOptions) -> Result<SqliteStore, StateError> {
        create_private_dir(dir)?;
        let path = dir.join(schema::FILE_NAME);
        let conn = schema::open_writer(
            &path,
            options.synchronous,
            schema::SCHEMA,
            schema::SCHEMA_VERSION,
        )
        .map_err(StateError::Database)?;
        let data_version = conn.query_row("PRAGMA data_version", [], |row| row.get(0))?;
        let readers = (0..options.readers.max(1))
            .map(|_| schema::open_reader(&path))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(Writer { conn, data_version }),
                readers: Readers::new(readers),
                cache: ReadCache::new(options.cache_bytes, options.cache_max_value),
            }),
        })
    }

    /// Where the database of state folder `dir` is (or would be).
    pub fn database_path(dir: &Path) -> PathBuf {
        dir.join(schema::FILE_NAME)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn read<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection, &ReadCache) -> Result<T, StateError> + Send + 'static,
    ) -> StateFuture<'static, T> {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let mut conn = inner.readers.lease()?;
            job(&mut conn, &inner.cache)
        })
    }

    /// Runs `job` with the writer, then tells the cache what it did to
    /// `keys`: on success each key's new value as `learn` gives it, on
    /// failure (which may have followed a commit) that it is unknown.
    fn write<T: Send + 'static>(
        &self,
        bucket: &Bucket,
        keys: Vec<String>,
        job: impl FnOnce(&mut Connection) -> Result<T, StateError> + Send + 'static,
        learn: impl FnOnce(&T, Vec<String>) -> Vec<(String, Option<Vec<u8>>)> + Send + 'static,
    ) -> StateFuture<'static, T> {
        let inner = Arc::clone(&self.inner);
        let bucket = Arc::clone(&bucket.name);
        blocking(move || {
            // A panic mid-write dropped its transaction, which rolled back:
            // the connection is fit to use.
            let mut writer = inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
            let result = job(&mut writer.conn);
            // Still under the writer lock: no cached answer is given between
            // the commit and this.
            match &result {
                Ok(out) => {
                    for (key, known) in learn(out, keys) {
                        inner.cache.wrote(&bucket, key, known);
                    }
                }
                Err(_) => keys
                    .into_iter()
                    .for_each(|key| inner.cache.forget(&bucket, key)),
            }
            result
        })
    }

    /// The read of one key behind a cache miss, which keeps what it finds.
    fn read_key<T: Send + 'static>(
        &self,
        bucket: &Bucket,
        key: String,
        answer: impl FnOnce(Option<Vec<u8>>) -> T + Send + 'static,
    ) -> StateFuture<'static, T> {
        let ticket = self.inner.cache.ticket();
        let bucket = bucket.clone();
        self.read(move |conn, cache| {
            let known = ops::get(conn, &bucket, &key)?;
            cache.fill(ticket, &bucket.name, &key, &known);
            Ok(answer(known))
        })
    }
}

/// Runs `job` on the blocking pool of the runtime that polls the future.
fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, StateError> + Send + 'static,
) -> StateFuture<'static, T> {
    Box::pin(async move {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| StateError::Database("no async runtime to run on".into()))?;
        match runtime.spawn_blocking(job).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(StateError::Database("storage task panicked".into())),
            Err(_) => Err(StateError::Database("storage task cancelled".into())),
        }
    })
}

/// Plugin state may hold secrets: a folder made here is the owner's alone.
fn create_private_dir(dir: &Path) -> Result<(), StateError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| StateError::Io(format!("cannot create {}: {e}", dir.display())))
}

impl From<rusqlite::Error> for StateError {
    fn from(e: rusqlite::Error) -> StateError {
        // SQLite's messages name tables and columns, never bound values.
        StateError::Database(e.to_string())
    }
}

impl StateStore for SqliteStore {
    fn get(&self, bucket: &Bucket, key: String) -> StateFuture<'_, Option<Vec<u8>>> {
        match self.inner.cached(bucket, key) {
            Ok(known) => Box::pin(std::future::ready(Ok(known))),
            Err(key) => self.read_key(bucket, key, |known| known),
        }
    }

    fn set(&self, bucket: &Bucket, key: String, value: Vec<u8>) -> StateFuture<'_, ()> {
        let b = bucket.clone();
        let value = Arc::new(value);
        let written = Arc::clone(&value);
        self.write(
            bucket,
            vec![key.clone()],
            move |conn| ops::set(conn, &b, &key, &written),
            // The write is done with its share by now: no copy is made.
            move |_, keys| {
                let value = Arc::unwrap_or_clone(value);
                keys.into_iter().zip([Some(value)]).collect()
            },
        )
    }

    fn delete(&self, bucket: &Bucket, key: String) -> StateFuture<'_, ()> {
        let b = bucket.clone();
        self.write(
            bucket,
            vec![key.clone()],
            move |conn| ops::delete(conn, &b, &key),
            |_, keys| keys.into_iter().map(|k| (k, None)).collect(),
        )
    }

    fn exists(&self, bucket: &Bucket, key: String) -> StateFuture<'_, bool> {
        match self.inner.cached(bucket, key) {
            Ok(known) => Box::pin(std::future::ready(Ok(known.is_some()))),
            Err(key) => self.read_key(bucket, key, |known| known.is_some()),
        }
    }

    fn list_keys(&self, bucket: &Bucket, cursor: Option<u64>) -> StateFuture<'_, KeyPage> {
        let bucket = bucket.clone();
        self.read(move |conn, _| ops::list_keys(conn, &bucket, cursor))
    }

    fn increment(&self, bucket: &Bucket, key: String, delta: u64) -> StateFuture<'_, u64> {
        let b = bucket.clone();
        self.write(
            bucket,
            vec![key.clone()],
            move |conn| ops::increment(conn, &b, &key, delta),
            |new, keys| {
                let text = new.to_string().into_bytes();
                keys.into_iter().map(|k| (k, Some(text.clone()))).collect()
            },
        )
    }

    fn get_many(&self, bucket: &Bucket, keys: Vec<String>) -> StateFuture<'_, Vec<Option<Entry>>> {
        let bucket = bucket.clone();
        self.read(move |conn, _| ops::get_many(conn, &bucket, keys))
    }

    fn set_many(&self, bucket: &Bucket, pairs: Vec<Entry>) -> StateFuture<'_, ()> {
        let b = bucket.clone();
        let keys = pairs.iter().map(|(k, _)| k.clone()).collect();
        let pairs = Arc::new(pairs);
        let written = Arc::clone(&pairs);
        self.write(
            bucket,
            keys,
            move |conn| ops::set_many(conn, &b, &written),
            // In order, so a key given twice ends with its last value.
            move |_, _| {
                Arc::unwrap_or_clone(pairs)
                    .into_iter()
                    .map(|(k, v)| (k, Some(v)))
                    .collect()
            },
        )
    }

    fn delete_many(&self, bucket: &Bucket, keys: Vec<String>) -> StateFuture<'_, ()> {
        let b = bucket.clone();
        let removed = keys.clone();
        self.write(
            bucket,
            removed,
            move |conn| ops::delete_many(conn, &b, &keys),
            |_, keys| keys.into_iter().map(|k| (k, None)).collect(),
        )
    }

    fn usage(&self) -> StateFuture<'_, Vec<BucketUsage>> {
        self.read(|conn, _| ops::usage(conn))
    }
}
