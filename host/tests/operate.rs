//! Operating hookhost: the admin listener's health checks, readiness and
//! Prometheus metrics, against a real `hookhost serve` with real plugins.

mod support;

use std::time::{Duration, Instant};

use support::*;

/// The value of the series `series` (name and labels, exactly as written).
fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

fn assert_series(metrics: &str, series: &str, expected: f64) {
    assert_eq!(
        value(metrics, series),
        Some(expected),
        "{series} in:\n{metrics}"
    );
}

#[tokio::test]
async fn metrics_count_known_traffic_exactly() {
    let plugins = Plugins::new();
    plugins.add("echo-bot", &echo_bot(), &Plugins::bot_toml(""));
    plugins.add(
        "trapper",
        &test_bot(),
        &Plugins::bot_toml("[config]\nmode = \"trap\""),
    );
    let host = Host::start(plugins.path());

    let first = example_with_task(1);
    for body in [first.clone(), example_with_task(2), example_with_task(3)] {
        assert_eq!(host.pyrus("echo-bot", &body).await.status(), 200);
    }
    // A resend of the first: answered from memory, the plugin not run.
    assert_eq!(host.pyrus("echo-bot", &first).await.status(), 200);
    for sig in [Some("0bad"), None] {
        let res = host.pyrus_with("echo-bot", &first, sig, &[]).await;
        assert_eq!(res.status(), 401);
    }
    assert_eq!(host.pyrus("nobody", &first).await.status(), 404);
    assert_eq!(host.pyrus("trapper", &first).await.status(), 502);

    let m = host.metrics().await;
    let requests = "hookhost_requests_total";
    assert_series(
        &m,
        &format!("{requests}{{plugin=\"echo-bot\",kind=\"pyrus-bot\",status=\"200\"}}"),
        4.0,
    );
    assert_series(
        &m,
        &format!("{requests}{{plugin=\"echo-bot\",kind=\"pyrus-bot\",status=\"401\"}}"),
        2.0,
    );
    // Not the name the sender asked for: labels never carry request input.
    assert_series(
        &m,
        &format!("{requests}{{plugin=\"\",kind=\"none\",status=\"404\"}}"),
        1.0,
    );
    assert!(!m.contains("nobody"), "{m}");
    assert_series(
        &m,
        &format!("{requests}{{plugin=\"trapper\",kind=\"pyrus-bot\",status=\"502\"}}"),
        1.0,
    );
    assert_series(
        &m,
        "hookhost_request_duration_seconds_count{kind=\"pyrus-bot\"}",
        7.0,
    );
    assert_series(
        &m,
        "hookhost_plugin_call_duration_seconds_count{plugin=\"echo-bot\",outcome=\"ok\"}",
        3.0,
    );
    assert_series(
        &m,
        "hookhost_plugin_stops_total{plugin=\"trapper\",cause=\"trap\"}",
        1.0,
    );
    assert_series(
        &m,
        "hookhost_duplicates_dropped_total{plugin=\"echo-bot\"}",
        1.0,
    );
    assert_series(&m, "hookhost_instances_in_use", 0.0);
    assert_series(&m, "hookhost_reloads_total{outcome=\"loaded\"}", 2.0);
    // A fresh cache: both plugins were compiled, none loaded from it.
    assert_series(&m, "hookhost_compile_duration_seconds_count", 2.0);
    assert_series(&m, "hookhost_cache_load_duration_seconds_count", 0.0);
    for state in ["pending", "retrying", "dead"] {
        assert_series(
            &m,
            &format!("hookhost_journal_deliveries{{state=\"{state}\"}}"),
            0.0,
        );
    }
    assert!(m.contains("# TYPE hookhost_request_duration_seconds histogram"));
}

#[tokio::test]
async fn healthz_is_alive_and_readyz_says_what_it_waits_for() {
    let plugins = Plugins::new();
    // Forty distinct programs compiled without a cache: loading takes a
    // while, and the admin listener answers meanwhile.
    let echo = std::fs::read(echo_bot()).unwrap();
    for n in 0..40 {
        std::fs::write(
            plugins.path().join(format!("bot-{n}.wasm")),
            distinct(&echo, n),
        )
        .unwrap();
        std::fs::write(
            plugins.path().join(format!("bot-{n}.toml")),
            Plugins::bot_toml(""),
        )
        .unwrap();
    }
    let starting = Host::starting(plugins.path(), None, &["--no-cache"], &[]);
    let admin = starting.admin().to_owned();
    let res = client()
        .get(format!("{admin}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503, "ready before 40 plugins compiled?");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["ready"], false);
    assert!(
        body["waiting"]
            .as_array()
            .unwrap()
            .contains(&"plugins".into()),
        "{body}"
    );
    let res = client()
        .get(format!("{admin}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "alive while loading");

    let host = starting.ready();
    let res = host.admin_get("/readyz").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "ready": true, "waiting": [] }));
    let res = host.admin_get("/healthz").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({ "alive": true })
    );
    // Without a token, only loopback names: a page that points its own
    // name at 127.0.0.1 (DNS rebinding) does not get in.
    for (host_header, status) in [
        ("rebind.example:9090", 403),
        ("localhost:9090", 200),
        ("[::1]:9090", 200),
    ] {
        let res = host
            .admin_get("/api/routes")
            .header("host", host_header)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{host_header}");
    }
}

#[tokio::test]
async fn readyz_turns_503_at_the_stop_signal_while_requests_drain() {
    let plugins = Plugins::new();
    plugins.add(
        "slow",
        &test_bot(),
        &Plugins::bot_toml("[config]\nmode = \"slow\"\nslow_ms = \"1500\""),
    );
    let host = Host::start(plugins.path());
    let in_flight = {
        let (url, body) = (host.url.clone(), EXAMPLE.to_owned());
        tokio::spawn(async move {
            client()
                .post(format!("{url}/pyrus/slow"))
                .header("content-type", "application/json")
                .header("x-pyrus-retry", "1/3")
                .header("x-pyrus-sig", sign(SECRET, &body))
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &host.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let res = host.admin_get("/readyz").send().await.unwrap();
        if res.status() == 503 {
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["waiting"], serde_json::json!(["stopping"]));
            break;
        }
        assert!(Instant::now() < deadline, "still ready after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The request in flight still gets its answer.
    assert_eq!(in_flight.await.unwrap().unwrap(), 200);
}

#[tokio::test]
async fn a_token_guards_metrics_and_a_public_admin_address_needs_one() {
    let plugins = Plugins::new();
    plugins.add("echo-bot", &echo_bot(), &Plugins::bot_toml(""));
    // Not loopback, and no token: refused at start, before anything listens.
    let out = cli(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "0.0.0.0:0",
            "--plugins",
            plugins.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HOOKHOST_ADMIN_TOKEN"), "{err}");
    assert!(err.contains("not a loopback address"), "{err}");

    let token = "s3cret-admin-token-0123456789";
    let host = Host::start_with(
        plugins.path(),
        &["--admin-listen", "0.0.0.0:0"],
        &[("HOOKHOST_ADMIN_TOKEN", token)],
    );
    // The address printed is the one bound: reach it on loopback.
    let port = host.admin.rsplit(':').next().unwrap().to_owned();
    let admin = format!("http://127.0.0.1:{port}");
    for auth in [None, Some("Bearer wrong-token-0123456789"), Some(token)] {
        let mut req = client().get(format!("{admin}/metrics"));
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{auth:?}");
        assert_eq!(
            res.headers()["www-authenticate"],
            "Bearer realm=\"hookhost admin\""
        );
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("token"), "{body}");
    }
    let res = client()
        .get(format!("{admin}/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    assert!(res.text().await.unwrap().contains("hookhost_reloads_total"));
    // Health checks stay open to a load balancer.
    for path in ["/healthz", "/readyz"] {
        let res = client().get(format!("{admin}{path}")).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    // The token never reaches the log.
    assert!(!host.log().contains(token));
}
