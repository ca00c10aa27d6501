//! The Pyrus bot route end to end: real `hookhost` process, real sockets,
//! plugins built from source, requests signed as Pyrus signs them.

mod support;

use std::time::{Duration, Instant};

use support::*;

fn echo_host() -> (Plugins, Host) {
    let plugins = Plugins::new();
    plugins.add("echo-bot", &echo_bot(), &Plugins::bot_toml(""));
    let host = Host::start(plugins.path());
    (plugins, host)
}

#[tokio::test]
async fn documented_example_gets_the_documented_comment() {
    let (_plugins, host) = echo_host();
    // Another body for the upper-case signature: the same body again would
    // be answered from memory, and this test is about the plugin's line.
    let again = format!("{EXAMPLE}\n");
    let signed = [
        (EXAMPLE, sign(SECRET, EXAMPLE)),
        (&*again, sign(SECRET, &again).to_uppercase()),
    ];
    for (body, sig) in signed {
        let res = host.pyrus_with("echo-bot", body, Some(&sig), &[]).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "application/json");
        let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(res.text().await.unwrap(), EXAMPLE_ANSWER);
        // The plugin's own log line carries its name and the request id.
        let log = host.log();
        let line = log
            .lines()
            .find(|l| l.contains(&request_id) && l.contains("answering task 1532"))
            .unwrap_or_else(|| panic!("no plugin log line for {request_id}:\n{log}"));
        assert!(
            line.contains("plugin=\"echo-bot\"") || line.contains("plugin=echo-bot"),
            "{line}"
        );
    }
}

#[tokio::test]
async fn bad_signatures_get_401_and_never_reach_the_plugin() {
    let (_plugins, host) = echo_host();
    let body = example_with_task(900_001);
    let good = sign(SECRET, &body);
    let wrong = sign("another secret", &body);
    let cases: [(&str, Option<&str>); 5] = [
        ("wrong", Some(&wrong)),
        ("missing", None),
        ("truncated", Some(&good[..good.len() - 2])),
        ("not hex", Some("not-a-signature")),
        ("empty", Some("")),
    ];
    for (what, sig) in cases {
        let res = host.pyrus_with("echo-bot", &body, sig, &[]).await;
        assert_eq!(res.status(), 401, "{what}");
        let json: serde_json::Value = res.json().await.unwrap();
        assert!(
            json["error"].as_str().unwrap().contains("X-Pyrus-Sig"),
            "{what}: {json}"
        );
    }
    // A signature over other bytes than the ones sent fails too.
    let res = host
        .pyrus_with(
            "echo-bot",
            &body.replace("Budget", "Budgex"),
            Some(&good),
            &[],
        )
        .await;
    assert_eq!(res.status(), 401);
    assert!(
        !host.log().contains("answering task 900001"),
        "plugin ran for a refused request"
    );

    // The same body, correctly signed, does reach it.
    assert_eq!(host.pyrus("echo-bot", &body).await.status(), 200);
    host.wait_for_log("answering task 900001", Duration::from_secs(2))
        .await;
}

#[tokio::test]
async fn malformed_unknown_and_oversized_requests() {
    let plugins = Plugins::new();
    plugins.add("echo-bot", &echo_bot(), &Plugins::bot_toml(""));
    let host = Host::start_with(plugins.path(), &["--body-limit", "65536"], &[]);

    let res = host.pyrus("echo-bot", "{\"task_id\": 1, ").await;
    assert_eq!(res.status(), 400);
    let json: serde_json::Value = res.json().await.unwrap();
    assert!(
        json["error"].as_str().unwrap().contains("not valid JSON"),
        "{json}"
    );

    let res = host
        .pyrus("echo-bot", r#"{"event": "comment", "task_id": 1}"#)
        .await;
    assert_eq!(res.status(), 400);
    let json: serde_json::Value = res.json().await.unwrap();
    assert!(json["error"].as_str().unwrap().contains("`task`"), "{json}");

    let res = host
        .pyrus_with(
            "echo-bot",
            EXAMPLE,
            Some(&sign(SECRET, EXAMPLE)),
            &[("x-pyrus-retry", "7")],
        )
        .await;
    assert_eq!(res.status(), 400);

    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(70_000));
    let res = host.pyrus("echo-bot", &big).await;
    assert_eq!(res.status(), 413);
    let json: serde_json::Value = res.json().await.unwrap();
    assert!(json["error"].as_str().unwrap().contains("65536"), "{json}");

    let res = host.pyrus("nobody", EXAMPLE).await;
    assert_eq!(res.status(), 404);
    let res = client()
        .get(format!("{}/pyrus/echo-bot", host.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "POST");
    assert!(res.json::<serde_json::Value>().await.unwrap()["error"].is_string());
    // A path segment that is not UTF-8 gets a JSON refusal too.
    let res = host.pyrus("%FF", EXAMPLE).await;
    assert_eq!(res.status(), 404);
    assert!(res.json::<serde_json::Value>().await.unwrap()["error"].is_string());
    let res = client()
        .get(format!("{}/elsewhere", host.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // Still serving after all of that.
    assert_eq!(
        host.pyrus("echo-bot", EXAMPLE).await.text().await.unwrap(),
        EXAMPLE_ANSWER
    );
}

#[tokio::test]
async fn hot_reload_swaps_without_dropping_a_request() {
    let plugins = Plugins::new();
    plugins.add("bot", &echo_bot(), &Plugins::bot_toml(""));
    let host = Host::start(plugins.path());
    assert_eq!(
        host.pyrus("bot", EXAMPLE).await.text().await.unwrap(),
        EXAMPLE_ANSWER
    );

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut streams = Vec::new();
    for _ in 0..4 {
        let (url, stop) = (host.url.clone(), stop.clone());
        streams.push(tokio::spawn(async move {
            let (mut echo, mut test, mut failures) = (0u32, 0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let res = client()
                    .post(format!("{url}/pyrus/bot"))
                    .header("x-pyrus-sig", sign(SECRET, EXAMPLE))
                    .body(EXAMPLE)
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status() == 200 => {
                        let text = r.text().await.unwrap_or_default();
                        if text == EXAMPLE_ANSWER {
                            echo += 1
                        } else if text.contains("test-bot saw task 1532") {
                            test += 1
                        } else {
                            failures.push(text)
                        }
                    }
                    Ok(r) => failures.push(format!("status {}", r.status())),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            (echo, test, failures)
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Overwrite in place, the least friendly way to replace a file.
    std::fs::copy(test_bot(), plugins.path().join("bot.wasm")).unwrap();
    host.answers_within_reload("bot", |_, body| body.contains("test-bot"))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);

    let (mut echo, mut test) = (0, 0);
    for stream in streams {
        let (e, t, failures) = stream.await.unwrap();
        assert!(
            failures.is_empty(),
            "requests failed during the swap: {failures:?}"
        );
        echo += e;
        test += t;
    }
    assert!(
        echo > 0 && test > 0,
        "stream saw echo {echo} and test {test} answers"
    );

    std::fs::remove_file(plugins.path().join("bot.wasm")).unwrap();
    host.answers_within_reload("bot", |status, _| status == 404)
        .await;
}

#[tokio::test]
async fn in_flight_requests_finish_on_the_version_they_started_with() {
    let plugins = Plugins::new();
    plugins.add(
        "bot",
        &test_bot(),
        &Plugins::bot_toml("[config]\nmode = \"slow\"\nslow_ms = \"700\""),
    );
    let host = Host::start(plugins.path());

    let slow = host.pyrus("bot", EXAMPLE);
    let swap = async {
        // Only once the slow request is inside the old version.
        host.wait_for_log("test-bot handling task", Duration::from_secs(5))
            .await;
        std::fs::copy(echo_bot(), plugins.path().join("bot.wasm")).unwrap();
        // Polling would queue behind the slow version; watch the log instead.
        host.wait_for_log("generation=2", Duration::from_secs(2))
            .await;
        host.answers_within_reload("bot", |_, body| body == EXAMPLE_ANSWER)
            .await;
    };
    let (res, ()) = tokio::join!(slow, swap);
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["text"],
        "slept 700 ms"
    );
}

#[tokio::test]
async fn a_broken_file_leaves_the_working_version_serving() {
    let plugins = Plugins::new();
    plugins.add("bot", &echo_bot(), &Plugins::bot_toml(""));
    let host = Host::start(plugins.path());
    assert_eq!(host.pyrus("bot", EXAMPLE).await.status(), 200);

    std::fs::write(
        plugins.path().join("bot.wasm"),
        b"\0asm this is not a component",
    )
    .unwrap();
    host.wait_for_log("newest file not loaded", Duration::from_secs(2))
        .await;
    assert_eq!(
        host.pyrus("bot", EXAMPLE).await.text().await.unwrap(),
        EXAMPLE_ANSWER
    );
    // `routes` reads the running server's table (published just after the
    // log line, so give it a moment).
    let expected = "serving generation 1 (newest file not loaded: does not compile";
    let mut listing = routes(plugins.path(), &[]);
    for _ in 0..50 {
        if listing.contains(expected) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        listing = routes(plugins.path(), &[]);
    }
    assert!(listing.starts_with("live: hookhost pid"), "{listing}");
    assert!(listing.contains(expected), "{listing}");

    // A valid component that implements no hookhost world is refused too.
    std::fs::write(plugins.path().join("bot.wasm"), b"(component)").unwrap();
    host.wait_for_log("matches none of hookhost's worlds", Duration::from_secs(2))
        .await;
    assert_eq!(
        host.pyrus("bot", EXAMPLE).await.text().await.unwrap(),
        EXAMPLE_ANSWER
    );

    // And a good file is taken again.
    std::fs::copy(test_bot(), plugins.path().join("bot.wasm")).unwrap();
    host.answers_within_reload("bot", |_, body| body.contains("test-bot"))
        .await;
}

#[tokio::test]
async fn misbehaving_plugins_fail_only_their_own_request() {
    let plugins = Plugins::new();
    plugins
        .add("echo-bot", &echo_bot(), &Plugins::bot_toml(""))
        .add(
            "looper",
            &test_bot(),
            &Plugins::bot_toml("timeout_ms = 500\n[config]\nmode = \"loop\""),
        )
        .add(
            "hog",
            &test_bot(),
            &Plugins::bot_toml("memory_mb = 16\n[config]\nmode = \"oom\""),
        )
        .add(
            "crasher",
            &test_bot(),
            &Plugins::bot_toml("[config]\nmode = \"trap\""),
        )
        .add(
            "patient",
            &test_bot(),
            &Plugins::bot_toml("timeout_ms = 60000"),
        );
    let host = Host::start(plugins.path());
    // Pyrus stops waiting at 60 s, so a bot never gets more than 55 s.
    host.wait_for_log("timeout_ms lowered to 55000 ms", Duration::from_secs(2))
        .await;

    let started = Instant::now();
    let looping = host.pyrus("looper", EXAMPLE);
    let meanwhile = async {
        // While the loop burns a core, the echo bot keeps answering.
        for _ in 0..5 {
            let asked = Instant::now();
            let res = host.pyrus("echo-bot", EXAMPLE).await;
            assert_eq!(res.status(), 200);
            assert_eq!(res.text().await.unwrap(), EXAMPLE_ANSWER);
            // Not queued behind the loop.
            assert!(
                asked.elapsed() < Duration::from_millis(400),
                "{:?}",
                asked.elapsed()
            );
        }
    };
    let (res, ()) = tokio::join!(looping, meanwhile);
    let elapsed = started.elapsed();
    assert_eq!(res.status(), 504);
    let json: serde_json::Value = res.json().await.unwrap();
    assert!(json["error"].as_str().unwrap().contains("500 ms"), "{json}");
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    // Measured inside hookhost, the refusal comes right at the deadline.
    let log = host.log();
    let micros: u64 = log
        .lines()
        .find(|l| l.contains("/pyrus/looper") && l.contains("answered status=504"))
        .and_then(|l| l.split("micros=").nth(1))
        .and_then(|m| m.split_whitespace().next())
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("no 504 line for looper:\n{log}"));
    assert!(
        (500_000..2_000_000).contains(&micros),
        "answered after {micros} µs"
    );

    let res = host.pyrus("hog", EXAMPLE).await;
    assert_eq!(res.status(), 502);
    let json: serde_json::Value = res.json().await.unwrap();
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("memory limit of 16 MiB"),
        "{json}"
    );

    let res = host.pyrus("crasher", EXAMPLE).await;
    assert_eq!(res.status(), 502);
    let json: serde_json::Value = res.json().await.unwrap();
    assert_eq!(json["error"], "plugin trapped");
    let log = host.log();
    assert!(
        log.contains("test-bot was told to trap"),
        "trap cause not logged:\n{log}"
    );

    // Each failure again, all at once, and the echo bot is still fine.
    let (a, b, c, d) = tokio::join!(
        host.pyrus("looper", EXAMPLE),
        host.pyrus("hog", EXAMPLE),
        host.pyrus("crasher", EXAMPLE),
        host.pyrus("echo-bot", EXAMPLE),
    );
    assert_eq!(
        [a.status(), b.status(), c.status(), d.status()],
        [504, 502, 502, 200]
    );
}

#[tokio::test]
async fn plugin_errors_map_to_documented_statuses() {
    let plugins = Plugins::new();
    for mode in [
        "reject",
        "unavailable",
        "internal",
        "bad-json",
        "silent",
        "full",
        "config",
        "chatty",
        "raw",
    ] {
        plugins.add(
            mode,
            &test_bot(),
            &Plugins::bot_toml(&format!("[config]\nmode = \"{mode}\"\nflag = true")),
        );
    }
    let host = Host::start(plugins.path());

    for (mode, status) in [
        ("reject", 422),
        ("unavailable", 503),
        ("internal", 500),
        ("bad-json", 502),
    ] {
        let res = host.pyrus(mode, EXAMPLE).await;
        assert_eq!(res.status(), status, "{mode}");
        let json: serde_json::Value = res.json().await.unwrap();
        assert!(json["error"].is_string(), "{mode}: {json}");
    }

    let res = host.pyrus("silent", EXAMPLE).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "");

    let res = host.pyrus("full", EXAMPLE).await;
    assert_eq!(res.status(), 200);
    let json: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "text": "all fields",
            "formatted_text": "<b>all</b>",
            "approval_choice": "acknowledged",
            "action": "reopened",
            "reassign_to": {"email": "bob@example.com"},
            "participants_added": [{"id": 1}],
            "participants_removed": [{"email": "x@example.com"}],
            "subscribers_added": [{"id": 2}],
            "subscribers_removed": [{"id": 3}],
            "approvals_added": [[{"id": 4}], [{"id": 5}, {"id": 6}]],
            "approvals_removed": [[{"id": 7}]],
            "field_updates": [
                {"id": 10, "value": "t"},
                {"code": "amount", "value": 12.5},
                {"name": "Choice", "value": {"choice_id": 3}}
            ],
            "due_date": "2026-12-01",
            "due": "2026-12-01T10:00:00Z",
            "duration": 60,
            "spent_minutes": 15,
            "attachments": ["00000000-0000-0000-0000-000000000001"]
        })
    );

    let res = host.pyrus("config", EXAMPLE).await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["text"],
        "flag=true,mode=config"
    );

    // The retry header reaches the plugin; the raw body arrives byte for byte.
    let res = host
        .pyrus_with(
            "raw",
            EXAMPLE,
            Some(&sign(SECRET, EXAMPLE)),
            &[("x-pyrus-retry", "2/3")],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["text"],
        EXAMPLE
    );

    let res = host.pyrus("chatty", EXAMPLE).await;
    assert_eq!(res.status(), 200);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    host.wait_for_log("stderr line from test-bot", Duration::from_secs(2))
        .await;
    let log = host.log();
    // Lines are split at newlines; control characters are escaped.
    for needle in [
        "stdout line from test-bot",
        "stderr line from test-bot",
        "second\\u{1b}[31m line",
    ] {
        let line = log
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} not logged:\n{log}"));
        assert!(
            line.contains(&id) && line.contains("chatty"),
            "untagged: {line}"
        );
    }
}

#[tokio::test]
async fn the_retry_attempt_reaches_the_plugin() {
    let plugins = Plugins::new();
    plugins.add("bot", &test_bot(), &Plugins::bot_toml(""));
    let host = Host::start(plugins.path());
    let res = host
        .pyrus_with(
            "bot",
            EXAMPLE,
            Some(&sign(SECRET, EXAMPLE)),
            &[("x-pyrus-retry", "3/3")],
        )
        .await;
    let json: serde_json::Value = res.json().await.unwrap();
    assert_eq!(json["text"], "test-bot saw task 1532 on attempt 3/3");
}

#[tokio::test]
async fn a_bot_without_a_usable_secret_is_not_served() {
    let plugins = Plugins::new();
    plugins
        .add("no-sidecar", &echo_bot(), "")
        .add(
            "unset-env",
            &echo_bot(),
            "secret = { env = \"HOOKHOST_TEST_UNSET_SECRET\" }",
        )
        .add(
            "from-env",
            &echo_bot(),
            "secret = { env = \"HOOKHOST_TEST_SECRET\" }",
        );
    std::fs::remove_file(plugins.path().join("no-sidecar.toml")).unwrap();
    let env = [("HOOKHOST_TEST_SECRET", SECRET)];
    let host = Host::start_with(plugins.path(), &[], &env);

    for name in ["no-sidecar", "unset-env"] {
        let res = host.pyrus(name, EXAMPLE).await;
        assert_eq!(res.status(), 503, "{name}");
        let text = res.text().await.unwrap();
        assert!(
            !text.contains("HOOKHOST_TEST_UNSET_SECRET"),
            "operator detail leaked: {text}"
        );
    }
    assert_eq!(
        host.pyrus("from-env", EXAMPLE).await.text().await.unwrap(),
        EXAMPLE_ANSWER
    );

    let listing = routes(plugins.path(), &env);
    let line = |name: &str| {
        listing
            .lines()
            .find(|l| l.contains(&format!(" {name} ")))
            .unwrap_or_else(|| panic!("{name} missing from:\n{listing}"))
            .to_owned()
    };
    assert!(
        line("no-sidecar").contains("not served: a pyrus-bot plugin needs a secret"),
        "{listing}"
    );
    assert!(
        line("unset-env").contains("environment variable HOOKHOST_TEST_UNSET_SECRET is not set"),
        "{listing}"
    );
    assert!(
        line("from-env").contains("POST /pyrus/from-env"),
        "{listing}"
    );
    assert!(line("from-env").contains("serving"), "{listing}");
    assert!(line("from-env").contains("gen "), "{listing}");
    assert!(!listing.contains(SECRET), "secret printed:\n{listing}");

    // A sidecar added while running takes effect without a restart, and so
    // does its secret file appearing after it.
    std::fs::write(
        plugins.path().join("no-sidecar.toml"),
        "secret = { file = \"bot.secret\" }",
    )
    .unwrap();
    host.wait_for_log("bot.secret cannot be read", Duration::from_secs(2))
        .await;
    std::fs::write(plugins.path().join("bot.secret"), format!("{SECRET}\n")).unwrap();
    host.answers_within_reload("no-sidecar", |status, _| status == 200)
        .await;

    // Removing a sidecar takes effect too: the bot loses its secret.
    std::fs::remove_file(plugins.path().join("from-env.toml")).unwrap();
    host.answers_within_reload("from-env", |status, _| status == 503)
        .await;
    assert!(!host.log().contains(SECRET), "secret in the log");
}

#[tokio::test]
async fn a_malformed_secret_line_is_never_echoed() {
    let plugins = Plugins::new();
    plugins.add("bot", &echo_bot(), "secret = \"hunter2-typed-bare\"");
    let host = Host::start(plugins.path());
    let res = host.pyrus("bot", EXAMPLE).await;
    assert_eq!(res.status(), 503);
    assert!(!res.text().await.unwrap().contains("hunter2"));
    let listing = routes(plugins.path(), &[]);
    assert!(listing.contains("secret must be one of"), "{listing}");
    assert!(!listing.contains("hunter2"), "{listing}");
    assert!(!host.log().contains("hunter2"), "{}", host.log());
    let dry_run = {
        drop(host);
        routes(plugins.path(), &[])
    };
    assert!(dry_run.starts_with("dry run:"), "{dry_run}");
    assert!(!dry_run.contains("hunter2"), "{dry_run}");
}

#[tokio::test]
async fn a_plugin_dropped_in_while_running_is_served() {
    let plugins = Plugins::new();
    let host = Host::start(plugins.path());
    assert_eq!(host.pyrus("late", EXAMPLE).await.status(), 404);
    // The sidecar first, then the component renamed into place.
    std::fs::write(plugins.path().join("late.toml"), Plugins::bot_toml("")).unwrap();
    std::fs::copy(echo_bot(), plugins.path().join(".late.wasm.tmp")).unwrap();
    std::fs::rename(
        plugins.path().join(".late.wasm.tmp"),
        plugins.path().join("late.wasm"),
    )
    .unwrap();
    host.answers_within_reload("late", |status, _| status == 200)
        .await;
    // Hidden and editor files are not plugins.
    std::fs::copy(echo_bot(), plugins.path().join("late.wasm~")).unwrap();
    std::fs::copy(echo_bot(), plugins.path().join(".hidden.wasm")).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let listing = routes(plugins.path(), &[]);
    assert_eq!(listing.lines().count(), 3, "{listing}");
}

#[test]
fn help_explains_both_commands() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookhost"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in ["serve", "routes", "X-Pyrus-Sig", "timeout_ms"] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    stop_lets_in_flight_requests_finish("-TERM").await;
}

#[cfg(unix)]
#[tokio::test]
async fn sigint_lets_in_flight_requests_finish() {
    stop_lets_in_flight_requests_finish("-INT").await;
}

/// A host serving one bot, `slow`, that busy-waits `ms` before answering.
fn slow_bot_host(ms: u64) -> (Plugins, Host) {
    let plugins = Plugins::new();
    let toml = format!("[config]\nmode = \"slow\"\nslow_ms = \"{ms}\"");
    plugins.add("slow", &test_bot(), &Plugins::bot_toml(&toml));
    let host = Host::start(plugins.path());
    (plugins, host)
}

/// Sends `signal` (e.g. `-TERM`) once the slow request is inside the plugin.
async fn signal_when_in_flight(host: &Host, signal: &str) {
    host.wait_for_log("test-bot handling task", Duration::from_secs(5))
        .await;
    let pid = host.pid().to_string();
    let status = std::process::Command::new("kill")
        .args([signal, &pid])
        .status();
    assert!(status.unwrap().success());
}

async fn stop_lets_in_flight_requests_finish(signal: &str) {
    let (plugins, mut host) = slow_bot_host(800);
    let request = host.pyrus("slow", EXAMPLE);
    let signal = signal_when_in_flight(&host, signal);
    let (res, ()) = tokio::join!(request, signal);
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["text"],
        "slept 800 ms"
    );
    let exit = host.child.wait().unwrap();
    assert!(exit.success(), "hookhost exited with {exit}");
    assert!(host.log().contains("shutting down"));
    // A stopped server no longer claims the folder.
    assert!(!plugins.path().join(".hookhost-routes.json").exists());
    assert!(routes(plugins.path(), &[]).starts_with("dry run:"));
}

#[cfg(unix)]
#[tokio::test]
async fn a_second_stop_signal_does_not_wait_for_requests() {
    let (_plugins, mut host) = slow_bot_host(8000);
    // Cut off mid-answer: the client sees an error, not a response.
    let request = client()
        .post(format!("{}/pyrus/slow", host.url))
        .header("x-pyrus-sig", sign(SECRET, EXAMPLE))
        .body(EXAMPLE)
        .send();
    let signals = async {
        for _ in 0..2 {
            signal_when_in_flight(&host, "-TERM").await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let started = Instant::now();
    let (_cut_off, ()) = tokio::join!(request, signals);
    let exit = host.child.wait().unwrap();
    assert!(!exit.success(), "a cut-short shutdown must not look clean");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        host.log().contains("a second stop signal"),
        "{}",
        host.log()
    );
}

#[tokio::test]
async fn json_logs_carry_the_request_id_and_plugin() {
    let plugins = Plugins::new();
    plugins.add("echo-bot", &echo_bot(), &Plugins::bot_toml(""));
    let host = Host::start_with(plugins.path(), &["--log-json"], &[]);
    let res = host.pyrus("echo-bot", EXAMPLE).await;
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    host.wait_for_log("answering task 1532", Duration::from_secs(2))
        .await;
    let log = host.log();
    let line: serde_json::Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"] == "answering task 1532")
        .unwrap_or_else(|| panic!("no JSON line from the plugin:\n{log}"));
    assert_eq!(line["fields"]["plugin"], "echo-bot", "{line}");
    assert_eq!(line["span"]["id"], id, "{line}");
}

#[tokio::test]
async fn secret_config_reaches_the_plugin_and_is_shown_nowhere() {
    let plugins = Plugins::new();
    let config = "[config]\nmode = \"config\"\ntoken = { env = \"SECRET_CONFIG_TOKEN\" }\nkey = { file = \"key.txt\" }";
    plugins.add("cfg", &test_bot(), &Plugins::bot_toml(config));
    plugins.add(
        "cfg-unset",
        &test_bot(),
        &Plugins::bot_toml(
            "[config]\nmode = \"config\"\ntoken = { env = \"SECRET_CONFIG_SURELY_UNSET\" }",
        ),
    );
    std::fs::write(plugins.path().join("key.txt"), "key-from-file-4711\n").unwrap();
    let env = [("SECRET_CONFIG_TOKEN", "tok-from-env-0815")];
    let host = Host::start_with(plugins.path(), &[], &env);

    // The plugin reads both through `get-config`/`list-config`.
    let res = host.pyrus("cfg", EXAMPLE).await;
    assert_eq!(res.status(), 200, "{}", host.log());
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["text"],
        "key=key-from-file-4711,mode=config,token=tok-from-env-0815"
    );
    // A reference that cannot be resolved: not served, the sender learns
    // nothing, `routes` names the variable.
    let res = host.pyrus("cfg-unset", EXAMPLE).await;
    assert_eq!(res.status(), 503);
    let listing = routes(plugins.path(), &env);
    assert!(
        listing.contains(
            "config.token unusable: environment variable SECRET_CONFIG_SURELY_UNSET is not set"
        ),
        "{listing}"
    );
    assert!(
        listing.contains("config.token env SECRET_CONFIG_TOKEN"),
        "{listing}"
    );
    assert!(listing.contains("config.key file key.txt"), "{listing}");
    // Rotating the file reloads the plugin with the new value.
    std::fs::write(plugins.path().join("key.txt"), "rotated-key-2\n").unwrap();
    host.answers_within_reload("cfg", |_, body| body.contains("key=rotated-key-2"))
        .await;
    for secret in ["tok-from-env-0815", "key-from-file-4711", "rotated-key-2"] {
        assert!(!listing.contains(secret), "{listing}");
        assert!(!host.log().contains(secret), "{}", host.log());
    }
}

/// The memo's log line for an answer sent again without the plugin.
const REPEATED: &str = "answer repeated from memory";

/// How many log lines contain `what`.
fn log_count(host: &Host, what: &str) -> usize {
    host.log().lines().filter(|l| l.contains(what)).count()
}

/// A host serving `test-bot` as plugin `bot` in `mode`.
fn test_bot_host(mode: &str) -> (Plugins, Host) {
    let plugins = Plugins::new();
    let toml = Plugins::bot_toml(&format!("[config]\nmode = \"{mode}\""));
    plugins.add("bot", &test_bot(), &toml);
    let host = Host::start(plugins.path());
    (plugins, host)
}

#[tokio::test]
async fn a_pyrus_retry_of_an_answered_body_gets_the_same_bytes_without_the_plugin() {
    let (_plugins, host) = test_bot_host("reply");
    let sig = sign(SECRET, EXAMPLE);
    let first = host.pyrus("bot", EXAMPLE).await;
    assert_eq!(first.status(), 200);
    let first_id = first.headers()["x-request-id"].to_owned();
    let first_body = first.bytes().await.unwrap();
    assert_eq!(
        &first_body[..],
        br#"{"text":"test-bot saw task 1532 on attempt 1/3"}"#
    );

    // Pyrus did not get that answer and sends the body again.
    let retry = host
        .pyrus_with("bot", EXAMPLE, Some(&sig), &[("x-pyrus-retry", "2/3")])
        .await;
    assert_eq!(retry.status(), 200);
    assert_eq!(retry.headers()["content-type"], "application/json");
    // The request id is this request's own, not the first one's.
    assert_ne!(retry.headers()["x-request-id"], first_id);
    assert_eq!(retry.bytes().await.unwrap(), first_body, "same bytes");

    // A resend without the header (a first attempt, to the host) too.
    let again = host.pyrus_with("bot", EXAMPLE, Some(&sig), &[]).await;
    assert_eq!(again.bytes().await.unwrap(), first_body);

    // A forged resend never reads the remembered answer.
    let forged = sign("another secret", EXAMPLE);
    let res = host.pyrus_with("bot", EXAMPLE, Some(&forged), &[]).await;
    assert_eq!(res.status(), 401);

    host.wait_for_log(REPEATED, Duration::from_secs(2)).await;
    let log = host.log();
    assert_eq!(log_count(&host, "test-bot handling task 1532"), 1, "{log}");
    assert_eq!(log_count(&host, REPEATED), 2, "{log}");
    let line = log
        .lines()
        .find(|l| l.contains(REPEATED))
        .expect("line seen");
    assert!(
        line.contains("2/3") && line.contains("bot"),
        "the duplicate's line names the plugin and the retry: {line}"
    );
}

#[tokio::test]
async fn a_failed_first_attempt_is_run_again_on_retry() {
    let (_plugins, host) = test_bot_host("first-attempt-fails");
    let sig = sign(SECRET, EXAMPLE);
    let res = host.pyrus("bot", EXAMPLE).await;
    assert_eq!(res.status(), 503, "{}", res.text().await.unwrap());

    let send = |attempt: &'static str| {
        let sig = sig.clone();
        let host = &host;
        async move {
            host.pyrus_with("bot", EXAMPLE, Some(&sig), &[("x-pyrus-retry", attempt)])
                .await
        }
    };
    let second = send("2/3").await;
    assert_eq!(second.status(), 200);
    let second = second.text().await.unwrap();
    assert_eq!(
        second,
        r#"{"text":"test-bot did task 1532 on attempt 2/3"}"#
    );
    // The success is what is remembered: the third attempt gets it back.
    let third = send("3/3").await;
    assert_eq!(third.text().await.unwrap(), second);

    host.wait_for_log(REPEATED, Duration::from_secs(2)).await;
    let log = host.log();
    assert_eq!(log_count(&host, "test-bot handling task 1532"), 2, "{log}");
    assert_eq!(log_count(&host, REPEATED), 1, "{log}");
}

#[tokio::test]
async fn a_different_body_runs_the_plugin() {
    let (_plugins, host) = test_bot_host("reply");
    for task in [1, 2, 1] {
        let body = example_with_task(task);
        let res = host.pyrus("bot", &body).await;
        assert_eq!(
            res.text().await.unwrap(),
            format!(r#"{{"text":"test-bot saw task {task} on attempt 1/3"}}"#)
        );
    }
    // An empty answer (no comment) is an answer too, remembered as sent.
    let (_plugins, silent) = test_bot_host("silent");
    for _ in 0..2 {
        let res = silent.pyrus("bot", EXAMPLE).await;
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("content-type").is_none());
        assert_eq!(res.text().await.unwrap(), "");
    }

    host.wait_for_log(REPEATED, Duration::from_secs(2)).await;
    silent.wait_for_log(REPEATED, Duration::from_secs(2)).await;
    let log = host.log();
    assert_eq!(log_count(&host, "test-bot handling task 1"), 1, "{log}");
    assert_eq!(log_count(&host, "test-bot handling task"), 2, "{log}");
    assert_eq!(log_count(&host, REPEATED), 1, "{log}");
    assert_eq!(log_count(&silent, "test-bot handling task"), 1);
}
