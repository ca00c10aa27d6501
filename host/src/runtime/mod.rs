//! The Wasm side: one engine for the process, a linker with WASI and the
//! `host` interface, compilation, and per-request sandboxed calls.

pub mod cache;
mod fair;
mod file_hash;
mod guest_output;
mod host_api;
mod invoke;
mod keyvalue;
mod outbound;
mod prepare;
mod reuse;
mod state;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::state::StateStore;

pub use cache::{CacheError, CompileCache};
use fair::Lanes;
pub use fair::{ADMISSION_WAIT, Admission, MAX_CONCURRENCY, cores, default_max_concurrency};
pub use file_hash::FileHash;
pub use guest_output::{DEFAULT_LOG_KIB_PER_S, LogRate};
pub use invoke::{InvokeError, Sandbox};
pub use outbound::OutboundPolicy;
pub use prepare::{LoadError, Prepared, World};
pub use reuse::{DEFAULT_IDLE, InstancePool, MAX_IDLE, MAX_REUSE, ReusePolicy};
pub use state::HostState;

/// How often the epoch advances. A running guest yields to the async runtime
/// at every tick, and a deadline is noticed within one tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the Wasm engine: {0}")]
pub struct RuntimeError(String);

/// The process-wide Wasm engine and linker. Cheap to share behind an `Arc`.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    /// Compiled components on disk; `None` compiles every component.
    cache: Option<CompileCache>,
    /// Plugin state behind `wasi:keyvalue`; `None` runs plugins without
    /// (their `open` says so), as `hookhost routes` does.
    state: Option<Arc<dyn StateStore>>,
    /// Where long-running guests take turns.
    lanes: Lanes,
    /// Every plugin version's kept instances, so that a call finding the
    /// instance allocator full can free the slots idle instances hold.
    kept: Mutex<Vec<Weak<InstancePool>>>,
}

impl Runtime {
    /// A runtime that compiles every component it is given.
    pub fn new() -> Result<Arc<Runtime>, RuntimeError> {
        Runtime::with_cache(None)
    }

    /// A runtime that keeps compiled components under `cache_root`. A cache
    /// folder that cannot be created is logged and the runtime compiles
    /// without one: the cache only saves time.
    pub fn with_cache(cache_root: Option<&Path>) -> Result<Arc<Runtime>, RuntimeError> {
        Runtime::with_cache_and_state(cache_root, None)
    }

    pub fn with_cache_and_state(
        cache_root: Option<&Path>,
        state: Option<Arc<dyn StateStore>>,
    ) -> Result<Arc<Runtime>, RuntimeError> {
        let engine_err = |e: wasmtime::Error| RuntimeError(format!("{e:#}"));

        let mut pool = PoolingAllocationConfig::new();
        // Components carry several core instances (the WASI adapter, libc,
        // the program), so core slots outnumber component slots.
        pool.total_component_instances(1000)
            .total_core_instances(4000)
            .total_memories(1000)
            .total_tables(4000)
            .total_stacks(1000)
            // One component may not take a large share of the pool's slots.
            .max_core_instances_per_component(64)
            .max_memories_per_component(16)
            .max_tables_per_component(64)
            .max_tables_per_module(4)
            .table_elements(100_000)
            // Reset a reused slot with memset instead of handing its pages back
            // to the kernel, so the next request does not page-fault them in.
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(64 << 10)
            .async_stack_keep_resident(64 << 10)
            .pagemap_scan(Enabled::Auto);

        let mut config = Config::new();
        config
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .epoch_interruption(true);
        let engine = Engine::new(&config).map_err(engine_err)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_err)?;
        // Only the wasi:http interfaces: the rest of WASI is added above.
        // Offered to every world; components that do not import it (all
        // built before it existed) link as before.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(engine_err)?;
        crate::bindings::hookhost::plugin::host::add_to_linker::<HostState, HasSelf<HostState>>(
            &mut linker,
            |state| state,
        )
        .map_err(engine_err)?;
        keyvalue::add_to_linker(&mut linker).map_err(engine_err)?;

        let cache = cache_root.and_then(|root| match CompileCache::open(root, &engine) {
            Ok(cache) => {
                tracing::info!(dir = %cache.dir().display(), "compiled-plugin cache");
                Some(cache)
            }
            Err(e) => {
                tracing::warn!("compiling every plugin, no cache: {e}");
                None
            }
        });

        spawn_epoch_ticker(&engine)?;
        Ok(Arc::new(Runtime {
            engine,
            linker,
            cache,
            state,
            lanes: Lanes::for_machine(),
            kept: Mutex::new(Vec::new()),
        }))
    }

    /// The pool of kept instances for one loaded plugin version.
    pub fn instance_pool(&self, policy: ReusePolicy) -> Arc<InstancePool> {
        let pool = InstancePool::new(policy);
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        kept.retain(|pool| pool.strong_count() > 0);
        kept.push(Arc::downgrade(&pool));
        pool
    }

    /// Drops every idle kept instance of every plugin; how many there were.
    fn drop_idle_instances(&self) -> usize {
        let pools: Vec<Arc<InstancePool>> = {
            let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
            kept.iter().filter_map(Weak::upgrade).collect()
        };
        pools.iter().map(|pool| pool.clear()).sum()
    }

    /// Compiles a component. CPU-heavy: call it from a blocking thread.
    pub fn compile(&self, bytes: &[u8]) -> Result<Component, LoadError> {
        Component::new(&self.engine, bytes).map_err(|e| LoadError::Compile(format!("{e:#}")))
    }

    /// The component for plugin file `bytes` whose SHA-256 is `hash`: from
    /// the cache when it holds a sound entry, else compiled (and cached).
    /// CPU- and disk-heavy: call it from a blocking thread. The log says
    /// which of the two happened.
    pub fn load_component(
        &self,
        plugin: &str,
        bytes: &[u8],
        hash: &FileHash,
    ) -> Result<Component, LoadError> {
        let sha256 = hash.short();
        if let Some(cache) = &self.cache {
            let start = Instant::now();
            match cache.load(&self.engine, hash.as_str()) {
                Ok(Some(component)) => {
                    crate::metrics::get().cache_loaded(start.elapsed());
                    let millis = start.elapsed().as_millis() as u64;
                    tracing::info!(plugin, sha256, millis, "component loaded from cache");
                    return Ok(component);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(plugin, sha256, "compiling again: {e}"),
            }
        }

        let start = Instant::now();
        let component = self.compile(bytes)?;
        crate::metrics::get().compiled(start.elapsed());
        let millis = start.elapsed().as_millis() as u64;
        match self
            .cache
            .as_ref()
            .map(|c| c.store(hash.as_str(), &component))
        {
            None => tracing::info!(plugin, sha256, millis, "component compiled (cache off)"),
            Some(Ok(())) => tracing::info!(plugin, sha256, millis, "component compiled and cached"),
            Some(Err(e)) => tracing::warn!(
                plugin,
                sha256,
                millis,
                "component compiled, not cached: {e}"
            ),
        }
        Ok(component)
    }

    /// Works out which world a component implements and pre-links it.
    pub fn prepare(&self, component: &Component) -> Result<Prepared, LoadError> {
        prepare::prepare(&self.engine, &self.linker, component)
    }
}

/// One thread advances the epoch for every store of the engine; it ends when
/// the engine is gone.
fn spawn_epoch_ticker(engine: &Engine) -> Result<(), RuntimeError> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("hookhost-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
        .map_err(|e| RuntimeError(format!("cannot start the epoch ticker: {e}")))
}
