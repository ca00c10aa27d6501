//! `cargo bench --bench side_by_side`: hookhost against a native server and
//! against adnanh/webhook, in one run, with `wrk` (Debian `wrk`, `webhook`).
//!
//! Every server answers a signed Pyrus bot event (the Pyrus document's
//! example, task ids varied) with the echo bot's comment:
//! - **native**: `host/examples/native_pyrus.rs`, plain axum doing the same
//!   signature check, parse and reply with hookhost's own code, no Wasm;
//! - **hookhost** with the echo bot in Rust, C, Python and JavaScript at
//!   default settings (a fresh instance per request, `info` logging to a
//!   file), the Rust one also at `RUST_LOG=warn`, and each language again
//!   with `instances = { reuse = 1000 }`;
//! - **webhook**: adnanh/webhook checking `payload-hmac-sha1` over the same
//!   header and running a shell script that prints the reply.
//!
//! Each at 1, 32 and 128 connections, `wrk -t1 --latency` for
//! `SXS_SECONDS` (default 10) after a 1 s warm-up. Prints req/s, p50, p99
//! the ratio of req/s to native's at the same connection count, and the
//! serving process's CPU time per request (from /proc; native's includes
//! this bench's own few idle threads). Then the Rust echo bot at `info`,
//! at `info` without the guest's own lines, and at `warn`, five turns
//! each, interleaved: what logging costs. `-- table` or `-- logging` runs
//! one of the two parts.
//!
//! The bodies differ (20 000 task ids, cycled), as Pyrus's do: hookhost
//! answers a repeated identical body from its resend memo (10 000 entries),
//! which would measure the memo and not the plugin.
//!
//! wrk runs on the same two cores as the server, so absolute numbers are
//! lower than on a machine of their own; compare the ratios.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "../examples/native_pyrus.rs"]
#[allow(dead_code)]
mod native;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

const CONNECTIONS: [usize; 3] = [1, 32, 128];
const BODIES: usize = 20_000;

#[tokio::main]
async fn main() {
    if !installed("wrk") {
        println!("side_by_side: wrk not installed (Debian package wrk); skipped");
        return;
    }
    let seconds: u64 = std::env::var("SXS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let duration = Duration::from_secs(seconds);
    // `cargo bench --bench side_by_side -- logging` runs the logging turn alone.
    let wanted = bench_parts();
    if wanted("table") {
        table(duration).await;
    }
    let scratch = tempfile::tempdir().expect("temp dir");
    let script = wrk_script(scratch.path());
    let plugins = Plugins::new();
    plugins.add("rust", &echo_bot(), &Plugins::bot_toml(""));
    if wanted("logging") {
        logging_cost(plugins.path(), &script, duration).await;
    }
    if wanted("https") {
        https_cost(plugins.path(), &script, duration).await;
    }
    if wanted("metrics") {
        metrics_cost(plugins.path(), &script, duration).await;
    }
}

/// Runs `targets` in `ROUNDS` interleaved turns at 32 connections, so a
/// shared machine's drift falls on all alike; the medians, against the
/// first target.
async fn turns(title: &str, targets: &[Target], script: &Path, duration: Duration) {
    const ROUNDS: usize = 5;
    let mut turns: Vec<Vec<Report>> = targets.iter().map(|_| Vec::new()).collect();
    for _ in 0..ROUNDS {
        for (target, reports) in targets.iter().zip(&mut turns) {
            reports.push(measure(target, script, 32, duration).await);
        }
    }
    let median = |reports: &[Report], value: fn(&Report) -> f64| {
        let mut values: Vec<f64> = reports.iter().map(value).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let (cpu_0, rps_0) = (
        median(&turns[0], |r| r.cpu_us),
        median(&turns[0], |r| r.rps),
    );
    println!("\n{title}, Rust echo bot, c=32, median of {ROUNDS} turns each:");
    for (target, reports) in targets.iter().zip(&turns) {
        let (cpu, rps) = (median(reports, |r| r.cpu_us), median(reports, |r| r.rps));
        let middle = &reports[reports.len() / 2];
        println!(
            "  {:<36} {cpu:>7.1} µs/req {rps:>7.0} req/s (p99 {}, errors: {}): {:+.1}% CPU per request, {:+.1}% req/s against {}",
            target.name,
            middle.p99,
            middle.errors,
            (cpu / cpu_0 - 1.0) * 100.0,
            (rps / rps_0 - 1.0) * 100.0,
            targets[0].name,
        );
    }
}

/// HTTPS next to plain HTTP on one host: kept-alive connections (steady
/// state) and a new connection per request (a handshake each).
async fn https_cost(plugins: &Path, script: &Path, duration: Duration) {
    let certs = tempfile::tempdir().expect("temp dir");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .and_then(|p| p.self_signed(&key))
        .expect("certificate");
    let (crt, pem) = (certs.path().join("c.pem"), certs.path().join("k.pem"));
    std::fs::write(&crt, cert.pem()).expect("cert");
    std::fs::write(&pem, key.serialize_pem()).expect("key");
    let (crt, pem) = (
        crt.to_string_lossy().into_owned(),
        pem.to_string_lossy().into_owned(),
    );
    let args = [
        "--tls-cert",
        &crt,
        "--tls-key",
        &pem,
        "--tls-listen",
        "127.0.0.1:0",
    ];
    let host = Host::start_with(plugins, &args, &[("RUST_LOG", "info")]);
    let https = format!(
        "https://{}/pyrus/rust",
        host.https.as_deref().expect("HTTPS listener")
    );
    let plain = format!("{}/pyrus/rust", host.url);
    let target = |name: &str, url: &str, close| Target {
        close,
        name: name.to_owned(),
        url: url.to_owned(),
        pid: Some(host.pid()),
    };
    let targets = [
        target("plain HTTP, kept alive", &plain, false),
        target("HTTPS (TLS 1.3), kept alive", &https, false),
        target("plain HTTP, a connection per request", &plain, true),
        target("HTTPS, a handshake per request", &https, true),
    ];
    turns("HTTPS against plain HTTP", &targets, script, duration).await;
}

/// The metrics on the request path: this build against one without them,
/// named by `SXS_BASELINE_BIN` (e.g. main before metrics, built in a
/// worktree), both at `info` on the same folder.
async fn metrics_cost(plugins: &Path, script: &Path, duration: Duration) {
    let Some(baseline) = std::env::var_os("SXS_BASELINE_BIN") else {
        println!("\nmetrics: set SXS_BASELINE_BIN to a hookhost built without them; skipped");
        return;
    };
    let ours = Host::start_with(plugins, &[], &[("RUST_LOG", "info")]);
    let theirs = Host::start_binary(Path::new(&baseline), plugins, &[("RUST_LOG", "info")]);
    let target = |name: &str, host: &Host| Target {
        close: false,
        name: name.to_owned(),
        url: format!("{}/pyrus/rust", host.url),
        pid: Some(host.pid()),
    };
    let targets = [
        target("without metrics (baseline)", &theirs),
        target("with metrics (this build)", &ours),
    ];
    turns("metrics on the request path", &targets, script, duration).await;
}

struct Target {
    /// Every request on a new connection (`Connection: close`): what a
    /// TLS handshake costs.
    close: bool,
    name: String,
    url: String,
    /// The process serving it, whose CPU time is counted.
    pid: Option<u32>,
}

struct Row {
    name: String,
    connections: usize,
    report: Report,
}

async fn table(duration: Duration) {
    let scratch = tempfile::tempdir().expect("temp dir");
    let script = wrk_script(scratch.path());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind native");
    let native_url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { native::serve(listener, SECRET.as_bytes()).await });

    let plugins = Plugins::new();
    let languages = [
        ("rust", echo_bot()),
        ("c", example("c-echo-bot")),
        ("python", example("python-echo-bot")),
        ("js", example("js-echo-bot")),
    ];
    for (language, wasm) in &languages {
        let memory = "timeout_ms = 5000\nmemory_mb = 64";
        plugins.add(language, wasm, &Plugins::bot_toml(memory));
        plugins.add(
            &format!("{language}-reuse"),
            wasm,
            &Plugins::bot_toml(&format!("{memory}\ninstances = {{ reuse = 1000 }}")),
        );
    }
    let info = Host::start_with(plugins.path(), &[], &[]);
    let quiet_plugins = Plugins::new();
    quiet_plugins.add("rust", &echo_bot(), &Plugins::bot_toml(""));
    let warn = Host::start_with(quiet_plugins.path(), &[], &[("RUST_LOG", "warn")]);
    let webhook = Webhook::start(scratch.path());

    let mut targets = vec![Target {
        close: false,
        name: "native axum (no Wasm)".into(),
        url: format!("{native_url}/pyrus/echo-bot"),
        pid: Some(std::process::id()),
    }];
    for (language, _) in &languages {
        targets.push(Target {
            close: false,
            name: format!("hookhost {language}"),
            url: format!("{}/pyrus/{language}", info.url),
            pid: Some(info.pid()),
        });
    }
    targets.push(Target {
        close: false,
        name: "hookhost rust, RUST_LOG=warn".into(),
        url: format!("{}/pyrus/rust", warn.url),
        pid: Some(warn.pid()),
    });
    for (language, _) in &languages {
        targets.push(Target {
            close: false,
            name: format!("hookhost {language}, reuse"),
            url: format!("{}/pyrus/{language}-reuse", info.url),
            pid: Some(info.pid()),
        });
    }
    if let Some(webhook) = &webhook {
        targets.push(Target {
            close: false,
            name: "adnanh/webhook + sh".into(),
            url: webhook.url.clone(),
            // Its work is done in the scripts it starts.
            pid: None,
        });
    } else {
        println!("adnanh/webhook not installed (Debian package webhook); its rows skipped");
    }

    // Every server answers alike before any is timed.
    for target in &targets {
        let body = example_with_task(1);
        let response = client()
            .post(&target.url)
            .header("X-Pyrus-Sig", sign(SECRET, &body))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(
            status == 200 && text.trim_end() == EXAMPLE_ANSWER,
            "{} answered {status} {text:?}",
            target.name
        );
    }

    let mut rows = Vec::new();
    for target in &targets {
        for connections in CONNECTIONS {
            let report = measure(target, &script, connections, duration).await;
            println!(
                "{:<32} c={connections:<4} {:>9.0} req/s  p50 {:>8}  p99 {:>8}  CPU {:>6.1} µs/req  errors {}",
                target.name, report.rps, report.p50, report.p99, report.cpu_us, report.errors
            );
            rows.push(Row {
                name: target.name.clone(),
                connections,
                report,
            });
        }
    }
    print_table(&rows);
    let lines = info.log().lines().count();
    println!("\nhookhost info log: {lines} lines");
}

/// One cell: a warm-up second, then `duration` measured, with the serving
/// process's CPU time per request.
async fn measure(target: &Target, script: &Path, connections: usize, duration: Duration) -> Report {
    let _ = wrk(
        &target.url,
        script,
        connections,
        Duration::from_secs(1),
        target.close,
    )
    .await;
    let cpu = target.pid.map(cpu_time);
    let mut report = wrk(&target.url, script, connections, duration, target.close).await;
    if let (Some(pid), Some(before)) = (target.pid, cpu) {
        let used = cpu_time(pid).saturating_sub(before);
        report.cpu_us = used.as_micros() as f64 / report.requests.max(1.0);
    }
    report
}

/// What logging costs: the Rust echo bot (one plugin, the same folder) at
/// `info`, at `info` with the guest's lines filtered out (the host's own
/// `answered` line only), and at `warn`, at 32 connections, in turns, so a
/// shared machine's drift falls on all three alike.
async fn logging_cost(plugins: &Path, script: &Path, duration: Duration) {
    // `warn` first: the others are measured against it.
    let levels = [
        ("warn", "warn"),
        ("info", "info"),
        ("info, host lines only", "info,hookhost::guest=warn"),
    ];
    let hosts: Vec<Host> = levels
        .iter()
        .map(|(_, filter)| Host::start_with(plugins, &[], &[("RUST_LOG", filter)]))
        .collect();
    let targets: Vec<Target> = levels
        .iter()
        .zip(&hosts)
        .map(|((name, _), host)| Target {
            close: false,
            name: (*name).to_owned(),
            url: format!("{}/pyrus/rust", host.url),
            pid: Some(host.pid()),
        })
        .collect();
    turns("logging", &targets, script, duration).await;
}

fn print_table(rows: &[Row]) {
    println!("\n| server | c | req/s | ratio to native | p50 | p99 | CPU µs/req |");
    println!("|---|---|---|---|---|---|---|");
    for row in rows {
        let native = rows
            .iter()
            .find(|r| r.connections == row.connections)
            .map_or(f64::NAN, |r| r.report.rps);
        println!(
            "| {} | {} | {:.0} | {:.2}× | {} | {} | {} |",
            row.name,
            row.connections,
            row.report.rps,
            row.report.rps / native,
            row.report.p50,
            row.report.p99,
            if row.report.cpu_us.is_nan() {
                "—".to_owned()
            } else {
                format!("{:.0}", row.report.cpu_us)
            }
        );
    }
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A wrk script cycling through `BODIES` signed events, each with its own
/// task id, read from a file when the thread starts.
fn wrk_script(dir: &Path) -> PathBuf {
    let bodies = dir.join("bodies.txt");
    let mut text = String::new();
    for task in 0..BODIES {
        let body = example_with_task(100_000 + task as i64);
        text.push_str(&sign(SECRET, &body));
        text.push('\t');
        text.push_str(&body);
        text.push('\n');
    }
    std::fs::write(&bodies, text).expect("bodies");
    let script = dir.join("pyrus.lua");
    let lua = format!(
        r#"
local requests = {{}}
local next_request = 1
function init(args)
  for line in io.lines("{bodies}") do
    local sig, body = line:match("^([^\t]*)\t(.*)$")
    requests[#requests + 1] = wrk.format("POST", nil, {{
      ["Content-Type"] = "application/json",
      ["X-Pyrus-Sig"] = sig,
      ["X-Pyrus-Retry"] = "1/3",
    }}, body)
  end
end
function request()
  local r = requests[next_request]
  next_request = next_request % #requests + 1
  return r
end
"#,
        bodies = bodies.display()
    );
    std::fs::write(&script, lua).expect("wrk script");
    script
}

struct Report {
    rps: f64,
    requests: f64,
    /// CPU time of the serving process per request; NaN when not counted.
    cpu_us: f64,
    p50: String,
    p99: String,
    errors: String,
}

async fn wrk(
    url: &str,
    script: &Path,
    connections: usize,
    duration: Duration,
    close: bool,
) -> Report {
    let mut wrk = tokio::process::Command::new("wrk");
    if close {
        wrk.args(["-H", "Connection: close"]);
    }
    let output = wrk
        .args(["-t1", "--latency"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", duration.as_secs()))
        .arg("-s")
        .arg(script)
        .arg(url)
        .output()
        .await
        .expect("run wrk");
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |key: &str| {
        text.lines()
            .find(|line| line.trim_start().starts_with(key))
            .and_then(|line| line.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_owned()
    };
    let errors = text
        .lines()
        .filter(|line| line.contains("Non-2xx") || line.contains("Socket errors"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ");
    let requests = text
        .lines()
        .find(|line| line.contains(" requests in "))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(f64::NAN);
    Report {
        rps: field("Requests/sec:").parse().unwrap_or(f64::NAN),
        requests,
        cpu_us: f64::NAN,
        p50: field("50%"),
        p99: field("99%"),
        errors: if errors.is_empty() {
            "none".into()
        } else {
            errors
        },
    }
}

/// adnanh/webhook with one hook: the Pyrus signature as its
/// `payload-hmac-sha1` rule, a shell script printing the echo bot's reply.
struct Webhook {
    child: std::process::Child,
    url: String,
}

impl Webhook {
    fn start(dir: &Path) -> Option<Webhook> {
        let program = Path::new("/usr/bin/webhook");
        if !program.is_file() {
            return None;
        }
        let reply = dir.join("echo.sh");
        // The example's task has one comment: its author and text are the
        // last comment's. webhook cannot index from the end.
        std::fs::write(
            &reply,
            "#!/bin/sh\nprintf '{\"text\":\"Hello, %s %s! You said \\\"%s\\\".\"}' \"$1\" \"$2\" \"$3\"\n",
        )
        .expect("script");
        let arg = |name: &str| serde_json::json!({ "source": "payload", "name": name });
        let hooks = serde_json::json!([{
            "id": "echo-bot",
            "execute-command": "/bin/sh",
            "command-working-directory": dir,
            "include-command-output-in-response": true,
            "response-headers": [{ "name": "Content-Type", "value": "application/json" }],
            "pass-arguments-to-command": [
                { "source": "string", "name": reply },
                arg("task.comments.0.author.first_name"),
                arg("task.comments.0.author.last_name"),
                arg("task.comments.0.text"),
            ],
            "trigger-rule": { "match": {
                "type": "payload-hmac-sha1",
                "secret": SECRET,
                "parameter": { "source": "header", "name": "X-Pyrus-Sig" },
            }},
        }]);
        let hooks_file = dir.join("hooks.json");
        std::fs::write(&hooks_file, hooks.to_string()).expect("hooks");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(program)
            .arg("-hooks")
            .arg(&hooks_file)
            .args(["-ip", "127.0.0.1", "-port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start webhook");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "webhook did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Webhook {
            child,
            url: format!("http://127.0.0.1:{port}/hooks/echo-bot"),
        })
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
