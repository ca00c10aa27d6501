//! Reader connections, opened as reads need them and kept for the next.
//! WAL readers do not wait for the writer, so the operator's queries and
//! the workers' `due` go on while a batch waits for its fsync.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use rusqlite::Connection;

use crate::journal::JournalError;
use crate::state::sqlite::schema;

pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Connections kept idle beyond this many are closed: a burst of reads
    /// does not leave its connections (and their page caches) behind.
    keep: usize,
}

impl Readers {
    pub fn new(path: PathBuf, keep: usize) -> Readers {
        Readers {
            path,
            idle: Mutex::new(Vec::new()),
            keep,
        }
    }

    /// Runs `read` on an idle connection, or a new one when none is idle.
    pub fn with<T>(
        &self,
        read: impl FnOnce(&mut Connection) -> Result<T, JournalError>,
    ) -> Result<T, JournalError> {
        let idle = self.lock().pop();
        let mut conn = idle.map_or_else(|| schema::open_reader(&self.path), Ok)?;
        let result = read(&mut conn);
        let mut idle = self.lock();
        if idle.len() < self.keep {
            idle.push(conn);
        }
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // The list is only pushed to and popped from: a panic leaves it whole.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
