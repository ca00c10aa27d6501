//! HTTPS on the webhook listener: rustls (TLS 1.2 and 1.3, HTTP/2 by ALPN)
//! with a certificate the operator gives as PEM files, followed while the
//! host runs (new files are served to new connections, open ones keep
//! theirs, and files that cannot be used leave the previous certificate
//! serving), or one obtained and renewed over ACME ([`acme`]).

pub mod acme;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::metrics;

/// How often the certificate files are looked at. A stat of two files.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} holds no PEM certificate", .0.display())]
    NoCertificate(PathBuf),
    #[error("{} is not a PEM certificate chain: {reason}", path.display())]
    BadCertificate { path: PathBuf, reason: String },
    #[error("{} holds no usable PEM private key: {reason}", path.display())]
    BadKey { path: PathBuf, reason: String },
    #[error("the key in {} does not belong to the certificate in {}", key.display(), cert.display())]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("cannot set up TLS: {0}")]
    Config(String),
}

/// The operator's certificate and key files.
#[derive(Clone, Debug)]
pub struct PemFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The ALPN protocol of ACME's TLS-ALPN-01 challenge (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Whether a certificate's name may name its files too (`NAME.crt`): no
/// folder in it, not hidden, nothing a shell or a path would read oddly.
pub fn names_a_file(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '*' | ':'))
}

/// A certificate ready to serve, with its dates.
pub struct Served {
    pub key: Arc<CertifiedKey>,
    /// Unix seconds; `None` when the certificate's dates cannot be read.
    pub not_after: Option<i64>,
    pub not_before: Option<i64>,
}

impl PemFiles {
    /// Reads and checks both files: a chain, a key of a supported type, and
    /// the key belonging to the chain's first certificate.
    pub async fn load(&self, provider: &CryptoProvider) -> Result<Served, TlsError> {
        let cert_pem = read(&self.cert).await?;
        let key_pem = read(&self.key).await?;
        certified(&cert_pem, &key_pem, provider).map_err(|e| e.at(self))
    }
}

async fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    tokio::fs::read(path)
        .await
        .map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// What went wrong with PEM text, before it is tied to its file.
pub enum PemProblem {
    NoCertificate,
    Certificate(String),
    Key(String),
    Mismatch,
}

impl PemProblem {
    fn at(self, files: &PemFiles) -> TlsError {
        match self {
            PemProblem::NoCertificate => TlsError::NoCertificate(files.cert.clone()),
            PemProblem::Certificate(reason) => TlsError::BadCertificate {
                path: files.cert.clone(),
                reason,
            },
            PemProblem::Key(reason) => TlsError::BadKey {
                path: files.key.clone(),
                reason,
            },
            PemProblem::Mismatch => TlsError::Mismatch {
                cert: files.cert.clone(),
                key: files.key.clone(),
            },
        }
    }
}

/// A PEM chain and key as a certificate rustls can serve.
pub fn certified(
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<Served, PemProblem> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PemProblem::Certificate(e.to_string()))?;
    let Some(leaf) = chain.first() else {
        return Err(PemProblem::NoCertificate);
    };
    let (not_before, not_after) = validity(leaf).unzip();
    // The error names the problem, never the key's bytes.
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| PemProblem::Key(e.to_string()))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| PemProblem::Key(e.to_string()))?;
    let key = CertifiedKey::new(chain, signing);
    key.keys_match().map_err(|_| PemProblem::Mismatch)?;
    Ok(Served {
        key: Arc::new(key),
        not_after,
        not_before,
    })
}

/// The certificate's notBefore and notAfter, in Unix seconds.
fn validity(cert: &CertificateDer<'_>) -> Option<(i64, i64)> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let validity = parsed.validity();
    Some((
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    ))
}

/// The certificate every new TLS connection gets; swapped on reload and
/// renewal. Empty until ACME has issued the first one.
pub struct Certificates {
    current: arc_swap::ArcSwapOption<CertifiedKey>,
    /// TLS-ALPN-01 answers, by domain, while an ACME order waits on them.
    challenges: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Certificates")
    }
}

impl Certificates {
    pub fn new(first: Option<Served>) -> Arc<Certificates> {
        let certs = Arc::new(Certificates {
            current: arc_swap::ArcSwapOption::empty(),
            challenges: Mutex::default(),
        });
        if let Some(first) = first {
            certs.replace(first);
        }
        certs
    }

    /// Serves `next` to connections from now on.
    pub fn replace(&self, next: Served) {
        record_expiry(&next);
        self.current.store(Some(next.key));
    }

    /// Whether there is a certificate to serve.
    pub fn serving(&self) -> bool {
        self.current.load().is_some()
    }

    fn challenges(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<CertifiedKey>>> {
        self.challenges
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers TLS-ALPN-01 for `domain` with `key` until [`Self::clear_challenge`].
    pub fn set_challenge(&self, domain: &str, key: Arc<CertifiedKey>) {
        self.challenges().insert(domain.to_ascii_lowercase(), key);
    }

    pub fn clear_challenge(&self, domain: &str) {
        self.challenges().remove(&domain.to_ascii_lowercase());
    }
}

fn record_expiry(served: &Served) {
    if let Some(at) = served.not_after {
        metrics::get().certificate_expiry("webhook", at);
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // An ACME server validating: it offers exactly `acme-tls/1`.
        let acme = hello.alpn().is_some_and(|mut offered| {
            offered.next() == Some(ACME_TLS_ALPN) && offered.next().is_none()
        });
        if acme {
            let name = hello.server_name()?.to_ascii_lowercase();
            return self.challenges().get(&name).cloned();
        }
        self.current.load_full()
    }
}

/// The crypto every TLS listener uses: *ring*, as outbound HTTPS does.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.2 and 1.3 only, HTTP/2 offered first; with `acme`, the
/// TLS-ALPN-01 protocol too (those connections end after the handshake).
pub fn acceptor(
    provider: Arc<CryptoProvider>,
    certs: Arc<Certificates>,
    acme: bool,
) -> Result<TlsAcceptor, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    if acme {
        config.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
    }
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// What identifies a version of a file without reading it.
fn stamp(meta: &std::fs::Metadata) -> (Option<SystemTime>, u64) {
    (meta.modified().ok(), meta.len())
}

/// Both files' stamps; `None` when either cannot be read.
pub type Stamps = Option<[(Option<SystemTime>, u64); 2]>;

pub async fn stamps(files: &PemFiles) -> Stamps {
    // `metadata` follows symbolic links: a renewal that swaps the link
    // (certbot's `live/` folder) changes the stamp too.
    let cert = tokio::fs::metadata(&files.cert).await.ok()?;
    let key = tokio::fs::metadata(&files.key).await.ok()?;
    Some([stamp(&cert), stamp(&key)])
}

/// Follows the files until `stop`: when either changes from `seen` (their
/// stamps when the served certificate was read), both are read again and,
/// if they make a usable certificate, served from then on.
pub async fn follow(
    files: PemFiles,
    mut seen: Stamps,
    certs: Arc<Certificates>,
    provider: Arc<CryptoProvider>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(FOLLOW_EVERY) => {}
            () = stop.cancelled() => return,
        }
        let now = stamps(&files).await;
        if now.is_none() || now == seen {
            continue;
        }
        seen = now;
        match files.load(&provider).await {
            Ok(next) => {
                let expires = next.not_after;
                certs.replace(next);
                tracing::info!(
                    cert = %files.cert.display(),
                    expires_unix_s = expires,
                    "TLS certificate reloaded"
                );
            }
            // A renewal writing one file and then the other passes through
            // a mismatch: the next change is tried again.
            Err(e) => tracing::warn!(
                "TLS certificate files changed but cannot be served ({e}); the previous certificate stays"
            ),
        }
    }
}
