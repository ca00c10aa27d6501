//! [`Journal`] on one SQLite file, `journal.db`, in the state folder: its
//! own file beside `state.db`, so a burst of deliveries never waits behind
//! plugin state writes for the one SQLite write lock.
//!
//! Writes go to the writer thread, which commits what is queued in one
//! transaction (group commit); reads run on tokio's blocking pool against
//! reader connections, which WAL lets run beside the writer.

#[cfg(test)]
mod durability_tests;
mod ops;
mod query;
mod readers;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::Connection;

use self::readers::Readers;
use self::writer::Writer;
use super::{
    Attempt, Delivery, DeliveryDetail, DeliveryId, Depth, Filter, Journal, JournalError,
    JournalFuture, NewDelivery, Outcome, SeenAnswer, UnixMs, now_ms,
};
use crate::state::Synchronous;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalOptions {
    /// `Full` is what makes an acknowledged delivery survive a power loss;
    /// `Normal` survives a killed process only.
    pub synchronous: Synchronous,
    /// Reader connections kept open between reads.
    pub readers: usize,
}

impl Default for JournalOptions {
    fn default() -> JournalOptions {
        JournalOptions {
            synchronous: Synchronous::Full,
            readers: 4,
        }
    }
}

/// The journal in `<state dir>/journal.db`. Cheap to clone; clones share the
/// writer thread. Dropping the last clone waits for the writes already
/// queued, then closes the file.
#[derive(Clone)]
pub struct SqliteJournal {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    // Fields drop in this order: the readers close before the writer, so
    // the last connection, which checkpoints the WAL, is the writer's.
    readers: Readers,
    writer: Writer,
}

impl SqliteJournal {
    /// Opens (creating if needed) `journal.db` in `dir`, with the defaults.
    /// Blocks on the file system: call it at startup or off the async
    /// workers.
    pub fn open(dir: &Path) -> Result<SqliteJournal, JournalError> {
        SqliteJournal::open_with(dir, JournalOptions::default())
    }

    pub fn open_with(dir: &Path, options: JournalOptions) -> Result<SqliteJournal, JournalError> {
        schema::check_folder(dir)?;
        let path = SqliteJournal::database_path(dir);
        let conn = schema::open_writer(&path, options.synchronous)?;
        // A first reader now, so a file the writer could open but a reader
        // cannot fails at start rather than at the first query.
        let readers = Readers::new(path.clone(), options.readers.max(1));
        readers.with(|_| Ok(())).map_err(|e| JournalError::Open {
            path: path.clone(),
            problem: e.to_string(),
        })?;
        Ok(SqliteJournal {
            inner: Arc::new(Inner {
                writer: Writer::start(conn)?,
                readers,
                path,
            }),
        })
    }

    /// Where the journal of state folder `dir` is (or would be).
    pub fn database_path(dir: &Path) -> PathBuf {
        dir.join(schema::FILE_NAME)
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Transactions (so fsyncs) the writer has committed, or tried to: with
    /// the number of writes, how well concurrent appends were grouped.
    pub fn commits(&self) -> u64 {
        self.inner.writer.commits()
    }

    fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&mut Connection) -> Result<T, JournalError> + Send + 'static,
    ) -> JournalFuture<'static, T> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let runtime = tokio::runtime::Handle::try_current()
                .map_err(|_| JournalError::Database("no async runtime to run on".into()))?;
            match runtime
                .spawn_blocking(move || inner.readers.with(read))
                .await
            {
                Ok(result) => result,
                Err(e) if e.is_panic() => {
                    Err(JournalError::Database("journal read panicked".into()))
                }
                Err(_) => Err(JournalError::Database("journal read cancelled".into())),
            }
        })
    }

    fn write<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Connection) -> Result<T, JournalError> + Send + 'static,
    ) -> JournalFuture<'static, T> {
        self.inner.writer.submit(write)
    }
}

impl Journal for SqliteJournal {
    fn append(&self, delivery: NewDelivery) -> JournalFuture<'_, DeliveryId> {
        let id = uuid::Uuid::new_v4().to_string();
        self.write(move |conn| {
            ops::append(conn, &id, &delivery)?;
            Ok(id)
        })
    }

    fn due(&self, plugin: &str, now_ms: UnixMs, limit: u32) -> JournalFuture<'_, Vec<Delivery>> {
        let plugin = plugin.to_string();
        self.read(move |conn| query::due(conn, &plugin, now_ms, limit))
    }

    fn next_due(&self, plugin: &str) -> JournalFuture<'_, Option<UnixMs>> {
        let plugin = plugin.to_string();
        self.read(move |conn| query::next_due(conn, &plugin))
    }

    fn plugins_with_work(&self) -> JournalFuture<'_, Vec<String>> {
        self.read(|conn| query::plugins_with_work(conn))
    }

    fn record_attempt(
        &self,
        id: &str,
        attempt: Attempt,
        outcome: Outcome,
    ) -> JournalFuture<'_, ()> {
        let id = id.to_string();
        self.write(move |conn| ops::record_attempt(conn, &id, &attempt, outcome))
    }

    fn list(&self, filter: Filter) -> JournalFuture<'_, Vec<Delivery>> {
        self.read(move |conn| query::list(conn, &filter))
    }

    fn show(&self, id: &str) -> JournalFuture<'_, Option<DeliveryDetail>> {
        let id = id.to_string();
        self.read(move |conn| query::show(conn, &id))
    }

    fn replay(&self, ids: Vec<DeliveryId>) -> JournalFuture<'_, u64> {
        self.write(move |conn| ops::replay(conn, &ids, now_ms()))
    }

    fn replay_dead(&self, plugin: &str, since_ms: Option<UnixMs>) -> JournalFuture<'_, u64> {
        let plugin = plugin.to_string();
        self.write(move |conn| ops::replay_dead(conn, &plugin, since_ms, now_ms()))
    }

    fn purge_done(&self, older_than_ms: UnixMs) -> JournalFuture<'_, u64> {
        self.write(move |conn| ops::purge_done(conn, older_than_ms))
    }

    fn depth(&self) -> JournalFuture<'_, Depth> {
        self.read(|conn| query::depth(conn))
    }

    fn size_bytes(&self) -> JournalFuture<'_, u64> {
        self.read(|conn| query::size_bytes(conn))
    }

    fn recall(
        &self,
        plugin: &str,
        key: &str,
        now_ms: UnixMs,
    ) -> JournalFuture<'_, Option<SeenAnswer>> {
        let (plugin, key) = (plugin.to_string(), key.to_string());
        self.read(move |conn| query::recall(conn, &plugin, &key, now_ms))
    }

    fn remember(
        &self,
        plugin: &str,
        key: &str,
        answer: SeenAnswer,
        expires_at: UnixMs,
    ) -> JournalFuture<'_, ()> {
        let (plugin, key) = (plugin.to_string(), key.to_string());
        self.write(move |conn| ops::remember(conn, &plugin, &key, &answer, expires_at))
    }

    fn forget_expired(&self, now_ms: UnixMs) -> JournalFuture<'_, u64> {
        self.write(move |conn| ops::forget_expired(conn, now_ms))
    }
}
