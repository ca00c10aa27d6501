//! Fair sharing between plugins, end to end against the real `hookhost`:
//! a plugin at its `max_concurrency` answers `503` with `Retry-After` after
//! a short wait while its neighbours keep answering, a failing plugin is
//! held back, and a plugin that floods the log is held to its rate with a
//! count of what was dropped. (How much this buys under load is measured by
//! `cargo bench --bench neighbours`, not here.)

mod support;

use std::time::Duration;

use support::*;

#[tokio::test]
async fn a_plugin_at_its_limit_answers_503_with_retry_after_and_its_neighbours_still_answer() {
    let plugins = Plugins::new();
    plugins.add("echo-bot", &echo_bot(), &Plugins::bot_toml(""));
    plugins.add(
        "slow",
        &test_bot(),
        &Plugins::bot_toml("max_concurrency = 2\n[config]\nmode = \"slow\"\nslow_ms = \"1500\""),
    );
    let host = Host::start(plugins.path());

    let calls: Vec<_> = (0..6)
        .map(|task| {
            let body = example_with_task(task);
            let host_url = host.url.clone();
            tokio::spawn(async move {
                let res = client()
                    .post(format!("{host_url}/pyrus/slow"))
                    .header("x-pyrus-sig", sign(SECRET, &body))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("request reaches hookhost");
                let status = res.status().as_u16();
                let retry = res
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned());
                let text = res.text().await.unwrap();
                (status, retry, text)
            })
        })
        .collect();
    // While two calls keep `slow` busy, echo-bot answers.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let res = host.pyrus("echo-bot", EXAMPLE).await;
    assert_eq!(res.status(), 200, "{}", host.log());
    assert_eq!(res.text().await.unwrap(), EXAMPLE_ANSWER);

    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    let ok = answers.iter().filter(|(s, _, _)| *s == 200).count();
    let busy: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 503).collect();
    assert_eq!((ok, busy.len()), (2, 4), "{answers:?}\n{}", host.log());
    for (_, retry, text) in busy {
        assert_eq!(retry.as_deref(), Some("1"));
        let json: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            json["error"], "plugin is busy: all 2 of its turns are taken",
            "{text}"
        );
    }
    assert!(
        host.log().contains("request refused: plugin is busy"),
        "{}",
        host.log()
    );
    // The turns came back: the plugin answers again.
    let res = host.pyrus("slow", EXAMPLE).await;
    assert_eq!(res.status(), 200, "{}", host.log());
}

#[tokio::test]
async fn a_plugin_that_keeps_failing_runs_one_call_at_a_time() {
    let plugins = Plugins::new();
    plugins.add(
        "looper",
        &test_bot(),
        &Plugins::bot_toml("timeout_ms = 200\nmax_concurrency = 4\n[config]\nmode = \"loop\""),
    );
    let host = Host::start(plugins.path());
    // Two failures take its four turns down to one (4 -> 2 -> 1).
    for _ in 0..2 {
        assert_eq!(host.pyrus("looper", EXAMPLE).await.status(), 504);
    }
    // Now, of four calls at once, one runs into its deadline; the others
    // wait for its turn (and its cool-down) and are refused as busy.
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let url = format!("{}/pyrus/looper", host.url);
            tokio::spawn(async move {
                client()
                    .post(url)
                    .header("x-pyrus-sig", sign(SECRET, EXAMPLE))
                    .body(EXAMPLE)
                    .send()
                    .await
                    .expect("request reaches hookhost")
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(call.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [503, 503, 503, 504], "{}", host.log());
}

#[tokio::test]
async fn a_plugin_flooding_the_log_is_held_to_its_rate_and_the_drop_is_counted() {
    let plugins = Plugins::new();
    plugins.add(
        "flood",
        &test_bot(),
        &Plugins::bot_toml("log_kib_per_s = 16\n[config]\nmode = \"flood-log\""),
    );
    let host = Host::start(plugins.path());
    let start = std::time::Instant::now();
    // Each call writes 1000 lines of 200 bytes: far past both budgets.
    // (Each its own task: a resend would be answered from memory.)
    for task in 0..20 {
        let res = host.pyrus("flood", &example_with_task(task)).await;
        assert_eq!(res.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let res = host.pyrus("flood", &example_with_task(99)).await;
    assert_eq!(res.status(), 200);
    host.wait_for_log("log lines dropped", Duration::from_secs(2))
        .await;
    let elapsed = start.elapsed().as_secs_f64();
    let log = host.log();
    let guest_lines = log.lines().filter(|l| l.contains(" xxxxx")).count();
    // 128 KiB of burst (8 s of 16 KiB/s) plus 16 KiB/s, at 200 + 128 bytes
    // a line.
    let allowed = ((128.0 + 16.0 * elapsed) * 1024.0 / 328.0) as usize;
    assert!(
        guest_lines <= allowed,
        "{guest_lines} guest lines logged in {elapsed:.1} s, at most {allowed} allowed"
    );
    // The burst itself went through: the rate is not stricter than promised.
    assert!(guest_lines >= 128 * 1024 / 328 - 10, "{guest_lines}");
    let dropped = log
        .lines()
        .find(|l| l.contains("log lines dropped"))
        .expect("the drop is reported");
    assert!(dropped.contains("flood"), "{dropped}");
}

#[tokio::test]
async fn a_flooded_trapping_plugin_cannot_flood_the_log_with_its_failures() {
    let plugins = Plugins::new();
    plugins.add(
        "trapper",
        &test_bot(),
        &Plugins::bot_toml("log_kib_per_s = 1\n[config]\nmode = \"trap\""),
    );
    let host = Host::start(plugins.path());
    // Twenty calls that trapped. (A failing plugin is also held back, so
    // on a slow machine some calls may instead be refused as busy.)
    let mut trapped = 0;
    for _ in 0..400 {
        match host.pyrus("trapper", EXAMPLE).await.status().as_u16() {
            502 => trapped += 1,
            503 => tokio::time::sleep(Duration::from_millis(20)).await,
            other => panic!("trapper answered {other}"),
        }
        if trapped == 20 {
            break;
        }
    }
    assert_eq!(trapped, 20, "{}", host.log());
    let log = host.log();
    let failed = log.lines().filter(|l| l.contains("plugin failed:")).count();
    // The reason for the first failures goes through; the allowance (8 KiB
    // of burst, 1 KiB/s) cannot hold a backtrace per call.
    assert!(
        (1..trapped).contains(&failed),
        "{failed} failure lines for {trapped} traps:\n{log}"
    );
    // Calls whose failure went unlogged are still answered for what they are.
    let mut res = host.pyrus("trapper", EXAMPLE).await;
    while res.status() == 503 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        res = host.pyrus("trapper", EXAMPLE).await;
    }
    assert_eq!(res.status(), 502);
    let json: serde_json::Value = res.json().await.unwrap();
    assert_eq!(json["error"], "plugin trapped");
}
