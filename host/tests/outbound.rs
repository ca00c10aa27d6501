//! Outbound HTTP end to end: a plugin built from source (`test-fetch`,
//! standard `wasi:http` bindings) asks the real hookhost binary to reach
//! stand-in servers on 127.0.0.1, through the allow-list, the SSRF guard
//! after DNS, and the limits.

mod support;

use std::time::{Duration, Instant};

use reqwest::Method;
use support::standin::{Reply, StandIn};
use support::*;

/// A test-fetch plugin's sidecar: no signature, these lines besides.
fn fetch_toml(extra: &str) -> String {
    format!("verify = \"none\"\n{extra}\n")
}

fn allow(entries: &[&str]) -> String {
    let quoted: Vec<String> = entries.iter().map(|e| format!("\"{e}\"")).collect();
    format!("allowed_outbound_hosts = [{}]", quoted.join(", "))
}

/// Debug for hookhost, so the per-request outbound line is in the log.
fn start(plugins: &Plugins) -> Host {
    Host::start_with(plugins.path(), &[], &[("RUST_LOG", "info,hookhost=debug")])
}

/// Asks plugin `name` to fetch; returns the status and what the guest said.
async fn fetch(host: &Host, name: &str, spec: &str) -> (u16, String) {
    let res = host
        .request(Method::POST, &format!("/hooks/{name}/fetch"))
        .body(spec.to_owned())
        .send()
        .await
        .expect("request reaches hookhost");
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

#[tokio::test]
async fn an_allowed_origin_is_fetched_and_logged() {
    let remote = StandIn::start(Reply::Ok("hello from the remote".into())).await;
    let plugins = Plugins::new();
    plugins.add(
        "fetcher",
        &guest("test-fetch"),
        &fetch_toml(&allow(&[&remote.origin()])),
    );
    let host = start(&plugins);

    let (status, said) = fetch(&host, "fetcher", &format!("{}/path?q=1", remote.origin())).await;
    assert_eq!(status, 200, "{said}\n{}", host.log());
    assert_eq!(
        said,
        "status 200\n\nhello from the remote\n",
        "{}",
        host.log()
    );
    assert_eq!(remote.count(), 1);
    // Counted under the allow-list entry it matched.
    host.assert_metric(
        &format!(
            "hookhost_outbound_requests_total{{plugin=\"fetcher\",origin=\"{}\",outcome=\"sent\"}}",
            remote.origin()
        ),
        1.0,
    )
    .await;
    assert!(
        remote.heads()[0].starts_with("GET /path?q=1 HTTP/1.1\r\n"),
        "{:?}",
        remote.heads()
    );

    // One debug line per request: method, origin, status, ms, in the
    // request's span (plugin and id).
    let origin = remote.origin();
    host.wait_for_log("outbound request", Duration::from_secs(2))
        .await;
    let log = host.log();
    let line = log
        .lines()
        .find(|l| l.contains("outbound request") && l.contains(&origin))
        .unwrap_or_else(|| panic!("no outbound line:\n{log}"));
    for part in [
        "DEBUG",
        "method=GET",
        "status=200",
        "ms=",
        "plugin=\"fetcher\"",
        "id=",
    ] {
        assert!(line.contains(part), "{part} missing from {line}");
    }
}

#[tokio::test]
async fn an_unlisted_origin_is_denied_before_anything_is_sent() {
    let remote = StandIn::start(Reply::Ok("never".into())).await;
    let other = StandIn::start(Reply::Ok("other".into())).await;
    let plugins = Plugins::new();
    // No list at all, and a list naming another origin.
    plugins.add("bare", &guest("test-fetch"), &fetch_toml(""));
    plugins.add(
        "listed",
        &guest("test-fetch"),
        &fetch_toml(&allow(&[&other.origin()])),
    );
    let host = start(&plugins);

    for name in ["bare", "listed"] {
        let (status, said) = fetch(&host, name, &remote.origin()).await;
        assert_eq!(status, 200);
        assert_eq!(said, "error HttpRequestDenied\n", "{name}: {}", host.log());
    }
    assert_eq!(remote.count(), 0, "the denied origin saw a request");
    // No entry matched: the label is `-`, never the URL the plugin asked for.
    for name in ["bare", "listed"] {
        host.assert_metric(
            &format!(
                "hookhost_outbound_requests_total{{plugin=\"{name}\",origin=\"-\",outcome=\"denied\"}}"
            ),
            1.0,
        )
        .await;
    }

    // The warning names the plugin, the origin and the exact line to add.
    let origin = remote.origin();
    let log = host.log();
    let bare = format!(
        "plugin bare may not reach {origin} (not in its allowed_outbound_hosts); to allow it, put this line in bare.toml: allowed_outbound_hosts = [\"{origin}\"]"
    );
    assert!(log.contains(&bare), "{bare}\n{log}");
    let listed = format!(
        "put this line in listed.toml: allowed_outbound_hosts = [\"{}\", \"{origin}\"]",
        other.origin()
    );
    assert!(log.contains(&listed), "{listed}\n{log}");
    assert_eq!(
        log.matches("outbound request denied").count(),
        2,
        "one warning per denied request:\n{log}"
    );
}

#[tokio::test]
async fn a_malformed_entry_keeps_the_plugin_from_being_served() {
    let plugins = Plugins::new();
    plugins.add(
        "broken",
        &guest("test-fetch"),
        &fetch_toml(&allow(&["https://api.pyrus.com", "127.0.0.1:9000"])),
    );
    plugins.add(
        "fine",
        &guest("test-fetch"),
        &fetch_toml(&allow(&["https://api.pyrus.com", "https://*.slack.com"])),
    );
    plugins.add("none", &guest("test-fetch"), &fetch_toml(""));
    let listing = routes(plugins.path(), &[]);
    let header = listing
        .lines()
        .find(|l| l.starts_with("ROUTE"))
        .unwrap_or_else(|| panic!("no header:\n{listing}"));
    let column = header
        .find("OUTBOUND")
        .unwrap_or_else(|| panic!("no OUTBOUND column:\n{listing}"));
    assert_eq!(
        header[column..].split_whitespace().collect::<Vec<_>>(),
        ["OUTBOUND", "STATE"],
        "{header}"
    );
    let plugin_column = header.find("PLUGIN").unwrap_or_default();
    // (OUTBOUND cell, the rest of the row from it)
    let row = |plugin: &str| {
        let line = listing
            .lines()
            .find(|l| {
                let cell = l.get(plugin_column..).unwrap_or_default();
                cell.split_whitespace().next() == Some(plugin)
            })
            .unwrap_or_else(|| panic!("no row for {plugin}:\n{listing}"));
        let rest = line.get(column..).unwrap_or_default().to_owned();
        let cell = rest
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        (cell, rest)
    };
    let (cell, rest) = row("broken");
    assert_eq!(cell, "-", "{listing}");
    assert!(
        rest.contains("not served:")
            && rest.contains("allowed_outbound_hosts entry \"127.0.0.1:9000\""),
        "{listing}"
    );
    let (cell, rest) = row("fine");
    assert_eq!(
        cell, "https://api.pyrus.com,https://*.slack.com",
        "{listing}"
    );
    assert!(rest.ends_with("serving"), "{listing}");
    let (cell, rest) = row("none");
    assert_eq!(cell, "-", "{listing}");
    assert!(rest.ends_with("serving"), "{listing}");

    let host = start(&plugins);
    let (status, said) = fetch(&host, "broken", "http://127.0.0.1:9000/").await;
    assert_ne!(status, 200, "{said}");
    let (status, _) = fetch(&host, "none", "http://127.0.0.1:9/").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_needs_an_entry_naming_it() {
    let remote = StandIn::start(Reply::Ok("local".into())).await;
    let port = remote.port;
    let plugins = Plugins::new();
    let any = format!("http://*:{port}");
    let by_name = format!("http://localhost:{port}");
    let by_ip = format!("http://127.0.0.1:{port}");
    plugins.add(
        "any-host",
        &guest("test-fetch"),
        &fetch_toml(&allow(&[&any])),
    );
    plugins.add(
        "by-name",
        &guest("test-fetch"),
        &fetch_toml(&allow(&[&by_name])),
    );
    plugins.add(
        "by-ip",
        &guest("test-fetch"),
        &fetch_toml(&allow(&[&by_ip])),
    );
    plugins.add(
        "by-net",
        &guest("test-fetch"),
        &fetch_toml(&allow(&[&format!("http://127.0.0.0/8:{port}")])),
    );
    let host = start(&plugins);

    // `*` lets the request through the list, but not to a loopback address.
    for url in [&by_name, &by_ip] {
        let (status, said) = fetch(&host, "any-host", url).await;
        assert_eq!(
            (status, said.as_str()),
            (200, "error DestinationIpProhibited\n"),
            "{url}"
        );
    }
    assert_eq!(remote.count(), 0);
    let log = host.log();
    assert!(
        log.contains(&format!(
            "plugin any-host's request to {by_ip} goes to 127.0.0.1, a loopback address (127.0.0.0/8), which an entry must name literally"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "plugin any-host's request to {by_name} resolved to 127.0.0.1, a loopback address (127.0.0.0/8), which an entry must name literally; if 127.0.0.1 is meant, name it in allowed_outbound_hosts in any-host.toml: \"{by_ip}\""
        )) || log.contains(&format!("plugin any-host's request to {by_name} resolved to ::1")),
        "{log}"
    );

    let (status, said) = fetch(&host, "by-name", &by_name).await;
    assert_eq!(
        (status, said.as_str()),
        (200, "status 200\n\nlocal\n"),
        "{}",
        host.log()
    );
    let (status, said) = fetch(&host, "by-ip", &by_ip).await;
    assert_eq!(
        (status, said.as_str()),
        (200, "status 200\n\nlocal\n"),
        "{}",
        host.log()
    );
    let (status, said) = fetch(&host, "by-net", &by_ip).await;
    assert_eq!(
        (status, said.as_str()),
        (200, "status 200\n\nlocal\n"),
        "{}",
        host.log()
    );
    // A name is not an address: the IP entry does not let `localhost` in.
    let (_, said) = fetch(&host, "by-ip", &by_name).await;
    assert_eq!(said, "error HttpRequestDenied\n");
    assert_eq!(remote.count(), 3);
}

#[tokio::test]
async fn ports_ranges_and_schemes_must_match() {
    let remote = StandIn::start(Reply::Ok("p".into())).await;
    let port = remote.port;
    let url = remote.origin();
    let plugins = Plugins::new();
    let cases: [(&str, String, bool); 7] = [
        ("exact", format!("http://127.0.0.1:{port}"), true),
        (
            "range",
            format!("http://127.0.0.1:{}..{}", port - 1, port + 1),
            true,
        ),
        // End-exclusive: the range stops just before the port.
        (
            "range-end",
            format!("http://127.0.0.1:{}..{port}", port - 5),
            false,
        ),
        ("any-port", "http://127.0.0.1:*".to_owned(), true),
        (
            "other-port",
            format!("http://127.0.0.1:{}", port + 1),
            false,
        ),
        ("default-port", "http://127.0.0.1".to_owned(), false),
        ("https-only", format!("https://127.0.0.1:{port}"), false),
    ];
    for (name, entry, _) in &cases {
        plugins.add(name, &guest("test-fetch"), &fetch_toml(&allow(&[entry])));
    }
    plugins.add(
        "any-scheme",
        &guest("test-fetch"),
        &fetch_toml(&allow(&[&format!("*://127.0.0.1:{port}")])),
    );
    let host = start(&plugins);

    let mut sent = 0;
    for (name, entry, allowed) in
        cases
            .iter()
            .map(|(n, e, a)| (*n, e.as_str(), *a))
            .chain([("any-scheme", "*://…", true)])
    {
        let (status, said) = fetch(&host, name, &url).await;
        assert_eq!(status, 200);
        let want = if allowed {
            "status 200\n\np\n"
        } else {
            "error HttpRequestDenied\n"
        };
        assert_eq!(said, want, "{name} ({entry}):\n{}", host.log());
        sent += usize::from(allowed);
        assert_eq!(remote.count(), sent, "{name}");
    }
}

#[tokio::test]
async fn a_redirect_is_handed_to_the_guest_not_followed() {
    let target = StandIn::start(Reply::Ok("you followed".into())).await;
    let redirect = StandIn::start(Reply::Redirect(format!("{}/elsewhere", target.origin()))).await;
    let plugins = Plugins::new();
    plugins.add(
        "fetcher",
        &guest("test-fetch"),
        &fetch_toml(&allow(&[&redirect.origin(), &target.origin()])),
    );
    let host = start(&plugins);

    let (status, said) = fetch(&host, "fetcher", &redirect.origin()).await;
    assert_eq!(status, 200);
    assert_eq!(
        said,
        format!("status 302\nlocation: {}/elsewhere\n\n\n", target.origin()),
        "{}",
        host.log()
    );
    assert_eq!(redirect.count(), 1);
    assert_eq!(target.count(), 0, "the host followed the redirect");
}

#[tokio::test]
async fn a_response_over_the_cap_fails_in_the_guest() {
    let sized = StandIn::start(Reply::Sized(4096)).await;
    let chunked = StandIn::start(Reply::Chunked(4096)).await;
    let small = StandIn::start(Reply::Sized(1000)).await;
    let plugins = Plugins::new();
    plugins.add(
        "capped",
        &guest("test-fetch"),
        &fetch_toml(&format!(
            "{}\n[outbound]\nmax_response_bytes = 1024",
            allow(&[&sized.origin(), &chunked.origin(), &small.origin()])
        )),
    );
    let host = start(&plugins);

    // A length over the cap is refused on the head.
    let (_, said) = fetch(&host, "capped", &sized.origin()).await;
    assert_eq!(
        said,
        "error HttpResponseBodySize(Some(4096))\n",
        "{}",
        host.log()
    );
    // Without a length, the body stops at the cap.
    let (_, said) = fetch(&host, "capped", &chunked.origin()).await;
    assert!(said.starts_with("status 200\n\nbody-error "), "{said}");
    assert!(
        said.contains("body size exceeds limit: 1024 bytes"),
        "{said}"
    );
    assert!(
        !said.contains(&"x".repeat(1001)),
        "bytes past the cap reached the guest"
    );
    // Under the cap it all arrives.
    let (_, said) = fetch(&host, "capped", &small.origin()).await;
    assert_eq!(said, format!("status 200\n\n{}\n", "x".repeat(1000)));
}

#[tokio::test]
async fn a_silent_remote_is_cut_at_the_deadline_while_others_answer() {
    let silent = StandIn::start(Reply::Never).await;
    let fine = StandIn::start(Reply::Ok("fine".into())).await;
    let plugins = Plugins::new();
    plugins.add(
        "stuck",
        &guest("test-fetch"),
        &fetch_toml(&format!(
            "timeout_ms = 1500\n{}",
            allow(&[&silent.origin()])
        )),
    );
    plugins.add(
        "quick",
        &guest("test-fetch"),
        &fetch_toml(&allow(&[&fine.origin()])),
    );
    let host = start(&plugins);

    let started = Instant::now();
    let silent_origin = silent.origin();
    let stuck = fetch(&host, "stuck", &silent_origin);
    let others = async {
        // While `stuck` waits on its remote, another plugin keeps answering.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut answers = Vec::new();
        for _ in 0..3 {
            let asked = Instant::now();
            answers.push((fetch(&host, "quick", &fine.origin()).await, asked.elapsed()));
        }
        (answers, started.elapsed())
    };
    let ((status, said), (answers, others_done)) = tokio::join!(stuck, others);
    let took = started.elapsed();
    assert_eq!(status, 504, "{said}\n{}", host.log());
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(4),
        "cut after {took:?}"
    );
    for ((status, said), time) in &answers {
        assert_eq!((*status, said.as_str()), (200, "status 200\n\nfine\n"));
        assert!(*time < Duration::from_secs(1), "quick took {time:?}");
    }
    assert!(others_done < took, "the others waited for the stuck call");
    assert_eq!(silent.count(), 1);
}

#[tokio::test]
async fn requests_past_max_requests_are_denied() {
    let remote = StandIn::start(Reply::Ok("n".into())).await;
    let plugins = Plugins::new();
    plugins.add(
        "chatty",
        &guest("test-fetch"),
        &fetch_toml(&format!(
            "{}\n[outbound]\nmax_requests = 2",
            allow(&[&remote.origin()])
        )),
    );
    let host = start(&plugins);

    let spec = format!(r#"{{"url": "{}", "times": 4}}"#, remote.origin());
    let (status, said) = fetch(&host, "chatty", &spec).await;
    assert_eq!(status, 200);
    assert_eq!(
        said,
        "status 200\n\nn\nstatus 200\n\nn\nerror HttpRequestDenied\nerror HttpRequestDenied\n",
        "{}",
        host.log()
    );
    assert_eq!(remote.count(), 2);
    let log = host.log();
    assert_eq!(
        log.matches("plugin chatty made more than 2 requests in one call")
            .count(),
        1,
        "{log}"
    );
    // The count is per call: the next call starts again.
    let (_, said) = fetch(&host, "chatty", &remote.origin()).await;
    assert_eq!(said, "status 200\n\nn\n");
}

#[tokio::test]
async fn forbidden_headers_are_not_sent_and_host_comes_from_the_url() {
    let remote = StandIn::start(Reply::Echo).await;
    let plugins = Plugins::new();
    plugins.add(
        "fetcher",
        &guest("test-fetch"),
        &fetch_toml(&allow(&[&remote.origin()])),
    );
    let host = start(&plugins);

    let spec = format!(
        r#"{{"url": "{}/echo", "method": "POST", "body": "ping",
            "headers": [["connection", "upgrade"], ["host", "metadata.internal"],
                        ["proxy-authorization", "x"], ["x-custom", "kept"]]}}"#,
        remote.origin()
    );
    let (status, said) = fetch(&host, "fetcher", &spec).await;
    assert_eq!(status, 200);
    for name in ["connection", "host", "proxy-authorization"] {
        assert!(
            said.contains(&format!("forbidden {name}\n")),
            "{name}: {said}"
        );
    }
    let heads = remote.heads();
    assert_eq!(heads.len(), 1);
    let head = heads[0].to_ascii_lowercase();
    assert!(head.starts_with("post /echo http/1.1\r\n"), "{head}");
    assert!(
        head.contains(&format!("\r\nhost: 127.0.0.1:{}\r\n", remote.port)),
        "{head}"
    );
    assert_eq!(head.matches("\r\nhost:").count(), 1, "{head}");
    assert!(head.contains("\r\nx-custom: kept\r\n"), "{head}");
    for gone in ["connection:", "proxy-authorization:", "metadata.internal"] {
        assert!(!head.contains(gone), "{gone} was sent: {head}");
    }
}

#[tokio::test]
async fn connections_per_plugin_are_limited_and_given_back() {
    let silent = StandIn::start(Reply::Never).await;
    let fine = StandIn::start(Reply::Ok("ok".into())).await;
    let plugins = Plugins::new();
    plugins.add(
        "narrow",
        &guest("test-fetch"),
        &fetch_toml(&format!(
            "timeout_ms = 1500\n{}\n[outbound]\nmax_connections = 1\nconnect_timeout_ms = 300",
            allow(&[&silent.origin(), &fine.origin()])
        )),
    );
    let host = start(&plugins);

    let silent_origin = silent.origin();
    let holder = fetch(&host, "narrow", &silent_origin);
    let waiter = async {
        // The holder's connection is open by now; this call waits its
        // connect timeout for the one slot, then gives up.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let asked = Instant::now();
        (
            fetch(&host, "narrow", &fine.origin()).await,
            asked.elapsed(),
        )
    };
    let ((status, _), ((_, said), waited)) = tokio::join!(holder, waiter);
    assert_eq!(status, 504);
    assert_eq!(said, "error ConnectionLimitReached\n", "{}", host.log());
    assert!(
        waited >= Duration::from_millis(250),
        "gave up after {waited:?}"
    );
    assert_eq!(fine.count(), 0);
    assert!(
        host.log()
            .contains("plugin narrow has 1 connections open, its [outbound] max_connections"),
        "{}",
        host.log()
    );
    // The deadline closed the holder's connection: the slot is free again.
    let (_, said) = fetch(&host, "narrow", &fine.origin()).await;
    assert_eq!(said, "status 200\n\nok\n", "{}", host.log());
}

#[tokio::test]
async fn https_to_a_plain_http_server_fails_the_handshake() {
    use tokio::io::AsyncWriteExt;
    // Answers every connection with plain HTTP at once, as a server that
    // does not speak TLS on that port would answer the ClientHello.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
            let _ = socket.shutdown().await;
        }
    });
    let entry = format!("https://127.0.0.1:{port}");
    let plugins = Plugins::new();
    plugins.add("tls", &guest("test-fetch"), &fetch_toml(&allow(&[&entry])));
    let host = start(&plugins);

    let (status, said) = fetch(&host, "tls", &entry).await;
    assert_eq!(status, 200, "{said}\n{}", host.log());
    assert_eq!(said, "error TlsProtocolError\n", "{}", host.log());
    server.abort();
}

#[tokio::test]
async fn a_connection_is_kept_for_the_plugins_next_request_to_the_origin() {
    let remote = StandIn::start(Reply::KeepAlive("again".into())).await;
    let plugins = Plugins::new();
    for name in ["keeper", "other"] {
        plugins.add(
            name,
            &guest("test-fetch"),
            &fetch_toml(&allow(&[&remote.origin()])),
        );
    }
    let host = start(&plugins);

    let spec = format!(r#"{{"url": "{}/k", "times": 3}}"#, remote.origin());
    for _ in 0..2 {
        let (status, said) = fetch(&host, "keeper", &spec).await;
        assert_eq!(status, 200);
        assert_eq!(said, "status 200\n\nagain\n".repeat(3), "{}", host.log());
    }
    // Six requests over two calls, one connection.
    assert_eq!(remote.count(), 6);
    assert_eq!(remote.connections(), 1, "{}", host.log());

    // Another plugin with the same allow-list gets its own connection.
    let (_, said) = fetch(&host, "other", &spec).await;
    assert_eq!(said, "status 200\n\nagain\n".repeat(3), "{}", host.log());
    assert_eq!(remote.connections(), 2, "{}", host.log());
}

#[tokio::test]
async fn an_idle_connection_gives_way_at_the_connection_limit() {
    let (a, b) = (
        StandIn::start(Reply::KeepAlive("a".into())).await,
        StandIn::start(Reply::KeepAlive("b".into())).await,
    );
    let plugins = Plugins::new();
    plugins.add(
        "narrow",
        &guest("test-fetch"),
        &fetch_toml(&format!(
            "{}\n[outbound]\nmax_connections = 1\nconnect_timeout_ms = 300",
            allow(&[&a.origin(), &b.origin()])
        )),
    );
    let host = start(&plugins);
    // A's connection stays idle in the pool, holding the one slot; B's
    // request closes it rather than wait out its connect timeout.
    for (remote, body) in [(&a, "a"), (&b, "b"), (&a, "a")] {
        let (_, said) = fetch(&host, "narrow", &remote.origin()).await;
        assert_eq!(said, format!("status 200\n\n{body}\n"), "{}", host.log());
    }
    assert_eq!((a.connections(), b.connections()), (2, 1));
}

/// A CA of our own and a certificate it signed for `localhost`: the
/// stand-in's TLS config, and the CA in PEM (what `SSL_CERT_FILE` names).
fn test_ca(name: &str) -> (std::sync::Arc<rustls::ServerConfig>, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)
        .unwrap();
    (std::sync::Arc::new(config), ca.pem())
}

#[tokio::test]
async fn https_is_checked_against_the_systems_roots() {
    let (tls, ca) = test_ca("hookhost test CA");
    let remote = StandIn::start_tls(Reply::KeepAlive("over tls".into()), tls).await;
    let (_, other_ca) = test_ca("some other CA");
    let dir = tempfile::tempdir().unwrap();
    let (trusted, other) = (dir.path().join("trusted.pem"), dir.path().join("other.pem"));
    std::fs::write(&trusted, ca).unwrap();
    std::fs::write(&other, other_ca).unwrap();

    let origin = format!("https://localhost:{}", remote.port);
    let url = format!("{origin}/secure");
    let host_trusting = |roots: &std::path::Path| {
        let plugins = Plugins::new();
        plugins.add("tls", &guest("test-fetch"), &fetch_toml(&allow(&[&origin])));
        let host = Host::start_with(
            plugins.path(),
            &[],
            &[
                ("SSL_CERT_FILE", roots.to_str().unwrap()),
                ("RUST_LOG", "info,hookhost=debug"),
            ],
        );
        (plugins, host)
    };

    // SSL_CERT_FILE is how a system names its roots (OpenSSL's rule).
    let (_plugins, host) = host_trusting(&trusted);
    let (status, said) = fetch(&host, "tls", &url).await;
    assert_eq!(status, 200);
    assert_eq!(said, "status 200\n\nover tls\n", "{}", host.log());
    assert!(
        remote.heads()[0].starts_with("GET /secure HTTP/1.1\r\n"),
        "{:?}",
        remote.heads()
    );
    assert!(
        host.log()
            .contains("outbound HTTPS trusts the system's root certificates"),
        "{}",
        host.log()
    );

    // The same server, to a host whose roots did not sign its certificate.
    let (_plugins, host) = host_trusting(&other);
    let (status, said) = fetch(&host, "tls", &url).await;
    assert_eq!(status, 200);
    assert_eq!(said, "error TlsCertificateError\n", "{}", host.log());
    assert_eq!(remote.count(), 1);
}
