//! A guest's stdout and stderr, turned into host log lines.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::logtext::{MAX_LOGGED, sanitize};

/// Bytes one request may write to the host log (host-interface lines, stdout
/// and stderr together); the rest is dropped so a chatty or malicious plugin
/// cannot flood the operator's log.
const LOG_BUDGET: usize = 64 * 1024;
/// Longest line kept in the buffer before it is logged anyway.
const MAX_LINE: usize = 4096;

/// What one plugin may write to the host log over time, across all its
/// requests, unless its sidecar says otherwise (`log_kib_per_s`): a
/// sustained rate with a burst of [`BURST_SECONDS`] of it on top. The
/// per-request budget stops one call from flooding; this stops many calls
/// from doing it.
pub const DEFAULT_LOG_KIB_PER_S: u64 = 256;
const BURST_SECONDS: f64 = 8.0;

/// What is left of one request's log budget.
#[derive(Clone)]
pub struct LogBudget(Arc<BudgetState>);

struct BudgetState {
    left: AtomicUsize,
    warned: AtomicBool,
    rate: Arc<LogRate>,
}

/// One plugin's log allowance over time (a token bucket of bytes), shared by
/// every request and every loaded version of the plugin.
#[derive(Debug)]
pub struct LogRate {
    bytes_per_s: f64,
    burst: f64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    bytes: f64,
    at: Instant,
    /// Lines refused since the last one that went through.
    dropped: u64,
}

impl LogRate {
    pub fn new(kib_per_s: u64) -> Arc<LogRate> {
        let bytes_per_s = (kib_per_s.max(1) * 1024) as f64;
        let burst = bytes_per_s * BURST_SECONDS;
        Arc::new(LogRate {
            bytes_per_s,
            burst,
            bucket: Mutex::new(Bucket {
                bytes: burst,
                at: Instant::now(),
                dropped: 0,
            }),
        })
    }

    pub fn kib_per_s(&self) -> u64 {
        self.bytes_per_s as u64 / 1024
    }

    /// Pays for one line of `len` bytes about the plugin, its own or the
    /// host's (a failed call's reason); says first how many were dropped.
    pub fn admit_line(&self, plugin: &str, len: usize) -> bool {
        match self.admit(len.saturating_add(LINE_OVERHEAD), Instant::now()) {
            Err(()) => false,
            Ok(0) => true,
            Ok(dropped) => {
                tracing::warn!(
                    target: "hookhost::guest",
                    plugin,
                    dropped,
                    "{dropped} log lines dropped: the plugin wrote more than {} KiB/s (log_kib_per_s)",
                    self.kib_per_s()
                );
                true
            }
        }
    }

    /// Pays for a line of `cost` bytes at `now`. `Ok(n)`: it may be logged,
    /// and `n` lines were dropped just before it (to be said first).
    fn admit(&self, cost: usize, now: Instant) -> Result<u64, ()> {
        let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let earned = now.saturating_duration_since(bucket.at).as_secs_f64() * self.bytes_per_s;
        bucket.bytes = (bucket.bytes + earned).min(self.burst);
        bucket.at = now;
        if bucket.bytes < cost as f64 {
            bucket.dropped += 1;
            return Err(());
        }
        bucket.bytes -= cost as f64;
        Ok(std::mem::take(&mut bucket.dropped))
    }
}

/// What a log line costs beyond its text (timestamp, level, span, fields),
/// so that empty lines are not free.
const LINE_OVERHEAD: usize = 128;

impl LogBudget {
    pub fn new(rate: Arc<LogRate>) -> Self {
        LogBudget(Arc::new(BudgetState {
            left: AtomicUsize::new(LOG_BUDGET),
            warned: AtomicBool::new(false),
            rate,
        }))
    }

    /// A kept instance's next call starts with the whole budget again.
    pub fn refill(&self) {
        self.0.left.store(LOG_BUDGET, Ordering::Relaxed);
        self.0.warned.store(false, Ordering::Relaxed);
    }

    /// Pays for one line of `len` bytes if both the request's budget and
    /// the plugin's rate allow; the first says once when it runs out, the
    /// second how many lines it dropped, when it lets one through again.
    pub fn admit(&self, plugin: &str, len: usize) -> bool {
        let cost = len.saturating_add(LINE_OVERHEAD);
        if !self.admit_request(plugin, cost) {
            return false;
        }
        self.0.rate.admit_line(plugin, len)
    }

    fn admit_request(&self, plugin: &str, cost: usize) -> bool {
        let paid = self
            .0
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                // Once refused, refuse for good: no small line sneaks in later.
                Some(left.saturating_sub(cost))
            })
            .is_ok_and(|left| left >= cost);
        // The warning is a line too: many requests over budget must not
        // flood the log with warnings either.
        if !paid
            && !self.0.warned.swap(true, Ordering::Relaxed)
            && self.0.rate.admit(LINE_OVERHEAD, Instant::now()).is_ok()
        {
            tracing::warn!(
                target: "hookhost::guest",
                plugin,
                "plugin wrote more than {LOG_BUDGET} bytes of log in one request; the rest is dropped"
            );
        }
        paid
    }
}

/// Hands out writers that log whole lines tagged with the plugin name; the
/// request id comes from the enclosing request span.
#[derive(Clone)]
pub struct GuestOutput {
    plugin: Arc<str>,
    /// `stdout` or `stderr`.
    stream: &'static str,
    budget: LogBudget,
}

impl GuestOutput {
    /// Both streams of one request, sharing its log budget.
    pub fn pair(plugin: Arc<str>, budget: &LogBudget) -> (GuestOutput, GuestOutput) {
        let make = |stream| GuestOutput {
            plugin: plugin.clone(),
            stream,
            budget: budget.clone(),
        };
        (make("stdout"), make("stderr"))
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LineWriter {
            out: self.clone(),
            pending: Vec::new(),
        })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only WASIp3 guests ask for this; hookhost links WASIp2.
        Box::new(tokio::io::sink())
    }
}

struct LineWriter {
    out: GuestOutput,
    pending: Vec<u8>,
}

impl LineWriter {
    fn emit(&self, line: &[u8]) {
        if !self.out.budget.admit(&self.out.plugin, line.len()) {
            return;
        }
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        tracing::info!(
            target: "hookhost::guest",
            plugin = %self.out.plugin,
            stream = self.out.stream,
            "{}",
            sanitize(text, MAX_LOGGED)
        );
    }
}

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.pending.extend_from_slice(&bytes);
        loop {
            // Where the next line ends and how long it is; a line that never
            // ends is logged in pieces, so `pending` stays small.
            let (end, len) = match self.pending.iter().position(|&b| b == b'\n') {
                Some(pos) => (pos + 1, pos),
                None if self.pending.len() >= MAX_LINE => (MAX_LINE, MAX_LINE),
                None => break,
            };
            let rest = self.pending.split_off(end);
            let line = std::mem::replace(&mut self.pending, rest);
            self.emit(&line[..len]);
        }
        // Accepting (and dropping) past the budget keeps the guest running.
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_LINE)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LineWriter {
    async fn ready(&mut self) {}
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn budget() -> LogBudget {
        LogBudget::new(LogRate::new(DEFAULT_LOG_KIB_PER_S))
    }

    #[test]
    fn empty_lines_are_not_free_and_refusal_is_final() {
        let budget = budget();
        let mut admitted = 0;
        while budget.admit("p", 0) {
            admitted += 1;
            assert!(admitted <= LOG_BUDGET, "empty lines never ran out");
        }
        assert_eq!(admitted, LOG_BUDGET / LINE_OVERHEAD);
        assert!(!budget.admit("p", 0));
    }

    #[test]
    fn a_line_too_big_for_what_is_left_is_refused() {
        let budget = budget();
        assert!(budget.admit("p", LOG_BUDGET - 2 * LINE_OVERHEAD));
        assert!(!budget.admit("p", 2 * LINE_OVERHEAD));
        assert!(!budget.admit("p", 0));
    }

    #[test]
    fn the_rate_allows_a_burst_then_its_rate_and_counts_what_it_drops() {
        let rate = LogRate::new(64);
        let start = Instant::now();
        let line = 1024;
        let burst = 8 * 64;
        for _ in 0..burst {
            assert_eq!(rate.admit(line, start), Ok(0));
        }
        for _ in 0..5 {
            assert_eq!(rate.admit(line, start), Err(()));
        }
        // One second later the rate has earned 64 lines of 1 KiB; the first
        // says how many were dropped before it.
        let later = start + Duration::from_secs(1);
        assert_eq!(rate.admit(line, later), Ok(5));
        let earned = 64;
        for _ in 1..earned {
            assert_eq!(rate.admit(line, later), Ok(0));
        }
        assert_eq!(rate.admit(line, later), Err(()));
    }
}
