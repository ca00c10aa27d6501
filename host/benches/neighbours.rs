//! `cargo bench --bench neighbours`: does a hostile plugin slow the others?
//!
//! Against the real `hookhost` binary over loopback, with signed Pyrus
//! requests:
//! 1. echo-bot alone, `ECHO_CLIENTS` clients for `PHASE`: its req/s, p50, p99;
//! 2. the same, while 8 clients call a plugin that loops until its 500 ms
//!    deadline and 8 more call one that exhausts its memory and one that
//!    traps: echo-bot's req/s and p99 as a ratio of (1) (targets: ≥ 0.5×
//!    the throughput, p99 ≤ 2× + 5 ms);
//! 3. 2000 requests at once to a plugin that works for 2 s, then echo-bot
//!    requests one at a time meanwhile (target: each answered in ≤ 50 ms);
//! 4. slow loris: 500 connections trickling their request head a byte every
//!    50 ms, and echo-bot's latency meanwhile (target: ≤ 50 ms more);
//! 5. the host's resident memory idle, under `wrk -c64` (Debian `wrk`, if
//!    installed), during the 2000-request flood and with 6000 idle
//!    connections;
//! 6. 100 hot swaps of echo-bot while `wrk -c32` calls it: errors (none
//!    expected) and generations published.
//!
//! Counts and durations are fixed so the run is bounded; numbers are
//! printed, not asserted.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::*;

const ECHO_CLIENTS: usize = 4;
const PHASE: Duration = Duration::from_secs(5);
const LOOPERS: usize = 8;
const BOMBERS: usize = 4;
const TRAPPERS: usize = 4;
const FLOOD: usize = 2000;
const FLOOD_PROBES: usize = 20;
const LORIS: usize = 500;
const IDLE: usize = 6000;

fn main() {
    // 6000 connections at once need more than the usual 1024 descriptors.
    let _ = rlimit::increase_nofile_limit(16384);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run());
}

fn plugins() -> Plugins {
    let plugins = Plugins::new();
    plugins.add("echo-bot", &echo_bot(), &Plugins::bot_toml(""));
    let test_bot = |name: &str, extra: &str| {
        plugins.add(name, &test_bot(), &Plugins::bot_toml(extra));
    };
    test_bot("looper", "timeout_ms = 500\n[config]\nmode = \"loop\"");
    test_bot("bomber", "memory_mb = 64\n[config]\nmode = \"oom\"");
    test_bot("trapper", "[config]\nmode = \"trap\"");
    test_bot(
        "slow",
        "timeout_ms = 3000\n[config]\nmode = \"slow\"\nslow_ms = \"2000\"",
    );
    plugins
}

async fn run() {
    let plugins = plugins();
    let host = Host::start_with(plugins.path(), &[], &[("RUST_LOG", "warn")]);
    // Warm up: every plugin once, so compilation is behind us.
    for name in ["echo-bot", "looper", "bomber", "trapper"] {
        let _ = host.pyrus(name, EXAMPLE).await;
    }
    let host = Arc::new(host);
    let idle_rss = rss_kib(host.pid());

    let solo = load(&host, &[("echo-bot", ECHO_CLIENTS)]).await;
    let solo_echo = &solo["echo-bot"];
    solo_echo.print("echo-bot alone");

    let mixed = load(
        &host,
        &[
            ("echo-bot", ECHO_CLIENTS),
            ("looper", LOOPERS),
            ("bomber", BOMBERS),
            ("trapper", TRAPPERS),
        ],
    )
    .await;
    let echo = &mixed["echo-bot"];
    echo.print("echo-bot with neighbours");
    for name in ["looper", "bomber", "trapper"] {
        mixed[name].print(&format!("  {name}"));
    }
    let p99_target = solo_echo.p99() * 2 + Duration::from_millis(5);
    println!(
        "echo-bot with neighbours: {:.2}x its solo req/s (target >= 0.5x), p99 {:.1} ms (target <= {:.1} ms)",
        echo.per_second() / solo_echo.per_second(),
        ms(echo.p99()),
        ms(p99_target),
    );

    flood(&host).await;
    slow_loris(&host).await;
    println!("host RSS idle: {} MiB", idle_rss / 1024);
    wrk_rss(&host).await;
    hot_swaps(&host, plugins.path()).await;
    idle_connections(&host).await;
}

async fn echo_latency(host: &Host, probes: usize) -> Vec<Duration> {
    let mut seen = Vec::new();
    for _ in 0..probes {
        let sent = Instant::now();
        let res = host.pyrus("echo-bot", EXAMPLE).await;
        assert_eq!(res.status(), 200, "echo-bot answers");
        seen.push(sent.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen.sort();
    seen
}

fn addr(host: &Host) -> String {
    host.url.trim_start_matches("http://").to_owned()
}

/// 500 connections sending a request head one byte every 50 ms.
async fn slow_loris(host: &Arc<Host>) {
    use tokio::io::AsyncWriteExt;
    let before = echo_latency(host, 50).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tricklers = Vec::new();
    for _ in 0..LORIS {
        let (addr, stop) = (addr(host), stop.clone());
        tricklers.push(tokio::spawn(async move {
            let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
                return;
            };
            let head = b"POST /pyrus/echo-bot HTTP/1.1\r\nHost: x\r\nX-Padding: ";
            for byte in head.iter().chain(std::iter::repeat(&b'a')) {
                if stop.load(Ordering::Relaxed) || stream.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let during = echo_latency(host, 50).await;
    stop.store(true, Ordering::Relaxed);
    for t in tricklers {
        let _ = t.await;
    }
    println!(
        "slow loris ({LORIS} connections trickling): echo-bot p50 {:.2} -> {:.2} ms, max {:.2} -> {:.2} ms (target: <= 50 ms more)",
        ms(before[before.len() / 2]),
        ms(during[during.len() / 2]),
        ms(before[before.len() - 1]),
        ms(during[during.len() - 1]),
    );
}

/// RSS while `wrk -c64` drives echo-bot for 5 s.
/// A wrk script sending the signed Pyrus example.
fn wrk_script(dir: &Path) -> PathBuf {
    let script = dir.join("pyrus.lua");
    let body = EXAMPLE
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = \"{body}\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"X-Pyrus-Sig\"] = \"{}\"\nwrk.headers[\"X-Pyrus-Retry\"] = \"1/3\"\n",
            sign(SECRET, EXAMPLE)
        ),
    )
    .expect("wrk script");
    script
}

/// The line of wrk's report that starts with `key`, if any.
fn wrk_line(report: &str, key: &str) -> String {
    report
        .lines()
        .find(|l| l.trim_start().starts_with(key))
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// The highest plugin generation the serving host has published.
fn generation(plugins: &Path) -> u64 {
    let status = std::fs::read_to_string(plugins.join(".hookhost-routes.json")).unwrap_or_default();
    status
        .split("gen ")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

/// 100 swaps of echo-bot's file (two builds that differ by a custom
/// section, each written aside and renamed in) while `wrk -c32` calls it.
async fn hot_swaps(host: &Arc<Host>, plugins: &Path) {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = wrk_script(dir.path());
    let a = std::fs::read(echo_bot()).expect("echo-bot built");
    let mut b = a.clone();
    // A custom section named "swap": valid anywhere in a component.
    b.extend_from_slice(&[0x00, 0x05, 0x04, b's', b'w', b'a', b'p']);
    let before = generation(plugins);
    let child = tokio::process::Command::new("wrk")
        .args(["-t1", "-c32", "-d13s", "-s"])
        .arg(&script)
        .arg(format!("{}/pyrus/echo-bot", host.url))
        .output();
    let swaps = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        for i in 0..100 {
            let aside = plugins.join(".echo-bot.wasm.new");
            std::fs::write(&aside, if i % 2 == 0 { &b } else { &a }).expect("write aside");
            std::fs::rename(&aside, plugins.join("echo-bot.wasm")).expect("rename in");
            // Past the watcher's 50 ms settling time, so each swap is a reload.
            tokio::time::sleep(Duration::from_millis(120)).await;
        }
    };
    let (out, ()) = tokio::join!(child, swaps);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = generation(plugins);
    match out {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let errors = [wrk_line(&text, "Non-2xx"), wrk_line(&text, "Socket errors")];
            let errors = errors
                .iter()
                .filter(|l| !l.is_empty())
                .cloned()
                .collect::<Vec<_>>();
            println!(
                "100 hot swaps under wrk -c32: {} | generations {before} -> {after} | errors: {}",
                wrk_line(&text, "Requests/sec"),
                if errors.is_empty() {
                    "none".to_owned()
                } else {
                    errors.join("; ")
                }
            );
        }
        _ => println!("hot swaps: wrk not installed (Debian package wrk); skipped"),
    }
}

/// RSS while `wrk -c64` drives echo-bot for 5 s.
async fn wrk_rss(host: &Arc<Host>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = wrk_script(dir.path());
    let child = tokio::process::Command::new("wrk")
        .args(["-t1", "-c64", "-d5s", "--latency", "-s"])
        .arg(&script)
        .arg(format!("{}/pyrus/echo-bot", host.url))
        .output();
    let sample = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        rss_kib(host.pid())
    };
    let (out, rss) = tokio::join!(child, sample);
    match out {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            println!(
                "wrk -c64 on echo-bot: {} | p99 {} | {} | host RSS {} MiB",
                wrk_line(&text, "Requests/sec"),
                wrk_line(&text, "99%"),
                wrk_line(&text, "Non-2xx"),
                rss / 1024
            );
        }
        _ => println!("wrk -c64: wrk not installed (Debian package wrk); skipped"),
    }
}

/// RSS with 6000 connections open and silent.
async fn idle_connections(host: &Arc<Host>) {
    let mut open = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        match tokio::net::TcpStream::connect(addr(host)).await {
            Ok(stream) => open.push(stream),
            Err(e) => {
                println!("idle connections: stopped at {} ({e})", open.len());
                break;
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss = rss_kib(host.pid());
    let probe = echo_latency(host, 10).await;
    println!(
        "{} idle connections: host RSS {} MiB, echo-bot max {:.2} ms meanwhile",
        open.len(),
        rss / 1024,
        ms(probe[probe.len() - 1])
    );
}

/// What one plugin's clients saw during a phase.
#[derive(Default)]
struct Seen {
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, usize>,
    elapsed: Duration,
}

impl Seen {
    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn pct(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted
            .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    }

    fn p99(&self) -> Duration {
        self.pct(0.99)
    }

    fn print(&self, what: &str) {
        println!(
            "{what:<28} {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  statuses {:?}",
            self.per_second(),
            ms(self.pct(0.5)),
            ms(self.p99()),
            self.statuses
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `clients` closed-loop clients per plugin for `PHASE`.
async fn load(host: &Arc<Host>, clients: &[(&'static str, usize)]) -> BTreeMap<&'static str, Seen> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for &(plugin, n) in clients {
        for _ in 0..n {
            let (host, stop) = (host.clone(), stop.clone());
            tasks.push((
                plugin,
                tokio::spawn(async move {
                    let mut seen = Seen::default();
                    let start = Instant::now();
                    while !stop.load(Ordering::Relaxed) {
                        let sent = Instant::now();
                        let res = host.pyrus(plugin, EXAMPLE).await;
                        let status = res.status().as_u16();
                        let _ = res.bytes().await;
                        seen.latencies.push(sent.elapsed());
                        *seen.statuses.entry(status).or_default() += 1;
                    }
                    seen.elapsed = start.elapsed();
                    seen
                }),
            ));
        }
    }
    tokio::time::sleep(PHASE).await;
    stop.store(true, Ordering::Relaxed);
    let mut all: BTreeMap<&'static str, Seen> = BTreeMap::new();
    for (plugin, task) in tasks {
        let seen = task.await.expect("client");
        let into = all.entry(plugin).or_default();
        into.latencies.extend(seen.latencies);
        for (status, n) in seen.statuses {
            *into.statuses.entry(status).or_default() += n;
        }
        into.elapsed = into.elapsed.max(seen.elapsed);
    }
    all
}

/// 2000 requests at once to the 2 s plugin, and echo-bot meanwhile.
async fn flood(host: &Arc<Host>) {
    let started = Instant::now();
    let flood: Vec<_> = (0..FLOOD)
        .map(|_| {
            let host = host.clone();
            tokio::spawn(async move { host.pyrus("slow", EXAMPLE).await.status().as_u16() })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let flood_rss = rss_kib(host.pid());
    // The probes run on a thread and a client of their own, so what they
    // measure is the host, not this process handling 2000 answers at once.
    let url = format!("{}/pyrus/echo-bot", host.url);
    let mut probes = tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("probe runtime");
        rt.block_on(async move {
            let client = reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client");
            let mut probes = Vec::new();
            for _ in 0..FLOOD_PROBES {
                let sent = Instant::now();
                let res = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-pyrus-sig", sign(SECRET, EXAMPLE))
                    .body(EXAMPLE)
                    .send()
                    .await
                    .expect("echo-bot reached");
                assert_eq!(res.status(), 200, "echo-bot during the flood");
                let _ = res.bytes().await;
                probes.push(sent.elapsed());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            probes
        })
    })
    .await
    .expect("probes");
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for task in flood {
        *statuses.entry(task.await.expect("flood")).or_default() += 1;
    }
    probes.sort();
    println!(
        "flood of {FLOOD} to a 2 s plugin: echo-bot answered in p50 {:.1} ms, max {:.1} ms (target <= 50 ms); flood statuses {statuses:?} after {:.1} s; host RSS during it {} MiB",
        ms(probes[probes.len() / 2]),
        ms(probes[probes.len() - 1]),
        started.elapsed().as_secs_f64(),
        flood_rss / 1024
    );
}
