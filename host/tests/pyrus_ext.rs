//! The Pyrus extension routes end to end: real `hookhost` process, real
//! sockets, `test-ext` and the `ext-demo` example built from source, every
//! call signed as Pyrus signs it (GETs over the empty body).

mod support;

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use support::*;

const LOG_WAIT: Duration = Duration::from_secs(2);

// The request bodies of the extension document (seed 001), verbatim.
const DOC_AUTHORIZE: &str = r#"{ "credentials":[ {"code":"login", "value":"test@email.com"}, {"code":"password", "value":"pass123"} ] }"#;
const DOC_OAUTH: &str = r#"{ "code": "idjfLjV2hc72cA" , "client_id": "384592" , "client_secret": "JnchsYYwbc92Isj" , "scope": "offline_access,profile_settings" , "grant_type": "authorization_code" }"#;
const DOC_TOGGLE: &str = r#"{ "credentials":[ {"code":"login", "value":"test@email.com"}, {"code":"password", "value":"pass123"} ], "enabled": true }"#;
const DOC_EVENT: &str = r#"{ "credentials":[ {"code":"login", "value":"test@email.com"}, {"code":"password", "value":"pass123"} ], "task_id": 223412, "event_person": { "user_id": "34231", "first_name": "Ilya", "last_name": "Laserson", "work_phone": "+79338762030", "resolution": "approved" }, "responsible_person":{ "user_id": "34231", "first_name": "Ilya", "last_name": "Laserson", "work_phone": "+79338762030" }, "mappings":[ {"code":"PhoneNumberFrom", "value":"200"}, {"code":"Subject", "value":"Здравствуйте!"} ], "event_type": "comment" }"#;
const DOC_MESSAGE: &str = r#"{ "credentials":[ {"code":"login", "value":"test@email.com"}, {"code":"password", "value":"pass123"} ], "channel_id": 87654321, "message_type": "message", "message_text": "Please, write a review", "attachment_ids":[12345, 67890] }"#;
const DOC_CREDENTIALS: &str = "credentials=login=test@email.com,password=pass123";
const NUMBERS: &str = r#"{"numbers":["2043","8 800 111-22-33","support phone"]}"#;

/// The four calls with a body, each with the document's body.
const POSTS: [(&str, &str); 4] = [
    ("authorize", DOC_AUTHORIZE),
    ("toggle", DOC_TOGGLE),
    ("event", DOC_EVENT),
    ("sendmessage", DOC_MESSAGE),
];

/// An extension sidecar: the test secret and `[config]` lines.
fn ext_toml(config: &str) -> String {
    format!("secret = {{ value = \"{SECRET}\" }}\n[config]\n{config}\n")
}

/// A host serving `test-ext` as plugin `ext` with `[config]` lines.
fn test_ext(config: &str) -> (Plugins, Host) {
    let plugins = Plugins::new();
    plugins.add("ext", &guest("test-ext"), &ext_toml(config));
    let host = Host::start(plugins.path());
    (plugins, host)
}

struct Reply {
    status: u16,
    content_type: String,
    allow: String,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("{} answered non-JSON {:?}: {e}", self.status, self.text))
    }

    /// The `error` of a refusal.
    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

/// `method` on `/pyrus-ext/{plugin}/{route}` with `body`, `X-Pyrus-Sig`
/// `sig` (none if `None`) and `headers`; `X-Pyrus-Retry: 1/3` unless given.
async fn send(
    host: &Host,
    method: Method,
    plugin: &str,
    route: &str,
    body: &str,
    sig: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = host
        .request(method, &format!("/pyrus-ext/{plugin}/{route}"))
        .header("user-agent", "Pyrus-Extensions-1")
        .body(body.to_owned());
    if !body.is_empty() {
        req = req.header("content-type", "application/json");
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("x-pyrus-retry"))
    {
        req = req.header("x-pyrus-retry", "1/3");
    }
    if let Some(sig) = sig {
        req = req.header("x-pyrus-sig", sig);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("request reaches hookhost");
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    Reply {
        status: res.status().as_u16(),
        content_type: header("content-type"),
        allow: header("allow"),
        text: res.text().await.expect("response body"),
    }
}

/// A correctly signed POST of `body` to `route`.
async fn post(host: &Host, plugin: &str, route: &str, body: &str) -> Reply {
    let sig = sign(SECRET, body);
    send(host, Method::POST, plugin, route, body, Some(&sig), &[]).await
}

/// A correctly signed GET (over the empty body) of `route`, query included.
async fn get(host: &Host, plugin: &str, route: &str) -> Reply {
    let sig = sign(SECRET, "");
    send(host, Method::GET, plugin, route, "", Some(&sig), &[]).await
}

/// Asserts a 200 `application/json` answer of exactly `expected`.
fn assert_answer(reply: &Reply, expected: &str, what: &str) {
    assert_eq!(
        (reply.status, reply.text.as_str()),
        (200, expected),
        "{what}"
    );
    assert_eq!(reply.content_type, "application/json", "{what}");
}

/// Waits for the plugin's log line containing `what` and returns it.
async fn log_line(host: &Host, what: &str) -> String {
    host.wait_for_log(what, LOG_WAIT).await;
    host.log()
        .lines()
        .find(|l| l.contains(what))
        .expect("line seen")
        .to_owned()
}

/// How many log lines contain `what`.
fn log_count(host: &Host, what: &str) -> usize {
    host.log().lines().filter(|l| l.contains(what)).count()
}

#[tokio::test]
async fn the_documents_examples_reach_the_plugin_typed() {
    let (_plugins, host) = test_ext("mode = \"ok\"");

    let reply = post(&host, "ext", "authorize", DOC_AUTHORIZE).await;
    assert_answer(
        &reply,
        r#"{"account_id":"acc-1","account_name":"Test account"}"#,
        "authorize by credentials",
    );
    let line = log_line(&host, "authorize ok credentials=").await;
    assert!(
        line.contains(&format!("authorize ok {DOC_CREDENTIALS} retry=1/3")),
        "{line}"
    );
    assert!(
        line.contains("plugin=\"ext\"") || line.contains("plugin=ext"),
        "{line}"
    );

    let reply = post(&host, "ext", "authorize", DOC_OAUTH).await;
    assert_answer(
        &reply,
        r#"{"account_id":"acc-1","account_name":"Test account","access_token":"test-access-token","refresh_token":"test-refresh-token"}"#,
        "authorize by OAuth",
    );
    log_line(
        &host,
        "authorize ok oauth grant=authorization-code code=idjfLjV2hc72cA refresh_token=- \
         client_id=384592 client_secret=JnchsYYwbc92Isj scope=offline_access,profile_settings \
         redirect_uri=- retry=1/3",
    )
    .await;

    // A redelivery: the plugin sees the attempt number.
    let sig = sign(SECRET, DOC_TOGGLE);
    let reply = send(
        &host,
        Method::POST,
        "ext",
        "toggle",
        DOC_TOGGLE,
        Some(&sig),
        &[("x-pyrus-retry", "2/3")],
    )
    .await;
    assert_answer(&reply, "{}", "toggle");
    log_line(
        &host,
        &format!("toggle ok enabled=true token=- {DOC_CREDENTIALS} retry=2/3"),
    )
    .await;

    let reply = post(&host, "ext", "event", DOC_EVENT).await;
    assert_answer(&reply, "{}", "event");
    // `user_id` is a string in the document's example; it arrives as a number.
    log_line(
        &host,
        &format!(
            "event ok task=223412 type=comment person=34231 resolution=approved \
             mappings=PhoneNumberFrom=200,Subject=Здравствуйте! responsible=34231 \
             token=- {DOC_CREDENTIALS} raw_len={} retry=1/3",
            DOC_EVENT.len()
        ),
    )
    .await;

    // `channel_id` is a number in the example and a string in the WIT.
    let reply = post(&host, "ext", "sendmessage", DOC_MESSAGE).await;
    assert_answer(&reply, "{}", "sendmessage");
    log_line(
        &host,
        &format!(
            "send-message ok channel=87654321 type=message text=Please, write a review \
             attachments=12345,67890 token=- {DOC_CREDENTIALS} retry=1/3"
        ),
    )
    .await;

    let reply = get(
        &host,
        "ext",
        "getavailablenumbers?access_token=ds233sdasdlfgoasd",
    )
    .await;
    assert_answer(&reply, NUMBERS, "numbers by token");
    log_line(
        &host,
        "available-numbers ok token=ds233sdasdlfgoasd credentials= retry=1/3",
    )
    .await;

    let reply = get(
        &host,
        "ext",
        "getavailablenumbers?username=qwe123&access_code=654321",
    )
    .await;
    assert_answer(&reply, NUMBERS, "numbers by credentials");
    log_line(
        &host,
        "available-numbers ok token=- credentials=username=qwe123,access_code=654321 retry=1/3",
    )
    .await;

    // Query credentials reach the plugin, never the host's own log lines.
    let log = host.log();
    let leaks: Vec<&str> = log
        .lines()
        .filter(|l| !l.contains("hookhost::guest") && l.contains("654321"))
        .collect();
    assert!(leaks.is_empty(), "query credentials logged: {leaks:?}");

    // Without X-Pyrus-Retry a call counts as the first of three.
    let res = host
        .request(
            Method::GET,
            "/pyrus-ext/ext/getavailablenumbers?access_token=without-retry",
        )
        .header("x-pyrus-sig", sign(SECRET, ""))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    log_line(
        &host,
        "available-numbers ok token=without-retry credentials= retry=1/3",
    )
    .await;
}

#[tokio::test]
async fn pulse_answers_signed_requests_while_served() {
    let plugins = Plugins::new();
    plugins.add("ext", &guest("test-ext"), &ext_toml(""));
    plugins.add("trapper", &guest("test-ext"), &ext_toml("mode = \"trap\""));
    plugins.add("no-secret", &guest("test-ext"), "[config]\nmode = \"ok\"\n");
    plugins.add("bot", &echo_bot(), &Plugins::bot_toml(""));
    let host = Host::start(plugins.path());

    let reply = get(&host, "ext", "pulse").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // Loaded and instantiable is all a pulse asks; the trap is in the calls.
    assert_eq!(get(&host, "trapper", "pulse").await.status, 200);

    let wrong = sign("another secret", "");
    let over_a_body = sign(SECRET, "{}");
    for (what, sig) in [
        ("unsigned", None),
        ("wrong secret", Some(wrong.as_str())),
        ("signed over another body", Some(over_a_body.as_str())),
        ("not hex", Some("zz")),
    ] {
        let reply = send(&host, Method::GET, "ext", "pulse", "", sig, &[]).await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
        assert!(
            reply.error().contains("X-Pyrus-Sig"),
            "{what}: {}",
            reply.text
        );
    }

    let reply = get(&host, "no-secret", "pulse").await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert!(!reply.error().contains(SECRET), "{}", reply.text);
    let listing = routes(plugins.path(), &[]);
    assert!(!listing.contains(SECRET), "routes printed the secret");
    assert!(
        listing
            .lines()
            .any(|l| l.contains("GET /pyrus-ext/no-secret/pulse")
                && l.contains("not served: a pyrus-ext plugin needs a secret")),
        "{listing}"
    );

    assert_eq!(get(&host, "nobody", "pulse").await.status, 404);
    // A Pyrus bot is not an extension, nor an extension a bot.
    assert_eq!(get(&host, "bot", "pulse").await.status, 404);
    assert_eq!(host.pyrus("ext", EXAMPLE).await.status(), 404);
}

#[tokio::test]
async fn every_error_code_is_answered_as_the_document_names_it() {
    const CODES: [&str; 7] = [
        "bad-credentials",
        "no-account",
        "bad-authorization-code",
        "bad-refresh-token",
        "account-blocked-by-user",
        "external-error",
        "internal-error",
    ];
    let plugins = Plugins::new();
    for (i, code) in CODES.iter().enumerate() {
        // The last one keeps the plugin's default message.
        let message = if i + 1 < CODES.len() {
            format!("error_message = \"why {code}\"\n")
        } else {
            String::new()
        };
        let config = format!("mode = \"error\"\nerror_code = \"{code}\"\n{message}");
        plugins.add(code, &guest("test-ext"), &ext_toml(&config));
    }
    let host = Host::start(plugins.path());

    for (i, code) in CODES.iter().enumerate() {
        let snake = code.replace('-', "_");
        let message = if i + 1 < CODES.len() {
            format!("why {code}")
        } else {
            "failed".to_owned()
        };
        let expected = format!(r#"{{"error_code":"{snake}","error":"{message}"}}"#);
        // Every route answers a typed error the same way.
        for (route, body) in POSTS {
            let reply = post(&host, code, route, body).await;
            assert_answer(&reply, &expected, &format!("{code} on {route}"));
        }
        let reply = get(&host, code, "getavailablenumbers?access_token=t").await;
        assert_answer(&reply, &expected, &format!("{code} on getavailablenumbers"));
        log_line(&host, &format!("available-numbers error code={code}")).await;
    }
}

#[tokio::test]
async fn limits_are_counted_in_characters() {
    let (_plugins, host) = test_ext("");
    let toggle = |code: &str, value: &str| {
        format!(r#"{{"credentials":[{{"code":"{code}","value":"{value}"}}],"enabled":false}}"#)
    };
    let k = |n: usize| "к".repeat(n);

    // Exactly at the limits, in two-byte characters: accepted.
    let reply = post(&host, "ext", "toggle", &toggle(&k(50), "at-code-limit")).await;
    assert_answer(&reply, "{}", "code of 50 characters");
    log_line(&host, &format!("credentials={}=at-code-limit", k(50))).await;
    let reply = post(&host, "ext", "toggle", &toggle("value-limit", &k(500))).await;
    assert_answer(&reply, "{}", "value of 500 characters");
    log_line(&host, &format!("credentials=value-limit={}", k(500))).await;
    let message = |channel: &str, text: &str| {
        format!(r#"{{"channel_id":"{channel}","message_type":"text","message_text":"{text}"}}"#)
    };
    let reply = post(
        &host,
        "ext",
        "sendmessage",
        &message("text-limit", &k(10_000)),
    )
    .await;
    assert_answer(&reply, "{}", "message_text of 10000 characters");
    log_line(
        &host,
        "send-message ok channel=text-limit type=text text=кккк",
    )
    .await;
    let reply = get(
        &host,
        "ext",
        &format!(
            "getavailablenumbers?{}=query-code-limit&query-value-limit={}",
            "%D0%BA".repeat(50),
            "%D0%BA".repeat(500)
        ),
    )
    .await;
    assert_answer(&reply, NUMBERS, "query at the limits");
    log_line(&host, &format!("credentials={}=query-code-limit", k(50))).await;

    // One character over: refused with the limit named, before the plugin.
    let over: [(&str, &str, String, &str); 10] = [
        ("toggle", "code", toggle(&k(51), "v"), "at most 50"),
        ("toggle", "value", toggle("c", &k(501)), "at most 500"),
        (
            "authorize",
            "code",
            format!(r#"{{"credentials":[{{"code":"{}","value":"v"}}]}}"#, k(51)),
            "at most 50",
        ),
        (
            "authorize",
            "value",
            format!(r#"{{"credentials":[{{"code":"c","value":"{}"}}]}}"#, k(501)),
            "at most 500",
        ),
        (
            "event",
            "code",
            format!(
                r#"{{"credentials":[{{"code":"{}","value":"v"}}],"task_id":1}}"#,
                k(51)
            ),
            "at most 50",
        ),
        (
            "event",
            "value",
            format!(
                r#"{{"credentials":[{{"code":"c","value":"{}"}}],"task_id":1}}"#,
                k(501)
            ),
            "at most 500",
        ),
        (
            "sendmessage",
            "code",
            format!(
                r#"{{"credentials":[{{"code":"{}","value":"v"}}],"channel_id":"1"}}"#,
                k(51)
            ),
            "at most 50",
        ),
        (
            "sendmessage",
            "value",
            format!(
                r#"{{"credentials":[{{"code":"c","value":"{}"}}],"channel_id":"1"}}"#,
                k(501)
            ),
            "at most 500",
        ),
        (
            "sendmessage",
            "message_text",
            message("1", &k(10_001)),
            "at most 10000",
        ),
        (
            "sendmessage",
            "ascii message_text",
            message("1", &"t".repeat(10_001)),
            "at most 10000",
        ),
    ];
    for (route, what, body, limit) in &over {
        let reply = post(&host, "ext", route, body).await;
        assert_eq!(reply.status, 400, "{route} {what}: {}", reply.text);
        assert!(
            reply.error().contains(limit),
            "{route} {what}: {}",
            reply.text
        );
    }
    for (what, query, limit) in [
        ("code", format!("{}=v", "%D0%BA".repeat(51)), "at most 50"),
        (
            "value",
            format!("c={}", "%D0%BA".repeat(501)),
            "at most 500",
        ),
    ] {
        let reply = get(&host, "ext", &format!("getavailablenumbers?{query}")).await;
        assert_eq!(reply.status, 400, "query {what}: {}", reply.text);
        assert!(
            reply.error().contains(limit),
            "query {what}: {}",
            reply.text
        );
    }

    // A last accepted call marks the end; only the accepted calls ran.
    let reply = post(&host, "ext", "toggle", &toggle("marker", "end")).await;
    assert_answer(&reply, "{}", "marker");
    log_line(&host, "credentials=marker=end").await;
    assert_eq!(log_count(&host, "toggle ok"), 3, "{}", host.log());
    assert_eq!(log_count(&host, "send-message ok"), 1, "{}", host.log());
    assert_eq!(
        log_count(&host, "available-numbers ok"),
        1,
        "{}",
        host.log()
    );
    for call in ["authorize ok", "event ok"] {
        assert_eq!(log_count(&host, call), 0, "{call}:\n{}", host.log());
    }
}

#[tokio::test]
async fn bad_signatures_and_retry_headers_never_reach_the_plugin() {
    let (_plugins, host) = test_ext("");
    let body = DOC_TOGGLE;
    let good = sign(SECRET, body);
    let wrong = sign("another secret", body);
    let upper = good.to_uppercase();
    let cases: [(&str, Option<&str>); 5] = [
        ("wrong secret", Some(&wrong)),
        ("missing", None),
        ("truncated", Some(&good[..good.len() - 2])),
        ("not hex", Some("not-a-signature")),
        ("empty", Some("")),
    ];
    for (route, body) in POSTS {
        let good = sign(SECRET, body);
        let wrong = sign("another secret", body);
        for (what, sig) in [
            ("wrong secret", Some(wrong.as_str())),
            ("missing", None),
            ("truncated", Some(&good[..good.len() - 2])),
        ] {
            let reply = send(&host, Method::POST, "ext", route, body, sig, &[]).await;
            assert_eq!(reply.status, 401, "{route} {what}: {}", reply.text);
        }
    }
    for (what, sig) in cases {
        let reply = send(&host, Method::POST, "ext", "toggle", body, sig, &[]).await;
        assert_eq!(reply.status, 401, "{what}: {}", reply.text);
        assert!(
            reply.error().contains("X-Pyrus-Sig"),
            "{what}: {}",
            reply.text
        );
    }
    // The signature of the sent body, but the body changed on the way.
    let tampered = body.replace("true", "false");
    let reply = send(
        &host,
        Method::POST,
        "ext",
        "toggle",
        &tampered,
        Some(&good),
        &[],
    )
    .await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    // A GET is signed over the empty body, whatever the query.
    let numbers = "getavailablenumbers?access_token=sig-test";
    for sig in [sign(SECRET, numbers), sign("another secret", "")] {
        let reply = send(&host, Method::GET, "ext", numbers, "", Some(&sig), &[]).await;
        assert_eq!(reply.status, 401, "{}", reply.text);
    }

    for retry in ["7", "0/3", "4/3", "a/b", "1-3", ""] {
        let reply = send(
            &host,
            Method::POST,
            "ext",
            "toggle",
            body,
            Some(&good),
            &[("x-pyrus-retry", retry)],
        )
        .await;
        assert_eq!(reply.status, 400, "retry {retry:?}: {}", reply.text);
        assert!(
            reply.error().contains("X-Pyrus-Retry"),
            "retry {retry:?}: {}",
            reply.text
        );
    }
    let sig = sign(SECRET, "");
    let reply = send(
        &host,
        Method::GET,
        "ext",
        "pulse",
        "",
        Some(&sig),
        &[("x-pyrus-retry", "9/3")],
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.text);

    // Nothing above ran the plugin; the same request signed in upper-case
    // hex, as a last retry, does.
    let reply = send(
        &host,
        Method::POST,
        "ext",
        "toggle",
        body,
        Some(&upper),
        &[("x-pyrus-retry", "3/3")],
    )
    .await;
    assert_answer(&reply, "{}", "upper-case signature");
    log_line(&host, "toggle ok enabled=true").await;
    for call in [
        "authorize ok",
        "event ok",
        "send-message ok",
        "available-numbers ok",
    ] {
        assert_eq!(log_count(&host, call), 0, "{call}:\n{}", host.log());
    }
    assert_eq!(log_count(&host, "toggle ok"), 1, "{}", host.log());
    assert!(host.log().contains("retry=3/3"), "{}", host.log());
    assert!(
        !host.log().contains(SECRET),
        "secret logged:\n{}",
        host.log()
    );
}

#[tokio::test]
async fn wrong_methods_get_405_and_traps_get_502() {
    let plugins = Plugins::new();
    plugins.add("ext", &guest("test-ext"), &ext_toml(""));
    plugins.add("trapper", &guest("test-ext"), &ext_toml("mode = \"trap\""));
    let host = Host::start(plugins.path());

    let empty = sign(SECRET, "");
    for route in ["authorize", "toggle", "event", "sendmessage"] {
        let reply = send(&host, Method::GET, "ext", route, "", Some(&empty), &[]).await;
        assert_eq!(reply.status, 405, "GET {route}: {}", reply.text);
        assert!(reply.allow.contains("POST"), "GET {route}: {}", reply.allow);
        assert!(!reply.error().is_empty(), "GET {route}: {}", reply.text);
    }
    for route in ["pulse", "getavailablenumbers"] {
        let reply = post(&host, "ext", route, "{}").await;
        assert_eq!(reply.status, 405, "POST {route}: {}", reply.text);
        assert!(reply.allow.contains("GET"), "POST {route}: {}", reply.allow);
    }

    // A host-side failure, in the protocol's own terms (key order aside:
    // these come from `json!`, the plugin's errors from a struct).
    let trapped = serde_json::json!({"error_code": "internal_error", "error": "plugin trapped"});
    for (route, body) in POSTS {
        let reply = post(&host, "trapper", route, body).await;
        assert_eq!(
            (reply.status, reply.json()),
            (502, trapped.clone()),
            "{route}"
        );
        assert_eq!(reply.content_type, "application/json", "{route}");
    }
    let reply = get(&host, "trapper", "getavailablenumbers?access_token=t").await;
    assert_eq!((reply.status, reply.json()), (502, trapped));
    // The trap is logged for the operator, and the next call gets a fresh
    // instance: the plugin still answers its pulse, the other one its calls.
    host.wait_for_log("test-ext was told to trap in authorize", LOG_WAIT)
        .await;
    assert_eq!(get(&host, "trapper", "pulse").await.status, 200);
    let reply = post(&host, "ext", "authorize", DOC_AUTHORIZE).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test]
async fn the_ext_demo_example_connects_accounts_from_its_config() {
    let plugins = Plugins::new();
    plugins.add(
        "demo",
        &guest("ext-demo"),
        &ext_toml(
            "login = \"alice\"\npassword = \"s3cret\"\naccount_name = \"Alice's desk\"\n\
             oauth_code = \"code-123\"\nblocked_channel = \"666\"\n\
             numbers = \"+7 495 000-00-01, 2043 ,\"",
        ),
    );
    plugins.add(
        "demo-acc",
        &guest("ext-demo"),
        &ext_toml("login = \"bob\"\npassword = \"pw\"\naccount_id = \"acct-9\""),
    );
    let host = Host::start(plugins.path());
    let creds = |login: &str, password: &str| {
        format!(
            r#"{{"credentials":[{{"code":"login","value":"{login}"}},{{"code":"password","value":"{password}"}}]}}"#
        )
    };

    let reply = post(&host, "demo", "authorize", &creds("alice", "s3cret")).await;
    assert_answer(
        &reply,
        r#"{"account_id":"demo-alice","account_name":"Alice's desk"}"#,
        "by credentials",
    );
    log_line(&host, "account alice connected").await;
    let reply = post(&host, "demo-acc", "authorize", &creds("bob", "pw")).await;
    assert_answer(
        &reply,
        r#"{"account_id":"acct-9","account_name":"bob"}"#,
        "configured account id",
    );
    let reply = post(&host, "demo", "authorize", &creds("alice", "wrong")).await;
    assert_answer(
        &reply,
        r#"{"error_code":"no_account","error":"wrong login or password"}"#,
        "wrong password",
    );

    let code = |code: &str| {
        format!(
            r#"{{"grant_type":"authorization_code","authorization_code":"{code}","client_id":"c","redirect_uri":"https://pyrus.com/integrations/oauthorization"}}"#
        )
    };
    let reply = post(&host, "demo", "authorize", &code("code-123")).await;
    assert_answer(
        &reply,
        r#"{"account_id":"demo-oauth","account_name":"Alice's desk","access_token":"at-code-123","refresh_token":"rt-code-123"}"#,
        "OAuth code",
    );
    let reply = post(&host, "demo", "authorize", &code("code-999")).await;
    assert_answer(
        &reply,
        r#"{"error_code":"bad_authorization_code","error":"unknown authorization code"}"#,
        "wrong OAuth code",
    );
    let refresh =
        |token: &str| format!(r#"{{"grant_type":"refresh_token","refresh_token":"{token}"}}"#);
    let reply = post(&host, "demo", "authorize", &refresh("rt-code-123")).await;
    assert_answer(
        &reply,
        r#"{"account_id":"demo-oauth","account_name":"Alice's desk","access_token":"at-code-123","refresh_token":"rt-code-123"}"#,
        "refresh",
    );
    let reply = post(&host, "demo", "authorize", &refresh("at-code-123")).await;
    assert_answer(
        &reply,
        r#"{"error_code":"bad_refresh_token","error":"unknown refresh token"}"#,
        "wrong refresh token",
    );

    let reply = post(
        &host,
        "demo",
        "toggle",
        r#"{"access_token":"at-code-123","enabled":false}"#,
    )
    .await;
    assert_answer(&reply, "{}", "toggle by token");
    log_line(&host, "notifications disabled").await;
    let reply = post(&host, "demo", "toggle", DOC_TOGGLE).await;
    assert_answer(
        &reply,
        r#"{"error_code":"bad_credentials","error":"unknown account"}"#,
        "toggle by unknown credentials",
    );

    let reply = post(&host, "demo", "event", DOC_EVENT).await;
    assert_answer(&reply, "{}", "event");
    log_line(
        &host,
        "task 223412 comment by Ilya Laserson (#34231), resolution approved, \
         mappings [PhoneNumberFrom=200, Subject=Здравствуйте!]",
    )
    .await;

    let reply = post(&host, "demo", "sendmessage", DOC_MESSAGE).await;
    assert_answer(&reply, "{}", "message");
    log_line(
        &host,
        "message to channel 87654321 (message): \"Please, write a review\", attachments [12345, 67890]",
    )
    .await;
    let blocked = DOC_MESSAGE.replace("87654321", "666");
    let reply = post(&host, "demo", "sendmessage", &blocked).await;
    assert_answer(
        &reply,
        r#"{"error_code":"account_blocked_by_user","error":"the channel's user blocked this account"}"#,
        "blocked channel",
    );

    let reply = get(
        &host,
        "demo",
        "getavailablenumbers?access_token=at-code-123",
    )
    .await;
    assert_answer(
        &reply,
        r#"{"numbers":["+7 495 000-00-01","2043"]}"#,
        "numbers",
    );
    let reply = get(
        &host,
        "demo",
        "getavailablenumbers?login=alice&password=s3cret",
    )
    .await;
    assert_answer(
        &reply,
        r#"{"numbers":["+7 495 000-00-01","2043"]}"#,
        "numbers",
    );
    for query in ["", "?login=alice&password=WRONG", "?access_token=forged"] {
        let reply = get(&host, "demo", &format!("getavailablenumbers{query}")).await;
        assert_answer(
            &reply,
            r#"{"error_code":"bad_credentials","error":"unknown account"}"#,
            &format!("numbers with {query:?}"),
        );
    }
}

#[tokio::test]
async fn malformed_bodies_get_400_before_the_plugin() {
    let (_plugins, host) = test_ext("");
    let cases = [
        ("authorize", "not json", "JSON"),
        ("toggle", "not json", "JSON"),
        ("event", "not json", "JSON"),
        ("sendmessage", "not json", "JSON"),
        ("authorize", "", "JSON"),
        ("authorize", "{}", "grant_type"),
        ("authorize", r#"{"client_id":"384592"}"#, "grant_type"),
        ("authorize", r#"{"grant_type":"password"}"#, "password"),
        ("authorize", r#"{"credentials":"login"}"#, ""),
        ("toggle", r#"{"credentials":[]}"#, "enabled"),
        ("toggle", r#"{"enabled":"yes"}"#, ""),
        (
            "toggle",
            r#"{"credentials":[{"value":"v"}],"enabled":true}"#,
            "code",
        ),
        ("event", r#"{"event_type":"create"}"#, "task_id"),
        ("event", r#"{"task_id":"task-1"}"#, "task-1"),
        ("sendmessage", r#"{"message_text":"hi"}"#, "channel_id"),
        (
            "sendmessage",
            r#"{"channel_id":1,"attachment_ids":["x"]}"#,
            "",
        ),
        ("toggle", "[true]", ""),
    ];
    for (route, body, mentions) in cases {
        let reply = post(&host, "ext", route, body).await;
        assert_eq!(reply.status, 400, "{route} {body:?}: {}", reply.text);
        let error = reply.error();
        assert!(
            !error.is_empty() && error.contains(mentions),
            "{route} {body:?}: {}",
            reply.text
        );
    }

    // The plugin saw none of it, and still serves.
    let reply = post(&host, "ext", "toggle", r#"{"enabled":true}"#).await;
    assert_answer(&reply, "{}", "minimal toggle");
    log_line(
        &host,
        "toggle ok enabled=true token=- credentials= retry=1/3",
    )
    .await;
    for call in [
        "authorize ok",
        "event ok",
        "send-message ok",
        "available-numbers ok",
    ] {
        assert_eq!(log_count(&host, call), 0, "{call}:\n{}", host.log());
    }
    assert_eq!(log_count(&host, "toggle ok"), 1, "{}", host.log());
}

/// The memo's log line for an answer sent again without the plugin.
const REPEATED: &str = "answer repeated from memory";

#[tokio::test]
async fn a_repeated_extension_call_is_answered_from_memory() {
    let (_plugins, host) = test_ext("");
    let sig = sign(SECRET, DOC_TOGGLE);
    for retry in ["1/3", "2/3"] {
        let headers = [("x-pyrus-retry", retry)];
        let reply = send(
            &host,
            Method::POST,
            "ext",
            "toggle",
            DOC_TOGGLE,
            Some(&sig),
            &headers,
        );
        assert_answer(&reply.await, "{}", retry);
    }
    // Every call answers for itself, and the query string is a GET's body.
    let first = post(&host, "ext", "authorize", DOC_AUTHORIZE).await;
    let again = post(&host, "ext", "authorize", DOC_AUTHORIZE).await;
    assert_answer(&again, &first.text, "authorize again");
    for query in ["access_token=a", "access_token=b", "access_token=a"] {
        let reply = get(&host, "ext", &format!("getavailablenumbers?{query}")).await;
        assert_answer(&reply, NUMBERS, query);
    }

    host.wait_for_log(REPEATED, LOG_WAIT).await;
    let log = host.log();
    assert_eq!(log_count(&host, "toggle ok"), 1, "{log}");
    assert_eq!(log_count(&host, "authorize ok"), 1, "{log}");
    assert_eq!(log_count(&host, "available-numbers ok"), 2, "{log}");
    assert_eq!(log_count(&host, REPEATED), 3, "{log}");
    let line = log.lines().find(|l| l.contains(REPEATED)).expect("seen");
    assert!(line.contains("2/3") && line.contains("ext"), "{line}");
}

#[tokio::test]
async fn an_extension_error_is_not_remembered() {
    // An error code may not hold next time (`external_error`), and a trap
    // is the host's failure: both run the plugin again.
    let plugins = Plugins::new();
    let error = "mode = \"error\"\nerror_code = \"external-error\"";
    plugins.add("down", &guest("test-ext"), &ext_toml(error));
    plugins.add("trap", &guest("test-ext"), &ext_toml("mode = \"trap\""));
    let host = Host::start(plugins.path());
    for _ in 0..2 {
        let reply = post(&host, "down", "toggle", DOC_TOGGLE).await;
        assert_eq!(reply.json()["error_code"], "external_error");
        let reply = post(&host, "trap", "toggle", DOC_TOGGLE).await;
        assert_eq!(reply.status, 502, "{}", reply.text);
    }
    let log = host.log();
    assert_eq!(
        log_count(&host, "toggle error code=external-error"),
        2,
        "{log}"
    );
    assert_eq!(log_count(&host, "told to trap in toggle"), 2, "{log}");
    assert_eq!(log_count(&host, REPEATED), 0, "{log}");
}
