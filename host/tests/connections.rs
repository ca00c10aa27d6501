//! Connections under abuse, end to end over raw sockets against the real
//! `hookhost` process: slow and silent senders are closed within the header
//! timeout, idle keep-alive connections after the idle timeout, connections
//! over the cap get a clean `503`, failed accepts are survived, oversized
//! bodies are refused at once, and HTTP/1.1 needs a `Host`. After each, the
//! host still answers a signed Pyrus request.

mod support;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::*;

/// Short timeouts keep the tests fast; what they check does not depend on
/// the values.
const HEADER_S: u64 = 2;
const IDLE_S: u64 = 1;

fn echo_host(args: &[&str]) -> (Plugins, Host) {
    let plugins = Plugins::new();
    plugins.add("echo-bot", &echo_bot(), &Plugins::bot_toml(""));
    let host = Host::start_with(plugins.path(), args, &[]);
    (plugins, host)
}

fn timeouts(header: u64, idle: u64) -> Vec<String> {
    vec![
        "--header-timeout-s".into(),
        header.to_string(),
        "--idle-timeout-s".into(),
        idle.to_string(),
    ]
}

fn start(args: &[String]) -> (Plugins, Host) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    echo_host(&args)
}

async fn connect(host: &Host) -> TcpStream {
    let addr = host.url.trim_start_matches("http://");
    TcpStream::connect(addr).await.expect("connect to hookhost")
}

/// The host still does its job: a signed request gets the bot's answer.
async fn still_serves(host: &Host) {
    let res = host.pyrus("echo-bot", EXAMPLE).await;
    assert_eq!(res.status(), 200, "{}", host.log());
    assert_eq!(res.text().await.unwrap(), EXAMPLE_ANSWER);
}

/// Reads until the host closes the connection, writing `trickle` one byte
/// every `every` meanwhile; returns what was read and how long it took.
async fn until_closed(
    stream: &mut TcpStream,
    trickle: &[u8],
    every: Duration,
) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let mut read = Vec::new();
    let mut pending = trickle.iter();
    let mut buf = [0u8; 4096];
    loop {
        assert!(start.elapsed() < Duration::from_secs(20), "never closed");
        tokio::select! {
            got = stream.read(&mut buf) => match got {
                Ok(0) | Err(_) => return (read, start.elapsed()),
                Ok(n) => read.extend_from_slice(&buf[..n]),
            },
            () = tokio::time::sleep(every) => {
                if let Some(byte) = pending.next()
                    && stream.write_all(&[*byte]).await.is_err()
                {
                    return (read, start.elapsed());
                }
            }
        }
    }
}

/// Writes `request` and reads one answer: its head and its body (by
/// `content-length`).
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> (String, String) {
    stream.write_all(request).await.unwrap();
    read_answer(stream).await
}

async fn read_answer(stream: &mut TcpStream) -> (String, String) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..end]).to_string();
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if got.len() >= end + 4 + length {
                    let body = String::from_utf8_lossy(&got[end + 4..end + 4 + length]).to_string();
                    return (head, body);
                }
            }
            let n = stream.read(&mut buf).await.unwrap_or(0);
            assert!(
                n > 0,
                "closed before a whole answer: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("an answer within 5 s")
}

fn status(head: &str) -> u16 {
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn error_reason(body: &str) -> String {
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    json["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error reason: {body}"))
        .to_owned()
}

fn signed_head(body_len: &str, extra: &str) -> String {
    format!(
        "POST /pyrus/echo-bot HTTP/1.1\r\nHost: hookhost\r\ncontent-type: application/json\r\n\
         x-pyrus-sig: {}\r\ncontent-length: {body_len}\r\n{extra}\r\n",
        sign(SECRET, EXAMPLE)
    )
}

#[tokio::test]
async fn a_connection_trickling_its_head_is_closed_within_the_header_timeout() {
    let (_plugins, host) = start(&timeouts(HEADER_S, 30));
    let mut slow = connect(&host).await;
    let head = signed_head(&EXAMPLE.len().to_string(), "");
    // One byte every 300 ms: never silent for long, never done.
    let (answer, took) = until_closed(&mut slow, head.as_bytes(), Duration::from_millis(300)).await;
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    let header = Duration::from_secs(HEADER_S);
    assert!(
        took >= header - Duration::from_millis(500),
        "closed after {took:?}"
    );
    assert!(
        took < header + Duration::from_secs(2),
        "closed after {took:?}"
    );
    still_serves(&host).await;
}

#[tokio::test]
async fn a_silent_connection_is_closed_within_the_header_timeout() {
    let (_plugins, host) = start(&timeouts(HEADER_S, 30));
    let mut silent = connect(&host).await;
    let (answer, took) = until_closed(&mut silent, b"", Duration::from_secs(1)).await;
    assert!(answer.is_empty());
    let header = Duration::from_secs(HEADER_S);
    assert!(
        took >= header - Duration::from_millis(500),
        "closed after {took:?}"
    );
    assert!(
        took < header + Duration::from_secs(2),
        "closed after {took:?}"
    );
    still_serves(&host).await;
}

#[tokio::test]
async fn an_http2_connection_without_requests_is_closed_too() {
    let (_plugins, host) = start(&timeouts(HEADER_S, 30));
    let mut h2 = connect(&host).await;
    // The client preface and an empty SETTINGS frame, then nothing.
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let (answer, took) = until_closed(&mut h2, b"", Duration::from_secs(1)).await;
    // The host spoke HTTP/2: its SETTINGS frame (type 4) came first.
    assert_eq!(answer.get(3), Some(&4), "{answer:?}");
    assert!(
        took < Duration::from_secs(HEADER_S + 2),
        "closed after {took:?}"
    );
    still_serves(&host).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let (_plugins, host) = start(&timeouts(5, IDLE_S));
    let mut conn = connect(&host).await;
    let request = format!("{}{EXAMPLE}", signed_head(&EXAMPLE.len().to_string(), ""));
    let (head, body) = exchange(&mut conn, request.as_bytes()).await;
    assert_eq!(status(&head), 200, "{head}");
    assert_eq!(body, EXAMPLE_ANSWER);
    // Kept alive: a second request on it within the idle timeout is answered.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (head, _) = exchange(&mut conn, request.as_bytes()).await;
    assert_eq!(status(&head), 200, "{head}");
    let (answer, took) = until_closed(&mut conn, b"", Duration::from_secs(1)).await;
    assert!(answer.is_empty());
    let idle = Duration::from_secs(IDLE_S);
    assert!(
        took >= idle - Duration::from_millis(300),
        "closed after {took:?}"
    );
    // Well before the 5 s header timeout.
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
    still_serves(&host).await;
}

#[tokio::test]
async fn a_connection_over_the_cap_gets_503_and_a_log_line_and_the_others_are_served() {
    let mut args = timeouts(HEADER_S, 30);
    args.extend(["--max-connections".into(), "4".into()]);
    let (_plugins, host) = start(&args);
    // One keep-alive sender, then three silent connections: the cap is full.
    let mut sender = connect(&host).await;
    let request = format!("{}{EXAMPLE}", signed_head(&EXAMPLE.len().to_string(), ""));
    let (head, _) = exchange(&mut sender, request.as_bytes()).await;
    assert_eq!(status(&head), 200, "{head}");
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(connect(&host).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut over = connect(&host).await;
    let (head, body) = exchange(
        &mut over,
        b"GET /pyrus/echo-bot HTTP/1.1\r\nHost: hookhost\r\n\r\n",
    )
    .await;
    assert_eq!(status(&head), 503, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1"),
        "{head}"
    );
    assert!(
        error_reason(&body).contains("too many open connections"),
        "{body}"
    );
    let (rest, _) = until_closed(&mut over, b"", Duration::from_secs(1)).await;
    assert!(
        rest.is_empty(),
        "the refused connection is closed after its answer"
    );
    host.wait_for_log("over the cap", Duration::from_secs(2))
        .await;

    // The connection already open is still served.
    let (head, body) = exchange(&mut sender, request.as_bytes()).await;
    assert_eq!(status(&head), 200, "{head}");
    assert_eq!(body, EXAMPLE_ANSWER);
    // Once the silent ones are closed by the header timeout, new
    // connections are accepted again.
    tokio::time::sleep(Duration::from_secs(HEADER_S) + Duration::from_millis(500)).await;
    still_serves(&host).await;
    host.wait_for_log("below the connection cap again", Duration::from_secs(2))
        .await;
    drop(silent);
}

#[tokio::test]
async fn running_out_of_file_descriptors_is_logged_and_survived() {
    let (_plugins, host) = start(&timeouts(30, 30));
    still_serves(&host).await;
    // Leave the host five descriptors more than it has open now.
    let open = std::fs::read_dir(format!("/proc/{}/fd", host.pid()))
        .unwrap()
        .count();
    let limit = format!("--nofile={}", open + 5);
    let lowered = std::process::Command::new("prlimit")
        .args(["--pid", &host.pid().to_string(), &limit])
        .status()
        .expect("run prlimit (util-linux)");
    assert!(lowered.success());
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(connect(&host).await);
    }
    host.wait_for_log("cannot accept connections", Duration::from_secs(3))
        .await;
    assert!(host.log().contains("Too many open files"), "{}", host.log());
    // Descriptors come back as the connections close: the host accepts
    // again, and serves.
    drop(held);
    tokio::time::sleep(Duration::from_millis(500)).await;
    still_serves(&host).await;
    host.wait_for_log("accepting connections again", Duration::from_secs(2))
        .await;
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_413_at_once_unread() {
    let (_plugins, host) = echo_host(&["--body-limit", "4096"]);
    for expect in ["", "expect: 100-continue\r\n"] {
        let mut conn = connect(&host).await;
        let start = Instant::now();
        // 64 MiB declared, not one byte of it sent.
        let (head, body) = exchange(&mut conn, signed_head("67108864", expect).as_bytes()).await;
        assert_eq!(status(&head), 413, "{expect:?}: {head}");
        assert!(error_reason(&body).contains("4096-byte limit"), "{body}");
        // Well within the 30 s a body may take to arrive.
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "took {:?}",
            start.elapsed()
        );
    }
    still_serves(&host).await;
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_cut_with_413() {
    let (_plugins, host) = echo_host(&["--body-limit", "4096"]);
    let mut conn = connect(&host).await;
    let head = format!(
        "POST /pyrus/echo-bot HTTP/1.1\r\nHost: hookhost\r\ncontent-type: application/json\r\n\
         x-pyrus-sig: {}\r\ntransfer-encoding: chunked\r\n\r\n",
        sign(SECRET, EXAMPLE)
    );
    // Twice the limit in chunks, and the body not ended: the host stops
    // where the limit is passed.
    let chunk = format!("400\r\n{}\r\n", "x".repeat(0x400));
    let request = format!("{head}{}", chunk.repeat(8));
    let (head, body) = exchange(&mut conn, request.as_bytes()).await;
    assert_eq!(status(&head), 413, "{head}");
    assert!(error_reason(&body).contains("4096-byte limit"), "{body}");
    still_serves(&host).await;
}

#[tokio::test]
async fn http_1_1_without_exactly_one_host_is_400() {
    let (_plugins, host) = echo_host(&[]);
    let request = |host_lines: &str| {
        format!(
            "POST /pyrus/echo-bot HTTP/1.1\r\n{host_lines}content-type: application/json\r\n\
             x-pyrus-sig: {}\r\ncontent-length: {}\r\n\r\n{EXAMPLE}",
            sign(SECRET, EXAMPLE),
            EXAMPLE.len()
        )
    };
    let cases = [
        ("", "needs a Host header"),
        (
            "Host: a.example\r\nHost: b.example\r\n",
            "more than one Host",
        ),
        ("Host: user@a.example\r\n", "not a host"),
    ];
    for (hosts, reason) in cases {
        let mut conn = connect(&host).await;
        let (head, body) = exchange(&mut conn, request(hosts).as_bytes()).await;
        assert_eq!(status(&head), 400, "{hosts:?}: {head}");
        assert!(error_reason(&body).contains(reason), "{hosts:?}: {body}");
    }
    // The plugin was never called for them: it logs each task it answers.
    assert!(!host.log().contains("answering task"), "{}", host.log());
    host.wait_for_log(
        "refused: an HTTP/1.1 request needs a Host header",
        Duration::from_secs(2),
    )
    .await;
    // HTTP/1.0 may leave it out.
    let mut conn = connect(&host).await;
    let (head, _) = exchange(&mut conn, b"GET /no/such/route HTTP/1.0\r\n\r\n").await;
    assert_eq!(status(&head), 404, "{head}");
    let mut conn = connect(&host).await;
    let (head, body) = exchange(&mut conn, request("Host: hookhost\r\n").as_bytes()).await;
    assert_eq!(status(&head), 200, "{head}");
    assert_eq!(body, EXAMPLE_ANSWER);
}
