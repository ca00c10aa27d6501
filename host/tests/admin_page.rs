//! The admin page in a real browser: headless Chromium (Debian's
//! `chromium`) driven by Playwright (`playwright-core` from npm, in
//! `host/tests/browser`), against a real host with a failed delivery. The
//! screenshot is written to `target/admin-page.png` for review.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::senders;
use support::*;

const PASSWORD: &str = "ws-Pass-123";
const TOKEN: &str = "admin-page-token-0123456789";

fn ws_toml(extra: &str) -> String {
    format!(
        "basic_auth = {{ user = \"worksection\", password = {{ value = \"{PASSWORD}\" }} }}\nretry = {{ attempts = 1, first_s = 1, max_s = 1 }}\n{extra}\n"
    )
}

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[tokio::test]
async fn the_admin_page_shows_plugins_and_a_failed_delivery_and_replays_it() {
    let plugins = Plugins::new();
    plugins.add("echo-bot", &echo_bot(), &Plugins::bot_toml(""));
    plugins.add(
        "flaky",
        &guest("test-worksection"),
        &ws_toml("[config]\nmode = \"fail\""),
    );
    let host = Host::start_with(plugins.path(), &[], &[("HOOKHOST_ADMIN_TOKEN", TOKEN)]);

    let res = host.pyrus("echo-bot", EXAMPLE).await;
    assert_eq!(res.status(), 200);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let event = r#"{"action":"post","object":{"type":"task","id":"77","page":"/project/1/77/"},"new":{"name":"Task 77"}}"#;
    let res = client()
        .post(format!("{}/worksection/flaky", host.url))
        .header("content-type", "application/json")
        .header("authorization", senders::basic("worksection", PASSWORD))
        .body(event)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Dead after its one attempt; the admin API says so.
    let deadline = Instant::now() + Duration::from_secs(15);
    let dead_id = loop {
        let listed: serde_json::Value = host
            .admin_get("/api/deliveries?state=dead")
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(id) = listed[0]["id"].as_str() {
            assert!(
                listed[0]["last_error"].as_str().unwrap().contains("boom"),
                "{listed}"
            );
            break id.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no dead delivery:\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The plugin fixed: a replay now succeeds.
    plugins.add("flaky", &guest("test-worksection"), &ws_toml(""));
    host.wait_for_log("generation=3", Duration::from_secs(5))
        .await;

    let screenshot = workspace().join("target/admin-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let browser = workspace().join("host/tests/browser");
    let out = Command::new("node")
        .current_dir(&browser)
        .arg("admin_page.mjs")
        .args([&host.admin, TOKEN, &dead_id, &request_id])
        .arg(&screenshot)
        .output()
        .expect("run node (scripts/install-toolchains installs playwright-core and chromium)");
    assert!(
        out.status.success(),
        "the browser test failed:\n{}\n{}\nhost log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        host.log()
    );
    assert!(
        screenshot.exists(),
        "no screenshot at {}",
        screenshot.display()
    );

    // Delivered, as the journal has it too.
    let shown: serde_json::Value = host
        .admin_get(&format!("/api/deliveries/{dead_id}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["state"], "done", "{shown}");
    assert_eq!(shown["attempts"].as_array().unwrap().len(), 2, "{shown}");
    assert!(
        host.log()
            .contains("deliveries replayed from the admin API")
    );
}

#[tokio::test]
async fn the_admin_api_needs_the_token_and_the_page_files_do_not() {
    let plugins = Plugins::new();
    plugins.add("echo-bot", &echo_bot(), &Plugins::bot_toml(""));
    let host = Host::start_with(plugins.path(), &[], &[("HOOKHOST_ADMIN_TOKEN", TOKEN)]);
    for path in [
        "/api/routes",
        "/api/requests",
        "/api/reloads",
        "/api/deliveries",
    ] {
        let res = host.admin_get(path).send().await.unwrap();
        assert_eq!(res.status(), 401, "{path}");
    }
    let res = client()
        .post(format!("{}/api/replay", host.admin))
        .json(&serde_json::json!({ "ids": ["x"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    for (path, kind) in [
        ("/", "text/html"),
        ("/admin.js", "text/javascript"),
        ("/admin.css", "text/css"),
    ] {
        let res = host.admin_get(path).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        let policy = res.headers()["content-security-policy"].to_str().unwrap();
        assert!(policy.starts_with("default-src 'none'"), "{policy}");
    }
    let routes: serde_json::Value = host
        .admin_get("/api/routes")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(routes[0]["plugin"], "echo-bot", "{routes}");
    assert_eq!(routes[0]["state"], "serving", "{routes}");
    // A state that is not one is a 400 with its reason.
    let res = host
        .admin_get("/api/deliveries?state=lost")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

/// Waits until the admin API lists a delivery in `state`; its id.
async fn delivery_in(host: &Host, state: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let listed: serde_json::Value = host
            .admin_get(&format!("/api/deliveries?state={state}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(id) = listed[0]["id"].as_str() {
            return id.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no {state} delivery:\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_tools_ask_a_running_server_through_its_admin_api() {
    let plugins = Plugins::new();
    plugins.add(
        "flaky",
        &guest("test-worksection"),
        &ws_toml("[config]\nmode = \"fail\""),
    );
    let host = Host::start_with(plugins.path(), &[], &[("HOOKHOST_ADMIN_TOKEN", TOKEN)]);
    let state = host.state_dir.to_str().unwrap().to_owned();
    let event = r#"{"action":"post","object":{"type":"task","id":"78","page":"/project/1/78/"},"new":{"name":"Task 78"}}"#;
    let res = client()
        .post(format!("{}/worksection/flaky", host.url))
        .header("content-type", "application/json")
        .header("authorization", senders::basic("worksection", PASSWORD))
        .body(event)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let id = delivery_in(&host, "dead").await;
    let token = [("HOOKHOST_ADMIN_TOKEN", TOKEN)];
    let text = |out: &std::process::Output| {
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let out = cli(
        &["deliveries", "--state", "dead", "--state-dir", &state],
        &token,
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("asking the running server (pid {})", host.pid())),
        "{stderr}"
    );
    assert!(stdout.contains(&id) && stdout.contains("dead"), "{stdout}");
    let out = cli(&["deliveries", "show", &id, "--state-dir", &state], &token);
    let (stdout, stderr) = text(&out);
    assert!(
        stdout.contains("state:    dead") && stdout.contains("boom 78"),
        "{stdout}{stderr}"
    );
    assert!(!stdout.contains(PASSWORD), "credentials never shown");

    // Without the token the server cannot be asked: the journal is read.
    let out = cli(&["deliveries", "--state-dir", &state], &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("wants its token") && stderr.contains("reading the journal instead"),
        "{stderr}"
    );
    assert!(stdout.contains(&id), "{stdout}");

    // `routes` asks too.
    let out = cli(
        &["routes", "--plugins", plugins.path().to_str().unwrap()],
        &token,
    );
    let (stdout, stderr) = text(&out);
    assert!(
        stdout.contains("live: hookhost pid") && stdout.contains("/worksection/flaky"),
        "{stdout}"
    );
    assert!(!stderr.contains("last published"), "{stderr}");

    // Fixed, and replayed through the server: it runs at once.
    plugins.add("flaky", &guest("test-worksection"), &ws_toml(""));
    host.wait_for_log("generation=2", Duration::from_secs(5))
        .await;
    let out = cli(&["replay", &id, "--state-dir", &state], &token);
    let (stdout, stderr) = text(&out);
    assert_eq!(stdout.trim(), "1 deliveries will run again", "{stderr}");
    assert!(
        host.log()
            .contains("deliveries replayed from the admin API")
    );
    assert_eq!(delivery_in(&host, "done").await, id);
    let out = cli(&["replay", "no-such-id", "--state-dir", &state], &token);
    assert!(!out.status.success());
    assert!(
        text(&out)
            .1
            .contains("1 of the 1 ids are not in the journal"),
        "{:?}",
        text(&out)
    );
}
