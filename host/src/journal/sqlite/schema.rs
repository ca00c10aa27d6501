//! Opening `journal.db`: the folder check, connection settings and schema.
//! Every failure here names the path, since it stops the host at start.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::journal::JournalError;
use crate::state::Synchronous;

pub(super) const FILE_NAME: &str = "journal.db";

/// Bumped by every change to [`SCHEMA`]; a journal from a newer hookhost is
/// refused rather than misread.
const SCHEMA_VERSION: i64 = 1;

/// `seq` is AUTOINCREMENT so a sequence number is never handed out twice,
/// even after a purge removed the newest rows: arrival order stays total.
///
/// The two partial indexes hold only live (pending, retrying) rows, so
/// taking work costs the same however many done rows wait for a purge.
/// `meta` must be JSON: the operator's tools parse it without a fallback.
/// `finished_at` is when a delivery went done or dead; purges count from it,
/// so a replayed old delivery is kept as long as a new one.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    plugin TEXT NOT NULL,
    kind TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    payload BLOB NOT NULL,
    meta TEXT NOT NULL CHECK (json_valid(meta)),
    state TEXT NOT NULL CHECK (state IN ('pending', 'retrying', 'dead', 'done')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    finished_at INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS live_by_seq ON deliveries (plugin, seq)
    WHERE state IN ('pending', 'retrying');
CREATE INDEX IF NOT EXISTS live_by_time ON deliveries (plugin, next_at)
    WHERE state IN ('pending', 'retrying');
CREATE INDEX IF NOT EXISTS by_plugin ON deliveries (plugin, seq);
CREATE INDEX IF NOT EXISTS done_by_time ON deliveries (finished_at)
    WHERE state = 'done';
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY,
    delivery INTEGER NOT NULL REFERENCES deliveries (seq),
    started_at INTEGER NOT NULL,
    ended_at INTEGER NOT NULL,
    error TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS attempts_by_delivery ON attempts (delivery, id);
CREATE TABLE IF NOT EXISTS seen (
    plugin TEXT NOT NULL,
    key TEXT NOT NULL,
    status INTEGER NOT NULL,
    content_type TEXT,
    body BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (plugin, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_by_expiry ON seen (expires_at);
";

/// The operator CLI may write to the journal of a running host.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// After a checkpoint the WAL file is cut back to this size, so one burst
/// does not leave a large file behind.
const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

const STATEMENT_CACHE: usize = 32;

/// Fails early, with the OS's reason, where SQLite would later say only
/// "unable to open database file".
pub(super) fn check_folder(dir: &Path) -> Result<(), JournalError> {
    let folder = |problem: String| JournalError::Folder {
        path: dir.to_path_buf(),
        problem,
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    // Payloads may hold personal data: a folder made here is the owner's.
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| folder(format!("cannot create it: {e}")))?;
    let probe = dir.join(".journal-write-check");
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| folder(format!("cannot write in it: {e}")))
}

/// The one connection that writes. Creates the file and schema if needed.
pub(super) fn open_writer(path: &Path, sync: Synchronous) -> Result<Connection, JournalError> {
    let open = |e: rusqlite::Error| JournalError::Open {
        path: path.to_path_buf(),
        problem: e.to_string(),
    };
    let mut conn = Connection::open(path).map_err(open)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open)?;
    // The first statement that reads the file: garbage fails here, as
    // "file is not a database".
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(open)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(JournalError::Open {
            path: path.to_path_buf(),
            problem: format!("journal mode is {mode}, WAL is required"),
        });
    }
    let sync = match sync {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)
        .map_err(open)?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)
        .map_err(open)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    migrate(&mut conn).map_err(|e| match e {
        JournalError::Database(problem) => JournalError::Open {
            path: path.to_path_buf(),
            problem,
        },
        other => other,
    })?;
    Ok(conn)
}

/// A connection that only reads; opened after the writer made the schema.
pub(super) fn open_reader(path: &Path) -> Result<Connection, JournalError> {
    // Read-write without CREATE: WAL readers write the shared-memory index.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "query_only", true)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), JournalError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    match version {
        0 => {
            tx.execute_batch(SCHEMA)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        SCHEMA_VERSION => {}
        other => {
            return Err(JournalError::Database(format!(
                "schema version {other} is unknown to this hookhost (it knows {SCHEMA_VERSION})"
            )));
        }
    }
    tx.commit()?;
    Ok(())
}
