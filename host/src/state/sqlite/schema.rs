//! Opening `state.db`: connection settings and the schema. `journal.db` is
//! opened the same way, with its own schema.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::Synchronous;
pub(super) const FILE_NAME: &str = "state.db";

/// Bumped by every change to [`SCHEMA`]; a database from a newer hookhost
/// is refused rather than misread.
pub(super) const SCHEMA_VERSION: i64 = 1;

/// `buckets` keeps each plugin's usage, updated in the same transaction as
/// its entries, so quota checks cost one row read and stay exact across
/// restarts without a scan at open.
///
/// `entries.id` is the `list_keys` cursor: an upsert keeps a row's id, so a
/// key present for a whole listing is listed exactly once, which an offset
/// cursor cannot promise when keys before it are deleted. The index on
/// `(bucket, id, key)` serves a page without reading the values.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS buckets (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    bytes INTEGER NOT NULL DEFAULT 0,
    keys INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    bucket INTEGER NOT NULL REFERENCES buckets (id),
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    UNIQUE (bucket, key)
) STRICT;
CREATE INDEX IF NOT EXISTS entries_by_bucket ON entries (bucket, id, key);
";

/// Another process (the operator CLI) may hold the write lock briefly.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// After a checkpoint the WAL file is cut back to this size, so one burst of
/// writes does not leave a large file behind.
const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Enough for every statement the store prepares, so none is re-parsed.
const STATEMENT_CACHE: usize = 32;

/// The one connection that writes. Creates the file and `schema` (at
/// `version`) if needed; the error is SQLite's text, or why the file is
/// refused.
pub(crate) fn open_writer(
    path: &Path,
    sync: Synchronous,
    schema: &str,
    version: i64,
) -> Result<Connection, String> {
    let sqlite = |e: rusqlite::Error| e.to_string();
    let mut conn = Connection::open(path).map_err(sqlite)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    // WAL lets readers run beside the writer, and a commit is one append.
    // The first statement that reads the file: garbage fails here, as
    // "file is not a database".
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("journal mode is {mode}, WAL is required"));
    }
    conn.pragma_update(None, "synchronous", sync.pragma())
        .and_then(|()| conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT))
        .map_err(sqlite)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let found = migrate(&mut conn, schema, version).map_err(sqlite)?;
    if found != 0 && found != version {
        return Err(format!(
            "schema version {found} is unknown to this hookhost (it knows {version})"
        ));
    }
    Ok(conn)
}

/// A connection that only reads; opened after the writer made the schema.
pub(crate) fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    // Read-write without CREATE: WAL readers write the shared-memory index,
    // and the file must already exist.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", true)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Creates `schema` in a new database; the version found before, which
/// the caller checks.
fn migrate(conn: &mut Connection, schema: &str, version: i64) -> rusqlite::Result<i64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found == 0 {
        tx.execute_batch(schema)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(found)
}
