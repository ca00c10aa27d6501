//! Test harness: builds the guest plugins from source, starts the real
//! `hookhost` binary on an ephemeral port, and signs requests as Pyrus does.
#![allow(dead_code)]

pub mod senders;
pub mod standin;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha1::Sha1;

pub const SECRET: &str = "Bot-Secret-Key";
pub const EXAMPLE: &str = include_str!("../fixtures/pyrus-bot-example.json");
pub const EXAMPLE_ANSWER: &str = r#"{"text":"Hello, Bob Smith! You said \"Budget approval\"."}"#;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds every guest once per test binary and returns the folder holding
/// the `.wasm` files.
pub fn guests() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target = workspace().join("target/guests");
        let status = Command::new(env!("CARGO"))
            .current_dir(workspace())
            .env("CARGO_TARGET_DIR", &target)
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .args(GUESTS.iter().flat_map(|name| ["-p", name]))
            .status()
            .expect("run cargo to build the guests");
        assert!(status.success(), "building the guest plugins failed");
        target.join("wasm32-wasip2/release")
    })
}

/// Every Rust guest the tests load.
const GUESTS: [&str; 10] = [
    "echo-bot",
    "test-bot",
    "ext-demo",
    "worksection-log",
    "errbot-examples",
    "test-ext",
    "test-worksection",
    "test-hook",
    "test-fetch",
    "test-state",
];

/// The built `.wasm` of guest crate `name`.
pub fn guest(name: &str) -> PathBuf {
    guests().join(format!("{}.wasm", name.replace('-', "_")))
}

pub fn echo_bot() -> PathBuf {
    guests().join("echo_bot.wasm")
}

pub fn test_bot() -> PathBuf {
    guests().join("test_bot.wasm")
}

/// A plugins folder of the test's own.
pub struct Plugins {
    pub dir: tempfile::TempDir,
}

impl Plugins {
    pub fn new() -> Self {
        Plugins {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Installs `wasm` as plugin `name` with sidecar text `toml`.
    pub fn add(&self, name: &str, wasm: &Path, toml: &str) -> &Self {
        std::fs::write(self.path().join(format!("{name}.toml")), toml).expect("write sidecar");
        std::fs::copy(wasm, self.path().join(format!("{name}.wasm"))).expect("copy plugin");
        self
    }

    /// A bot sidecar with the test secret inline and extra lines.
    pub fn bot_toml(extra: &str) -> String {
        format!("secret = {{ value = \"{SECRET}\" }}\n{extra}\n")
    }
}

/// A `hookhost serve` whose admin listener is up; see [`Host::starting`].
/// Killed when dropped, like a [`Host`].
pub struct Starting {
    host: Host,
    /// A start line read ahead.
    pending: Option<String>,
}

impl Starting {
    pub fn admin(&self) -> &str {
        &self.host.admin
    }

    pub fn log(&self) -> String {
        self.host.log()
    }

    /// The next line on stdout, which must start with `prefix`; the rest.
    fn line(&mut self, prefix: &str) -> String {
        let mut line = self.pending.take().unwrap_or_default();
        if line.is_empty() {
            self.host
                ._stdout
                .read_line(&mut line)
                .expect("read a start line");
        }
        match line.trim().strip_prefix(prefix) {
            Some(rest) => rest.to_owned(),
            None => panic!(
                "hookhost did not start: {line:?}\n{}",
                std::fs::read_to_string(&self.host.log).unwrap_or_default()
            ),
        }
    }

    /// Waits until the webhook listener is up (and the HTTPS one, first,
    /// when there is one).
    pub fn ready(mut self) -> Host {
        let url = self.line("hookhost listening on ");
        match url.strip_prefix("https://") {
            Some(addr) => {
                self.host.https = Some(addr.to_owned());
                self.host.url = self.line("hookhost listening on ");
            }
            None => self.host.url = url,
        }
        self.host
    }
}

/// A running `hookhost serve`; killed when dropped.
pub struct Host {
    pub child: Child,
    pub url: String,
    /// The admin listener (`--admin-listen 127.0.0.1:0`).
    pub admin: String,
    /// The HTTPS listener's address, when it has one (`--tls-cert`).
    pub https: Option<String>,
    /// The plugin state folder (`--state-dir`).
    pub state_dir: PathBuf,
    log: PathBuf,
    _log_dir: tempfile::TempDir,
    // Kept open: hookhost must never see its stdout closed under it.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Host {
    pub fn start(plugins: &Path) -> Host {
        Host::start_with(plugins, &[], &[])
    }

    /// A host with its own state folder, gone with the host.
    pub fn start_with(plugins: &Path, args: &[&str], env: &[(&str, &str)]) -> Host {
        Host::start_in(plugins, None, args, env)
    }

    /// A host keeping plugin state in `state_dir`, which outlives it: a
    /// later host started on the same folder finds the state.
    pub fn start_with_state(
        plugins: &Path,
        state_dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Host {
        Host::start_in(plugins, Some(state_dir), args, env)
    }

    fn start_in(
        plugins: &Path,
        state_dir: Option<&Path>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Host {
        Host::starting(plugins, state_dir, args, env).ready()
    }

    /// A host run by another build of hookhost (a bench's baseline).
    pub fn start_binary(bin: &Path, plugins: &Path, env: &[(&str, &str)]) -> Host {
        Host::starting_bin(Some(bin), plugins, None, &[], env).ready()
    }

    /// A host whose admin listener is up, its plugins perhaps still loading.
    pub fn starting(
        plugins: &Path,
        state_dir: Option<&Path>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Starting {
        Host::starting_bin(None, plugins, state_dir, args, env)
    }

    fn starting_bin(
        bin: Option<&Path>,
        plugins: &Path,
        state_dir: Option<&Path>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Starting {
        let log_dir = tempfile::tempdir().expect("temp dir");
        let log = log_dir.path().join("hookhost.log");
        let state_dir = state_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| log_dir.path().join("state"));
        // HOOKHOST_BIN, set by hand, runs another build: a bench can then
        // compare the host before and after a change in one run.
        let bin = bin
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("HOOKHOST_BIN").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hookhost")));
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--plugins"])
            .arg(plugins)
            .arg("--state-dir")
            .arg(&state_dir)
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("HOOKHOST_ADMIN_TOKEN")
            .env("HOOKHOST_ADMIN_LISTEN", "127.0.0.1:0")
            // Never the user's own state, even if --state-dir were dropped.
            .env_remove("HOOKHOST_STATE_DIR")
            .env("XDG_STATE_HOME", log_dir.path().join("xdg-state"))
            // The default compiled-plugin cache, per host: tests never share
            // entries by accident, nor write to the user's cache.
            .env_remove("HOOKHOST_CACHE_DIR")
            .env_remove("HOOKHOST_NO_CACHE")
            .env("XDG_CACHE_HOME", log_dir.path().join("cache"))
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start hookhost");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut starting = Starting {
            host: Host {
                child,
                url: String::new(),
                admin: String::new(),
                https: None,
                state_dir,
                log,
                _log_dir: log_dir,
                _stdout: stdout,
            },
            pending: None,
        };
        // The admin listener comes up first, then the webhook listener
        // (builds from before the admin listener print only the latter).
        let first = starting.line("hookhost ");
        match first.strip_prefix("admin on ") {
            Some(admin) => starting.host.admin = admin.to_owned(),
            None => starting.pending = Some(format!("hookhost {first}")),
        }
        starting
    }

    /// The host's log so far. The host writes its lines from a thread of
    /// its own, so a request's last line can land just after its answer:
    /// this waits until the log has been still for 50 ms (2 s at most).
    pub fn log(&self) -> String {
        let start = Instant::now();
        let mut seen = std::fs::read_to_string(&self.log).unwrap_or_default();
        while start.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(50));
            let now = std::fs::read_to_string(&self.log).unwrap_or_default();
            if now.len() == seen.len() {
                return now;
            }
            seen = now;
        }
        seen
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A GET of `path` on this host's admin listener.
    pub fn admin_get(&self, path: &str) -> reqwest::RequestBuilder {
        client().get(format!("{}{path}", self.admin))
    }

    /// The admin listener's `/metrics` text.
    pub async fn metrics(&self) -> String {
        let res = self.admin_get("/metrics").send().await.expect("scrape");
        assert_eq!(res.status(), 200);
        res.text().await.expect("metrics text")
    }

    /// Asserts that `/metrics` holds `series` (name and labels, as written)
    /// with `value`.
    pub async fn assert_metric(&self, series: &str, value: f64) {
        let metrics = self.metrics().await;
        let found = metrics
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse::<f64>().ok());
        assert_eq!(found, Some(value), "{series} in:\n{metrics}");
    }

    /// A request to `path` on this host.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        client().request(method, format!("{}{path}", self.url))
    }

    /// Posts `body` to `/pyrus/{plugin}` signed with `secret`.
    pub async fn pyrus(&self, plugin: &str, body: &str) -> reqwest::Response {
        self.pyrus_with(plugin, body, Some(&sign(SECRET, body)), &[])
            .await
    }

    pub async fn pyrus_with(
        &self,
        plugin: &str,
        body: &str,
        sig: Option<&str>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = client()
            .post(format!("{}/pyrus/{plugin}", self.url))
            .header("content-type", "application/json")
            .header("user-agent", "Pyrus-Bot-4")
            .body(body.to_owned());
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("x-pyrus-retry"))
        {
            req = req.header("x-pyrus-retry", "1/3");
        }
        if let Some(sig) = sig {
            req = req.header("x-pyrus-sig", sig);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("request reaches hookhost")
    }

    /// Sends the example to `plugin` until `check(status, body)` holds, and
    /// panics with the log if that takes longer than the one second a
    /// reload is promised to take.
    pub async fn answers_within_reload(&self, plugin: &str, check: impl Fn(u16, &str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let res = self.pyrus(plugin, EXAMPLE).await;
            let status = res.status().as_u16();
            let body = res.text().await.unwrap_or_default();
            if check(status, &body) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{plugin} still answers {status} {body:?} after 1 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until `check` holds for the log, or panics with the log.
    pub async fn wait_for_log(&self, what: &str, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log().contains(what) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("log never said {what:?}:\n{}", self.log());
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("http client")
        })
        .clone()
}

/// `X-Pyrus-Sig` as Pyrus computes it: HMAC-SHA1 keyed with the secret over
/// the raw body, hex.
pub fn sign(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The example event with another task id, so log lines can be told apart.
pub fn example_with_task(task_id: i64) -> String {
    let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).expect("example is JSON");
    v["task_id"] = task_id.into();
    v.to_string()
}

/// Runs `hookhost ARGS…` with `env` and returns its output.
/// Plugin state goes to a folder of its own unless `env` or `args` say
/// where (`XDG_STATE_HOME`, `HOOKHOST_STATE_DIR`, `--state-dir`).
pub fn cli(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let cache = tempfile::tempdir().expect("temp dir");
    Command::new(env!("CARGO_BIN_EXE_hookhost"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("HOOKHOST_ADMIN_TOKEN")
        .env("HOOKHOST_ADMIN_LISTEN", "127.0.0.1:0")
        .env_remove("HOOKHOST_CACHE_DIR")
        .env_remove("HOOKHOST_NO_CACHE")
        .env_remove("HOOKHOST_STATE_DIR")
        .env("XDG_CACHE_HOME", cache.path())
        .env("XDG_STATE_HOME", cache.path().join("state"))
        .envs(env.iter().copied())
        .output()
        .expect("run hookhost")
}

/// Runs `hookhost routes` on a folder and returns its stdout.
pub fn routes(plugins: &Path, env: &[(&str, &str)]) -> String {
    let cache = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_hookhost"))
        .args(["routes", "--plugins"])
        .arg(plugins)
        .env_remove("HOOKHOST_STATE_DIR")
        .env("XDG_STATE_HOME", cache.path().join("state"))
        .env_remove("HOOKHOST_CACHE_DIR")
        .env_remove("HOOKHOST_NO_CACHE")
        .env("XDG_CACHE_HOME", cache.path())
        .envs(env.iter().copied())
        .output()
        .expect("run hookhost routes");
    assert!(
        out.status.success(),
        "routes failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Builds every example in every language (Rust, Python, JavaScript, C)
/// once per test binary, through the entry point users run
/// (`scripts/build-plugins`), and returns the folder of `.wasm` files.
/// Toolchains are only checked, never installed: a missing one fails with
/// the command that installs it.
pub fn examples() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = workspace().join("target/guests/languages");
        let start = Instant::now();
        let result = Command::new("bash")
            .arg(workspace().join("scripts/build-plugins"))
            .args(["--no-install", "--out"])
            .arg(&out)
            .current_dir(workspace())
            .output()
            .expect("run scripts/build-plugins");
        assert!(
            result.status.success(),
            "scripts/build-plugins failed (scripts/install-toolchains installs missing tools):\n{}\n{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
        eprintln!(
            "built every example in {:.1?}:\n{}",
            start.elapsed(),
            String::from_utf8_lossy(&result.stdout)
        );
        out
    })
}

/// One built example, e.g. `python-echo-bot`.
pub fn example(name: &str) -> PathBuf {
    let path = examples().join(format!("{name}.wasm"));
    assert!(path.is_file(), "build-plugins made no {}", path.display());
    path
}

/// Process `pid`'s resident set, KiB, from /proc (0 if gone).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// User plus system time process `pid` has used, from /proc. Counted in
/// ticks of 10 ms, so only sums over many requests mean much.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    // /proc counts in USER_HZ, which is 100 on every Linux ABI.
    Duration::from_millis(ticks * 10)
}

/// Which parts of a bench to run: `cargo bench --bench NAME -- PART…` names
/// some, none runs all.
pub fn bench_parts() -> impl Fn(&str) -> bool {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    move |part| only.is_empty() || only.iter().any(|a| a == part)
}

/// `wasm` with a custom section naming `n`: the same program, another file
/// (another hash, another compile, another cache entry).
pub fn distinct(wasm: &[u8], n: usize) -> Vec<u8> {
    let name = b"hookhost-copy";
    let payload = n.to_le_bytes();
    let mut out = wasm.to_vec();
    out.push(0); // custom section id
    leb128(&mut out, 1 + name.len() + payload.len());
    leb128(&mut out, name.len());
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    out
}

fn leb128(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}
