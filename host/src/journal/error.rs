//! Why a journal operation failed. Texts never hold a payload or meta:
//! either can carry what a sender meant only for the plugin.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// The state folder cannot be created or written.
    #[error("journal folder {path}: {problem}")]
    Folder { path: PathBuf, problem: String },

    /// `journal.db` cannot be opened: not a database, a newer schema, locked.
    #[error("journal {path}: {problem}")]
    Open { path: PathBuf, problem: String },

    #[error("no delivery {0}")]
    NotFound(String),

    #[error("unknown delivery state {0:?} (pending, retrying, dead or done)")]
    UnknownState(String),

    /// The writer thread is gone: the journal was closed, or it panicked.
    #[error("journal writer stopped")]
    Closed,

    #[error("journal database: {0}")]
    Database(String),
}

impl From<rusqlite::Error> for JournalError {
    fn from(e: rusqlite::Error) -> JournalError {
        // SQLite's messages name tables and columns, never bound values.
        JournalError::Database(e.to_string())
    }
}
