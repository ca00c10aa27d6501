//! `cargo bench --bench outbound`: what a plugin's outbound request costs.
//! The same GET to a keep-alive stand-in server on loopback, made
//!
//! - natively with reqwest, on a kept connection (its default) and on a new
//!   connection each time;
//! - by the `test-fetch` plugin with wasi:http (allow-list, SSRF check,
//!   the plugin's own kept connection), 0, 1 and 10 times in one webhook
//!   call, so the cost of one request inside a plugin is the difference.
//!
//! Fixed counts, sequential; numbers are printed, not asserted.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::standin::{Reply, StandIn};
use support::*;

const CALLS: usize = 1_000;
const WARMUP: usize = 50;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run());
}

async fn run() {
    let remote = StandIn::start(Reply::KeepAlive("pong".into())).await;
    let plugins = Plugins::new();
    plugins.add(
        "fetcher",
        &guest("test-fetch"),
        &format!(
            "verify = \"none\"\nallowed_outbound_hosts = [\"{}\"]\n",
            remote.origin()
        ),
    );
    let host = Host::start_with(plugins.path(), &[], &[("RUST_LOG", "warn")]);
    let target = format!("{}/ping", remote.origin());

    println!("outbound GET to a loopback server, {CALLS} sequential calls each\n");
    println!("{:<46} {:>9} {:>9} {:>9}", "path", "p50", "p99", "min");
    let kept = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let native = native_get(&kept, &target, "native reqwest, kept connection").await;
    let fresh = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    native_get(&fresh, &target, "native reqwest, new connection").await;

    let fetch_url = format!("{}/hooks/fetcher/fetch", host.url);
    let mut p50 = Vec::new();
    for times in [0, 1, 10] {
        let spec = format!(r#"{{"url": "{target}", "times": {times}}}"#);
        let expected = "status 200\n\npong\n".repeat(times);
        let mut samples = measure(async || {
            let res = client()
                .post(&fetch_url)
                .body(spec.clone())
                .send()
                .await
                .expect("webhook");
            assert_eq!(res.text().await.expect("body"), expected);
        })
        .await;
        p50.push(report(
            &format!("webhook → plugin → {times} wasi:http GETs"),
            &mut samples,
        ));
    }
    let one = p50[1].saturating_sub(p50[0]);
    let each_of_ten = p50[2].saturating_sub(p50[0]) / 10;
    println!("\none request inside a plugin (p50 difference from 0 GETs):");
    println!(
        "  1 GET:         {one:>9.1?}  {:.2}× native kept",
        ratio(one, native)
    );
    println!(
        "  each of 10:    {each_of_ten:>9.1?}  {:.2}× native kept",
        ratio(each_of_ten, native)
    );
}

async fn native_get(client: &reqwest::Client, target: &str, what: &str) -> Duration {
    let mut samples = measure(async || {
        let res = client.get(target).send().await.expect("native GET");
        assert_eq!(res.text().await.expect("body"), "pong");
    })
    .await;
    report(what, &mut samples)
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(f64::EPSILON)
}

async fn measure(call: impl AsyncFn()) -> Vec<Duration> {
    for _ in 0..WARMUP {
        call().await;
    }
    let mut samples = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let start = Instant::now();
        call().await;
        samples.push(start.elapsed());
    }
    samples
}

/// Prints p50, p99 and min; returns p50.
fn report(what: &str, samples: &mut [Duration]) -> Duration {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what:<46} {:>9.1?} {:>9.1?} {:>9.1?}",
        pick(0.5),
        pick(0.99),
        samples[0]
    );
    pick(0.5)
}
