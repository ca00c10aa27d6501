//! `cargo bench --bench state`: latency of plugin state operations through
//! `StateStore`, as the runtime will call them (each on tokio's blocking
//! pool), with `synchronous=FULL` and `NORMAL`. The database is in a
//! temporary folder on the disk that holds the system temp folder.
//!
//! Operation counts are fixed so the run is bounded; numbers are printed, not
//! asserted.

use std::time::{Duration, Instant};

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
    for synchronous in [Synchronous::Full, Synchronous::Normal] {
        println!("\nsynchronous={synchronous:?}, {OPS} ops each, {VALUE_BYTES}-byte values");
        let dir = tempfile::tempdir().expect("temp dir");
        let options = SqliteOptions {
            synchronous,
            ..SqliteOptions::default()
        };
        let store = SqliteStore::open_with(dir.path(), options).expect("open store");
        bench(&store).await;
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
