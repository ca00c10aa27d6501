//! What the host counts and times, for `/metrics` on the admin listener, in
//! the Prometheus text format.
//!
//! One registry for the process, reached through [`get`], as `tracing`
//! reaches its subscriber: the server, the loader, the runtime and the
//! journal workers record into it without a handle threaded through every
//! constructor. Label values are plugin names (from the plugins folder),
//! route kinds and fixed words: never a path, a header or other request
//! input, so the number of series stays bounded.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// A plugin's name as a label value; empty when a request found no plugin.
type Name = Arc<str>;

/// Seconds, from a webhook answered from memory to a plugin near its deadline.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Seconds, from a small plugin read from the cache to CPython compiled cold.
const COMPILE_BUCKETS: [f64; 10] = [0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0];

fn latency() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

fn compile_time() -> Histogram {
    Histogram::new(COMPILE_BUCKETS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    plugin: Name,
    kind: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: Name,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginOutcomeLabels {
    plugin: Name,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StopLabels {
    plugin: Name,
    cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboundLabels {
    plugin: Name,
    origin: Arc<str>,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyvalueLabels {
    plugin: Name,
    op: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabels {
    cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric the host keeps. See the README's "Operating" section for
/// what each means.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Histograms<KindLabels>,
    call_seconds: Histograms<PluginOutcomeLabels>,
    stops: Family<StopLabels, Counter>,
    instances_in_use: Gauge,
    outbound: Family<OutboundLabels, Counter>,
    keyvalue: Family<KeyvalueLabels, Counter>,
    journal: Family<StateLabels, Gauge>,
    attempts: Family<PluginOutcomeLabels, Counter>,
    dead_letters: Family<PluginLabels, Counter>,
    duplicates: Family<PluginLabels, Counter>,
    unavailable: Family<CauseLabels, Counter>,
    reloads: Family<OutcomeLabels, Counter>,
    compile_seconds: Histogram,
    cache_load_seconds: Histogram,
    certificate_expiry: Family<ListenerLabels, Gauge>,
}

/// The process's metrics.
pub fn get() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

impl Metrics {
    fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("hookhost"),
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency),
            call_seconds: Family::new_with_constructor(latency),
            stops: Family::default(),
            instances_in_use: Gauge::default(),
            outbound: Family::default(),
            keyvalue: Family::default(),
            journal: Family::default(),
            attempts: Family::default(),
            dead_letters: Family::default(),
            duplicates: Family::default(),
            unavailable: Family::default(),
            reloads: Family::default(),
            compile_seconds: compile_time(),
            cache_load_seconds: compile_time(),
            certificate_expiry: Family::default(),
        };
        let r = &mut m.registry;
        r.register(
            "requests",
            "Requests answered on the webhook listener, by plugin (empty when none matched), route kind and status",
            m.requests.clone(),
        );
        r.register_with_unit(
            "request_duration",
            "Time from a request's head to its answer, by route kind",
            Unit::Seconds,
            m.request_seconds.clone(),
        );
        r.register_with_unit(
            "plugin_call_duration",
            "Time a plugin call took, waiting for a turn included, by outcome: ok, trap, deadline, memory_limit, busy, plugin_busy, instantiate",
            Unit::Seconds,
            m.call_seconds.clone(),
        );
        r.register(
            "plugin_stops",
            "Plugin calls stopped by the sandbox, by cause: trap, deadline, memory_limit",
            m.stops.clone(),
        );
        r.register(
            "instances_in_use",
            "Plugin instances running a call right now",
            m.instances_in_use.clone(),
        );
        r.register(
            "outbound_requests",
            "HTTP requests plugins made, by allow-list origin (\"-\" when none matched) and outcome: sent, denied, failed",
            m.outbound.clone(),
        );
        r.register(
            "keyvalue_operations",
            "wasi:keyvalue operations, by plugin, operation and outcome: ok, error",
            m.keyvalue.clone(),
        );
        r.register(
            "journal_deliveries",
            "Deliveries in the journal, by state, at scrape time",
            m.journal.clone(),
        );
        r.register(
            "delivery_attempts",
            "Attempts to hand a journaled delivery to its plugin, by outcome: done, retry, dead",
            m.attempts.clone(),
        );
        r.register(
            "dead_letters",
            "Deliveries that became dead (out of attempts or refused for good)",
            m.dead_letters.clone(),
        );
        r.register(
            "duplicates_dropped",
            "Resent deliveries answered from memory without running the plugin again",
            m.duplicates.clone(),
        );
        r.register(
            "unavailable",
            "503 answers, by cause: connections, instances, plugin_busy, not_served, journal_full, journal_error, shutting_down, plugin",
            m.unavailable.clone(),
        );
        r.register(
            "reloads",
            "Plugin versions loaded from the plugins folder, by outcome: loaded, failed (the file could not be loaded), not_served (a configuration problem), removed",
            m.reloads.clone(),
        );
        r.register_with_unit(
            "compile_duration",
            "Time to compile a plugin that the cache did not hold",
            Unit::Seconds,
            m.compile_seconds.clone(),
        );
        r.register_with_unit(
            "cache_load_duration",
            "Time to load a compiled plugin from the cache",
            Unit::Seconds,
            m.cache_load_seconds.clone(),
        );
        r.register(
            "certificate_expiry_timestamp_seconds",
            "When the served TLS certificate expires, in Unix seconds, by listener",
            m.certificate_expiry.clone(),
        );
        m
    }

    /// A request answered on the webhook listener.
    pub fn request(&self, plugin: &Name, kind: &'static str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                plugin: plugin.clone(),
                kind,
                status,
            })
            .inc();
        self.request_seconds
            .get_or_create(&KindLabels { kind })
            .observe(took.as_secs_f64());
    }

    /// A plugin call ended with `outcome` after `took`.
    pub fn call(&self, plugin: &Name, outcome: &'static str, took: Duration) {
        self.call_seconds
            .get_or_create(&PluginOutcomeLabels {
                plugin: plugin.clone(),
                outcome,
            })
            .observe(took.as_secs_f64());
        if matches!(outcome, "trap" | "deadline" | "memory_limit") {
            self.stops
                .get_or_create(&StopLabels {
                    plugin: plugin.clone(),
                    cause: outcome,
                })
                .inc();
        }
    }

    /// Counts an instance as running a call until the guard is dropped.
    pub fn instance_in_use(&self) -> InUse {
        self.instances_in_use.inc();
        InUse(self.instances_in_use.clone())
    }

    pub fn outbound(&self, plugin: &Name, origin: &Arc<str>, outcome: &'static str) {
        self.outbound
            .get_or_create(&OutboundLabels {
                plugin: plugin.clone(),
                origin: origin.clone(),
                outcome,
            })
            .inc();
    }

    pub fn keyvalue(&self, plugin: &Name, op: &'static str, ok: bool) {
        self.keyvalue
            .get_or_create(&KeyvalueLabels {
                plugin: plugin.clone(),
                op,
                outcome: if ok { "ok" } else { "error" },
            })
            .inc();
    }

    /// How many deliveries are in `state` now.
    pub fn journal_depth(&self, state: &'static str, deliveries: u64) {
        self.journal
            .get_or_create(&StateLabels { state })
            .set(i64::try_from(deliveries).unwrap_or(i64::MAX));
    }

    /// A delivery attempt ended: `done`, `retry` or `dead`.
    pub fn attempt(&self, plugin: &Name, outcome: &'static str) {
        self.attempts
            .get_or_create(&PluginOutcomeLabels {
                plugin: plugin.clone(),
                outcome,
            })
            .inc();
        if outcome == "dead" {
            self.dead_letters
                .get_or_create(&PluginLabels {
                    plugin: plugin.clone(),
                })
                .inc();
        }
    }

    pub fn duplicate(&self, plugin: &Name) {
        self.duplicates
            .get_or_create(&PluginLabels {
                plugin: plugin.clone(),
            })
            .inc();
    }

    /// A 503 for `cause`.
    pub fn unavailable(&self, cause: &'static str) {
        self.unavailable.get_or_create(&CauseLabels { cause }).inc();
    }

    /// A plugin file handled by the loader: `loaded`, `failed` or `removed`.
    pub fn reload(&self, outcome: &'static str) {
        self.reloads.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    pub fn compiled(&self, took: Duration) {
        self.compile_seconds.observe(took.as_secs_f64());
    }

    pub fn cache_loaded(&self, took: Duration) {
        self.cache_load_seconds.observe(took.as_secs_f64());
    }

    /// The certificate `listener` serves expires at `unix_s`.
    pub fn certificate_expiry(&self, listener: &'static str, unix_s: i64) {
        self.certificate_expiry
            .get_or_create(&ListenerLabels { listener })
            .set(unix_s);
    }

    /// Everything, in the Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(16 << 10);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// An instance running a call; see [`Metrics::instance_in_use`].
pub struct InUse(Gauge);

impl Drop for InUse {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_text_format_with_prometheus_names() {
        let m = Metrics::new();
        let bot: Name = Arc::from("echo-bot");
        m.request(&bot, "pyrus-bot", 200, Duration::from_millis(2));
        m.request(&bot, "pyrus-bot", 200, Duration::from_millis(3));
        m.request(&Arc::from(""), "none", 404, Duration::from_micros(50));
        m.call(&bot, "trap", Duration::from_millis(1));
        {
            let _a = m.instance_in_use();
            let _b = m.instance_in_use();
            assert!(m.encode().contains("hookhost_instances_in_use 2\n"));
        }
        let text = m.encode();
        for line in [
            "hookhost_requests_total{plugin=\"echo-bot\",kind=\"pyrus-bot\",status=\"200\"} 2\n",
            "hookhost_requests_total{plugin=\"\",kind=\"none\",status=\"404\"} 1\n",
            "hookhost_request_duration_seconds_count{kind=\"pyrus-bot\"} 2\n",
            "hookhost_request_duration_seconds_bucket{kind=\"pyrus-bot\",le=\"0.0025\"} 1\n",
            "hookhost_plugin_stops_total{plugin=\"echo-bot\",cause=\"trap\"} 1\n",
            "hookhost_instances_in_use 0\n",
            "# TYPE hookhost_request_duration_seconds histogram\n",
        ] {
            assert!(text.contains(line), "no {line:?} in:\n{text}");
        }
    }
}
