//! The integration examples, one per language, end to end: each built from
//! source by `scripts/build-plugins`, served by the real `hookhost` binary,
//! called as its sender calls it (real signatures), and talking over
//! wasi:http to a stand-in of the remote API that runs in this test on
//! 127.0.0.1 — a real HTTP server that records what it received and answers
//! like the real API. The sidecar points the plugin at it through `[config]`
//! and `allowed_outbound_hosts`. State is the plugin's wasi:keyvalue bucket.
//!
//! - Rust `github-to-chat`: GitHub push → one chat line per commit;
//! - Python `worksection-to-pyrus`: Worksection task events → Pyrus API v4;
//! - JavaScript `pyrus-ext-chat`: Pyrus extension → external chat API;
//! - C `c-counter`: a Pyrus bot counting its comments per task.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use support::senders;
use support::*;

/// How long a background effect (a Worksection event worked on after the
/// `{"status":"OK"}`) may take to reach a stand-in. Python components are
/// compiled on load, which the first event may wait for.
const EFFECT_WAIT: Duration = Duration::from_secs(30);

/// Serves `router` on an ephemeral loopback port for the rest of the test.
async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a stand-in port");
    let addr = listener.local_addr().expect("stand-in address");
    tokio::spawn(async move {
        axum::serve(listener, router)
            .await
            .expect("stand-in serves");
    });
    addr
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// Waits until `check` holds, or panics with `what` and the host's log.
async fn eventually(host: &Host, what: &str, check: impl Fn() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < EFFECT_WAIT,
            "never happened: {what}\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------
// Rust: github-to-chat

/// A Slack-compatible incoming webhook: records each message's `text`,
/// answers `ok`, or 500 while `down`.
#[derive(Default)]
struct Chat {
    texts: Vec<String>,
    down: bool,
}

type Shared<T> = Arc<Mutex<T>>;

async fn slack_webhook(State(chat): State<Shared<Chat>>, body: Bytes) -> (StatusCode, String) {
    let Ok(mut chat) = chat.lock() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "poisoned".into());
    };
    if chat.down {
        return (StatusCode::INTERNAL_SERVER_ERROR, "down".into());
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(m)) if m.get("text").is_some_and(Value::is_string) => {
            chat.texts
                .push(m["text"].as_str().unwrap_or_default().to_owned());
            (StatusCode::OK, "ok".into())
        }
        // What Slack answers a body without text.
        _ => (StatusCode::BAD_REQUEST, "no_text".into()),
    }
}

const GITHUB_SECRET: &str = "gh-Secret-1";
const WEBHOOK_PATH: &str = "/services/T000/B000/XXXX";

fn github_toml(port: u16) -> String {
    format!(
        "verify = \"github\"\nsecret = {{ value = \"{GITHUB_SECRET}\" }}\n\
         allowed_outbound_hosts = [\"http://127.0.0.1:{port}\"]\n\
         [config]\nchat_url = \"http://127.0.0.1:{port}{WEBHOOK_PATH}\"\n"
    )
}

/// POSTs a push to the plugin, signed as GitHub signs it.
async fn push(host: &Host, delivery: &str, content_type: &str, body: &str) -> (u16, String) {
    let (sig_header, sig) = senders::github(GITHUB_SECRET, body.as_bytes());
    let res = host
        .request(reqwest::Method::POST, "/hooks/github-to-chat")
        .header("content-type", content_type)
        .header("user-agent", "GitHub-Hookshot/044aadd")
        .header("x-github-event", "push")
        .header("x-github-delivery", delivery)
        .header(sig_header, sig)
        .body(body.to_owned())
        .send()
        .await
        .expect("request reaches hookhost");
    (res.status().as_u16(), res.text().await.unwrap_or_default())
}

fn push_json() -> String {
    json!({
        "ref": "refs/heads/main",
        "repository": {"name": "widgets", "full_name": "octo/widgets"},
        "commits": [
            {"id": "a1", "message": "Fix the frobnicator\n\nIt frobbed twice.", "author": {"name": "Ann Lee"}},
            {"id": "b2", "message": "Add tests", "author": {"name": "Bob Smith"}}
        ]
    })
    .to_string()
}

#[tokio::test]
async fn github_to_chat_posts_each_commit_once() {
    let chat: Shared<Chat> = Arc::default();
    let addr = serve(
        Router::new()
            .route(WEBHOOK_PATH, post(slack_webhook))
            .with_state(chat.clone()),
    )
    .await;
    let plugins = Plugins::new();
    plugins.add(
        "github-to-chat",
        &example("github-to-chat"),
        &github_toml(addr.port()),
    );
    let host = Host::start(plugins.path());
    let texts = || chat.lock().map(|c| c.texts.clone()).unwrap_or_default();

    // A JSON push: one message per commit, the commit's first line.
    let (status, body) = push(&host, "d-1", "application/json", &push_json()).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "posted 2 messages"),
        "{}",
        host.log()
    );
    assert_eq!(
        texts(),
        [
            "Commit on octo/widgets by Ann Lee: Fix the frobnicator",
            "Commit on octo/widgets by Bob Smith: Add tests",
        ]
    );

    // GitHub's redelivery of the same delivery: the host answers it as the
    // first time without running the plugin, so nothing is posted twice.
    let (status, body) = push(&host, "d-1", "application/json", &push_json()).await;
    assert_eq!((status, body.as_str()), (200, "posted 2 messages"));
    assert_eq!(texts().len(), 2);
    assert!(host.log().contains("duplicate delivery"), "{}", host.log());

    // errbot's form delivery: the push in the field `payload`.
    let form = include_str!("fixtures/errbot-github-form.txt").trim_end();
    let (status, body) = push(&host, "d-2", "application/x-www-form-urlencoded", form).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "posted 1 messages"),
        "{}",
        host.log()
    );
    assert_eq!(texts()[2], "Commit on test by Guillaume BINET: voila");

    // The chat down: 503, so the sender may retry; once it is back, the
    // redelivery posts the commits exactly once.
    chat.lock().expect("chat").down = true;
    let (status, _) = push(&host, "d-3", "application/json", &push_json()).await;
    assert_eq!(status, 503, "{}", host.log());
    chat.lock().expect("chat").down = false;
    let (status, body) = push(&host, "d-3", "application/json", &push_json()).await;
    assert_eq!((status, body.as_str()), (200, "posted 2 messages"));
    assert_eq!(texts().len(), 5);

    // A forged signature never reaches the plugin, nor the chat.
    let res = host
        .request(reqwest::Method::POST, "/hooks/github-to-chat")
        .header("content-type", "application/json")
        .header("x-github-event", "push")
        .header("x-github-delivery", "d-4")
        .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
        .body(push_json())
        .send()
        .await
        .expect("request reaches hookhost");
    assert_eq!(res.status(), 401);
    assert_eq!(texts().len(), 5);
}

// ---------------------------------------------------------------------------
// Python: worksection-to-pyrus

const BOT_LOGIN: &str = "bot@4e83a7da-3ba1-4a16-a1d8-21bbd1ad9592";
const BOT_KEY: &str = "czSHwEAthJKMshQ-test";

/// The Pyrus API v4 as a bot sees it: `POST /auth` (login + security key →
/// `access_token`, `api_url`), `POST /v4/tasks`, `POST /v4/tasks/{id}/comments`,
/// each checking `Authorization: Bearer` against the one valid token.
#[derive(Default)]
struct PyrusApi {
    base: String,
    /// Tokens issued so far; only the last one is valid.
    issued: Vec<String>,
    /// Tasks created: (id, text).
    tasks: Vec<(i64, String)>,
    /// Comments added: (task id, text).
    comments: Vec<(i64, String)>,
    /// Calls refused for their token.
    refused: usize,
}

impl PyrusApi {
    /// Checks the bearer token; the Pyrus error answer when it is not valid.
    fn check(&mut self, headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
        let token = bearer(headers);
        let valid = self.issued.last().map(String::as_str);
        if token.is_some() && token == valid {
            return Ok(());
        }
        self.refused += 1;
        let code = match token {
            None => "token_not_specified",
            Some(t) if self.issued.iter().any(|i| i == t) => "revoked_token",
            Some(_) => "invalid_token",
        };
        Err((
            StatusCode::UNAUTHORIZED,
            json!({"error_code": code, "error": "The authorization token is not valid."})
                .to_string(),
        ))
    }
}

async fn pyrus_auth(State(api): State<Shared<PyrusApi>>, body: Bytes) -> (StatusCode, String) {
    let Ok(mut api) = api.lock() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, String::new());
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    if body["login"] != BOT_LOGIN || body["security_key"] != BOT_KEY {
        let error =
            json!({"error_code": "invalid_credentials", "error": "Invalid login/security key"});
        return (StatusCode::UNAUTHORIZED, error.to_string());
    }
    let token = format!("token-{}", api.issued.len() + 1);
    api.issued.push(token.clone());
    let answer = json!({
        "access_token": token,
        "api_url": format!("{}/v4/", api.base),
        "files_url": format!("{}/files/", api.base),
    });
    (StatusCode::OK, answer.to_string())
}

async fn pyrus_create_task(
    State(api): State<Shared<PyrusApi>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let Ok(mut api) = api.lock() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, String::new());
    };
    if let Err(refusal) = api.check(&headers) {
        return refusal;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let Some(text) = body["text"].as_str() else {
        let error = json!({"error_code": "required_parameters_not_specified", "error": "text"});
        return (StatusCode::BAD_REQUEST, error.to_string());
    };
    let id = 11611 + api.tasks.len() as i64;
    api.tasks.push((id, text.to_owned()));
    let answer = json!({"task": {"id": id, "text": text, "create_date": "2026-12-01T00:00:00Z", "comments": []}});
    (StatusCode::OK, answer.to_string())
}

async fn pyrus_comment(
    State(api): State<Shared<PyrusApi>>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let Ok(mut api) = api.lock() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, String::new());
    };
    if let Err(refusal) = api.check(&headers) {
        return refusal;
    }
    if !api.tasks.iter().any(|(task, _)| *task == id) {
        let error = json!({"error_code": "access_denied_task", "error": "no such task"});
        return (StatusCode::FORBIDDEN, error.to_string());
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = body["text"].as_str().unwrap_or_default().to_owned();
    api.comments.push((id, text.clone()));
    let answer = json!({"task": {"id": id, "comments": [{"id": 13767, "text": text}]}});
    (StatusCode::OK, answer.to_string())
}

const WS_PASSWORD: &str = "ws-Pass-123";

fn ws_event(action: &str, id: u32, title: &str) -> String {
    json!([{
        "action": action,
        "object": {"type": "task", "id": id.to_string(), "page": format!("/project/12/{id}/")},
        "date": "2026-12-01 10:00",
        "user_from": {"id": "7", "email": "ann@example.com", "name": "Ann Lee"},
        "new": {"name": title, "text": "Details here", "priority": "3"}
    }])
    .to_string()
}

async fn deliver(host: &Host, body: String) {
    let res = host
        .request(
            reqwest::Method::POST,
            "/worksection/python-worksection-to-pyrus",
        )
        .header("content-type", "application/json")
        .header("authorization", senders::basic("worksection", WS_PASSWORD))
        .body(body)
        .send()
        .await
        .expect("request reaches hookhost");
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap_or_default(), r#"{"status":"OK"}"#);
}

#[tokio::test]
async fn worksection_to_pyrus_creates_the_task_once_and_comments_with_a_kept_token() {
    let api: Shared<PyrusApi> = Arc::default();
    let addr = serve(
        Router::new()
            .route("/auth", post(pyrus_auth))
            .route("/v4/tasks", post(pyrus_create_task))
            .route("/v4/tasks/{id}/comments", post(pyrus_comment))
            .with_state(api.clone()),
    )
    .await;
    let base = format!("http://127.0.0.1:{}", addr.port());
    api.lock().expect("api").base = base.clone();
    let toml = format!(
        "basic_auth = {{ user = \"worksection\", password = {{ value = \"{WS_PASSWORD}\" }} }}\n\
         timeout_ms = 20000\n\
         allowed_outbound_hosts = [\"{base}\"]\n\
         [config]\nlogin = \"{BOT_LOGIN}\"\nsecurity_key = \"{BOT_KEY}\"\n\
         auth_url = \"{base}/auth\"\nworksection_url = \"https://acme.worksection.com\"\n"
    );
    let plugins = Plugins::new();
    plugins.add(
        "python-worksection-to-pyrus",
        &example("python-worksection-to-pyrus"),
        &toml,
    );
    let host = Host::start(plugins.path());
    let seen = |f: &dyn Fn(&PyrusApi) -> bool| api.lock().map(|a| f(&a)).unwrap_or(false);

    // First event of task 101: authenticate, create the Pyrus task, comment.
    deliver(&host, ws_event("post", 101, "Ship the release")).await;
    eventually(&host, "the first comment", || {
        seen(&|a| a.comments.len() == 1)
    })
    .await;
    {
        let a = api.lock().expect("api");
        assert_eq!(a.issued.len(), 1, "one authentication");
        assert_eq!(
            a.tasks,
            [(
                11611,
                "Ship the release\nhttps://acme.worksection.com/project/12/101/".to_owned()
            )]
        );
        assert_eq!(
            a.comments[0],
            (
                11611,
                "Worksection: created by Ann Lee: Ship the release".to_owned()
            )
        );
    }

    // Next event of the same task: the kept token and the kept mapping.
    deliver(&host, ws_event("update", 101, "Ship the release")).await;
    eventually(&host, "the second comment", || {
        seen(&|a| a.comments.len() == 2)
    })
    .await;
    {
        let a = api.lock().expect("api");
        assert_eq!(a.issued.len(), 1, "the token was reused from state");
        assert_eq!(a.tasks.len(), 1, "the task was not created twice");
        assert_eq!(
            a.comments[1],
            (
                11611,
                "Worksection: updated by Ann Lee: Ship the release\nDetails here".to_owned()
            )
        );
        assert_eq!(a.refused, 0);
    }

    // The token revoked (Pyrus issued a newer one elsewhere): the API
    // refuses the kept token, the plugin authenticates again and goes on.
    api.lock()
        .expect("api")
        .issued
        .push("token-elsewhere".into());
    deliver(&host, ws_event("post", 102, "Write the notes")).await;
    eventually(&host, "the comment on the second task", || {
        seen(&|a| a.comments.len() == 3)
    })
    .await;
    {
        let a = api.lock().expect("api");
        assert_eq!(a.refused, 1, "the stale token was refused once");
        assert_eq!(a.issued.len(), 3, "one new authentication");
        assert_eq!(a.tasks[1].0, 11612);
        assert_eq!(
            a.comments[2],
            (
                11612,
                "Worksection: created by Ann Lee: Write the notes".to_owned()
            )
        );
    }
}

// ---------------------------------------------------------------------------
// JavaScript: pyrus-ext-chat

const EXT_SECRET: &str = "ext-Secret-1";
const CHAT_TOKEN: &str = "chat-Token-1";

/// The external chat API: `POST /api/messages` with the bot's bearer token,
/// recorded as (channel, text); 500 while `down`.
#[derive(Default)]
struct ChatApi {
    messages: Vec<(String, String)>,
    down: bool,
}

async fn chat_messages(
    State(chat): State<Shared<ChatApi>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let Ok(mut chat) = chat.lock() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, String::new());
    };
    if bearer(&headers) != Some(CHAT_TOKEN) {
        return (StatusCode::UNAUTHORIZED, r#"{"error":"bad token"}"#.into());
    }
    if chat.down {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":"down"}"#.into(),
        );
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let channel = match &body["channel_id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let text = body["text"].as_str().unwrap_or_default().to_owned();
    chat.messages.push((channel, text));
    (StatusCode::OK, r#"{"ok":true}"#.into())
}

/// A signed call to the extension; (status, JSON answer).
async fn ext(host: &Host, route: &str, body: Value) -> (u16, Value) {
    let body = body.to_string();
    let res = host
        .request(
            reqwest::Method::POST,
            &format!("/pyrus-ext/js-pyrus-ext-chat/{route}"),
        )
        .header("content-type", "application/json")
        .header("user-agent", "Pyrus-Extensions-1")
        .header("x-pyrus-retry", "1/3")
        .header("x-pyrus-sig", sign(EXT_SECRET, &body))
        .body(body)
        .send()
        .await
        .expect("request reaches hookhost");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    let answer = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, answer)
}

fn credentials(bot: &str, token: &str) -> Value {
    json!([{"code": "bot_name", "value": bot}, {"code": "bot_token", "value": token}])
}

fn message(bot: &str, text: &str) -> Value {
    json!({
        "credentials": credentials(bot, CHAT_TOKEN),
        "channel_id": "87654321",
        "message_type": "message",
        "message_text": text,
        "attachment_ids": []
    })
}

#[tokio::test]
async fn pyrus_ext_chat_delivers_messages_for_authorized_accounts() {
    let chat: Shared<ChatApi> = Arc::default();
    let addr = serve(
        Router::new()
            .route("/api/messages", post(chat_messages))
            .with_state(chat.clone()),
    )
    .await;
    let toml = format!(
        "secret = {{ value = \"{EXT_SECRET}\" }}\ntimeout_ms = 20000\n\
         allowed_outbound_hosts = [\"http://127.0.0.1:{port}\"]\n\
         [config]\nchat_api = \"http://127.0.0.1:{port}/api\"\n",
        port = addr.port()
    );
    let plugins = Plugins::new();
    plugins.add("js-pyrus-ext-chat", &example("js-pyrus-ext-chat"), &toml);
    let host = Host::start(plugins.path());

    // Before /authorize the account is unknown: Pyrus must authorize again.
    let (status, answer) = ext(&host, "sendmessage", message("helpdesk", "early")).await;
    assert_eq!(status, 200, "{}", host.log());
    assert_eq!(answer["error_code"], "bad_credentials", "{answer}");

    let (status, answer) = ext(
        &host,
        "authorize",
        json!({"credentials": credentials("helpdesk", CHAT_TOKEN)}),
    )
    .await;
    assert_eq!(status, 200, "{}", host.log());
    assert_eq!(
        answer,
        json!({"account_id": "helpdesk", "account_name": "Chat bot helpdesk"})
    );

    let toggle = json!({"credentials": credentials("helpdesk", CHAT_TOKEN), "enabled": false});
    let (status, answer) = ext(&host, "toggle", toggle).await;
    assert_eq!((status, &answer), (200, &json!({})), "{}", host.log());

    // The message goes to the chat API with the stored account's token.
    let (status, answer) = ext(
        &host,
        "sendmessage",
        message("helpdesk", "Please, write a review"),
    )
    .await;
    assert_eq!((status, &answer), (200, &json!({})), "{}", host.log());
    assert_eq!(
        chat.lock().expect("chat").messages,
        [("87654321".to_owned(), "Please, write a review".to_owned())]
    );

    // Another, never authorized account.
    let (_, answer) = ext(&host, "sendmessage", message("stranger", "hi")).await;
    assert_eq!(answer["error_code"], "bad_credentials", "{answer}");

    // The chat API failing is Pyrus's external_error.
    chat.lock().expect("chat").down = true;
    let (status, answer) = ext(&host, "sendmessage", message("helpdesk", "lost")).await;
    assert_eq!(status, 200);
    assert_eq!(answer["error_code"], "external_error", "{answer}");
    assert_eq!(chat.lock().expect("chat").messages.len(), 1);
}

// ---------------------------------------------------------------------------
// C: c-counter

#[tokio::test]
async fn c_counter_counts_its_comments_per_task() {
    let plugins = Plugins::new();
    plugins.add("c-counter", &example("c-counter"), &Plugins::bot_toml(""));
    let host = Host::start(plugins.path());
    for (delivery, (task, n)) in [(1532, 1), (1532, 2), (77, 1), (1532, 3)]
        .into_iter()
        .enumerate()
    {
        // Each delivery a new comment, as Pyrus sends them: the same body
        // again would be a resend, answered from memory.
        let mut event: Value = serde_json::from_str(&example_with_task(task)).expect("JSON");
        event["task"]["comments"][0]["id"] = delivery.into();
        let res = host.pyrus("c-counter", &event.to_string()).await;
        assert_eq!(res.status(), 200, "{}", host.log());
        let answer: Value = res.json().await.expect("JSON comment");
        assert_eq!(
            answer,
            json!({"text": format!("I have commented on this task {n} times.")}),
            "task {task}"
        );
    }
}
