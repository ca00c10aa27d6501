//! One sandboxed call: a fresh `Store` from a pre-linked component, a memory
//! cap, and a wall-clock deadline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{Store, UpdateDeadline};

use super::Runtime;
use super::bindings::PyrusBotPre;
use super::bindings::exports::hookhost::plugin::pyrus_bot_handler::{BotEvent, Comment};
use super::bindings::hookhost::plugin::types::PluginError;
use super::state::HostState;

/// What bounds one plugin call.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub plugin: Arc<str>,
    pub config: Arc<BTreeMap<String, String>>,
    pub memory_bytes: u64,
    pub timeout: Duration,
}

/// Why a call produced no answer from the plugin.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("plugin did not answer within {} ms", .0.as_millis())]
    Deadline(Duration),
    #[error("plugin exceeded its memory limit of {0} MiB")]
    MemoryLimit(u64),
    #[error("plugin trapped: {0}")]
    Trap(String),
    #[error("too many concurrent plugin instances")]
    Busy,
    #[error("plugin could not be instantiated: {0}")]
    Instantiate(String),
}

/// Raised inside the guest at the first epoch tick past its deadline.
#[derive(Debug, thiserror::Error)]
#[error("deadline exceeded")]
struct DeadlineExceeded;

enum Stage {
    Instantiate(wasmtime::Error),
    Call(wasmtime::Error),
}

impl Runtime {
    fn new_store(&self, sandbox: &Sandbox) -> Store<HostState> {
        let state = HostState::new(
            sandbox.plugin.clone(),
            sandbox.config.clone(),
            sandbox.memory_bytes,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| state.limits_mut());
        // At every epoch tick a running guest either yields to the async
        // runtime or, past its deadline, traps: a busy guest is stopped even
        // when the runtime's timers run late. The `timeout` around the call
        // covers time the guest spends waiting in host calls.
        let deadline = Instant::now() + sandbox.timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(wasmtime::Error::new(DeadlineExceeded))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }

    /// Runs a Pyrus bot plugin on one event.
    pub async fn call_pyrus_bot(
        &self,
        pre: &PyrusBotPre<HostState>,
        sandbox: &Sandbox,
        event: &BotEvent,
    ) -> Result<Result<Option<Comment>, PluginError>, InvokeError> {
        let mut store = self.new_store(sandbox);
        let call = async {
            let bot = pre
                .instantiate_async(&mut store)
                .await
                .map_err(Stage::Instantiate)?;
            bot.hookhost_plugin_pyrus_bot_handler()
                .call_handle(&mut store, event)
                .await
                .map_err(Stage::Call)
        };
        let outcome = tokio::time::timeout(sandbox.timeout, call).await;
        classify(outcome, &store, sandbox)
    }
}

fn classify<T>(
    outcome: Result<Result<T, Stage>, tokio::time::error::Elapsed>,
    store: &Store<HostState>,
    sandbox: &Sandbox,
) -> Result<T, InvokeError> {
    let limit_mb = sandbox.memory_bytes >> 20;
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Err(_) => Err(InvokeError::Deadline(sandbox.timeout)),
        Ok(Err(Stage::Instantiate(e) | Stage::Call(e))) if e.is::<DeadlineExceeded>() => {
            Err(InvokeError::Deadline(sandbox.timeout))
        }
        Ok(Err(_)) if store.data().memory_limit_hit() => Err(InvokeError::MemoryLimit(limit_mb)),
        Ok(Err(Stage::Instantiate(e))) => {
            if e.is::<wasmtime::PoolConcurrencyLimitError>() {
                Err(InvokeError::Busy)
            } else {
                Err(InvokeError::Instantiate(format!("{e:#}")))
            }
        }
        Ok(Err(Stage::Call(e))) => Err(InvokeError::Trap(format!("{e:?}"))),
    }
}
