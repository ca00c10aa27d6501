//! One sandboxed call: a fresh `Store` from a pre-linked component, a memory
//! cap, and a wall-clock deadline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{Store, UpdateDeadline};

use super::Runtime;
use super::fair::{Admission, LaneSlot};
use super::guest_output::LogRate;
use super::keyvalue::{KeyValueCtx, StateAccess};
use super::outbound::OutboundPolicy;
use super::prepare::World;
use super::reuse::InstancePool;
use super::state::HostState;
use crate::bindings::PyrusBotPre;
use crate::bindings::exports::hookhost::plugin::pyrus_bot_handler::{BotEvent, Comment};
use crate::bindings::hookhost::plugin::pyrus_types::Retry;
use crate::bindings::hookhost::plugin::types::PluginError;
use crate::bindings::http_hook::HttpHookPre;
use crate::bindings::http_hook::hookhost::plugin::http_types::{
    Request as HookRequest, Response as HookResponse, Route as HookRoute,
};
use crate::bindings::pyrus_ext::PyrusExtPre;
use crate::bindings::pyrus_ext::hookhost::plugin::pyrus_ext_types::ExtError;
use crate::bindings::worksection::WorksectionPre;
use crate::bindings::worksection::hookhost::plugin::worksection_types::Event as WsEvent;
use crate::logtext::{MAX_LOGGED, sanitize};
use crate::metrics;
use crate::protocol::pyrus_ext::{ExtAnswer, ExtCall};
use crate::state::{Bucket, Quota};

/// What bounds one plugin call. Cloned per plugin version, never per
/// request: calls borrow it, and the `Arc`s are shared.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub plugin: Arc<str>,
    pub config: Arc<BTreeMap<String, String>>,
    pub memory_bytes: u64,
    pub timeout: Duration,
    /// Where the plugin may send HTTP requests, and how many.
    pub outbound: Arc<OutboundPolicy>,
    /// What the plugin's state may hold (its bucket is its name).
    pub state_quota: Quota,
    /// The plugin's turns, shared by all its versions.
    pub admission: Arc<Admission>,
    /// How long a call waits for a turn; `None` waits as long as it takes.
    pub admission_wait: Option<Duration>,
    /// The plugin's log allowance over time, shared by all its versions.
    pub log_rate: Arc<LogRate>,
    /// Kept instances, when the sidecar opts in to reuse; this version's own.
    pub instances: Option<Arc<InstancePool>>,
}

impl Sandbox {
    /// The same bounds for a call nobody is waiting on (a journaled
    /// delivery): it waits for a turn instead of being refused.
    pub fn background(&self) -> Sandbox {
        Sandbox {
            admission_wait: None,
            ..self.clone()
        }
    }
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
    #[error("plugin is busy: all {0} of its turns are taken")]
    PluginBusy(u32),
    #[error("plugin could not be instantiated: {0}")]
    Instantiate(String),
}

/// Raised inside the guest at the first epoch tick past its deadline.
#[derive(Debug, thiserror::Error)]
#[error("deadline exceeded")]
struct DeadlineExceeded;

pub(crate) enum Stage {
    Instantiate(wasmtime::Error),
    Call(wasmtime::Error),
}

impl Runtime {
    fn new_store(&self, sandbox: &Sandbox, lane: &LaneSlot) -> Store<HostState> {
        let deadline = Instant::now() + sandbox.timeout;
        let mut state = HostState::new(sandbox, deadline, lane.clone());
        // The bucket is named after the sandbox's plugin, here and nowhere
        // else: no guest input takes part in choosing it.
        state.keyvalue = KeyValueCtx::new(self.state.clone().map(|store| StateAccess {
            store,
            bucket: Bucket::new(sandbox.plugin.clone(), sandbox.state_quota),
        }));
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        self.arm_deadline(&mut store, deadline, lane);
        store
    }

    /// Readies a kept store for its next call: a new deadline, lane and
    /// outbound count, a full log budget.
    fn rearm(&self, store: &mut Store<HostState>, sandbox: &Sandbox, lane: &LaneSlot) {
        let deadline = Instant::now() + sandbox.timeout;
        store.data_mut().rearm(sandbox, deadline, lane.clone());
        self.arm_deadline(store, deadline, lane);
    }

    fn arm_deadline(&self, store: &mut Store<HostState>, deadline: Instant, lane: &LaneSlot) {
        // At every epoch tick a running guest either yields to the async
        // runtime or, past its deadline, traps: a busy guest is stopped even
        // when the runtime's timers run late. The `timeout` around the call
        // covers time the guest spends waiting in host calls. A guest past
        // its first whole tick is long-running and from then on yields into
        // the queue for a lane (see `fair`).
        store.set_epoch_deadline(1);
        let lanes = self.lanes.clone();
        let lane = lane.clone();
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                return Err(wasmtime::Error::new(DeadlineExceeded));
            }
            Ok(if lane.tick() {
                UpdateDeadline::YieldCustom(1, lane.next_turn(&lanes))
            } else {
                UpdateDeadline::Yield(1)
            })
        });
    }

    /// A fresh instance of `pre`. When the instance allocator is full and
    /// plugins keep idle instances, those are dropped and it tries again:
    /// a kept instance must never stand in the way of a call.
    async fn instantiate<W: World>(
        &self,
        pre: &W,
        store: &mut Store<HostState>,
    ) -> Result<W::Instance, Stage> {
        match pre.instantiate(&mut *store).await {
            Err(e) if e.is::<wasmtime::PoolConcurrencyLimitError>() => {
                if self.drop_idle_instances() == 0 {
                    return Err(Stage::Instantiate(e));
                }
                pre.instantiate(store).await.map_err(Stage::Instantiate)
            }
            result => result.map_err(Stage::Instantiate),
        }
    }

    /// Runs `call` on an instance of `pre` under the sandbox's memory cap
    /// and deadline: a fresh one, or with reuse on, one kept from an earlier
    /// call of the same plugin version.
    async fn run<W: World, T>(
        &self,
        pre: &W,
        sandbox: &Sandbox,
        call: impl AsyncFnOnce(&W::Instance, &mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, InvokeError> {
        let started = Instant::now();
        let result = self.run_counted(pre, sandbox, call).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(InvokeError::Deadline(_)) => "deadline",
            Err(InvokeError::MemoryLimit(_)) => "memory_limit",
            Err(InvokeError::Trap(_)) => "trap",
            Err(InvokeError::Busy) => "busy",
            Err(InvokeError::PluginBusy(_)) => "plugin_busy",
            Err(InvokeError::Instantiate(_)) => "instantiate",
        };
        metrics::get().call(&sandbox.plugin, outcome, started.elapsed());
        result
    }

    /// [`Runtime::run`] without the metrics.
    async fn run_counted<W: World, T>(
        &self,
        pre: &W,
        sandbox: &Sandbox,
        call: impl AsyncFnOnce(&W::Instance, &mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, InvokeError> {
        let Some(turn) = sandbox.admission.enter(sandbox.admission_wait).await else {
            let window = sandbox.admission.window();
            if let Some(refused) = sandbox.admission.refused() {
                tracing::warn!(
                    refused,
                    "request refused: plugin is busy: all {window} of its turns are taken ({refused} refused since the last such line; at most one a second)"
                );
            }
            return Err(InvokeError::PluginBusy(window));
        };
        let _in_use = metrics::get().instance_in_use();
        let lane = LaneSlot::default();
        let kept = sandbox.instances.as_ref().and_then(|pool| pool.take());
        let kept = kept.and_then(|idle| {
            let instance = idle.instance.downcast::<W::Instance>().ok()?;
            Some((idle.store, instance, idle.uses))
        });
        let (mut store, kept, uses) = match kept {
            Some((mut store, instance, uses)) => {
                self.rearm(&mut store, sandbox, &lane);
                (store, Some(instance), uses)
            }
            None => (self.new_store(sandbox, &lane), None, 0),
        };
        let outcome = tokio::time::timeout(sandbox.timeout, async {
            let instance = match kept {
                Some(instance) => instance,
                None => Box::new(self.instantiate(pre, &mut store).await?),
            };
            let value = call(&*instance, &mut store).await.map_err(Stage::Call)?;
            Ok((value, instance))
        })
        .await;
        // A long-running call may end holding a lane; a kept store must not
        // keep it while idle.
        lane.release();
        let result = classify(outcome, &store, sandbox);
        // A full instance pool is not the plugin's doing.
        turn.done(matches!(result, Ok(_) | Err(InvokeError::Busy)));
        let result = match result {
            Ok((value, instance)) => {
                // A guest refused memory or an outbound request may have
                // answered anyway, from a state it did not expect: not kept.
                if let Some(pool) = &sandbox.instances
                    && !store.data().outbound.denied()
                    && !store.data().limits.memory_limit_hit
                {
                    pool.put(store, instance, uses.saturating_add(1));
                }
                Ok(value)
            }
            Err(error) => Err(error),
        };
        if let Err(error) = &result
            && !matches!(error, InvokeError::Busy)
        {
            // Paid for from the plugin's log rate: senders flooding a
            // trapping plugin must not flood the log with its backtraces.
            let text = sanitize(&error.to_string(), MAX_LOGGED);
            if sandbox.log_rate.admit_line(&sandbox.plugin, text.len()) {
                tracing::error!("plugin failed: {text}");
            }
        }
        result
    }

    pub async fn call_pyrus_bot(
        &self,
        pre: &PyrusBotPre<HostState>,
        sandbox: &Sandbox,
        event: &BotEvent,
    ) -> Result<Result<Option<Comment>, PluginError>, InvokeError> {
        self.run(pre, sandbox, async |bot, store| {
            let handler = bot.hookhost_plugin_pyrus_bot_handler();
            handler.call_handle(store, event).await
        })
        .await
    }

    /// Instantiates a Pyrus extension without calling it: the `/pulse` check.
    pub async fn probe_pyrus_ext(
        &self,
        pre: &PyrusExtPre<HostState>,
        sandbox: &Sandbox,
    ) -> Result<(), InvokeError> {
        self.run(pre, sandbox, async |_, _| Ok(())).await
    }

    pub async fn call_pyrus_ext(
        &self,
        pre: &PyrusExtPre<HostState>,
        sandbox: &Sandbox,
        call: &ExtCall,
        retry: Retry,
    ) -> Result<Result<ExtAnswer, ExtError>, InvokeError> {
        self.run(pre, sandbox, async |ext, store| {
            let handler = ext.hookhost_plugin_pyrus_ext_handler();
            Ok(match call {
                ExtCall::Authorize(request) => handler
                    .call_authorize(store, request, retry)
                    .await?
                    .map(ExtAnswer::Account),
                ExtCall::Toggle(request) => handler
                    .call_toggle(store, request, retry)
                    .await?
                    .map(|()| ExtAnswer::Done),
                ExtCall::Event(event) => handler
                    .call_event(store, event, retry)
                    .await?
                    .map(|()| ExtAnswer::Done),
                ExtCall::SendMessage(message) => handler
                    .call_send_message(store, message, retry)
                    .await?
                    .map(|()| ExtAnswer::Done),
                ExtCall::AvailableNumbers(auth) => handler
                    .call_available_numbers(store, auth, retry)
                    .await?
                    .map(ExtAnswer::Numbers),
            })
        })
        .await
    }

    pub async fn call_worksection(
        &self,
        pre: &WorksectionPre<HostState>,
        sandbox: &Sandbox,
        event: &WsEvent,
    ) -> Result<Result<(), PluginError>, InvokeError> {
        self.run(pre, sandbox, async |plugin, store| {
            let handler = plugin.hookhost_plugin_worksection_handler();
            handler.call_handle(store, event).await
        })
        .await
    }

    /// Asks a generic hook plugin which URI rules it serves.
    pub async fn hook_routes(
        &self,
        pre: &HttpHookPre<HostState>,
        sandbox: &Sandbox,
    ) -> Result<Vec<HookRoute>, InvokeError> {
        self.run(pre, sandbox, async |plugin, store| {
            plugin
                .hookhost_plugin_http_handler()
                .call_routes(store)
                .await
        })
        .await
    }

    pub async fn call_hook(
        &self,
        pre: &HttpHookPre<HostState>,
        sandbox: &Sandbox,
        request: &HookRequest,
    ) -> Result<Result<Option<HookResponse>, PluginError>, InvokeError> {
        self.run(pre, sandbox, async |plugin, store| {
            let handler = plugin.hookhost_plugin_http_handler();
            handler.call_handle(store, request).await
        })
        .await
    }
}

fn classify<T>(
    outcome: Result<Result<T, Stage>, tokio::time::error::Elapsed>,
    store: &Store<HostState>,
    sandbox: &Sandbox,
) -> Result<T, InvokeError> {
    let limit_mb = sandbox.memory_bytes >> 20;
    match outcome {
        // An outbound wait was cut at the deadline: whatever the guest
        // answered after that came too late.
        Ok(_) if store.data().outbound.deadline_hit() => {
            Err(InvokeError::Deadline(sandbox.timeout))
        }
        Ok(Ok(value)) => Ok(value),
        Err(_) => Err(InvokeError::Deadline(sandbox.timeout)),
        Ok(Err(Stage::Instantiate(e) | Stage::Call(e))) if e.is::<DeadlineExceeded>() => {
            Err(InvokeError::Deadline(sandbox.timeout))
        }
        Ok(Err(_)) if store.data().limits.memory_limit_hit => {
            Err(InvokeError::MemoryLimit(limit_mb))
        }
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
