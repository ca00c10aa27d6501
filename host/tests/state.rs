//! Plugin state through `wasi:keyvalue@0.2.0-draft`, end to end: the real
//! hookhost binary over HTTP, a guest built from source (`test-state`, one
//! keyvalue call per request), and the SQLite state folder of each test.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use support::*;

const HOOK: &str = "verify = \"none\"\n";

fn state_plugins(names: &[&str], toml: &str) -> Plugins {
    let plugins = Plugins::new();
    for name in names {
        plugins.add(name, &guest("test-state"), toml);
    }
    plugins
}

/// One keyvalue call by `plugin`; the guest always answers 200 with
/// `{"ok": …}` or `{"error": …}`.
async fn kv(host: &Host, plugin: &str, call: Value) -> Value {
    let res = host
        .request(Method::POST, &format!("/hooks/{plugin}/kv"))
        .json(&call)
        .send()
        .await
        .expect("request reaches hookhost");
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{call} -> {text}\n{}", host.log());
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{call} -> not JSON: {text}"))
}

async fn ok(host: &Host, plugin: &str, call: Value) -> Value {
    let answer = kv(host, plugin, call.clone()).await;
    assert!(answer.get("ok").is_some(), "{call} -> {answer}");
    answer["ok"].clone()
}

async fn error(host: &Host, plugin: &str, call: Value) -> Value {
    let answer = kv(host, plugin, call.clone()).await;
    assert!(
        answer.get("error").is_some(),
        "{call} should fail: {answer}"
    );
    answer["error"].clone()
}

fn sorted(keys: &Value) -> Vec<String> {
    let mut keys: Vec<String> = keys
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k.as_str().expect("key").to_owned())
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn every_keyvalue_call_answers_as_the_interface_says() {
    let plugins = state_plugins(&["kv"], HOOK);
    let host = Host::start(plugins.path());
    let op = |op: &str| {
        format!("hookhost_keyvalue_operations_total{{plugin=\"kv\",op=\"{op}\",outcome=\"ok\"}}")
    };

    // store: get, set, exists, delete.
    assert_eq!(
        ok(&host, "kv", json!({"op": "get", "key": "a"})).await,
        Value::Null
    );
    assert_eq!(
        ok(&host, "kv", json!({"op": "exists", "key": "a"})).await,
        false
    );
    ok(
        &host,
        "kv",
        json!({"op": "set", "key": "a", "value": "one"}),
    )
    .await;
    assert_eq!(
        ok(&host, "kv", json!({"op": "get", "key": "a"})).await,
        "one"
    );
    assert_eq!(
        ok(&host, "kv", json!({"op": "exists", "key": "a"})).await,
        true
    );
    ok(
        &host,
        "kv",
        json!({"op": "set", "key": "a", "value": "two"}),
    )
    .await;
    for (name, count) in [("get", 2.0), ("exists", 2.0), ("set", 2.0)] {
        host.assert_metric(&op(name), count).await;
    }
    assert_eq!(
        ok(&host, "kv", json!({"op": "get", "key": "a"})).await,
        "two"
    );
    ok(&host, "kv", json!({"op": "delete", "key": "a"})).await;
    assert_eq!(
        ok(&host, "kv", json!({"op": "get", "key": "a"})).await,
        Value::Null
    );
    // Deleting what is not there is no error.
    ok(&host, "kv", json!({"op": "delete", "key": "a"})).await;
    // The empty key and an empty value are values like others.
    ok(&host, "kv", json!({"op": "set", "key": "", "value": ""})).await;
    assert_eq!(
        ok(&host, "kv", json!({"op": "exists", "key": ""})).await,
        true
    );
    assert_eq!(ok(&host, "kv", json!({"op": "get", "key": ""})).await, "");

    // atomics: a missing key counts from 0; the value is decimal text.
    let inc = |delta: u64| json!({"op": "increment", "key": "n", "delta": delta});
    assert_eq!(ok(&host, "kv", inc(5)).await, 5);
    assert_eq!(ok(&host, "kv", inc(2)).await, 7);
    assert_eq!(ok(&host, "kv", inc(0)).await, 7);
    assert_eq!(ok(&host, "kv", json!({"op": "get", "key": "n"})).await, "7");
    ok(
        &host,
        "kv",
        json!({"op": "set", "key": "word", "value": "seven"}),
    )
    .await;
    let e = error(&host, "kv", json!({"op": "increment", "key": "word"})).await;
    assert_eq!(e["kind"], "other");
    assert_eq!(e["message"], "stored value is not a decimal u64");
    ok(
        &host,
        "kv",
        json!({"op": "set", "key": "max", "value": u64::MAX.to_string()}),
    )
    .await;
    let e = error(&host, "kv", json!({"op": "increment", "key": "max"})).await;
    assert_eq!(e["message"], "increment overflows u64");

    // batch: set-many, get-many in order with gaps, delete-many.
    ok(
        &host,
        "kv",
        json!({"op": "set-many", "pairs": [["b1", "x"], ["b2", "y"], ["b3", "z"]]}),
    )
    .await;
    assert_eq!(
        ok(
            &host,
            "kv",
            json!({"op": "get-many", "keys": ["b3", "nope", "b1"]})
        )
        .await,
        json!([["b3", "z"], null, ["b1", "x"]])
    );
    ok(
        &host,
        "kv",
        json!({"op": "delete-many", "keys": ["b1", "b3", "nope"]}),
    )
    .await;
    assert_eq!(
        ok(
            &host,
            "kv",
            json!({"op": "get-many", "keys": ["b1", "b2", "b3"]})
        )
        .await,
        json!([null, ["b2", "y"], null])
    );

    // One page lists everything that is left, with no cursor.
    let page = ok(&host, "kv", json!({"op": "list-keys"})).await;
    assert_eq!(page["cursor"], Value::Null);
    assert_eq!(sorted(&page["keys"]), ["", "b2", "max", "n", "word"]);

    // Only "default" opens; any other identifier is no-such-store.
    for store in ["other", "", "Default", "kv"] {
        let e = error(&host, "kv", json!({"op": "open", "store": store})).await;
        assert_eq!(e, json!({"kind": "no-such-store"}), "open({store:?})");
    }
    assert_eq!(ok(&host, "kv", json!({"op": "open"})).await, Value::Null);
}

#[tokio::test]
async fn list_keys_pages_past_one_page() {
    let plugins = state_plugins(&["kv"], HOOK);
    let host = Host::start(plugins.path());
    assert_eq!(
        ok(
            &host,
            "kv",
            json!({"op": "fill", "key": "k", "count": 2500})
        )
        .await,
        2500
    );

    // Page by page, as the guest sees it.
    let first = ok(&host, "kv", json!({"op": "list-keys"})).await;
    assert_eq!(first["keys"].as_array().unwrap().len(), 1000);
    let cursor = first["cursor"]
        .as_u64()
        .expect("a cursor after a full page");
    let second = ok(&host, "kv", json!({"op": "list-keys", "cursor": cursor})).await;
    assert_eq!(second["keys"].as_array().unwrap().len(), 1000);
    let cursor = second["cursor"]
        .as_u64()
        .expect("a cursor after a full page");
    let third = ok(&host, "kv", json!({"op": "list-keys", "cursor": cursor})).await;
    assert_eq!(third["keys"].as_array().unwrap().len(), 500);
    assert_eq!(third["cursor"], Value::Null, "the last page has no cursor");

    // Walked to the end: every key exactly once.
    let all = ok(&host, "kv", json!({"op": "list-all"})).await;
    assert_eq!(all["pages"], 3);
    let keys = sorted(&all["keys"]);
    let mut expected: Vec<String> = (0..2500).map(|i| format!("k{i}")).collect();
    expected.sort();
    assert_eq!(keys, expected);

    // A cursor from nowhere is an empty last page, not an error.
    let past = ok(&host, "kv", json!({"op": "list-keys", "cursor": u64::MAX})).await;
    assert_eq!(past, json!({"keys": [], "cursor": null}));
}

#[tokio::test]
async fn plugins_with_identical_bytes_keep_separate_state() {
    let plugins = state_plugins(&["alpha", "beta"], HOOK);
    let host = Host::start(plugins.path());

    ok(
        &host,
        "alpha",
        json!({"op": "set", "key": "k", "value": "alpha's"}),
    )
    .await;
    ok(
        &host,
        "alpha",
        json!({"op": "increment", "key": "n", "delta": 10}),
    )
    .await;
    assert_eq!(
        ok(&host, "beta", json!({"op": "get", "key": "k"})).await,
        Value::Null
    );
    assert_eq!(
        ok(&host, "beta", json!({"op": "exists", "key": "k"})).await,
        false
    );
    assert_eq!(
        ok(&host, "beta", json!({"op": "list-all"})).await["keys"],
        json!([])
    );
    assert_eq!(
        ok(&host, "beta", json!({"op": "get-many", "keys": ["k", "n"]})).await,
        json!([null, null])
    );
    assert_eq!(
        ok(&host, "beta", json!({"op": "increment", "key": "n"})).await,
        1
    );
    ok(
        &host,
        "beta",
        json!({"op": "set", "key": "k", "value": "beta's"}),
    )
    .await;
    ok(&host, "beta", json!({"op": "delete-many", "keys": ["n"]})).await;

    assert_eq!(
        ok(&host, "alpha", json!({"op": "get", "key": "k"})).await,
        "alpha's"
    );
    assert_eq!(
        ok(&host, "alpha", json!({"op": "get", "key": "n"})).await,
        "10"
    );
    assert_eq!(
        ok(&host, "beta", json!({"op": "get", "key": "k"})).await,
        "beta's"
    );

    // No identifier reaches another plugin's bucket.
    for store in ["alpha", "beta", "../alpha", "alpha/default"] {
        let e = error(&host, "beta", json!({"op": "open", "store": store})).await;
        assert_eq!(e["kind"], "no-such-store", "open({store:?})");
    }
}

#[tokio::test]
async fn limits_and_quota_are_errors_and_the_plugin_keeps_answering() {
    let plugins = state_plugins(&["kv"], HOOK);
    plugins.add(
        "few",
        &guest("test-state"),
        &format!("{HOOK}[state]\nmax_keys = 3\n"),
    );
    plugins.add(
        "small",
        &guest("test-state"),
        &format!("{HOOK}[state]\nmax_bytes_mb = 1\n"),
    );
    let host = Host::start(plugins.path());

    let long = "k".repeat(257);
    let e = error(&host, "kv", json!({"op": "set", "key": long, "value": "v"})).await;
    assert_eq!(e["message"], "key is 257 bytes, the limit is 256");
    let e = error(&host, "kv", json!({"op": "get", "key": long})).await;
    assert_eq!(e["message"], "key is 257 bytes, the limit is 256");
    let e = error(&host, "kv", json!({"op": "increment", "key": long})).await;
    assert_eq!(e["kind"], "other");
    for op in ["set", "get", "increment"] {
        host.assert_metric(
            &format!(
                "hookhost_keyvalue_operations_total{{plugin=\"kv\",op=\"{op}\",outcome=\"error\"}}"
            ),
            1.0,
        )
        .await;
    }
    let e = error(
        &host,
        "kv",
        json!({"op": "set-many", "pairs": [["ok", "v"], [long, "v"]]}),
    )
    .await;
    assert_eq!(e["message"], "key is 257 bytes, the limit is 256");
    // The batch failed as a whole.
    assert_eq!(
        ok(&host, "kv", json!({"op": "exists", "key": "ok"})).await,
        false
    );
    let at_limit = "k".repeat(256);
    ok(
        &host,
        "kv",
        json!({"op": "set", "key": at_limit, "value": "v"}),
    )
    .await;

    let e = error(
        &host,
        "kv",
        json!({"op": "set", "key": "big", "repeat": (1 << 20) + 1}),
    )
    .await;
    assert_eq!(e["message"], "value is 1048577 bytes, the limit is 1048576");
    ok(
        &host,
        "kv",
        json!({"op": "set", "key": "big", "repeat": 1 << 20}),
    )
    .await;
    assert_eq!(
        ok(&host, "kv", json!({"op": "get", "key": "big"})).await,
        json!({"len": 1 << 20})
    );

    // A quota of three keys: a fourth is refused, rewriting one is not.
    for key in ["a", "b", "c"] {
        ok(&host, "few", json!({"op": "set", "key": key, "value": "v"})).await;
    }
    let e = error(&host, "few", json!({"op": "set", "key": "d", "value": "v"})).await;
    let message = e["message"].as_str().unwrap();
    assert!(message.starts_with("quota exceeded"), "{message}");
    assert!(message.contains("in 3 keys"), "{message}");
    let e = error(&host, "few", json!({"op": "increment", "key": "d"})).await;
    assert!(e["message"].as_str().unwrap().starts_with("quota exceeded"));
    let e = error(
        &host,
        "few",
        json!({"op": "set-many", "pairs": [["d", "v"], ["e", "v"]]}),
    )
    .await;
    assert!(e["message"].as_str().unwrap().starts_with("quota exceeded"));
    ok(
        &host,
        "few",
        json!({"op": "set", "key": "a", "value": "again"}),
    )
    .await;
    ok(&host, "few", json!({"op": "delete", "key": "c"})).await;
    ok(&host, "few", json!({"op": "set", "key": "d", "value": "v"})).await;

    // A quota of 1 MiB of keys and values.
    ok(
        &host,
        "small",
        json!({"op": "set", "key": "one", "repeat": 600_000}),
    )
    .await;
    let e = error(
        &host,
        "small",
        json!({"op": "set", "key": "two", "repeat": 600_000}),
    )
    .await;
    assert!(
        e["message"].as_str().unwrap().starts_with("quota exceeded"),
        "{e}"
    );
    ok(
        &host,
        "small",
        json!({"op": "set", "key": "two", "repeat": 400_000}),
    )
    .await;

    // Refusals were answers, not traps: every plugin still serves.
    for plugin in ["kv", "few", "small"] {
        ok(&host, plugin, json!({"op": "exists", "key": "a"})).await;
    }
    assert!(!host.log().contains("trapped"), "{}", host.log());
}

/// `wasm` with a custom section appended: another file (another hash) that
/// runs the same code, as a redeploy of the same plugin would be.
fn rebuilt(wasm: &Path, tag: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"hookhost-test";
    let mut section = Vec::new();
    leb(name.len(), &mut section);
    section.extend_from_slice(name);
    section.extend_from_slice(tag.as_bytes());
    let mut bytes = std::fs::read(wasm).expect("read plugin");
    bytes.push(0);
    leb(section.len(), &mut bytes);
    bytes.extend(section);
    bytes
}

#[tokio::test]
async fn state_is_kept_across_hot_reload_and_removal() {
    let plugins = state_plugins(&["kv"], HOOK);
    let host = Host::start(plugins.path());
    ok(
        &host,
        "kv",
        json!({"op": "set", "key": "kept", "value": "v1"}),
    )
    .await;
    ok(
        &host,
        "kv",
        json!({"op": "increment", "key": "n", "delta": 3}),
    )
    .await;

    // A new version, overwritten in place.
    let wasm = plugins.path().join("kv.wasm");
    std::fs::write(&wasm, rebuilt(&guest("test-state"), "v2")).unwrap();
    host.wait_for_log("generation=2", Duration::from_secs(5))
        .await;
    assert_eq!(
        ok(&host, "kv", json!({"op": "get", "key": "kept"})).await,
        "v1"
    );
    assert_eq!(
        ok(&host, "kv", json!({"op": "increment", "key": "n"})).await,
        4
    );

    // Removed, then deployed again: the state waited.
    std::fs::remove_file(&wasm).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let res = host
            .request(Method::POST, "/hooks/kv/kv")
            .json(&json!({"op": "open"}))
            .send()
            .await
            .unwrap();
        if res.status() == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "kv still served after removal");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::fs::write(&wasm, rebuilt(&guest("test-state"), "v3")).unwrap();
    host.wait_for_log("generation=3", Duration::from_secs(5))
        .await;
    assert_eq!(
        ok(&host, "kv", json!({"op": "get", "key": "kept"})).await,
        "v1"
    );
    assert_eq!(ok(&host, "kv", json!({"op": "get", "key": "n"})).await, "4");
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9_and_restart() {
    let plugins = state_plugins(&["kv"], HOOK);
    let state = tempfile::tempdir().unwrap();
    let mut host = Host::start_with_state(plugins.path(), state.path(), &[], &[]);

    for i in 0..50 {
        let value = format!("value {i}");
        ok(
            &host,
            "kv",
            json!({"op": "set", "key": format!("k{i}"), "value": value}),
        )
        .await;
        ok(&host, "kv", json!({"op": "increment", "key": "count"})).await;
    }
    ok(
        &host,
        "kv",
        json!({"op": "set-many", "pairs": [["b1", "x"], ["b2", "y"]]}),
    )
    .await;
    ok(&host, "kv", json!({"op": "delete", "key": "k0"})).await;
    ok(
        &host,
        "kv",
        json!({"op": "delete-many", "keys": ["k1", "b2"]}),
    )
    .await;
    // SIGKILL right after the last acknowledgement: no shutdown, no flush.
    host.child.kill().unwrap();
    host.child.wait().unwrap();
    drop(host);

    let host = Host::start_with_state(plugins.path(), state.path(), &[], &[]);
    assert_eq!(
        ok(&host, "kv", json!({"op": "get", "key": "count"})).await,
        "50"
    );
    for i in 2..50 {
        assert_eq!(
            ok(&host, "kv", json!({"op": "get", "key": format!("k{i}")})).await,
            format!("value {i}")
        );
    }
    assert_eq!(
        ok(
            &host,
            "kv",
            json!({"op": "get-many", "keys": ["k0", "k1", "b1", "b2"]})
        )
        .await,
        json!([null, null, ["b1", "x"], null])
    );
    let all = ok(&host, "kv", json!({"op": "list-all"})).await;
    assert_eq!(all["keys"].as_array().unwrap().len(), 48 + 2);
    drop(host);

    // And a graceful restart keeps it too.
    let host = Host::start_with_state(plugins.path(), state.path(), &[], &[]);
    assert_eq!(
        ok(&host, "kv", json!({"op": "increment", "key": "count"})).await,
        51
    );
}

fn state_cli(state: &Path, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["state"];
    all.extend_from_slice(args);
    let state = state.to_str().expect("utf-8 path");
    all.extend(["--state-dir", state]);
    let out = cli(&all, &[]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn hookhost_state_shows_usage_and_gets_lists_and_deletes_keys() {
    let plugins = state_plugins(&["alpha", "beta"], HOOK);
    let host = Host::start(plugins.path());
    ok(
        &host,
        "alpha",
        json!({"op": "set-many", "pairs": [["one", "1"], ["two", "22"]]}),
    )
    .await;
    ok(
        &host,
        "beta",
        json!({"op": "set", "key": "line\nbreak", "value": "v"}),
    )
    .await;
    let dir = host.state_dir.clone();

    // While the server runs: WAL lets the operator read beside it.
    let (success, out, err) = state_cli(&dir, &[]);
    assert!(success, "{err}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["PLUGIN", "KEYS", "BYTES"], "{out}");
    assert!(rows.contains(&vec!["alpha", "2", "9"]), "{out}");
    assert!(rows.contains(&vec!["beta", "1", "11"]), "{out}");

    let (success, out, err) = state_cli(&dir, &["list", "alpha"]);
    assert!(success, "{err}");
    let mut keys: Vec<&str> = out.lines().collect();
    keys.sort();
    assert_eq!(keys, ["one", "two"]);
    let (_, out, _) = state_cli(&dir, &["list", "beta"]);
    assert_eq!(out, "\"line\\nbreak\"\n", "control characters are escaped");

    let (success, out, _) = state_cli(&dir, &["get", "alpha", "two"]);
    assert!(success);
    assert_eq!(out, "22", "the value as stored, nothing added");
    let (success, _, err) = state_cli(&dir, &["get", "alpha", "three"]);
    assert!(!success);
    assert!(err.contains("plugin alpha has no key three"), "{err}");
    let (success, _, err) = state_cli(&dir, &["get", "beta", "one"]);
    assert!(!success, "beta has no key of alpha's: {err}");

    let (success, out, err) = state_cli(&dir, &["delete", "alpha", "one"]);
    assert!(success, "{err}");
    assert_eq!(out, "deleted one of plugin alpha\n");
    // The running server sees the operator's delete.
    assert_eq!(
        ok(&host, "alpha", json!({"op": "get", "key": "one"})).await,
        Value::Null
    );
    let (success, _, _) = state_cli(&dir, &["delete", "alpha", "one"]);
    assert!(!success, "deleting a missing key says so");
    let (_, out, _) = state_cli(&dir, &[]);
    assert!(out.contains("alpha"), "{out}");

    // A folder with no database is not made into one.
    let empty = tempfile::tempdir().unwrap();
    let (success, _, err) = state_cli(&empty.path().join("nothing"), &[]);
    assert!(!success);
    assert!(err.contains("no state database at"), "{err}");
    assert!(!empty.path().join("nothing").exists());
}

/// Runs `hookhost ARGS` to its end, which must come within 60 s.
fn run_to_end(args: &[&str], plugins: &Path, state: &Path) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookhost"))
        .args(args)
        .arg("--plugins")
        .arg(plugins)
        .arg("--state-dir")
        .arg(state)
        .env_remove("HOOKHOST_STATE_DIR")
        .env_remove("HOOKHOST_CACHE_DIR")
        .env("HOOKHOST_ADMIN_LISTEN", "127.0.0.1:0")
        .env("XDG_CACHE_HOME", plugins.join("..").join("unused-cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hookhost");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            return (
                status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("hookhost {args:?} did not stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_state_folder_may_not_be_in_the_plugins_folder() {
    let plugins = state_plugins(&["kv"], HOOK);
    let inside = plugins.path().join("state");
    for state in [plugins.path(), inside.as_path()] {
        for args in [
            &["serve", "--listen", "127.0.0.1:0", "--no-cache"][..],
            &["test", "/hooks/kv/kv", "{}", "--no-cache"][..],
        ] {
            let (success, stderr) = run_to_end(args, plugins.path(), state);
            assert!(!success, "{args:?} with state in {}", state.display());
            assert!(
                stderr.contains("is the plugins folder or inside it"),
                "{stderr}"
            );
        }
    }
    assert!(
        !inside.exists(),
        "no folder was made inside the plugins folder"
    );
    assert!(!plugins.path().join("state.db").exists());
}

#[test]
fn hookhost_test_uses_the_same_state() {
    let plugins = state_plugins(&["kv"], HOOK);
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap();
    let plugins_dir = plugins.path().to_str().unwrap();
    let body = r#"{"op":"increment","key":"runs"}"#;
    for expected in ["1", "2"] {
        let out = cli(
            &[
                "test",
                "/hooks/kv/kv",
                body,
                "--plugins",
                plugins_dir,
                "--state-dir",
                state_dir,
            ],
            &[],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("{{\"ok\":{expected}}}")),
            "{stdout}"
        );
    }
    let (success, out, _) = state_cli(state.path(), &["get", "kv", "runs"]);
    assert!(success);
    assert_eq!(out, "2");
}
