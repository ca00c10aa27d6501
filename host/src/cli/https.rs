//! `serve`'s HTTPS listener: its certificate from the operator's files
//! (followed for renewals) or from ACME (ordered and renewed here).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use rustls::crypto::CryptoProvider;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::args::{StateArgs, TlsArgs};
use crate::server::admin::Admin;
use crate::server::tls::acme::AcmeSettings;
use crate::server::tls::{self, Certificates, PemFiles};

/// Where the certificate comes from, and so what keeps it current.
enum Source {
    /// With the files' stamps when they were read, so a renewal made while
    /// the plugins load is not missed.
    Files(PemFiles, tls::Stamps),
    Acme {
        settings: AcmeSettings,
        /// The stored certificate's notBefore and notAfter, if one serves.
        validity: Option<(i64, i64)>,
    },
}

/// The HTTPS listener, bound, with its first certificate (none yet when
/// ACME has still to issue one).
pub struct Https {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    certs: Arc<Certificates>,
    provider: Arc<CryptoProvider>,
    source: Source,
}

impl Https {
    /// `None` without --tls-cert or --acme-domain. Files that cannot be
    /// served stop the start here.
    pub async fn open(args: &TlsArgs, state: &StateArgs) -> anyhow::Result<Option<Https>> {
        let provider = tls::provider();
        let (first, source) = if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
            let files = PemFiles {
                cert: cert.clone(),
                key: key.clone(),
            };
            let stamps = tls::stamps(&files).await;
            let first = files.load(&provider).await?;
            tracing::info!(cert = %cert.display(), expires_unix_s = first.not_after, "TLS certificate");
            (Some(first), Source::Files(files, stamps))
        } else if let Some(domain) = &args.acme_domain {
            if !tls::names_a_file(domain) {
                anyhow::bail!("--acme-domain {domain:?} is not a host name");
            }
            let settings = AcmeSettings {
                domain: domain.clone(),
                email: args.acme_email.clone(),
                directory: args.acme_directory.clone(),
                directory_ca: args.acme_directory_ca.clone(),
                dir: state.dir()?.join("acme"),
            };
            let first = settings.stored(&provider).await;
            let validity = first.as_ref().and_then(|f| f.not_before.zip(f.not_after));
            if first.is_some() {
                tracing::info!(%domain, "ACME certificate from the state folder");
            }
            (first, Source::Acme { settings, validity })
        } else {
            return Ok(None);
        };
        let certs = Certificates::new(first);
        let acme = matches!(source, Source::Acme { .. });
        let acceptor = tls::acceptor(provider.clone(), certs.clone(), acme)?;
        let listener = TcpListener::bind(args.tls_listen)
            .await
            .with_context(|| format!("cannot listen on {} for HTTPS", args.tls_listen))?;
        Ok(Some(Https {
            listener,
            acceptor,
            certs,
            provider,
            source,
        }))
    }

    /// ACME has still to issue the first certificate.
    pub fn awaits_certificate(&self) -> bool {
        !self.certs.serving()
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Starts what keeps the certificate current, until `stop`; the
    /// listener and acceptor for the server. Readiness waits for a first
    /// ACME certificate.
    pub fn serve(self, admin: &Arc<Admin>, stop: &CancellationToken) -> (TcpListener, TlsAcceptor) {
        match self.source {
            Source::Files(files, stamps) => {
                let follow = tls::follow(files, stamps, self.certs, self.provider, stop.clone());
                tokio::spawn(follow);
            }
            Source::Acme { settings, validity } => {
                let admin = admin.clone();
                tokio::spawn(settings.keep(
                    self.certs,
                    self.provider,
                    validity,
                    move || admin.readiness.certificate_issued(),
                    stop.clone(),
                ));
            }
        }
        (self.listener, self.acceptor)
    }
}
