//! Group commit: one thread owns the writing connection, takes every write
//! queued while the last commit waited for its fsync, and commits them in
//! one transaction. A burst of appends then costs one fsync per batch
//! instead of one each, and callers wait on a oneshot, never on a lock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::journal::{JournalError, JournalFuture};

/// A batch is whatever queued during the last commit, about one write per
/// waiting caller; the cap only bounds how long one commit holds SQLite's
/// write lock (the operator CLI waits for it) once a backlog has built up.
const MAX_BATCH: usize = 512;

/// One queued write, whatever its result type. Given the connection, it
/// runs inside the batch's transaction and says whether it worked (a failed
/// write is rolled back alone); given an error, it never runs. Either way
/// it hands back its answer.
type Job = Box<dyn FnOnce(Result<&Connection, JournalError>) -> (bool, Answer) + Send>;
/// Answers one caller once the commit's fate is known.
type Answer = Box<dyn FnOnce(Result<(), JournalError>) + Send>;

/// Tells the caller of a job that never ran why.
fn fail(job: Job, error: JournalError) {
    job(Err(error)).1(Ok(()));
}

/// The writer thread, joined on drop so the connection is closed (and the
/// WAL checkpointed) by the time a dropped journal can be reopened.
pub(super) struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    /// Transactions committed: writes per commit is what grouping saves.
    commits: Arc<AtomicU64>,
}

impl Writer {
    pub fn start(conn: Connection) -> Result<Writer, JournalError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let commits = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&commits);
        let thread = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || run(conn, queue, &counted))
            .map_err(|e| JournalError::Database(format!("cannot start the writer: {e}")))?;
        Ok(Writer {
            jobs: Some(jobs),
            thread: Some(thread),
            commits,
        })
    }

    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Queues `write`; the future resolves once the batch holding it has
    /// committed. The send never blocks: the channel is unbounded, and the
    /// server's size cap is what bounds the work.
    pub fn submit<T: Send + 'static>(
        &self,
        write: impl FnOnce(&Connection) -> Result<T, JournalError> + Send + 'static,
    ) -> JournalFuture<'static, T> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = conn.and_then(write);
            let ok = result.is_ok();
            let answer: Answer = Box::new(move |commit| {
                // The caller may have stopped waiting; the write stands.
                let _ = reply.send(commit.and(result));
            });
            (ok, answer)
        });
        let queued = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(job).is_ok());
        Box::pin(async move {
            if !queued {
                return Err(JournalError::Closed);
            }
            answer.await.unwrap_or(Err(JournalError::Closed))
        })
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel ends the thread after the writes queued so far.
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("journal writer panicked");
        }
    }
}

fn run(conn: Connection, queue: mpsc::Receiver<Job>, commits: &AtomicU64) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = queue.recv() {
        batch.push(first);
        batch.extend(queue.try_iter().take(MAX_BATCH - 1));
        // Counted before the answers go out, so a caller that has its
        // answer also sees its commit counted.
        commits.fetch_add(1, Ordering::Relaxed);
        commit(&conn, batch.drain(..));
    }
}

/// One transaction for the whole batch. Each write has its own savepoint,
/// so one that fails (an unknown id) leaves the others in the commit.
fn commit(conn: &Connection, batch: impl Iterator<Item = Job>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let e = JournalError::from(e);
        // Nothing ran; every caller hears why.
        for job in batch {
            fail(job, e.clone());
        }
        return;
    }
    let answers: Vec<Answer> = batch.map(|job| run_one(conn, job)).collect();
    let result = conn.execute_batch("COMMIT").map_err(|e| {
        // A failed COMMIT may leave the transaction open; end it so the
        // next batch can begin.
        let _ = conn.execute_batch("ROLLBACK");
        tracing::error!(error = %e, "journal commit failed");
        JournalError::from(e)
    });
    for answer in answers {
        answer(result.clone());
    }
}

fn run_one(conn: &Connection, job: Job) -> Answer {
    if let Err(e) = conn.execute_batch("SAVEPOINT job") {
        let e = JournalError::from(e);
        return Box::new(move |_| fail(job, e));
    }
    let (ok, answer) = job(Ok(conn));
    let end = if ok {
        "RELEASE job"
    } else {
        "ROLLBACK TO job; RELEASE job"
    };
    match conn.execute_batch(end) {
        Ok(()) => answer,
        Err(e) => {
            let e = JournalError::from(e);
            Box::new(move |_| answer(Err(e)))
        }
    }
}
