//! `cargo bench --bench protocols`: the HTTP round trip of each protocol
//! beside the Pyrus bot, through the real `hookhost` binary on loopback:
//!
//! - a generic hook (`errbot-examples` `/test`) verified with `github`;
//! - a Pyrus extension `/event` (the document's example body);
//! - a Worksection delivery, answered `{"status":"OK"}` while a plugin that
//!   sleeps 50 ms per event works on it after the answer.
//!
//! Request counts are fixed so the run is bounded; numbers are printed, not
//! asserted.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::*;

const REQUESTS: usize = 2_000;
const WORKSECTION_DELIVERIES: usize = 200;

const EXT_EVENT: &str = r#"{ "credentials":[ {"code":"login", "value":"test@email.com"}, {"code":"password", "value":"pass123"} ], "task_id": 223412, "event_person": { "user_id": "34231", "first_name": "Ilya", "last_name": "Laserson", "work_phone": "+79338762030", "resolution": "approved" }, "responsible_person":{ "user_id": "34231", "first_name": "Ilya", "last_name": "Laserson", "work_phone": "+79338762030" }, "mappings":[ {"code":"PhoneNumberFrom", "value":"200"}, {"code":"Subject", "value":"Здравствуйте!"} ], "event_type": "comment" }"#;

const WS_EVENT: &str = r#"[{"action":"post","object":{"type":"task","id":"1","page":"/project/1/1/"},"user_from":{"id":"7","email":"ann@example.com","name":"Ann"},"new":{"name":"Bench","priority":"1"}}]"#;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(run());
}

async fn run() {
    let plugins = Plugins::new();
    plugins.add(
        "errbot-examples",
        &guest("errbot-examples"),
        "verify = \"github\"\nsecret = { value = \"bench-secret\" }",
    );
    plugins.add("ext", &guest("test-ext"), &Plugins::bot_toml(""));
    plugins.add(
        "ws",
        &guest("test-worksection"),
        "verify = \"none\"\n[config]\nmode = \"slow\"\nslow_ms = \"50\"",
    );
    let host = Host::start_with(plugins.path(), &[], &[("RUST_LOG", "warn")]);
    let client = client();

    let (header, github_sig) = senders::github("bench-secret", b"ping");
    let hook = format!("{}/hooks/errbot-examples/test", host.url);
    let mut samples = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS + 100 {
        let start = Instant::now();
        let res = client
            .post(&hook)
            .header(header, &github_sig)
            .body("ping")
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200);
        res.bytes().await.expect("body");
        if i >= 100 {
            samples.push(start.elapsed());
        }
    }
    report(
        "generic hook, github-verified, one connection",
        &mut samples,
    );

    let ext = format!("{}/pyrus-ext/ext/event", host.url);
    let sig = sign(SECRET, EXT_EVENT);
    let mut samples = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS + 100 {
        let start = Instant::now();
        let res = client
            .post(&ext)
            .header("x-pyrus-sig", &sig)
            .body(EXT_EVENT)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200);
        res.bytes().await.expect("body");
        if i >= 100 {
            samples.push(start.elapsed());
        }
    }
    report("Pyrus extension /event, one connection", &mut samples);

    let ws = format!("{}/worksection/ws", host.url);
    let mut samples = Vec::with_capacity(WORKSECTION_DELIVERIES);
    for _ in 0..WORKSECTION_DELIVERIES {
        let start = Instant::now();
        let res = client
            .post(&ws)
            .body(WS_EVENT)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.expect("body"), r#"{"status":"OK"}"#);
        samples.push(start.elapsed());
    }
    report("Worksection OK, plugin busy 50 ms per event", &mut samples);
    // Let the queued events drain before the host is stopped.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what:<52} n={:<5} median {:>9.1?}  p99 {:>9.1?}  min {:>9.1?}",
        samples.len(),
        pick(0.5),
        pick(0.99),
        samples[0]
    );
}
