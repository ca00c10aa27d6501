//! Opt-in instance reuse (`instances = { reuse = N, idle_s = S }`), end to
//! end against the real `hookhost`: a kept instance serves later calls of
//! its own plugin, up to N of them and not after S idle seconds; one that
//! trapped, ran out of time or memory, or was denied an outbound request is
//! never used again; two plugins built from the same file never share one;
//! a plugin without the key gets a fresh instance every call. How much this
//! buys is measured by `cargo bench --bench side_by_side`, not here.

mod support;

use std::time::Duration;

use reqwest::Method;
use support::standin::{Reply, StandIn};
use support::*;

/// test-bot in `count` mode answers "call N of this instance"; its task
/// id picks a failure (…666 trap, …777 loop, …888 memory).
fn counting(extra: &str) -> String {
    Plugins::bot_toml(&format!(
        "timeout_ms = 300\nmemory_mb = 32\n{extra}\n[config]\nmode = \"count\""
    ))
}

/// The call count the plugin reports, with a distinct body each time so
/// the Pyrus answer memo never answers for it.
async fn calls(host: &Host, plugin: &str, task: i64) -> (u16, String) {
    let res = host.pyrus(plugin, &example_with_task(task)).await;
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

/// A host serving test-bot in `count` mode as plugin "kept", with the
/// sidecar line `instances`; the folder lives as long as the host.
fn kept(instances: &str) -> (Plugins, Host) {
    let plugins = Plugins::new();
    plugins.add("kept", &test_bot(), &counting(instances));
    let host = Host::start(plugins.path());
    (plugins, host)
}

fn said(n: u32) -> String {
    format!("{{\"text\":\"call {n} of this instance\"}}")
}

#[tokio::test]
async fn a_kept_instance_serves_its_own_plugin_up_to_its_limit() {
    let plugins = Plugins::new();
    plugins.add("kept", &test_bot(), &counting("instances = { reuse = 3 }"));
    plugins.add("twin", &test_bot(), &counting("instances = { reuse = 3 }"));
    plugins.add("fresh", &test_bot(), &counting(""));
    let host = Host::start(plugins.path());

    // One at a time, so the one kept instance is the one used.
    let mut seen = Vec::new();
    for task in 1..=7 {
        seen.push(calls(&host, "kept", task).await);
    }
    let expected: Vec<(u16, String)> = [1, 2, 3, 1, 2, 3, 1]
        .into_iter()
        .map(|n| (200, said(n)))
        .collect();
    assert_eq!(seen, expected, "{}", host.log());

    // The same file under another name has instances of its own.
    assert_eq!(calls(&host, "twin", 1).await, (200, said(1)));
    assert_eq!(calls(&host, "twin", 2).await, (200, said(2)));
    // Without the key every call gets a fresh instance.
    for task in 1..=3 {
        assert_eq!(calls(&host, "fresh", task).await, (200, said(1)));
    }
}

#[tokio::test]
async fn an_instance_that_failed_is_never_used_again() {
    let (_plugins, host) = kept("instances = { reuse = 1000 }");

    assert_eq!(calls(&host, "kept", 1).await, (200, said(1)));
    assert_eq!(calls(&host, "kept", 2).await, (200, said(2)));
    // Each failure: a trap, the deadline, the memory limit.
    for (n, fail, expected) in [(1, 666, 502), (2, 777, 504), (3, 888, 502)] {
        let (status, body) = calls(&host, "kept", 1000 * n + fail).await;
        assert_eq!(status, expected, "{body}\n{}", host.log());
        // The next call starts afresh, and that instance is kept in turn.
        assert_eq!(
            calls(&host, "kept", 10 * n).await,
            (200, said(1)),
            "after {fail}:\n{}",
            host.log()
        );
        assert_eq!(calls(&host, "kept", 10 * n + 1).await, (200, said(2)));
    }
    // A plugin error is an answer: the instance is kept.
    let (status, _) = calls(&host, "kept", 1).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_idle_instance_is_dropped_after_its_idle_time() {
    let (_plugins, host) = kept("instances = { reuse = 1000, idle_s = 1 }");
    assert_eq!(calls(&host, "kept", 1).await, (200, said(1)));
    assert_eq!(calls(&host, "kept", 2).await, (200, said(2)));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(calls(&host, "kept", 3).await, (200, said(1)));
}

#[tokio::test]
async fn a_reload_starts_with_fresh_instances() {
    let (plugins, host) = kept("instances = { reuse = 1000 }");
    assert_eq!(calls(&host, "kept", 1).await, (200, said(1)));
    assert_eq!(calls(&host, "kept", 2).await, (200, said(2)));
    // A changed sidecar is a new version of the plugin.
    std::fs::write(
        plugins.path().join("kept.toml"),
        counting("instances = { reuse = 999 }"),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let mut task = 3;
    loop {
        let (status, body) = calls(&host, "kept", task).await;
        assert_eq!(status, 200, "{body}");
        if body == said(1) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still the old instance: {body}\n{}",
            host.log()
        );
        task += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_instance_denied_an_outbound_request_is_dropped() {
    let remote = StandIn::start(Reply::Ok("fine".into())).await;
    let plugins = Plugins::new();
    plugins.add(
        "fetcher",
        &guest("test-fetch"),
        &format!(
            "verify = \"none\"\ninstances = {{ reuse = 1000 }}\nallowed_outbound_hosts = [\"{}\"]\n",
            remote.origin()
        ),
    );
    let host = Host::start(plugins.path());
    let fetch = async |url: &str| {
        let res = host
            .request(Method::POST, "/hooks/fetcher/fetch")
            .body(url.to_owned())
            .send()
            .await
            .expect("request reaches hookhost");
        let calls = res
            .headers()
            .get("x-instance-calls")
            .map(|v| v.to_str().unwrap().to_owned());
        (res.status().as_u16(), calls, res.text().await.unwrap())
    };
    let allowed = format!("{}/", remote.origin());
    let (status, n, body) = fetch(&allowed).await;
    assert_eq!((status, n.as_deref()), (200, Some("1")), "{body}");
    assert!(body.contains("fine"), "{body}");
    let (_, n, _) = fetch(&allowed).await;
    assert_eq!(n.as_deref(), Some("2"));
    // Not on the list: the guest gets the error and answers, and its
    // instance goes.
    let (status, n, body) = fetch("http://example.invalid/").await;
    assert_eq!((status, n.as_deref()), (200, Some("3")), "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");
    let (_, n, _) = fetch(&allowed).await;
    assert_eq!(n.as_deref(), Some("1"), "{}", host.log());
}

#[tokio::test]
async fn a_bad_instances_line_keeps_the_plugin_from_being_served() {
    let plugins = Plugins::new();
    for (name, line) in [
        ("zero", "instances = { reuse = 0 }"),
        ("idle", "instances = { reuse = 5, idle_s = 0 }"),
        ("unknown", "instances = { reuse = 5, idle = 3 }"),
        ("missing", "instances = { idle_s = 3 }"),
    ] {
        plugins.add(name, &test_bot(), &counting(line));
    }
    let host = Host::start(plugins.path());
    for (name, why) in [
        ("zero", "instances.reuse must be between 1 and 1000000"),
        ("idle", "instances.idle_s must be between 1 and 3600"),
        ("unknown", "idle"),
        ("missing", "reuse"),
    ] {
        let (status, body) = calls(&host, name, 1).await;
        assert_eq!(status, 503, "{name}: {body}");
        host.wait_for_log(why, Duration::from_secs(1)).await;
    }
}
