//! HTTPS for outbound requests: rustls with the webpki (Mozilla) roots,
//! built once per process, and the certificate checked against the name the
//! guest asked for, never the address it resolved to.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use wasmtime_wasi_http::Error;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, TlsAlertReceivedPayload};

use crate::outbound::Host;

fn config() -> Result<Arc<rustls::ClientConfig>, Error> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
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
        })
        .clone()
        .map_err(|e| Error::InternalError(Some(e)))
}

/// TLS over `stream`, for `host` as written in the URL.
pub(super) async fn connect(stream: TcpStream, host: &Host) -> Result<TlsStream<TcpStream>, Error> {
    let name = match host {
        Host::Ip(ip) => ServerName::IpAddress((*ip).into()),
        Host::Name(name) => {
            ServerName::try_from(name.clone()).map_err(|_| Error::HttpRequestUriInvalid)?
        }
    };
    TlsConnector::from(config()?)
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
