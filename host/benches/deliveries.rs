//! `cargo bench --bench deliveries`: what "nothing acknowledged is lost"
//! costs. Worksection deliveries to the real binary (release build, real
//! sockets, the journal on this machine's disk with `synchronous=FULL`),
//! from 1, 8 and 64 concurrent senders: acknowledged deliveries per second
//! and answer latency; then, one delivery at a time, the time from the
//! acknowledgement to the plugin starting on it (read from the plugin's
//! log line). Fixed counts; numbers are printed, not asserted.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::*;

const PASSWORD: &str = "bench-pass";

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run());
}

fn event(id: u32) -> String {
    format!(
        r#"{{"action":"post","object":{{"type":"task","id":"{id}","page":"/project/1/{id}/"}},"new":{{"name":"Task {id}"}}}}"#
    )
}

async fn deliver(url: &str, id: u32) -> Duration {
    let started = Instant::now();
    let res = client()
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", senders::basic("ws", PASSWORD))
        .body(event(id))
        .send()
        .await
        .expect("delivery");
    assert_eq!(res.status(), 200);
    res.bytes().await.expect("answer");
    started.elapsed()
}

async fn run() {
    let plugins = Plugins::new();
    plugins.add(
        "ws",
        &guest("test-worksection"),
        &format!(
            "basic_auth = {{ user = \"ws\", password = {{ value = \"{PASSWORD}\" }} }}\nconcurrency = 8\n"
        ),
    );
    let host = Host::start_with(
        plugins.path(),
        &[],
        &[("RUST_LOG", "warn,hookhost::guest=info")],
    );
    let url = Arc::new(format!("{}/worksection/ws", host.url));
    for _ in 0..50 {
        deliver(&url, 0).await;
    }

    println!("durable Worksection deliveries (journal synchronous=FULL)\n");
    println!(
        "{:<10} {:>10} {:>12} {:>10} {:>10}",
        "senders", "total", "per second", "p50", "p99"
    );
    let mut next_id = 1u32;
    for (senders, each) in [(1u32, 1000u32), (8, 500), (64, 125)] {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for s in 0..senders {
            let url = url.clone();
            let first = next_id + s * each;
            tasks.push(tokio::spawn(async move {
                let mut samples = Vec::with_capacity(each as usize);
                for id in first..first + each {
                    samples.push(deliver(&url, id).await);
                }
                samples
            }));
        }
        let mut samples = Vec::new();
        for task in tasks {
            samples.extend(task.await.expect("sender"));
        }
        let elapsed = started.elapsed();
        next_id += senders * each;
        samples.sort();
        let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "{senders:<10} {:>10} {:>12.0} {:>10.1?} {:>10.1?}",
            samples.len(),
            samples.len() as f64 / elapsed.as_secs_f64(),
            pick(0.5),
            pick(0.99)
        );
    }

    // Let the backlog drain, then one at a time: acknowledgement → the
    // plugin's log line for that event.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut gaps = Vec::new();
    for id in 900_000..900_200u32 {
        deliver(&url, id).await;
        let acked = seconds_of_day(SystemTime::now());
        let needle = format!(" id={id} ");
        let deadline = Instant::now() + Duration::from_secs(5);
        let logged = loop {
            if let Some(line) = host.log().lines().find(|l| l.contains(&needle)) {
                break line.to_owned();
            }
            assert!(Instant::now() < deadline, "event {id} never handled");
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        if let Some(at) = log_seconds_of_day(&logged) {
            gaps.push(((at - acked).max(0.0) * 1e6) as u64);
        }
    }
    gaps.sort();
    println!(
        "\nacknowledgement → plugin's first log line, {} single deliveries: p50 {} µs, p99 {} µs",
        gaps.len(),
        gaps[gaps.len() / 2],
        gaps[(gaps.len() - 1) * 99 / 100]
    );
}

fn seconds_of_day(t: SystemTime) -> f64 {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    secs % 86_400.0
}

/// `2026-12-02T03:48:10.480050Z  INFO …` → seconds since midnight UTC.
fn log_seconds_of_day(line: &str) -> Option<f64> {
    let time = line.split('T').nth(1)?.split('Z').next()?;
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}
