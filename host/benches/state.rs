//! `cargo bench --bench state`: latency of plugin state operations through
//! `StateStore`, as the runtime calls them (writes and cold reads on tokio's
//! blocking pool, warm reads from the read cache), with `synchronous=FULL`
//! and `NORMAL`, and once with the cache off. The database is in a
//! temporary folder on the disk that holds the system temp folder.
//!
//! Then the same operations made by a plugin (the `test-state` guest, one
//! call per request) through `Runtime::call_hook`, against the same call
//! that only opens the bucket: the difference is what a keyvalue call costs
//! a plugin over the raw store.
//!
//! Operation counts are fixed so the run is bounded; numbers are printed, not
//! asserted.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookhost::bindings::http_hook::hookhost::plugin::http_types::{DecodedBody, Request};
use hookhost::runtime::{
    ADMISSION_WAIT, Admission, DEFAULT_LOG_KIB_PER_S, LogRate, OutboundPolicy, Prepared, Runtime,
    Sandbox, default_max_concurrency,
};
use hookhost::state::{Bucket, Quota, SqliteOptions, SqliteStore, StateStore, Synchronous};

const OPS: usize = 5_000;
const VALUE_BYTES: usize = 100;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // Spawned, so that the calls come from a runtime worker as a plugin's do.
    rt.block_on(rt.spawn(run())).expect("bench task");
}

async fn run() {
    // The default keeps recent values in memory; with the cache off every
    // read goes to SQLite on the blocking pool, as a cold key's does.
    let defaults = SqliteOptions::default();
    for (synchronous, cache_bytes) in [
        (Synchronous::Full, defaults.cache_bytes),
        (Synchronous::Normal, defaults.cache_bytes),
        (Synchronous::Full, 0),
    ] {
        println!(
            "\nsynchronous={synchronous:?}, read cache {} MiB, {OPS} ops each, {VALUE_BYTES}-byte values",
            cache_bytes >> 20
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let options = SqliteOptions {
            synchronous,
            cache_bytes,
            ..defaults
        };
        let store = SqliteStore::open_with(dir.path(), options).expect("open store");
        bench(&store).await;
        plugin_calls(store).await;
    }
}

/// The keyvalue calls as a plugin makes them: a fresh instance per call,
/// as every request gets.
async fn plugin_calls(store: SqliteStore) {
    const CALLS: usize = 2_000;
    let runtime = Runtime::with_cache_and_state(None, Some(Arc::new(store))).expect("runtime");
    let wasm = std::fs::read(support::guest("test-state")).expect("test-state built");
    let component = runtime.compile(&wasm).expect("compiles");
    let Ok(Prepared::HttpHook(pre)) = runtime.prepare(&component) else {
        panic!("test-state is not a hook plugin");
    };
    let sandbox = Sandbox {
        admission: Admission::new(default_max_concurrency()),
        admission_wait: Some(ADMISSION_WAIT),
        log_rate: LogRate::new(DEFAULT_LOG_KIB_PER_S),
        plugin: Arc::from("bench-plugin"),
        config: Arc::new(BTreeMap::new()),
        memory_bytes: 64 << 20,
        timeout: Duration::from_secs(10),
        state_quota: Quota::default(),
        outbound: Arc::new(OutboundPolicy::deny_all()),
        instances: None,
    };
    let value = "x".repeat(VALUE_BYTES);
    let request = |call: String| Request {
        rule: "/kv".into(),
        params: Vec::new(),
        method: "POST".into(),
        path: "/hooks/bench-plugin/kv".into(),
        query: String::new(),
        headers: Vec::new(),
        body: call.clone().into_bytes(),
        decoded: DecodedBody::Json(call),
    };
    let ops: [(&str, &(dyn Fn(usize) -> String + Sync)); 4] = [
        ("open only (baseline)", &|_| r#"{"op":"open"}"#.to_owned()),
        ("set", &|i| {
            format!(
                r#"{{"op":"set","key":"key-{}","value":"{value}"}}"#,
                i % 1000
            )
        }),
        ("get", &|i| {
            format!(r#"{{"op":"get","key":"key-{}"}}"#, (i * 7919) % 1000)
        }),
        ("increment", &|i| {
            format!(r#"{{"op":"increment","key":"counter-{}"}}"#, i % 10)
        }),
    ];
    for (name, call) in ops {
        let mut times = Vec::with_capacity(CALLS);
        for i in 0..CALLS {
            let request = request(call(i));
            let start = Instant::now();
            let answer = runtime.call_hook(&pre, &sandbox, &request).await;
            times.push(start.elapsed());
            match answer {
                Ok(Ok(Some(response))) => {
                    let body = String::from_utf8_lossy(&response.body);
                    assert!(body.starts_with(r#"{"ok":"#), "{name}: {body}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        report(&format!("plugin call: {name}"), times);
    }
}

async fn bench(store: &dyn StateStore) {
    let bucket = Bucket::new("bench", Quota::default());
    let value = vec![b'x'; VALUE_BYTES];

    let mut times = Vec::with_capacity(OPS);
    for i in 0..OPS {
        let start = Instant::now();
        store
            .set(&bucket, format!("key-{i}"), value.clone())
            .await
            .expect("set");
        times.push(start.elapsed());
    }
    report("set (new key)", times);

    let mut times = Vec::with_capacity(OPS);
    for i in 0..OPS {
        let start = Instant::now();
        store
            .set(&bucket, format!("key-{i}"), value.clone())
            .await
            .expect("set");
        times.push(start.elapsed());
    }
    report("set (replace)", times);

    let mut times = Vec::with_capacity(OPS);
    let mut hops = Vec::with_capacity(OPS);
    for i in 0..OPS {
        // A stride through the keys, so reads do not follow insert order.
        let key = format!("key-{}", (i * 7919) % OPS);
        let start = Instant::now();
        let got = store.get(&bucket, key).await.expect("get");
        times.push(start.elapsed());
        assert!(got.is_some());
        // What the trip to the blocking pool alone costs at the same moment.
        let start = Instant::now();
        tokio::task::spawn_blocking(|| ())
            .await
            .expect("blocking task");
        hops.push(start.elapsed());
    }
    report("get", times);
    report("  spawn_blocking alone, between gets", hops);

    let mut times = Vec::with_capacity(OPS);
    for i in 0..OPS {
        let start = Instant::now();
        store
            .increment(&bucket, format!("counter-{}", i % 10), 1)
            .await
            .expect("increment");
        times.push(start.elapsed());
    }
    report("increment", times);
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    println!(
        "{what:<40} p50 {:>8.1} µs   p99 {:>8.1} µs   max {:>8.1} µs",
        micros(at(50)),
        micros(at(99)),
        micros(times[times.len() - 1]),
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
