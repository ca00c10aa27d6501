//! [`StateStore`] on one SQLite file, `state.db`, in the state folder.
//!
//! SQLite calls block, so each operation runs on tokio's blocking pool
//! (`spawn_blocking`) and the async workers only await it. One writer
//! connection behind a mutex serialises writes, which SQLite does anyway;
//! a few reader connections serve reads beside it, which WAL allows. A
//! dedicated thread would serialise reads behind every fsync instead.

#[cfg(test)]
mod durability_tests;
mod ops;
mod pool;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;

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
}

impl Default for SqliteOptions {
    fn default() -> SqliteOptions {
        SqliteOptions {
            synchronous: Synchronous::Full,
            readers: 4,
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
    writer: Mutex<Connection>,
    readers: Readers,
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
        let writer = schema::open_writer(&path, options.synchronous)?;
        let readers = (0..options.readers.max(1))
            .map(|_| schema::open_reader(&path))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers: Readers::new(readers),
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
        job: impl FnOnce(&mut Connection) -> Result<T, StateError> + Send + 'static,
    ) -> StateFuture<'static, T> {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let mut conn = inner.readers.lease()?;
            job(&mut conn)
        })
    }

    fn write<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection) -> Result<T, StateError> + Send + 'static,
    ) -> StateFuture<'static, T> {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            // A panic mid-write dropped its transaction, which rolled back:
            // the connection is fit to use.
            let mut conn = inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
            job(&mut conn)
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
        let bucket = bucket.clone();
        self.read(move |conn| ops::get(conn, &bucket, &key))
    }

    fn set(&self, bucket: &Bucket, key: String, value: Vec<u8>) -> StateFuture<'_, ()> {
        let bucket = bucket.clone();
        self.write(move |conn| ops::set(conn, &bucket, &key, &value))
    }

    fn delete(&self, bucket: &Bucket, key: String) -> StateFuture<'_, ()> {
        let bucket = bucket.clone();
        self.write(move |conn| ops::delete(conn, &bucket, &key))
    }

    fn exists(&self, bucket: &Bucket, key: String) -> StateFuture<'_, bool> {
        let bucket = bucket.clone();
        self.read(move |conn| ops::exists(conn, &bucket, &key))
    }

    fn list_keys(&self, bucket: &Bucket, cursor: Option<u64>) -> StateFuture<'_, KeyPage> {
        let bucket = bucket.clone();
        self.read(move |conn| ops::list_keys(conn, &bucket, cursor))
    }

    fn increment(&self, bucket: &Bucket, key: String, delta: u64) -> StateFuture<'_, u64> {
        let bucket = bucket.clone();
        self.write(move |conn| ops::increment(conn, &bucket, &key, delta))
    }

    fn get_many(&self, bucket: &Bucket, keys: Vec<String>) -> StateFuture<'_, Vec<Option<Entry>>> {
        let bucket = bucket.clone();
        self.read(move |conn| ops::get_many(conn, &bucket, keys))
    }

    fn set_many(&self, bucket: &Bucket, pairs: Vec<Entry>) -> StateFuture<'_, ()> {
        let bucket = bucket.clone();
        self.write(move |conn| ops::set_many(conn, &bucket, &pairs))
    }

    fn delete_many(&self, bucket: &Bucket, keys: Vec<String>) -> StateFuture<'_, ()> {
        let bucket = bucket.clone();
        self.write(move |conn| ops::delete_many(conn, &bucket, &keys))
    }

    fn usage(&self) -> StateFuture<'_, Vec<BucketUsage>> {
        self.read(|conn| ops::usage(conn))
    }
}
