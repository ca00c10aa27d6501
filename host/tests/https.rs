//! HTTPS on the webhook listener, end to end: certificates made by
//! `hookhost cert` and by a test CA, a verifying client (rustls), HTTP/2 by
//! ALPN, TLS 1.2+ only, and certificates renewed under a running host.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use rcgen::{CertificateParams, KeyPair};
use support::*;

/// A certificate for `localhost` from a CA of the test's own, valid until
/// `not_after` (Unix seconds): PEM chain, PEM key.
fn issued(
    ca: &(rcgen::Certificate, rcgen::Issuer<'static, KeyPair>),
    not_after: i64,
) -> (String, String) {
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = time::OffsetDateTime::from_unix_timestamp(not_after).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.1).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn test_ca() -> (rcgen::Certificate, rcgen::Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hookhost test CA");
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert, rcgen::Issuer::new(params, key))
}

/// A client that trusts only `root_pem` and reports the peer's certificate.
fn trusting(root_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(root_pem.as_bytes()).unwrap())
        .tls_info(true)
        .build()
        .unwrap()
}

/// Writes `text` to `path` the way renewals do: a new file renamed over it.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

async fn signed_post(client: &reqwest::Client, url: &str, body: &str) -> reqwest::Response {
    client
        .post(format!("{url}/pyrus/echo-bot"))
        .header("content-type", "application/json")
        .header("x-pyrus-retry", "1/3")
        .header("x-pyrus-sig", sign(SECRET, body))
        .body(body.to_owned())
        .send()
        .await
        .expect("HTTPS request")
}

fn peer_certificate(res: &reqwest::Response) -> Vec<u8> {
    res.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("the peer's certificate")
        .to_vec()
}

#[tokio::test]
async fn a_self_signed_certificate_from_hookhost_cert_serves_https_over_http2() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(
        &[
            "cert",
            "--self-signed",
            "--domain",
            "localhost",
            "--domain",
            "127.0.0.1",
            "--out",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    let (crt, key) = (
        dir.path().join("localhost.crt"),
        dir.path().join("localhost.key"),
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the key is the owner's only");
    // A second run does not overwrite them.
    let again = cli(
        &[
            "cert",
            "--self-signed",
            "--domain",
            "localhost",
            "--out",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let plugins = Plugins::new();
    plugins.add("echo-bot", &echo_bot(), &Plugins::bot_toml(""));
    let host = Host::start_with(
        plugins.path(),
        &[
            "--tls-cert",
            crt.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--tls-listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let port = host
        .https
        .as_deref()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let client = trusting(&std::fs::read_to_string(&crt).unwrap());
    for origin in [
        format!("https://localhost:{port}"),
        format!("https://127.0.0.1:{port}"),
    ] {
        let res = signed_post(&client, &origin, EXAMPLE).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.version(), reqwest::Version::HTTP_2, "ALPN picks h2");
        assert_eq!(res.text().await.unwrap(), EXAMPLE_ANSWER);
    }
    // HTTP/1.1 where the client asks for it.
    let h1 = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&crt).unwrap()).unwrap(),
        )
        .http1_only()
        .build()
        .unwrap();
    let res = signed_post(&h1, &format!("https://localhost:{port}"), EXAMPLE).await;
    assert_eq!(res.version(), reqwest::Version::HTTP_11);
    assert_eq!(res.status(), 200);
    // The plain listener stays for local use.
    assert_eq!(host.pyrus("echo-bot", EXAMPLE).await.status(), 200);

    // TLS 1.2 and 1.3 are spoken; 1.1 is not (OpenSSL's client as the peer).
    let addr = format!("127.0.0.1:{port}");
    for (version, accepted) in [("-tls1_1", false), ("-tls1_2", true), ("-tls1_3", true)] {
        let out = std::process::Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &addr,
                version,
                "-servername",
                "localhost",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run openssl (Debian openssl)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text.contains("BEGIN CERTIFICATE"),
            accepted,
            "openssl s_client {version}:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Plain HTTP sent to the HTTPS port gets no answer, and the host goes on.
    let plain = client.get(format!("http://127.0.0.1:{port}/")).send().await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
    assert_eq!(
        signed_post(&client, &format!("https://localhost:{port}"), EXAMPLE)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_renewed_certificate_is_served_to_new_connections_without_a_restart() {
    let ca = test_ca();
    let ca_pem = ca.0.pem();
    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = (dir.path().join("hooks.crt"), dir.path().join("hooks.key"));
    // Fixed expiry dates, so the metric's value is known exactly.
    let (first_expiry, second_expiry) = (1_893_456_000, 1_924_992_000); // 2030-01-01, 2031-01-01
    let (cert_pem, key_pem) = issued(&ca, first_expiry);
    std::fs::write(&crt, &cert_pem).unwrap();
    std::fs::write(&key, &key_pem).unwrap();

    let plugins = Plugins::new();
    plugins.add("echo-bot", &echo_bot(), &Plugins::bot_toml(""));
    let host = Host::start_with(
        plugins.path(),
        &[
            "--tls-cert",
            crt.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--tls-listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let url = format!(
        "https://localhost:{}",
        host.https.as_deref().unwrap().rsplit(':').next().unwrap()
    );
    let series = "hookhost_certificate_expiry_timestamp_seconds{listener=\"webhook\"}";
    assert!(
        host.metrics()
            .await
            .contains(&format!("{series} {first_expiry}\n"))
    );

    // One connection opened before the renewal, kept open through it.
    let kept = trusting(&ca_pem);
    let res = signed_post(&kept, &url, &example_with_task(1)).await;
    assert_eq!(res.status(), 200);
    let old_cert = peer_certificate(&res);

    // Files that cannot be served (a key that is not the certificate's)
    // leave the previous certificate serving.
    let (_, stray_key) = issued(&ca, first_expiry);
    replace(&key, &stray_key);
    host.wait_for_log("cannot be served", Duration::from_secs(5))
        .await;
    let res = signed_post(&trusting(&ca_pem), &url, &example_with_task(2)).await;
    assert_eq!(
        peer_certificate(&res),
        old_cert,
        "still the first certificate"
    );

    // A good pair: new connections get it within a couple of seconds.
    let (cert_pem, key_pem) = issued(&ca, second_expiry);
    replace(&key, &key_pem);
    replace(&crt, &cert_pem);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut task = 10;
    loop {
        task += 1;
        let res = signed_post(&trusting(&ca_pem), &url, &example_with_task(task)).await;
        assert_eq!(res.status(), 200);
        if peer_certificate(&res) != old_cert {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "renewed certificate not served:\n{}",
            host.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(host.log().contains("TLS certificate reloaded"));
    assert!(
        host.metrics()
            .await
            .contains(&format!("{series} {second_expiry}\n"))
    );
    // The connection from before the renewal was not dropped: it still
    // answers, on its first certificate.
    let res = signed_post(&kept, &url, &example_with_task(99)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(peer_certificate(&res), old_cert);
}

#[tokio::test]
async fn a_certificate_that_cannot_be_served_stops_the_start_with_its_file_named() {
    let plugins = Plugins::new();
    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&crt, "not a certificate").unwrap();
    std::fs::write(&key, "not a key").unwrap();
    let out = cli(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-listen",
            "127.0.0.1:0",
            "--tls-cert",
            crt.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--plugins",
            plugins.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds no PEM certificate"), "{err}");
    assert!(err.contains("c.pem"), "{err}");
    // --tls-cert needs --tls-key.
    let out = cli(&["serve", "--tls-cert", crt.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}
