//! `cargo bench --bench outbound`: what a plugin's outbound request costs.
//! The same GET to a stand-in server on loopback, made
//!
//! - natively with reqwest (one new connection each, as the plugin makes);
//! - through hookhost: a webhook to the `test-fetch` plugin, which makes the
//!   request with wasi:http (allow-list, DNS-free IP entry, SSRF check,
//!   its own connection) and answers with what it got;
//! - and, for scale, a webhook to a plugin that makes no request at all.
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
    let remote = StandIn::start(Reply::Ok("pong".into())).await;
    let plugins = Plugins::new();
    plugins.add(
        "fetcher",
        &guest("test-fetch"),
        &format!(
            "verify = \"none\"\nallowed_outbound_hosts = [\"{}\"]\n",
            remote.origin()
        ),
    );
    plugins.add("plain", &guest("test-hook"), "verify = \"none\"\n");
    let host = Host::start_with(plugins.path(), &[], &[("RUST_LOG", "warn")]);

    let target = format!("{}/ping", remote.origin());
    let native = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let mut samples = measure(async || {
        let res = native.get(&target).send().await.expect("native GET");
        assert_eq!(res.text().await.expect("body"), "pong");
    })
    .await;
    println!("outbound GET to a loopback server, {CALLS} sequential calls each\n");
    println!("{:<46} {:>9} {:>9} {:>9}", "path", "p50", "p99", "min");
    report("native reqwest, new connection", &mut samples);

    let fetch_url = format!("{}/hooks/fetcher/fetch", host.url);
    let mut samples = measure(async || {
        let res = client()
            .post(&fetch_url)
            .body(target.clone())
            .send()
            .await
            .expect("webhook");
        let said = res.text().await.expect("body");
        assert_eq!(said, "status 200\n\npong\n");
    })
    .await;
    report("webhook → plugin → wasi:http GET", &mut samples);

    let plain_url = format!("{}/hooks/plain/echo/x", host.url);
    let mut samples = measure(async || {
        let res = client().post(&plain_url).send().await.expect("webhook");
        assert_eq!(res.status(), 200);
    })
    .await;
    report("webhook → plugin, no outbound request", &mut samples);
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

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what:<46} {:>9.1?} {:>9.1?} {:>9.1?}",
        pick(0.5),
        pick(0.99),
        samples[0]
    );
}
