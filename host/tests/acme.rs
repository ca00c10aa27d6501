//! Certificates over ACME, end to end against Pebble (Let's Encrypt's test
//! ACME server, Debian `pebble`) on loopback: hookhost orders a certificate
//! for `localhost`, answers TLS-ALPN-01 on its HTTPS listener, serves what
//! Pebble issued to a client that trusts only Pebble's root, renews it at
//! two thirds of its (short) life, and serves it from the state folder after
//! a restart.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{CertificateParams, KeyPair};
use support::*;

/// Pebble's certificates live this long, so the renewal (at two thirds)
/// comes within the test.
const VALIDITY_S: u64 = 30;

struct Pebble {
    child: Child,
    directory: String,
    management: String,
    /// The CA of Pebble's own HTTPS (the test's).
    api_ca: String,
    _dir: tempfile::TempDir,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Starts Pebble validating TLS-ALPN-01 on `tls_port` of localhost.
fn pebble(tls_port: u16) -> Pebble {
    let dir = tempfile::tempdir().unwrap();
    // Pebble's API needs a certificate of its own; Debian ships none.
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let api_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let api_key = KeyPair::generate().unwrap();
    let api_cert = api_params.signed_by(&api_key, &issuer).unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let cert = file("api-cert.pem", &api_cert.pem());
    let key = file("api-key.pem", &api_key.serialize_pem());
    let (api, management) = (free_port(), free_port());
    let config = serde_json::json!({ "pebble": {
        "listenAddress": format!("127.0.0.1:{api}"),
        "managementListenAddress": format!("127.0.0.1:{management}"),
        "certificate": cert,
        "privateKey": key,
        // Not used: hookhost answers TLS-ALPN-01 only.
        "httpPort": free_port(),
        "tlsPort": tls_port,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": false,
        "certificateValidityPeriod": VALIDITY_S,
    }});
    let config = file("pebble.json", &config.to_string());
    let log = std::fs::File::create(dir.path().join("pebble.log")).unwrap();
    let child = Command::new("pebble")
        .args(["-config", &config])
        // Validate at once, never reject a good nonce, never reuse an
        // authorization: every order is validated.
        .env("PEBBLE_VA_NOSLEEP", "1")
        .env("PEBBLE_WFE_NONCEREJECT", "0")
        .env("PEBBLE_AUTHZREUSE", "0")
        // Go's own resolver reads /etc/hosts in order: localhost is 127.0.0.1.
        .env("GODEBUG", "netdns=go")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("start pebble (Debian pebble; scripts/install-toolchains installs it)");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", api)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "pebble did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Pebble {
        child,
        directory: format!("https://localhost:{api}/dir"),
        management: format!("https://localhost:{management}"),
        api_ca: file("api-ca.pem", &ca_cert.pem()),
        _dir: dir,
    }
}

fn trusting(root_pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(root_pem).unwrap())
        .tls_info(true)
        .build()
        .unwrap()
}

/// The root Pebble issues under (a new one each run).
async fn issuing_root(pebble: &Pebble) -> Vec<u8> {
    let api = trusting(&std::fs::read(&pebble.api_ca).unwrap());
    let res = api
        .get(format!("{}/roots/0", pebble.management))
        .send()
        .await
        .expect("pebble's management API");
    assert_eq!(res.status(), 200);
    res.bytes().await.unwrap().to_vec()
}

/// A signed bot event over HTTPS; the answer and the certificate served.
async fn over_https(client: &reqwest::Client, port: u16, task: i64) -> (u16, String, Vec<u8>) {
    let body = example_with_task(task);
    let res = client
        .post(format!("https://localhost:{port}/pyrus/echo-bot"))
        .header("content-type", "application/json")
        .header("x-pyrus-retry", "1/3")
        .header("x-pyrus-sig", sign(SECRET, &body))
        .body(body)
        .send()
        .await
        .expect("HTTPS request");
    let cert = res
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("peer certificate")
        .to_vec();
    (res.status().as_u16(), res.text().await.unwrap(), cert)
}

fn acme_args<'a>(pebble: &'a Pebble, tls_listen: &'a str) -> Vec<&'a str> {
    vec![
        "--tls-listen",
        tls_listen,
        "--acme-domain",
        "localhost",
        "--acme-email",
        "ops@example.com",
        "--acme-directory",
        &pebble.directory,
        "--acme-directory-ca",
        &pebble.api_ca,
    ]
}

async fn wait_ready(host: &Host, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let res = host.admin_get("/readyz").send().await.unwrap();
        if res.status() == 200 {
            return;
        }
        let body = res.text().await.unwrap();
        assert!(body.contains("certificate"), "{body}");
        assert!(
            Instant::now() < deadline,
            "no ACME certificate after {within:?}: {body}\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_certificate_from_pebble_is_served_renewed_and_kept_across_a_restart() {
    let tls_port = free_port();
    let pebble = pebble(tls_port);
    let plugins = Plugins::new();
    plugins.add("echo-bot", &echo_bot(), &Plugins::bot_toml(""));
    let state = tempfile::tempdir().unwrap();
    let tls_listen = format!("127.0.0.1:{tls_port}");
    let host = Host::start_with_state(
        plugins.path(),
        state.path(),
        &acme_args(&pebble, &tls_listen),
        &[],
    );

    // Ready once the first certificate is issued.
    wait_ready(&host, Duration::from_secs(30)).await;
    let root = issuing_root(&pebble).await;
    let client = trusting(&root);
    let (status, body, first) = over_https(&client, tls_port, 1).await;
    assert_eq!((status, body.as_str()), (200, EXAMPLE_ANSWER));
    let log = host.log();
    assert!(log.contains("ACME account created"), "{log}");
    assert!(log.contains("ACME certificate issued"), "{log}");

    // Kept in the state folder, the key and account readable by the owner only.
    let acme = state.path().join("acme");
    use std::os::unix::fs::PermissionsExt as _;
    for name in ["localhost.key", "localhost.crt"] {
        let mode = std::fs::metadata(acme.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    let accounts = std::fs::read_dir(&acme)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("account-")
        })
        .count();
    assert_eq!(accounts, 1);
    assert!(
        host.metrics()
            .await
            .contains("hookhost_certificate_expiry_timestamp_seconds{listener=\"webhook\"}")
    );

    // Renewed at two thirds of its 30 s: new connections get another.
    let deadline = Instant::now() + Duration::from_secs(3 * VALIDITY_S);
    let mut task = 100;
    let renewed = loop {
        task += 1;
        let (status, _, cert) = over_https(&trusting(&root), tls_port, task).await;
        assert_eq!(status, 200);
        if cert != first {
            break cert;
        }
        assert!(Instant::now() < deadline, "not renewed:\n{}", host.log());
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(host.log().matches("ACME certificate issued").count() >= 2);
    drop(host);

    // A restart serves the stored certificate at once: no order, no wait.
    let stored = std::fs::read(acme.join("localhost.crt")).unwrap();
    let again = Host::start_with_state(
        plugins.path(),
        state.path(),
        &acme_args(&pebble, &tls_listen),
        &[],
    );
    let ready = again.admin_get("/readyz").send().await.unwrap();
    assert_eq!(ready.status(), 200, "{}", again.log());
    let (status, _, cert) = over_https(&trusting(&root), tls_port, 9999).await;
    assert_eq!(status, 200);
    assert!(
        again
            .log()
            .contains("ACME certificate from the state folder")
    );
    // The one on disk, whether it is the renewal seen above or a later one.
    assert!(
        pem_holds(&stored, &cert) || cert == renewed,
        "served a certificate not stored"
    );
}

/// Whether the PEM chain `pem` starts with the DER certificate `der`.
fn pem_holds(pem: &[u8], der: &[u8]) -> bool {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    CertificateDer::pem_slice_iter(pem)
        .next()
        .and_then(Result::ok)
        .is_some_and(|leaf| leaf.as_ref() == der)
}

#[tokio::test]
async fn an_unreachable_acme_server_leaves_the_host_serving_and_not_ready() {
    let plugins = Plugins::new();
    plugins.add("echo-bot", &echo_bot(), &Plugins::bot_toml(""));
    let dead = format!("https://127.0.0.1:{}/dir", free_port());
    let host = Host::start_with(
        plugins.path(),
        &[
            "--tls-listen",
            "127.0.0.1:0",
            "--acme-domain",
            "localhost",
            "--acme-directory",
            &dead,
        ],
        &[],
    );
    host.wait_for_log("ACME order failed", Duration::from_secs(10))
        .await;
    let res = host.admin_get("/readyz").send().await.unwrap();
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["waiting"], serde_json::json!(["certificate"]));
    // The plain listener serves meanwhile.
    assert_eq!(host.pyrus("echo-bot", EXAMPLE).await.status(), 200);
    assert!(host.log().contains("retry_in_s=60"), "{}", host.log());
}
