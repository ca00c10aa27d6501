//! `cargo bench`: how fast the Pyrus bot path is, measured three ways.
//!
//! 1. compiling the echo-bot component;
//! 2. one sandboxed call in-process (fresh Store, instantiate from the
//!    pre-linked component, call, drop) — the per-request plugin cost;
//! 3. the real `hookhost` binary over loopback HTTP: signed request →
//!    verify → parse → call → JSON reply, sequential (latency) and with
//!    concurrent connections (throughput);
//! 4. hot reload: from a new plugin file renamed into place to the first
//!    request answered by it.
//!
//! Request counts are fixed so the run is bounded; numbers are printed, not
//! asserted.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookhost::protocol::pyrus_bot;
use hookhost::runtime::{
    ADMISSION_WAIT, Admission, DEFAULT_LOG_KIB_PER_S, LogRate, OutboundPolicy, Prepared, Runtime,
    Sandbox, default_max_concurrency,
};
use support::*;

const CALLS: usize = 5_000;
const HTTP_SEQUENTIAL: usize = 2_000;
const HTTP_CONNECTIONS: usize = 8;
const HTTP_PER_CONNECTION: usize = 500;
const RELOADS: usize = 10;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run());
}

async fn run() {
    let wasm = std::fs::read(echo_bot()).expect("echo-bot built");
    let runtime = Runtime::new().expect("runtime");

    let mut compile = Vec::new();
    let mut prepared = None;
    for _ in 0..5 {
        let start = Instant::now();
        let component = runtime.compile(&wasm).expect("compiles");
        prepared = Some(runtime.prepare(&component).expect("is a bot"));
        compile.push(start.elapsed());
    }
    let Some(Prepared::PyrusBot(pre)) = prepared else {
        panic!("echo-bot is not a pyrus bot")
    };
    report(
        &format!("compile + link echo-bot ({} KB)", wasm.len() / 1024),
        &mut compile,
    );

    let sandbox = Sandbox {
        admission: Admission::new(default_max_concurrency()),
        admission_wait: Some(ADMISSION_WAIT),
        log_rate: LogRate::new(DEFAULT_LOG_KIB_PER_S),
        plugin: Arc::from("echo-bot"),
        config: Arc::new(BTreeMap::new()),
        memory_bytes: 64 << 20,
        timeout: Duration::from_secs(10),
        outbound: Arc::new(OutboundPolicy::deny_all()),
        state_quota: Default::default(),
        instances: None,
    };
    let retry = pyrus_bot::parse_retry(None).expect("default retry");
    let event = pyrus_bot::parse_event(EXAMPLE.as_bytes().to_vec().into(), retry).expect("event");
    let mut calls = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let start = Instant::now();
        let answer = runtime.call_pyrus_bot(&pre, &sandbox, &event).await;
        calls.push(start.elapsed());
        assert!(matches!(answer, Ok(Ok(Some(_)))));
    }
    report(
        "sandboxed call (new store + instantiate + handle)",
        &mut calls,
    );

    let plugins = Plugins::new();
    plugins.add("echo-bot", &echo_bot(), &Plugins::bot_toml(""));
    let host = Host::start_with(plugins.path(), &[], &[("RUST_LOG", "warn")]);
    let sig = sign(SECRET, EXAMPLE);
    let url = format!("{}/pyrus/echo-bot", host.url);
    for _ in 0..100 {
        post(&client(), &url, &sig).await;
    }
    let mut sequential = Vec::with_capacity(HTTP_SEQUENTIAL);
    for _ in 0..HTTP_SEQUENTIAL {
        let start = Instant::now();
        post(&client(), &url, &sig).await;
        sequential.push(start.elapsed());
    }
    report("HTTP round trip, one connection", &mut sequential);

    let start = Instant::now();
    let workers: Vec<_> = (0..HTTP_CONNECTIONS)
        .map(|_| {
            let (url, sig) = (url.clone(), sig.clone());
            tokio::spawn(async move {
                // A client per worker: its own keep-alive connection.
                let client = reqwest::Client::builder()
                    .no_proxy()
                    .build()
                    .expect("client");
                for _ in 0..HTTP_PER_CONNECTION {
                    post(&client, &url, &sig).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    let total = HTTP_CONNECTIONS * HTTP_PER_CONNECTION;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:<52} {total} requests in {secs:.2} s = {:.0} req/s",
        format!("HTTP throughput, {HTTP_CONNECTIONS} connections"),
        total as f64 / secs
    );

    reload_latency(&host, &plugins, &sig).await;
}

/// Time from a plugin file being renamed into place to the first request
/// answered by the new version, alternating two builds.
async fn reload_latency(host: &Host, plugins: &Plugins, sig: &str) {
    let url = format!("{}/pyrus/echo-bot", host.url);
    let mut samples = Vec::new();
    for round in 0..RELOADS {
        let (wasm, marker) = if round % 2 == 0 {
            (test_bot(), "test-bot")
        } else {
            (echo_bot(), "Hello, Bob Smith")
        };
        let tmp = plugins.path().join(".echo-bot.wasm.tmp");
        std::fs::copy(&wasm, &tmp).expect("copy plugin");
        let start = Instant::now();
        std::fs::rename(&tmp, plugins.path().join("echo-bot.wasm")).expect("rename plugin");
        loop {
            if post(&client(), &url, sig).await.contains(marker) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "reload never happened"
            );
        }
        samples.push(start.elapsed());
    }
    report("hot reload: rename -> new version answering", &mut samples);
}

/// Posts the signed example and returns the 200 answer's body.
async fn post(client: &reqwest::Client, url: &str, sig: &str) -> String {
    let res = client
        .post(url)
        .header("x-pyrus-sig", sig)
        .body(EXAMPLE)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    res.text().await.expect("body")
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what:<52} n={:<5} median {:>9.1?}  p99 {:>9.1?}  min {:>9.1?}",
        samples.len(),
        pick(0.5),
        pick(0.99),
        samples[0]
    );
}
