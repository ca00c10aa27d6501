//! Worksection end to end: basic auth, deliveries of one or many events,
//! and `{"status":"OK"}` within Worksection's 5 s whatever the plugin does.

mod support;

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

/// One event as Worksection posts it.
fn event(id: u32, title: &str, priority: u32) -> String {
    format!(
        r#"{{"action":"post","object":{{"type":"task","id":"{id}","page":"/project/12/{id}/"}},"date":"2026-11-23 10:00","user_from":{{"id":"7","email":"ann@example.com","name":"Ann Lee"}},"new":{{"name":"{title}","text":"<p>body</p>","priority":"{priority}","user_to":{{"id":"8","email":"bob@example.com","name":"Bob"}},"date_end":"2026-11-20"}},"old":{{"name":"Old {title}"}}}}"#
    )
}

async fn deliver(
    host: &Host,
    plugin: &str,
    body: String,
    auth: Option<String>,
) -> reqwest::Response {
    let mut req = host
        .request(Method::POST, &format!("/worksection/{plugin}"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    req.send().await.unwrap()
}

fn good() -> Option<String> {
    Some(senders::basic("worksection", PASSWORD))
}

#[tokio::test]
async fn every_event_of_a_delivery_reaches_the_plugin_after_the_ok() {
    let plugins = Plugins::new();
    plugins.add("ws", &guest("test-worksection"), &ws_toml(""));
    let host = Host::start(plugins.path());

    let body = format!("[{},{}]", event(101, "First", 1), event(102, "Second", 2));
    let res = deliver(&host, "ws", body, good()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.text().await.unwrap(), r#"{"status":"OK"}"#);
    for line in [
        "ws event action=post kind=task id=101 user=ann@example.com title=First priority=1 old_title=Old First",
        "ws event action=post kind=task id=102 user=ann@example.com title=Second priority=2 old_title=Old Second",
    ] {
        host.wait_for_log(line, Duration::from_secs(5)).await;
    }
    // A single object is a delivery of one.
    let res = deliver(&host, "ws", event(103, "Third", 3), good()).await;
    assert_eq!(res.text().await.unwrap(), r#"{"status":"OK"}"#);
    host.wait_for_log("id=103", Duration::from_secs(5)).await;
}

#[tokio::test]
async fn wrong_or_missing_credentials_get_401_and_the_plugin_sees_nothing() {
    let plugins = Plugins::new();
    plugins.add("ws", &guest("test-worksection"), &ws_toml(""));
    let host = Host::start(plugins.path());
    for (what, auth) in [
        ("missing", None),
        (
            "wrong password",
            Some(senders::basic("worksection", "nope")),
        ),
        ("wrong user", Some(senders::basic("someone", PASSWORD))),
        ("not basic", Some(format!("Bearer {PASSWORD}"))),
        ("garbage", Some("Basic !!!".to_owned())),
    ] {
        let res = deliver(&host, "ws", event(201, "x", 1), auth).await;
        assert_eq!(res.status(), 401, "{what}");
        assert_eq!(
            res.headers()["www-authenticate"],
            "Basic realm=\"hookhost\"",
            "{what}"
        );
    }
    let res = deliver(&host, "ws", event(202, "x", 1), good()).await;
    assert_eq!(res.status(), 200);
    host.wait_for_log("id=202", Duration::from_secs(5)).await;
    assert!(!host.log().contains("id=201"), "{}", host.log());
    assert!(!host.log().contains(PASSWORD), "{}", host.log());
}

#[tokio::test]
async fn malformed_deliveries_get_400() {
    let plugins = Plugins::new();
    plugins.add("ws", &guest("test-worksection"), &ws_toml(""));
    let host = Host::start(plugins.path());
    for (body, says) in [
        ("not json", "not valid JSON"),
        ("[1,", "not valid JSON"),
        ("42", "expected an array"),
    ] {
        let res = deliver(&host, "ws", body.to_owned(), good()).await;
        assert_eq!(res.status(), 400, "{body}");
        let text = res.text().await.unwrap();
        assert!(text.contains(says), "{body}: {text}");
    }
}

#[tokio::test]
async fn odd_elements_and_empty_deliveries_are_acknowledged() {
    let plugins = Plugins::new();
    plugins.add("ws", &guest("test-worksection"), &ws_toml(""));
    let host = Host::start(plugins.path());
    // One element that is not an event must not lose the others, nor count
    // as an error towards Worksection disabling the webhook.
    let body = format!(
        r#"[{}, 7, {{"object":{{"type":"comment","id":"c9"}}}}]"#,
        event(801, "Kept", 1)
    );
    let res = deliver(&host, "ws", body, good()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), r#"{"status":"OK"}"#);
    host.wait_for_log("id=801", Duration::from_secs(5)).await;
    host.wait_for_log("kind=comment id=c9", Duration::from_secs(5))
        .await;
    assert!(
        host.log().contains("delivery element skipped: element 1"),
        "{}",
        host.log()
    );
    for body in ["", "[]"] {
        let res = deliver(&host, "ws", body.to_owned(), good()).await;
        assert_eq!(res.status(), 200, "{body:?}");
        assert_eq!(res.text().await.unwrap(), r#"{"status":"OK"}"#);
    }
}

#[tokio::test]
async fn a_slow_plugin_still_gets_the_ok_out_well_within_5_s() {
    let plugins = Plugins::new();
    plugins.add(
        "slow",
        &guest("test-worksection"),
        &ws_toml("timeout_ms = 20000\n[config]\nmode = \"slow\"\nslow_ms = \"6000\""),
    );
    let host = Host::start(plugins.path());
    let started = Instant::now();
    let res = deliver(&host, "slow", event(301, "Slow", 1), good()).await;
    let took = started.elapsed();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), r#"{"status":"OK"}"#);
    assert!(took < Duration::from_secs(1), "answer took {took:?}");
    // The plugin is still at work, and finishes after the answer.
    host.wait_for_log(
        "ws event action=post kind=task id=301",
        Duration::from_secs(5),
    )
    .await;
    assert!(!host.log().contains("ws done id=301"));
    host.wait_for_log("ws done id=301", Duration::from_secs(15))
        .await;
}

#[tokio::test]
async fn failing_plugins_never_turn_a_delivery_into_an_error() {
    let plugins = Plugins::new();
    plugins.add(
        "fails",
        &guest("test-worksection"),
        &ws_toml("[config]\nmode = \"fail\""),
    );
    plugins.add(
        "traps",
        &guest("test-worksection"),
        &ws_toml("[config]\nmode = \"trap\""),
    );
    plugins.add(
        "late",
        &guest("test-worksection"),
        &ws_toml("timeout_ms = 200\n[config]\nmode = \"slow\"\nslow_ms = \"3000\""),
    );
    let host = Host::start(plugins.path());
    for (plugin, id) in [("fails", 401), ("traps", 402), ("late", 403)] {
        let res = deliver(&host, plugin, event(id, "Doomed", 1), good()).await;
        assert_eq!(res.status(), 200, "{plugin}");
        assert_eq!(res.text().await.unwrap(), r#"{"status":"OK"}"#, "{plugin}");
    }
    // Each failure is logged with the event it failed on.
    for (plugin, why) in [
        ("fails", "boom 401"),
        ("traps", "plugin trapped"),
        ("late", "did not answer within 200 ms"),
    ] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = host.log();
            let hit = log.lines().any(|l| {
                l.contains("event not handled")
                    && l.contains(plugin)
                    && l.contains(why)
                    && l.contains("post task #4")
            });
            if hit {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no failure line for {plugin}:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn a_worksection_plugin_must_choose_its_authentication() {
    let plugins = Plugins::new();
    plugins.add("unsaid", &guest("test-worksection"), "");
    plugins.add("open", &guest("test-worksection"), "verify = \"none\"");
    plugins.add(
        "github",
        &guest("test-worksection"),
        "verify = \"github\"\nsecret = { value = \"s\" }",
    );
    let host = Host::start(plugins.path());
    let res = deliver(&host, "unsaid", event(501, "x", 1), None).await;
    assert_eq!(res.status(), 503);
    let res = deliver(&host, "github", event(502, "x", 1), None).await;
    assert_eq!(res.status(), 503);
    let res = deliver(&host, "open", event(503, "x", 1), None).await;
    assert_eq!(res.status(), 200);
    host.wait_for_log("id=503", Duration::from_secs(5)).await;
    let listing = routes(plugins.path(), &[]);
    assert!(listing.contains("needs `basic_auth = "), "{listing}");
    assert!(
        listing.contains("Worksection only sends HTTP basic auth"),
        "{listing}"
    );
    assert!(listing.contains("POST /worksection/open"), "{listing}");
}

#[tokio::test]
async fn the_example_plugin_logs_and_flags_events() {
    let plugins = Plugins::new();
    plugins.add(
        "worksection-log",
        &guest("worksection-log"),
        &ws_toml("[config]\noverdue_before = \"2026-11-23\"\nhigh_priority = 8"),
    );
    let host = Host::start(plugins.path());
    let body = format!("[{},{}]", event(601, "Urgent", 9), event(602, "Calm", 1));
    let res = deliver(&host, "worksection-log", body, good()).await;
    assert_eq!(res.text().await.unwrap(), r#"{"status":"OK"}"#);
    host.wait_for_log(
        r#"post task #601 "Urgent" by Ann Lee <ann@example.com> /project/12/601/"#,
        Duration::from_secs(5),
    )
    .await;
    host.wait_for_log("high priority: #601", Duration::from_secs(5))
        .await;
    host.wait_for_log("overdue: #602", Duration::from_secs(5))
        .await;
    assert!(
        !host.log().contains("high priority: #602"),
        "{}",
        host.log()
    );
}

#[tokio::test]
async fn a_stop_signal_lets_accepted_events_finish() {
    let plugins = Plugins::new();
    plugins.add(
        "slow",
        &guest("test-worksection"),
        &ws_toml("[config]\nmode = \"slow\"\nslow_ms = \"1500\""),
    );
    let mut host = Host::start(plugins.path());
    let res = deliver(&host, "slow", event(701, "Pending", 1), good()).await;
    assert_eq!(res.status(), 200);
    host.wait_for_log("id=701", Duration::from_secs(5)).await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &host.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = host.child.wait().unwrap();
    assert!(exit.success(), "hookhost exited with {exit}");
    // Accepted means handled: the event finished before the process ended.
    assert!(host.log().contains("ws done id=701"), "{}", host.log());
}
