//! A guest's stdout and stderr, turned into host log lines.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Bytes of output one request may log; the rest is dropped so a chatty or
/// malicious plugin cannot flood the operator's log.
const OUTPUT_BUDGET: usize = 64 * 1024;
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

/// Hands out writers that log whole lines tagged with the plugin name; the
/// request id comes from the enclosing request span.
#[derive(Clone)]
pub struct GuestOutput {
    plugin: Arc<str>,
    stream: Stream,
    budget: Arc<AtomicUsize>,
}

impl GuestOutput {
    /// Both streams of one request share one budget.
    pub fn pair(plugin: Arc<str>) -> (GuestOutput, GuestOutput) {
        let budget = Arc::new(AtomicUsize::new(OUTPUT_BUDGET));
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
            truncated: false,
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
    truncated: bool,
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
            super::host_api::sanitize(text)
        );
    }

    fn take_budget(&mut self, len: usize) -> usize {
        let mut granted = 0;
        let _ = self
            .out
            .budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                granted = left.min(len);
                Some(left - granted)
            });
        granted
    }
}

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let granted = self.take_budget(bytes.len());
        if granted < bytes.len() && !self.truncated {
            self.truncated = true;
            tracing::warn!(
                target: "hookhost::guest",
                plugin = %self.out.plugin,
                stream = self.out.stream.name(),
                "output past {OUTPUT_BUDGET} bytes dropped"
            );
        }
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
