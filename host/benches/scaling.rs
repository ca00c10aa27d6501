//! `cargo bench --bench scaling`: how hookhost's costs grow.
//!
//! 1. **Plugins.** 1, 100 and 1000 distinct plugins (the Rust echo bot,
//!    each with a custom section of its own, so each is another program
//!    to compile and cache): the time from spawning `hookhost serve` to
//!    its `listening` line and its resident memory then, with an empty
//!    compiled-plugin cache (cold) and again with the cache it filled
//!    (warm, median of 3), and a request to the last plugin.
//! 2. **Body size.** A signed Pyrus event whose comment is padded to
//!    1 KB … 4 MiB (its last comment, the one echoed), to the Rust echo bot (which echoes the text back):
//!    the median and p99 of the round trip over one keep-alive connection,
//!    and the host's resident memory after.
//!
//! Counts are fixed so the run is bounded; numbers are printed, not
//! asserted.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::*;

const PLUGIN_COUNTS: [usize; 3] = [1, 100, 1000];
const WARM_RUNS: usize = 3;
const BODY_SIZES: [usize; 6] = [1 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20];

#[tokio::main]
async fn main() {
    // 1000 plugins are 2000 files watched and read.
    let _ = rlimit::increase_nofile_limit(16384);
    // `cargo bench --bench scaling -- bodies` runs one part.
    let wanted = bench_parts();
    if wanted("plugins") {
        plugins().await;
    }
    if wanted("bodies") {
        bodies().await;
    }
}

async fn plugins() {
    let echo = std::fs::read(echo_bot()).expect("echo-bot.wasm");
    println!(
        "startup with N distinct plugins (Rust echo bot, {} KB each):",
        echo.len() >> 10
    );
    for count in PLUGIN_COUNTS {
        let plugins = Plugins::new();
        let toml = Plugins::bot_toml("");
        for n in 0..count {
            let name = format!("echo-{n}");
            std::fs::write(
                plugins.path().join(format!("{name}.wasm")),
                distinct(&echo, n),
            )
            .expect("write plugin");
            std::fs::write(plugins.path().join(format!("{name}.toml")), &toml)
                .expect("write sidecar");
        }
        let cache = tempfile::tempdir().expect("cache dir");
        let (cold, cold_rss) = start(plugins.path(), cache.path(), count).await;
        let mut warm = Vec::new();
        let mut warm_rss = 0;
        for _ in 0..WARM_RUNS {
            let (took, rss) = start(plugins.path(), cache.path(), count).await;
            warm.push(took);
            warm_rss = rss;
        }
        warm.sort();
        println!(
            "  {count:>5} plugins: cold {:>8.2?}  RSS {:>7} KiB | warm (median of {WARM_RUNS}) {:>8.2?}  RSS {:>7} KiB",
            cold,
            cold_rss,
            warm[WARM_RUNS / 2],
            warm_rss
        );
    }
}

/// Starts a host on `plugins` with compiled plugins cached in `cache`:
/// the time to its listening line and its RSS then. Checks that the last
/// plugin answers.
async fn start(plugins: &Path, cache: &Path, count: usize) -> (Duration, u64) {
    let cache = cache.to_str().expect("utf-8 path");
    let started = Instant::now();
    let host = Host::start_with(
        plugins,
        &[],
        &[("HOOKHOST_CACHE_DIR", cache), ("RUST_LOG", "warn")],
    );
    let took = started.elapsed();
    let rss = rss_kib(host.pid());
    let last = format!("echo-{}", count - 1);
    let res = host.pyrus(&last, EXAMPLE).await;
    assert_eq!(res.status(), 200, "{last} answers:\n{}", host.log());
    (took, rss)
}

async fn bodies() {
    let plugins = Plugins::new();
    plugins.add(
        "echo-bot",
        &echo_bot(),
        &Plugins::bot_toml("memory_mb = 256"),
    );
    let limit = (16 << 20).to_string();
    let host = Host::start_with(
        plugins.path(),
        &["--body-limit", &limit],
        &[("RUST_LOG", "warn")],
    );
    println!("\nrequest cost by body size (Rust echo bot echoing the comment back):");
    for size in BODY_SIZES {
        let (body, pad) = padded(size);
        let rounds = (4 << 20) / size.max(64 << 10) * 20;
        let rounds = rounds.clamp(20, 500);
        let mut seen = Vec::with_capacity(rounds);
        let mut host_cpu = Duration::ZERO;
        for round in 0..rounds + 5 {
            // A body of its own each time: a repeated one is answered from
            // the resend memo. Signed before the clock starts.
            let body = body.replacen("\"task_id\":1532", &format!("\"task_id\":{round}"), 1);
            let sig = sign(SECRET, &body);
            let cpu = cpu_time(host.pid());
            let sent = Instant::now();
            let res = host.pyrus_with("echo-bot", &body, Some(&sig), &[]).await;
            assert_eq!(res.status(), 200, "{size} bytes:\n{}", host.log());
            let answer = res.bytes().await.expect("answer");
            assert!(answer.len() > pad, "the comment came back");
            if round >= 5 {
                seen.push(sent.elapsed());
                host_cpu += cpu_time(host.pid()).saturating_sub(cpu);
            }
        }
        seen.sort();
        let p = |q: f64| seen[((seen.len() as f64 * q) as usize).min(seen.len() - 1)];
        println!(
            "  {:>8} B  n={rounds:<4} median {:>10.2?}  p99 {:>10.2?}  host CPU {:>9.2?}/request ({:.0} MB/s)  RSS after {} KiB",
            body.len(),
            p(0.5),
            p(0.99),
            host_cpu / rounds as u32,
            body.len() as f64 * rounds as f64 / host_cpu.as_secs_f64().max(1e-9) / 1e6,
            rss_kib(host.pid())
        );
    }
}

/// The example event with its comment's text padded to make the body
/// about `size` bytes.
/// Also the length of the padding, which comes back in the answer.
fn padded(size: usize) -> (String, usize) {
    let mut event: serde_json::Value = serde_json::from_str(EXAMPLE).expect("example is JSON");
    let base = EXAMPLE.len();
    let pad = size.saturating_sub(base).max(1);
    // The echo bot answers the last comment.
    let comments = event["task"]["comments"]
        .as_array_mut()
        .expect("the example has comments");
    let last = comments.last_mut().expect("the example has comments");
    last["text"] = "x".repeat(pad).into();
    let text = event.to_string();
    assert!(text.contains("\"task_id\":1532"), "compact JSON");
    (text, pad)
}
