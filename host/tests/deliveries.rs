//! The delivery journal end to end: what is acknowledged survives kill -9,
//! failures are retried on the sidecar's schedule and go dead, the
//! operator lists and replays them against a running and a stopped host,
//! one plugin's backlog never delays another's, async hooks, the cap, and a
//! state folder that cannot hold a journal.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use support::senders;
use support::*;

const PASSWORD: &str = "ws-Pass-123";

fn ws_toml(extra: &str) -> String {
    format!(
        "basic_auth = {{ user = \"worksection\", password = {{ value = \"{PASSWORD}\" }} }}\n{extra}\n"
    )
}

fn event(id: u32) -> String {
    format!(
        r#"{{"action":"post","object":{{"type":"task","id":"{id}","page":"/project/12/{id}/"}},"new":{{"name":"Task {id}"}}}}"#
    )
}

async fn deliver(host_url: &str, plugin: &str, body: String) -> reqwest::Result<reqwest::Response> {
    client()
        .post(format!("{host_url}/worksection/{plugin}"))
        .header("content-type", "application/json")
        .header("authorization", senders::basic("worksection", PASSWORD))
        .body(body)
        .send()
        .await
}

/// How often the test-worksection plugin logged each event id.
fn handled(log: &str) -> HashMap<u32, usize> {
    let mut seen = HashMap::new();
    for line in log.lines().filter(|l| l.contains("ws event action=")) {
        if let Some(id) = line
            .split(" id=")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|id| id.parse().ok())
        {
            *seen.entry(id).or_insert(0) += 1;
        }
    }
    seen
}

/// `hookhost ARGS… --state-dir DIR`, its stdout; panics on failure.
fn admin(args: &[&str], state: &std::path::Path) -> String {
    let mut all: Vec<&str> = args.to_vec();
    let dir = state.to_str().unwrap();
    all.extend(["--state-dir", dir]);
    let out = cli(&all, &[]);
    assert!(
        out.status.success(),
        "hookhost {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The first delivery id `hookhost deliveries` lists for these filters,
/// waiting up to `within` for one to appear.
async fn listed(filters: &[&str], state: &std::path::Path, within: Duration) -> String {
    let started = Instant::now();
    loop {
        let mut args = vec!["deliveries"];
        args.extend_from_slice(filters);
        let out = admin(&args, state);
        if let Some(row) = out.lines().nth(1) {
            return row.split_whitespace().next().unwrap().to_owned();
        }
        assert!(
            started.elapsed() < within,
            "no delivery listed for {filters:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn acknowledged_deliveries_survive_kill_9() {
    const DELIVERIES: u32 = 10_000;
    const SENDERS: u32 = 32;
    let plugins = Plugins::new();
    // Slow enough that most of the backlog is still waiting at the kill.
    plugins.add(
        "slow",
        &guest("test-worksection"),
        &ws_toml("[config]\nmode = \"slow\"\nslow_ms = \"20\""),
    );
    let state = tempfile::tempdir().unwrap();
    let host = Host::start_with_state(plugins.path(), state.path(), &[], &[]);

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        let (url, acknowledged) = (host.url.clone(), acknowledged.clone());
        senders.push(tokio::spawn(async move {
            for id in (s..DELIVERIES).step_by(SENDERS as usize) {
                let res = deliver(&url, "slow", event(id)).await.unwrap();
                assert_eq!(res.status(), 200);
                assert_eq!(res.text().await.unwrap(), r#"{"status":"OK"}"#);
                acknowledged.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    assert_eq!(acknowledged.load(Ordering::Relaxed), DELIVERIES as usize);

    let mut host = host;
    host.child.kill().unwrap();
    host.child.wait().unwrap();
    let before = handled(&host.log());
    assert!(
        before.len() < DELIVERIES as usize,
        "the plugin finished before the kill; nothing was tested"
    );

    // The same folder after the crash, the plugin no longer slow.
    plugins.add("slow", &guest("test-worksection"), &ws_toml(""));
    let again = Host::start_with_state(plugins.path(), state.path(), &[], &[]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let after = loop {
        let after = handled(&again.log());
        let missing = (0..DELIVERIES)
            .filter(|id| !before.contains_key(id) && !after.contains_key(id))
            .count();
        if missing == 0 {
            break after;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} acknowledged deliveries never handled:\n{}",
            again.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let twice = (0..DELIVERIES)
        .filter(|id| before.get(id).unwrap_or(&0) + after.get(id).unwrap_or(&0) > 1)
        .count();
    println!(
        "{DELIVERIES} acknowledged, {} handled before the kill, {} after, 0 lost, {twice} handled twice",
        before.len(),
        after.len()
    );
    // At least once: only what was running at the kill runs twice.
    assert!(twice <= 4, "{twice} handled twice");
}

#[tokio::test]
async fn failures_are_retried_on_schedule_go_dead_and_can_be_replayed() {
    let plugins = Plugins::new();
    let failing =
        ws_toml("retry = { attempts = 3, first_s = 1, max_s = 1 }\n[config]\nmode = \"fail\"");
    let fixed = ws_toml("retry = { attempts = 3, first_s = 1, max_s = 1 }");
    plugins.add("flaky", &guest("test-worksection"), &failing);
    let state = tempfile::tempdir().unwrap();
    let host = Host::start_with_state(plugins.path(), state.path(), &[], &[]);

    let res = deliver(&host.url, "flaky", event(901)).await.unwrap();
    assert_eq!(res.status(), 200);
    let id = listed(
        &["--plugin", "flaky", "--state", "dead"],
        state.path(),
        Duration::from_secs(15),
    )
    .await;
    let shown = admin(&["deliveries", "show", &id], state.path());
    assert!(shown.contains("state:    dead"), "{shown}");
    let attempts: Vec<&str> = shown
        .lines()
        .filter(|l| l.starts_with("  ") && l.contains("boom 901"))
        .collect();
    assert_eq!(attempts.len(), 3, "{shown}");
    assert!(shown.contains(r#""id":"901""#), "payload shown: {shown}");
    assert_eq!(handled(&host.log()).get(&901), Some(&3));
    let attempts = "hookhost_delivery_attempts_total{plugin=\"flaky\",outcome=";
    host.assert_metric(&format!("{attempts}\"retry\"}}"), 2.0)
        .await;
    host.assert_metric(&format!("{attempts}\"dead\"}}"), 1.0)
        .await;
    host.assert_metric("hookhost_dead_letters_total{plugin=\"flaky\"}", 1.0)
        .await;
    host.assert_metric("hookhost_journal_deliveries{state=\"dead\"}", 1.0)
        .await;
    host.assert_metric("hookhost_journal_deliveries{state=\"pending\"}", 0.0)
        .await;
    assert!(
        host.log().contains("delivery dead")
            && host.log().contains(&format!("hookhost replay {id}")),
        "{}",
        host.log()
    );

    // Fixed, and replayed beside the running host.
    plugins.add("flaky", &guest("test-worksection"), &fixed);
    host.wait_for_log("generation=2", Duration::from_secs(5))
        .await;
    let out = admin(&["replay", &id], state.path());
    assert_eq!(out.trim(), "1 deliveries will run again");
    let started = Instant::now();
    while handled(&host.log()).get(&901) != Some(&4) {
        assert!(started.elapsed() < Duration::from_secs(5), "{}", host.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    listed(&["--state", "done"], state.path(), Duration::from_secs(5)).await;

    // Dead again, then replayed while no host runs: the next one handles it.
    plugins.add("flaky", &guest("test-worksection"), &failing);
    host.wait_for_log("generation=3", Duration::from_secs(5))
        .await;
    deliver(&host.url, "flaky", event(902)).await.unwrap();
    listed(
        &["--plugin", "flaky", "--state", "dead"],
        state.path(),
        Duration::from_secs(15),
    )
    .await;
    drop(host);
    plugins.add("flaky", &guest("test-worksection"), &fixed);
    let out = admin(&["replay", "--plugin", "flaky", "--dead"], state.path());
    assert_eq!(out.trim(), "1 deliveries will run again");
    let host = Host::start_with_state(plugins.path(), state.path(), &[], &[]);
    host.wait_for_log("id=902", Duration::from_secs(5)).await;
    assert!(
        host.log().contains("resuming journaled deliveries"),
        "{}",
        host.log()
    );
}

#[tokio::test]
async fn a_slow_plugin_does_not_delay_another() {
    let plugins = Plugins::new();
    plugins.add(
        "slow",
        &guest("test-worksection"),
        &ws_toml("concurrency = 1\n[config]\nmode = \"slow\"\nslow_ms = \"2000\""),
    );
    plugins.add("quick", &guest("test-worksection"), &ws_toml(""));
    let host = Host::start(plugins.path());
    for id in 1..=4 {
        deliver(&host.url, "slow", event(id)).await.unwrap();
    }
    let sent = Instant::now();
    deliver(&host.url, "quick", event(100)).await.unwrap();
    host.wait_for_log("id=100", Duration::from_secs(1)).await;
    let waited = sent.elapsed();
    // The slow plugin has three deliveries (6 s) still waiting.
    assert!(!host.log().contains("ws done id=2"), "{}", host.log());
    assert!(waited < Duration::from_secs(1), "{waited:?}");
}

#[tokio::test]
async fn an_async_hook_is_answered_202_and_runs_after() {
    let plugins = Plugins::new();
    plugins.add(
        "later",
        &guest("test-hook"),
        "verify = \"none\"\nmode = \"async\"\n",
    );
    plugins.add(
        "refuses",
        &guest("test-hook"),
        "verify = \"none\"\nmode = \"async\"\nretry = { attempts = 5, first_s = 1, max_s = 1 }\n[config]\nmode = \"error\"\n",
    );
    let state = tempfile::tempdir().unwrap();
    let host = Host::start_with_state(plugins.path(), state.path(), &[], &[]);

    let res = host
        .request(Method::POST, "/hooks/later/echo/x?y=1")
        .header("x-custom", "kept")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let answer: serde_json::Value = res.json().await.unwrap();
    let id = answer["delivery"].as_str().unwrap().to_owned();
    host.wait_for_log(
        "hook POST /hooks/later/echo/x rule=",
        Duration::from_secs(5),
    )
    .await;
    listed(
        &["--plugin", "later", "--state", "done"],
        state.path(),
        Duration::from_secs(5),
    )
    .await;
    let shown = admin(&["deliveries", "show", &id], state.path());
    assert!(
        shown.contains("x-custom") && shown.contains("hello"),
        "{shown}"
    );

    // `rejected` is final: dead after one attempt, not five.
    let res = host
        .request(Method::POST, "/hooks/refuses/echo/x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let id = listed(
        &["--plugin", "refuses", "--state", "dead"],
        state.path(),
        Duration::from_secs(5),
    )
    .await;
    let shown = admin(&["deliveries", "show", &id], state.path());
    assert_eq!(
        shown.lines().filter(|l| l.contains("Rejected")).count(),
        1,
        "{shown}"
    );

    // Only generic hooks have a mode.
    let other = Plugins::new();
    other.add(
        "bot",
        &guest("test-bot"),
        &Plugins::bot_toml("mode = \"async\""),
    );
    let listed = routes(other.path(), &[]);
    assert!(
        listed.contains("`mode = \"async\"` applies to generic hook plugins only"),
        "{listed}"
    );
}

#[tokio::test]
async fn past_the_journal_cap_deliveries_get_503_and_nothing_is_dropped() {
    let plugins = Plugins::new();
    plugins.add("big", &guest("test-worksection"), &ws_toml(""));
    let host = Host::start_with(plugins.path(), &["--journal-cap-mb", "1"], &[]);
    // 200 KB each: the journal passes 1 MiB after six.
    let padded = |id: u32| {
        format!(
            r#"{{"action":"post","object":{{"type":"task","id":"{id}"}},"new":{{"name":"{}"}}}}"#,
            "x".repeat(200_000)
        )
    };
    for id in 1..=8 {
        let res = deliver(&host.url, "big", padded(id)).await.unwrap();
        assert_eq!(res.status(), 200, "delivery {id}");
    }
    // The size is read again at most every second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = deliver(&host.url, "big", padded(9)).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "60");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "too many deliveries waiting; retry later");
    for id in 1..=8 {
        host.wait_for_log(&format!("id={id} "), Duration::from_secs(5))
            .await;
    }
    assert!(!host.log().contains("id=9 "), "{}", host.log());
    assert!(
        host.log().contains("the journal is over its cap of 1 MiB"),
        "{}",
        host.log()
    );
}

#[tokio::test]
async fn a_state_folder_without_a_usable_journal_stops_serve() {
    let plugins = Plugins::new();
    let state = tempfile::tempdir().unwrap();
    let journal = state.path().join("journal.db");
    std::fs::write(
        &journal,
        b"this is not a database, it only has the name of one",
    )
    .unwrap();
    let out = cli(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--plugins",
            plugins.path().to_str().unwrap(),
        ],
        &[("HOOKHOST_STATE_DIR", state.path().to_str().unwrap())],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot open the delivery journal at {}",
            journal.display()
        )),
        "{err}"
    );
}
