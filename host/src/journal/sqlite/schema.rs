//! Opening `journal.db`: the folder check, connection settings and schema.
//! Every failure here names the path, since it stops the host at start.

use std::path::Path;

use rusqlite::Connection;

use crate::journal::JournalError;
use crate::state::Synchronous;
use crate::state::sqlite::schema;

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
    schema::open_writer(path, sync, SCHEMA, SCHEMA_VERSION).map_err(|problem| JournalError::Open {
        path: path.to_path_buf(),
        problem,
    })
}
