//! Plugins in every language hookhost documents — Rust, Python, JavaScript
//! and C — built from source by `scripts/build-plugins` in this test run,
//! loaded by the real `hookhost` binary and answering real signed requests.
//! Also the compiled-plugin cache across restarts: a warm start compiles
//! nothing, and a damaged entry is noticed, deleted and compiled again.
//!
//! Toolchains are not installed here: a missing one fails the build with a
//! message naming its install command (`scripts/install-toolchains`, which
//! CI runs first). Nothing is skipped.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sha2::{Digest, Sha256};
use support::*;

/// The Pyrus echo bot in every language, by plugin name.
const ECHO_BOTS: [&str; 4] = ["echo-bot", "python-echo-bot", "js-echo-bot", "c-echo-bot"];

fn plugin(name: &str) -> PathBuf {
    example(name)
}

/// The event with its comments replaced.
fn with_comments(comments: serde_json::Value) -> String {
    let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).expect("example is JSON");
    v["task"]["comments"] = comments;
    v.to_string()
}

/// Every echo bot gives the Rust bot's answers: the documented example, a
/// comment without an author and with quotes and non-ASCII text, and
/// `none` (200, empty body) for a task without comments.
async fn answers_like_the_rust_bot(host: &Host, plugin: &str) {
    let res = host.pyrus(plugin, EXAMPLE).await;
    assert_eq!(res.status(), 200, "{plugin}\n{}", host.log());
    assert_eq!(res.text().await.unwrap(), EXAMPLE_ANSWER, "{plugin}");

    let anonymous = with_comments(serde_json::json!([
        {"id": 1, "text": "Привет, \"мир\"", "create_date": "2024-01-01T00:00:00Z"}
    ]));
    let res = host.pyrus(plugin, &anonymous).await;
    assert_eq!(res.status(), 200, "{plugin}");
    let answer: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        answer,
        serde_json::json!({"text": "Hello, there! You said \"Привет, \"мир\"\"."}),
        "{plugin}"
    );

    let res = host
        .pyrus(plugin, &with_comments(serde_json::json!([])))
        .await;
    assert_eq!(res.status(), 200, "{plugin}");
    assert_eq!(res.text().await.unwrap(), "", "{plugin}");

    let log = host.log();
    assert!(
        log.lines()
            .any(|l| l.contains("answering task 1532")
                && l.contains(&format!("plugin=\"{plugin}\""))),
        "{plugin} never logged through the host import:\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("task 1532 has no comments; nothing to echo")
                && l.contains(&format!("plugin=\"{plugin}\""))),
        "{plugin} never logged the empty task:\n{log}"
    );
}

/// The log lines the runtime writes for `plugin`'s component.
fn lines_for<'a>(log: &'a str, plugin: &str, what: &str) -> Vec<&'a str> {
    let tag = format!("plugin=\"{plugin}\"");
    log.lines()
        .filter(|l| l.contains(what) && l.contains(&tag))
        .collect()
}

/// The cache entry for a plugin file: `<cache>/<engine>/<sha256>.cwasm`.
fn cache_entry(cache: &Path, wasm: &Path) -> PathBuf {
    let hash = hex::encode(Sha256::digest(std::fs::read(wasm).expect("read plugin")));
    let engines: Vec<_> = std::fs::read_dir(cache)
        .expect("cache folder exists")
        .map(|e| e.expect("cache entry").path())
        .collect();
    assert_eq!(engines.len(), 1, "one engine folder: {engines:?}");
    let entry = engines[0].join(format!("{hash}.cwasm"));
    assert!(entry.is_file(), "no cache entry {}", entry.display());
    entry
}

fn start(plugins: &Plugins, cache: &Path) -> (Host, std::time::Duration) {
    let started = Instant::now();
    let cache = cache.to_str().expect("utf-8 temp path");
    let host = Host::start_with(plugins.path(), &["--cache-dir", cache], &[]);
    (host, started.elapsed())
}

#[tokio::test]
async fn every_language_answers_alike_and_restarts_from_the_cache() {
    let plugins = Plugins::new();
    for name in ECHO_BOTS {
        plugins.add(name, &plugin(name), &Plugins::bot_toml(""));
    }
    // Identical bytes under another name: compiled once, cached once.
    plugins.add(
        "python-echo-copy",
        &plugin("python-echo-bot"),
        &Plugins::bot_toml(""),
    );
    let cache = tempfile::tempdir().expect("temp dir");

    // Cold: every distinct file is compiled and stored.
    let (host, cold) = start(&plugins, cache.path());
    for name in ECHO_BOTS.iter().chain(&["python-echo-copy"]) {
        answers_like_the_rust_bot(&host, name).await;
    }
    let log = host.log();
    for name in ECHO_BOTS {
        assert_eq!(
            lines_for(&log, name, "component compiled and cached").len(),
            1,
            "{name}:\n{log}"
        );
    }
    assert_eq!(
        log.matches("component compiled").count(),
        ECHO_BOTS.len(),
        "identical bytes compiled twice:\n{log}"
    );
    assert!(!log.contains("loaded from cache"), "{log}");
    drop(host);

    // Warm: nothing is compiled, everything comes from the cache.
    let (host, warm) = start(&plugins, cache.path());
    let log = host.log();
    assert!(
        !log.contains("component compiled"),
        "compiled again:\n{log}"
    );
    for name in ECHO_BOTS {
        assert_eq!(
            lines_for(&log, name, "component loaded from cache").len(),
            1,
            "{name}:\n{log}"
        );
    }
    for name in ECHO_BOTS.iter().chain(&["python-echo-copy"]) {
        answers_like_the_rust_bot(&host, name).await;
    }
    drop(host);
    eprintln!(
        "startup with {} plugins: cold cache {cold:.1?}, warm cache {warm:.1?}",
        ECHO_BOTS.len() + 1
    );
    assert!(warm < cold, "warm {warm:?} not faster than cold {cold:?}");

    // Damaged entries: one bit flipped in the compiled code, one cut short.
    let flipped = cache_entry(cache.path(), &plugin("c-echo-bot"));
    let mut bytes = std::fs::read(&flipped).expect("read entry");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&flipped, bytes).expect("write entry");
    let truncated = cache_entry(cache.path(), &plugin("echo-bot"));
    let len = std::fs::metadata(&truncated).expect("entry").len();
    std::fs::File::options()
        .write(true)
        .open(&truncated)
        .and_then(|f| f.set_len(len - 100))
        .expect("truncate entry");

    let (host, _) = start(&plugins, cache.path());
    let log = host.log();
    for (name, why) in [
        ("c-echo-bot", "checksum mismatch"),
        ("echo-bot", "truncated or extended"),
    ] {
        let warned = lines_for(&log, name, "compiling again");
        assert!(
            warned.len() == 1 && warned[0].contains(why),
            "{name} ({why}):\n{log}"
        );
        assert_eq!(
            lines_for(&log, name, "component compiled and cached").len(),
            1,
            "{name}:\n{log}"
        );
    }
    for name in ["python-echo-bot", "js-echo-bot"] {
        assert_eq!(
            lines_for(&log, name, "component loaded from cache").len(),
            1,
            "{name}:\n{log}"
        );
    }
    for name in ECHO_BOTS {
        answers_like_the_rust_bot(&host, name).await;
    }
    drop(host);

    // The entries written in place of the damaged ones are sound.
    let (host, _) = start(&plugins, cache.path());
    let log = host.log();
    assert!(!log.contains("component compiled"), "{log}");
    assert!(!log.contains("compiling again"), "{log}");
    answers_like_the_rust_bot(&host, "c-echo-bot").await;
}

#[tokio::test]
async fn no_cache_compiles_every_time_and_writes_nothing() {
    let plugins = Plugins::new();
    plugins.add("c-echo-bot", &plugin("c-echo-bot"), &Plugins::bot_toml(""));
    let cache = tempfile::tempdir().expect("temp dir");
    let home = cache.path().to_str().expect("utf-8 temp path");
    for _ in 0..2 {
        let host = Host::start_with(plugins.path(), &["--no-cache"], &[("XDG_CACHE_HOME", home)]);
        let log = host.log();
        assert_eq!(
            lines_for(&log, "c-echo-bot", "component compiled (cache off)").len(),
            1,
            "{log}"
        );
        answers_like_the_rust_bot(&host, "c-echo-bot").await;
    }
    assert_eq!(
        std::fs::read_dir(cache.path()).expect("temp dir").count(),
        0,
        "--no-cache wrote to the default cache folder"
    );
}

#[test]
fn the_cache_may_not_be_the_plugins_folder() {
    let plugins = Plugins::new();
    let out = Command::new(env!("CARGO_BIN_EXE_hookhost"))
        .args(["serve", "--listen", "127.0.0.1:0", "--plugins"])
        .arg(plugins.path())
        .env("HOOKHOST_ADMIN_LISTEN", "127.0.0.1:0")
        .arg("--cache-dir")
        .arg(plugins.path())
        .output()
        .expect("run hookhost");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is the plugins folder"), "{stderr}");
}

/// A Worksection delivery: a task event that crosses the priority
/// threshold, a comment, and an event without an object id, which both
/// plugins refuse with `rejected`.
const WORKSECTION_DELIVERY: &str = r#"[
  {"action":"post","object":{"type":"task","id":"4567","page":"/project/123/4567/"},"date":"2026-11-23 10:00","user_from":{"id":"7","email":"ann@example.com","name":"Ann"},"new":{"name":"Ship it","text":"<p>now</p>","priority":"9","date_end":"2026-11-30"}},
  {"action":"update","object":{"type":"comment","id":"88","page":"/project/123/4567/#com88"},"date":"2026-11-23 10:01","new":{"text":"done"}},
  {"action":"close","object":{"type":"task","page":"/project/123/"},"date":"2026-11-23 10:02"}
]"#;

#[tokio::test]
async fn python_and_js_worksection_plugins_log_each_event_after_the_answer() {
    let plugins = Plugins::new();
    let toml = "basic_auth = { user = \"ws\", password = { value = \"ws-pass\" } }\n\
                [config]\nhigh_priority = \"9\"\n";
    for name in ["python-worksection-log", "js-worksection-log"] {
        plugins.add(name, &plugin(name), toml);
    }
    let cache = tempfile::tempdir().expect("temp dir");
    let (host, _) = start(&plugins, cache.path());

    for name in ["python-worksection-log", "js-worksection-log"] {
        let res = client()
            .post(format!("{}/worksection/{name}", host.url))
            .basic_auth("ws", Some("ws-pass"))
            .header("content-type", "application/json")
            .body(WORKSECTION_DELIVERY)
            .send()
            .await
            .expect("request reaches hookhost");
        assert_eq!(res.status(), 200, "{name}\n{}", host.log());
        assert_eq!(res.text().await.unwrap(), r#"{"status":"OK"}"#, "{name}");

        // The events are handled after the answer, in order: wait for the
        // last one, then check every line the plugin wrote.
        // The plugin's own lines quote its name; the host's do not.
        let tag = format!("plugin=\"{name}\"");
        let host_tag = format!("plugin={name} ");
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while !host
            .log()
            .lines()
            .any(|l| l.contains("event without an object id") && l.contains(&host_tag))
        {
            assert!(
                Instant::now() < deadline,
                "{name} never refused the third event:\n{}",
                host.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let log = host.log();
        for line in [
            "post task #4567",
            "by Ann <ann@example.com> /project/123/4567/",
            "high priority: #4567",
            "update comment #88",
            "by unknown /project/123/4567/#com88",
        ] {
            assert!(
                log.lines().any(|l| l.contains(line) && l.contains(&tag)),
                "{name} never logged {line:?}:\n{log}"
            );
        }
        let refused = log
            .lines()
            .find(|l| l.contains("event without an object id") && l.contains(&host_tag))
            .unwrap_or_default();
        assert!(
            refused.contains("event not handled") && refused.contains("Rejected"),
            "{name}: {refused}"
        );

        // The wrong password never reaches the plugin.
        let res = client()
            .post(format!("{}/worksection/{name}", host.url))
            .basic_auth("ws", Some("wrong"))
            .body(WORKSECTION_DELIVERY)
            .send()
            .await
            .expect("request reaches hookhost");
        assert_eq!(res.status(), 401, "{name}");
    }
}
