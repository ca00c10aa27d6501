//! `cargo bench --bench journal`: durable appends per second and append
//! latency through `Journal::append` at 1, 8 and 64 concurrent appenders,
//! as the server will call it (from runtime workers), with
//! `synchronous=FULL` and `NORMAL`. Each append resolves only once its
//! batch has committed. The journal is in a temporary folder on the disk
//! that holds the system temp folder.
//!
//! Append counts are fixed so the run is bounded; numbers are printed, not
//! asserted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookhost::journal::{Journal, JournalOptions, NewDelivery, SqliteJournal, now_ms};
use hookhost::state::Synchronous;

/// About a Worksection delivery's size with its meta.
const PAYLOAD_BYTES: usize = 1_000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(rt.spawn(run())).expect("bench task");
}

async fn run() {
    for synchronous in [Synchronous::Full, Synchronous::Normal] {
        println!("\nsynchronous={synchronous:?}, {PAYLOAD_BYTES}-byte payloads");
        for (appenders, appends) in [(1, 2_000), (8, 16_000), (64, 64_000)] {
            let dir = tempfile::tempdir().expect("temp dir");
            let options = JournalOptions {
                synchronous,
                ..JournalOptions::default()
            };
            let journal = SqliteJournal::open_with(dir.path(), options).expect("open journal");
            let before = journal.commits();
            bench(Arc::new(journal.clone()), appenders, appends).await;
            let commits = journal.commits() - before;
            println!(
                "                {commits} commits, {:.1} appends per commit",
                appends as f64 / commits.max(1) as f64
            );
        }
    }
}

async fn bench(journal: Arc<dyn Journal>, appenders: usize, appends: usize) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..appenders)
        .map(|t| {
            let journal = Arc::clone(&journal);
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(appends / appenders);
                for _ in 0..appends / appenders {
                    let delivery = NewDelivery {
                        plugin: format!("plugin-{}", t % 4),
                        kind: "worksection".into(),
                        received_at: now_ms(),
                        payload: vec![b'x'; PAYLOAD_BYTES],
                        meta: r#"{"method":"POST","path":"/worksection/p"}"#.into(),
                    };
                    let begun = Instant::now();
                    journal.append(delivery).await.expect("append");
                    times.push(begun.elapsed());
                }
                times
            })
        })
        .collect();
    let mut times = Vec::with_capacity(appends);
    for task in tasks {
        times.extend(task.await.expect("appender"));
    }
    let elapsed = start.elapsed();
    report(appenders, times, elapsed);
}

fn report(appenders: usize, mut times: Vec<Duration>, elapsed: Duration) {
    times.sort();
    let at = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    println!(
        "{appenders:>3} appenders: {:>7} appends in {:>6.2} s = {:>8.0} appends/s   \
         p50 {:>8.1} µs   p99 {:>8.1} µs   max {:>8.1} µs",
        times.len(),
        elapsed.as_secs_f64(),
        times.len() as f64 / elapsed.as_secs_f64(),
        micros(at(50)),
        micros(at(99)),
        micros(times[times.len() - 1]),
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
