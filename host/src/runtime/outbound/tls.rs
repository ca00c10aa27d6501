//! HTTPS for outbound requests: rustls, trusting the system's roots (or
//! those of `SSL_CERT_FILE` / `SSL_CERT_DIR` when set, as OpenSSL does),
//! else webpki's Mozilla set where the system has none (a bare container).
//! Built once per process, off the async workers; the certificate is
//! checked against the name the guest asked for, never the address it
//! resolved to.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use wasmtime_wasi_http::Error;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, TlsAlertReceivedPayload};

use crate::outbound::Host;

type Config = Result<Arc<rustls::ClientConfig>, String>;

static CONFIG: OnceLock<Config> = OnceLock::new();

async fn config() -> Result<Arc<rustls::ClientConfig>, Error> {
    let config = match CONFIG.get() {
        Some(config) => config.clone(),
        // Reading the system's roots is file IO: a blocking thread does it.
        None => tokio::task::spawn_blocking(|| CONFIG.get_or_init(build).clone())
            .await
            .map_err(|e| Error::InternalError(Some(format!("TLS setup: {e}"))))?,
    };
    config.map_err(|e| Error::InternalError(Some(e)))
}

fn build() -> Config {
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::warn!("outbound TLS: {e}");
    }
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(native.certs);
    let from = if added > 0 {
        "the system's root certificates"
    } else {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        "webpki's root certificates (the system has none)"
    };
    tracing::info!(roots = roots.len(), "outbound HTTPS trusts {from}");
    // The provider is named here rather than taken from the process
    // default, which another crate could install differently.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| {
            let mut config = builder.with_root_certificates(roots).with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(config)
        })
        .map_err(|e| format!("TLS setup: {e}"))
}

/// TLS over `stream`, for `host` as written in the URL.
pub(super) async fn connect(stream: TcpStream, host: &Host) -> Result<TlsStream<TcpStream>, Error> {
    let name = match host {
        Host::Ip(ip) => ServerName::IpAddress((*ip).into()),
        Host::Name(name) => {
            ServerName::try_from(name.clone()).map_err(|_| Error::HttpRequestUriInvalid)?
        }
    };
    TlsConnector::from(config().await?)
        .connect(name, stream)
        .await
        .map_err(Error::Tls)
}

/// The guest-visible code for a failed handshake: a bad certificate is
/// told apart from a broken protocol.
pub(super) fn error_code(err: &std::io::Error) -> ErrorCode {
    match err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(_)) => ErrorCode::TlsCertificateError,
        Some(rustls::Error::AlertReceived(alert)) => {
            ErrorCode::TlsAlertReceived(TlsAlertReceivedPayload {
                alert_id: Some(u8::from(*alert)),
                alert_message: Some(format!("{alert:?}")),
            })
        }
        _ => ErrorCode::TlsProtocolError,
    }
}
