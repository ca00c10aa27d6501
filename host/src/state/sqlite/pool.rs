//! A fixed set of reader connections. WAL readers do not wait for the
//! writer, so gets go on while a commit waits for its fsync.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use rusqlite::Connection;

use crate::state::StateError;

pub(super) struct Readers {
    conns: Vec<Mutex<Connection>>,
    /// Which connection a read waits for when all are busy, spreading the
    /// waits.
    next: AtomicUsize,
}

impl Readers {
    pub fn new(conns: Vec<Connection>) -> Readers {
        Readers {
            conns: conns.into_iter().map(Mutex::new).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The first free connection, or when all are busy, a wait for one.
    pub fn lease(&self) -> Result<MutexGuard<'_, Connection>, StateError> {
        // The first free one rather than the next in turn: each connection
        // has its own page cache, and a light load then keeps reusing the
        // one whose cache is warm.
        for conn in &self.conns {
            match conn.try_lock() {
                Ok(guard) => return Ok(guard),
                // A panic while reading leaves nothing half-done that a
                // later reader could see: rusqlite resets the statement.
                Err(TryLockError::Poisoned(p)) => return Ok(p.into_inner()),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        let n = self.conns.len().max(1);
        let wait_for = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let conn = self
            .conns
            .get(wait_for)
            .ok_or_else(|| StateError::Database("no reader connection".into()))?;
        Ok(conn.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
