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

#[derive(Clone, Copy, Debug)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// What is left of one request's log budget.
#[derive(Clone)]
pub struct LogBudget(Arc<BudgetState>);

struct BudgetState {
    left: AtomicUsize,
    warned: AtomicBool,
}

impl LogBudget {
    pub fn new() -> Self {
        LogBudget(Arc::new(BudgetState {
            left: AtomicUsize::new(LOG_BUDGET),
            warned: AtomicBool::new(false),
        }))
    }

    /// Takes up to `len` bytes and returns how many were granted; says once
    /// in the log when the budget runs out.
    pub fn take(&self, plugin: &str, len: usize) -> usize {
        let mut granted = 0;
        let _ = self
            .0
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                granted = left.min(len);
                Some(left - granted)
            });
        if granted < len && !self.0.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: "hookhost::guest",
                plugin,
                "plugin wrote more than {LOG_BUDGET} bytes of log in one request; the rest is dropped"
            );
        }
        granted
    }

    /// Admits a whole line while any budget is left.
    pub fn charge(&self, plugin: &str, len: usize) -> bool {
        self.take(plugin, len) > 0 || len == 0
    }
}

/// Hands out writers that log whole lines tagged with the plugin name; the
/// request id comes from the enclosing request span.
#[derive(Clone)]
pub struct GuestOutput {
    plugin: Arc<str>,
    stream: Stream,
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
        (make(Stream::Stdout), make(Stream::Stderr))
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
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        tracing::info!(
            target: "hookhost::guest",
            plugin = %self.out.plugin,
            stream = self.out.stream.name(),
            "{}",
            sanitize(text, MAX_LOGGED)
        );
    }
}

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let granted = self.out.budget.take(&self.out.plugin, bytes.len());
        self.pending.extend_from_slice(&bytes[..granted]);
        while let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
            let rest = self.pending.split_off(pos + 1);
            let line = std::mem::replace(&mut self.pending, rest);
            self.emit(&line[..pos]);
        }
        if self.pending.len() >= MAX_LINE {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
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
