//! A guest's stdout and stderr, turned into host log lines.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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

/// What is left of one request's log budget.
#[derive(Clone)]
pub struct LogBudget(Arc<BudgetState>);

struct BudgetState {
    left: AtomicUsize,
    warned: AtomicBool,
}

/// What a log line costs beyond its text (timestamp, level, span, fields),
/// so that empty lines are not free.
const LINE_OVERHEAD: usize = 128;

impl LogBudget {
    pub fn new() -> Self {
        LogBudget(Arc::new(BudgetState {
            left: AtomicUsize::new(LOG_BUDGET),
            warned: AtomicBool::new(false),
        }))
    }

    /// Pays for one line of `len` bytes if the budget allows; once it does
    /// not, says so in the log (once) and refuses every further line.
    pub fn admit(&self, plugin: &str, len: usize) -> bool {
        let cost = len.saturating_add(LINE_OVERHEAD);
        let paid = self
            .0
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                // Once refused, refuse for good: no small line sneaks in later.
                Some(left.saturating_sub(cost))
            })
            .is_ok_and(|left| left >= cost);
        if !paid && !self.0.warned.swap(true, Ordering::Relaxed) {
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
    use super::*;

    #[test]
    fn empty_lines_are_not_free_and_refusal_is_final() {
        let budget = LogBudget::new();
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
        let budget = LogBudget::new();
        assert!(budget.admit("p", LOG_BUDGET - 2 * LINE_OVERHEAD));
        assert!(!budget.admit("p", 2 * LINE_OVERHEAD));
        assert!(!budget.admit("p", 0));
    }
}
