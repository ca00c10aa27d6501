//! `cargo bench --bench languages`: what a plugin's language costs.
//!
//! For the Pyrus echo bot in Rust, Python, JavaScript and C (built from
//! source by `scripts/build-plugins`): component size, compile time, load
//! time from the compiled-plugin cache, and the latency of a signed request
//! through the real `hookhost` binary over loopback. Then the startup time
//! of `hookhost serve` with every example plugin, cold cache vs warm.
//!
//! Counts are fixed so the run is bounded; numbers are printed, not asserted.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use hookhost::runtime::{FileHash, Runtime};
use support::*;

const ECHO_BOTS: [&str; 4] = ["echo-bot", "c-echo-bot", "js-echo-bot", "python-echo-bot"];
const COMPILES: usize = 3;
const CACHED_LOADS: usize = 10;
const WARMUP: usize = 50;
const REQUESTS: usize = 1_000;
const WARM_STARTS: usize = 3;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run());
}

async fn run() {
    examples();
    let cache = tempfile::tempdir().expect("temp dir");
    let runtime = Runtime::with_cache(Some(cache.path())).expect("runtime");

    println!("per language, the Pyrus echo bot:");
    for name in ECHO_BOTS {
        let bytes = std::fs::read(example(name)).expect("built plugin");
        let hash = FileHash::of(&bytes);

        let mut compile = Vec::new();
        for _ in 0..COMPILES {
            let start = Instant::now();
            runtime.compile(&bytes).expect("compiles");
            compile.push(start.elapsed());
        }
        // The first call compiles and stores the entry; the rest load it.
        runtime
            .load_component(name, &bytes, &hash)
            .expect("compiles");
        let mut cached = Vec::new();
        for _ in 0..CACHED_LOADS {
            let start = Instant::now();
            runtime
                .load_component(name, &bytes, &hash)
                .expect("loads from cache");
            cached.push(start.elapsed());
        }
        println!("  {name:<16} size {:>6} KB", bytes.len() / 1024);
        report(&format!("    {name} compile"), &mut compile);
        report(&format!("    {name} load from cache"), &mut cached);
    }

    // Every example plugin, no sidecars: bots without a secret are loaded
    // (compiled) but not served, which is what startup time is about.
    let all = Plugins::new();
    let mut count = 0;
    for entry in std::fs::read_dir(examples()).expect("examples") {
        let path = entry.expect("entry").path();
        if let Some(name) = path.file_stem().and_then(|n| n.to_str())
            && path.extension().is_some_and(|e| e == "wasm")
        {
            std::fs::copy(&path, all.path().join(format!("{name}.wasm"))).expect("copy");
            count += 1;
        }
    }
    let starts = tempfile::tempdir().expect("temp dir");
    let (cold, host) = timed_start(all.path(), starts.path(), "info");
    drop(host);
    println!("hookhost serve with all {count} example plugins, until it listens:");
    println!("  cold cache {cold:>9.1?}");
    for _ in 0..WARM_STARTS {
        let (warm, host) = timed_start(all.path(), starts.path(), "info");
        assert!(
            !host.log().contains("component compiled"),
            "warm start compiled"
        );
        drop(host);
        println!("  warm cache {warm:>9.1?}");
    }

    let bots = Plugins::new();
    for name in ECHO_BOTS {
        bots.add(name, &example(name), &Plugins::bot_toml(""));
    }
    // Per-request log lines off, as in the pyrus_bot bench.
    let (_, host) = timed_start(bots.path(), starts.path(), "warn");
    let sig = sign(SECRET, EXAMPLE);
    println!(
        "signed Pyrus request -> echo bot -> JSON answer, one keep-alive connection, {REQUESTS} requests after {WARMUP}:"
    );
    for name in ECHO_BOTS {
        let url = format!("{}/pyrus/{name}", host.url);
        for _ in 0..WARMUP {
            post(&url, &sig).await;
        }
        let mut samples = Vec::with_capacity(REQUESTS);
        for _ in 0..REQUESTS {
            let start = Instant::now();
            post(&url, &sig).await;
            samples.push(start.elapsed());
        }
        report(&format!("  {name}"), &mut samples);
    }
}

/// Starts `hookhost serve` on `plugins` with cache `cache`; the time is
/// until it prints that it listens, which it does after the first load.
fn timed_start(plugins: &Path, cache: &Path, log: &str) -> (Duration, Host) {
    let start = Instant::now();
    let cache = cache.to_str().expect("utf-8 temp path");
    let host = Host::start_with(plugins, &["--cache-dir", cache], &[("RUST_LOG", log)]);
    (start.elapsed(), host)
}

async fn post(url: &str, sig: &str) {
    let res = client()
        .post(url)
        .header("x-pyrus-sig", sig)
        .body(EXAMPLE)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.expect("body"), EXAMPLE_ANSWER);
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what:<36} n={:<5} median {:>9.1?}  p99 {:>9.1?}  min {:>9.1?}",
        samples.len(),
        pick(0.5),
        pick(0.99),
        samples[0]
    );
}
