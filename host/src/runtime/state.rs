//! What one request's `Store` carries.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::fair::LaneSlot;
use super::guest_output::{GuestOutput, LogBudget};
use super::invoke::Sandbox;
use super::keyvalue::KeyValueCtx;
use super::outbound::CallHooks;

/// Per-request host state. Everything here dies with the request, unless
/// the plugin opted in to instance reuse (see `reuse`): then what is not
/// re-armed for each call ([`HostState::rearm`]) lives as long as its
/// instance.
pub struct HostState {
    pub(super) plugin: Arc<str>,
    pub(super) config: Arc<BTreeMap<String, String>>,
    pub(super) limits: Limits,
    pub(super) log_budget: LogBudget,
    /// The plugin's own bucket, set by the runtime for each call.
    pub(super) keyvalue: KeyValueCtx,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    /// Outbound HTTP: the plugin's allow-list and limits, this call's count.
    pub(super) outbound: CallHooks,
    table: ResourceTable,
}

impl HostState {
    pub fn new(sandbox: &Sandbox, deadline: Instant, lane: LaneSlot) -> Self {
        let plugin = sandbox.plugin.clone();
        let log_budget = LogBudget::new(sandbox.log_rate.clone());
        let (stdout, stderr) = GuestOutput::pair(plugin.clone(), &log_budget);
        // No preopened directories, no environment, no arguments, no
        // sockets: a plugin reaches the world only through the `host`
        // interface and `wasi:http`, which goes through `outbound`.
        let wasi = WasiCtx::builder()
            .stdout(stdout)
            .stderr(stderr)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        HostState {
            outbound: CallHooks::new(plugin.clone(), sandbox.outbound.clone(), deadline, lane),
            plugin,
            config: sandbox.config.clone(),
            limits: Limits::new(sandbox.memory_bytes),
            log_budget,
            keyvalue: KeyValueCtx::default(),
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
        }
    }
}

impl HostState {
    /// What each call of a kept instance starts afresh: its deadline, its
    /// lane, its outbound count and its log budget.
    pub(super) fn rearm(&mut self, sandbox: &Sandbox, deadline: Instant, lane: LaneSlot) {
        self.outbound = CallHooks::new(
            sandbox.plugin.clone(),
            sandbox.outbound.clone(),
            deadline,
            lane,
        );
        self.log_budget.refill();
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps the linear memory of one request — all of a component's memories
/// together, since a component may hold several — and remembers whether the
/// cap was hit, so the failure reads "memory limit" rather than a bare trap.
pub struct Limits {
    memory_bytes: u64,
    memory_used: u64,
    /// The last approved growth (from, to), undone if wasmtime then fails it.
    pending_growth: Option<(u64, u64)>,
    pub(super) memory_limit_hit: bool,
}

/// Tables are capped at a size no real plugin reaches, so a guest cannot
/// use them to exhaust host memory either.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl Limits {
    fn new(memory_bytes: u64) -> Self {
        Limits {
            memory_bytes,
            memory_used: 0,
            pending_growth: None,
            memory_limit_hit: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("plugin exceeded its memory limit of {limit_mb} MiB")]
pub struct MemoryLimitExceeded {
    pub limit_mb: u64,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.pending_growth = None;
        // Past the memory's own declared maximum the grow fails anyway;
        // refuse it without counting bytes that will never exist.
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let used = self.memory_used.saturating_sub(current as u64) + desired as u64;
        if used > self.memory_bytes {
            self.memory_limit_hit = true;
            // Trapping (instead of failing `memory.grow`) makes the cause plain.
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit_mb: self.memory_bytes >> 20,
            }));
        }
        self.pending_growth = Some((current as u64, desired as u64));
        self.memory_used = used;
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // The growth approved just before did not happen: stop counting it.
        if let Some((current, desired)) = self.pending_growth.take() {
            self.memory_used = self.memory_used.saturating_sub(desired) + current;
        }
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn the_limit_covers_all_memories_together() {
        let mut limits = Limits::new(64 << 20);
        // Two memories of 30 MiB fit; growing one of them by 10 more does not.
        assert!(limits.memory_growing(0, 30 * MIB, None).unwrap());
        assert!(limits.memory_growing(0, 30 * MIB, None).unwrap());
        assert!(!limits.memory_limit_hit);
        let err = limits.memory_growing(30 * MIB, 40 * MIB, None).unwrap_err();
        assert!(err.is::<MemoryLimitExceeded>());
        assert!(limits.memory_limit_hit);
    }

    #[test]
    fn growth_that_fails_or_passes_the_declared_maximum_is_not_counted() {
        let mut limits = Limits::new(64 << 20);
        assert!(limits.memory_growing(0, 4 * MIB, None).unwrap());
        // Refused for passing its maximum: the 4 MiB before it still counts.
        assert!(
            !limits
                .memory_growing(4 * MIB, 100 * MIB, Some(10 * MIB))
                .unwrap()
        );
        limits
            .memory_grow_failed(wasmtime::Error::msg("past maximum"))
            .unwrap();
        assert!(limits.memory_growing(0, 40 * MIB, None).unwrap());
        limits
            .memory_grow_failed(wasmtime::Error::msg("slot too small"))
            .unwrap();
        // The 40 MiB never happened, so 4 + 60 MiB still fits.
        assert!(limits.memory_growing(0, 60 * MIB, None).unwrap());
        assert!(!limits.memory_limit_hit);
        assert!(limits.memory_growing(0, MIB, None).is_err());
    }

    #[test]
    fn growth_counts_only_the_difference() {
        let mut limits = Limits::new(64 << 20);
        assert!(limits.memory_growing(0, MIB, None).unwrap());
        for size in 2..=64 {
            assert!(
                limits
                    .memory_growing((size - 1) * MIB, size * MIB, None)
                    .unwrap()
            );
        }
        assert!(limits.memory_growing(64 * MIB, 65 * MIB, None).is_err());
    }
}
