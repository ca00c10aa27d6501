//! Certificates over ACME (RFC 8555), as Caddy gets them: for
//! `--acme-domain`, one is ordered when the state folder holds none that is
//! still good, the order's challenge is answered by TLS-ALPN-01 (RFC 8737)
//! on the HTTPS listener itself (so only the HTTPS port need be reachable),
//! and the certificate is stored in the state folder and renewed at two
//! thirds of its life. The certificate in use keeps serving until a new one
//! is issued; a failed order is tried again, waiting longer each time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use instant_acme::{
    Account, AccountBuilder, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier,
    NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use rcgen::{CertificateParams, CustomExtension, DistinguishedName, KeyPair};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::{Certificates, PemFiles, PemProblem, Served, certified};

/// Let's Encrypt's production directory, the default.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// After a failed order: the first wait, doubled each time up to the last.
/// Not shorter: Let's Encrypt allows 5 failed validations an hour.
const FIRST_RETRY: Duration = Duration::from_secs(60);
const MAX_RETRY: Duration = Duration::from_secs(3600);
/// How long the ACME server may take to validate, and then to issue.
const POLL: RetryPolicy = RetryPolicy::new().timeout(Duration::from_secs(90));
/// A whole order, however the server stalls (single requests have no
/// deadline of their own).
const ORDER_DEADLINE: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("ACME: {0}")]
    Protocol(#[from] instant_acme::Error),
    #[error("ACME: {0}")]
    Order(String),
    #[error("cannot make a key or signing request: {0}")]
    Key(#[from] rcgen::Error),
    #[error("cannot keep {}: {source}", path.display())]
    Store {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What `--acme-domain` and its flags ask for.
#[derive(Clone, Debug)]
pub struct AcmeSettings {
    pub domain: String,
    /// For the account: the CA may write about expiry or problems.
    pub email: Option<String>,
    pub directory: String,
    /// A root to trust for the ACME server's own HTTPS (a private or test CA).
    pub directory_ca: Option<PathBuf>,
    /// Where the account and certificates are kept (`STATE/acme`).
    pub dir: PathBuf,
}

impl AcmeSettings {
    fn files(&self) -> PemFiles {
        PemFiles {
            cert: self.dir.join(format!("{}.crt", self.domain)),
            key: self.dir.join(format!("{}.key", self.domain)),
        }
    }

    /// One account per ACME server: a test directory's account means
    /// nothing to Let's Encrypt.
    fn account_path(&self) -> PathBuf {
        let digest = Sha256::digest(self.directory.as_bytes());
        self.dir
            .join(format!("account-{}.json", hex::encode(&digest[..6])))
    }

    /// The certificate kept from an earlier run, if it can still be served.
    pub async fn stored(&self, provider: &CryptoProvider) -> Option<Served> {
        let files = self.files();
        if !files.cert.exists() {
            return None;
        }
        match files.load(provider).await {
            Ok(served) if served.not_after.is_some_and(|at| at > now_s()) => Some(served),
            Ok(_) => {
                tracing::info!(domain = %self.domain, "the stored ACME certificate has expired");
                None
            }
            Err(e) => {
                tracing::warn!(
                    "the stored ACME certificate cannot be served, ordering another: {e}"
                );
                None
            }
        }
    }

    fn builder(&self) -> Result<AccountBuilder, AcmeError> {
        Ok(match &self.directory_ca {
            Some(root) => Account::builder_with_root(root)?,
            None => Account::builder()?,
        })
    }

    /// The stored account, or a new one (then stored).
    async fn account(&self) -> Result<Account, AcmeError> {
        let path = self.account_path();
        if let Ok(bytes) = tokio::fs::read(&path).await
            && let Ok(credentials) = serde_json::from_slice::<AccountCredentials>(&bytes)
        {
            match self.builder()?.from_credentials(credentials).await {
                Ok(account) => return Ok(account),
                Err(e) => {
                    tracing::warn!("the stored ACME account cannot be used ({e}); creating another")
                }
            }
        }
        let contact = self.email.as_ref().map(|e| format!("mailto:{e}"));
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let new = NewAccount {
            contact: &contacts,
            terms_of_service_agreed: true,
            only_return_existing: false,
        };
        let (account, credentials) = self
            .builder()?
            .create(&new, self.directory.clone(), None)
            .await?;
        let json = serde_json::to_vec(&credentials).map_err(instant_acme::Error::Json)?;
        write_private(&path, &json).await?;
        tracing::info!(directory = %self.directory, "ACME account created");
        Ok(account)
    }

    /// Orders, validates and downloads a certificate, and stores it.
    async fn order(
        &self,
        certs: &Certificates,
        provider: &CryptoProvider,
    ) -> Result<Issued, AcmeError> {
        let account = self.account().await?;
        let ids = [Identifier::Dns(self.domain.clone())];
        let mut order = account.new_order(&NewOrder::new(&ids)).await?;
        // Answered until the order is decided, whichever way.
        let _answering = Answering {
            certs,
            domain: &self.domain,
        };
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization?;
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => return Err(AcmeError::Order(format!("authorization is {other:?}"))),
            }
            let mut challenge = authorization
                .challenge(ChallengeType::TlsAlpn01)
                .ok_or_else(|| {
                    AcmeError::Order("the server offers no tls-alpn-01 challenge".into())
                })?;
            let key_authorization = challenge.key_authorization();
            let digest = key_authorization.digest();
            certs.set_challenge(
                &self.domain,
                answer(&self.domain, digest.as_ref(), provider)?,
            );
            challenge.set_ready().await?;
        }
        let status = order.poll_ready(&POLL).await?;
        if status != OrderStatus::Ready {
            let why = order
                .state()
                .error
                .as_ref()
                .map_or_else(|| format!("the order is {status:?}"), |p| p.to_string());
            return Err(AcmeError::Order(why));
        }
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![self.domain.clone()])?;
        params.distinguished_name = DistinguishedName::new();
        let csr = params.serialize_request(&key)?;
        order.finalize_csr(csr.der()).await?;
        let chain = order.poll_certificate(&POLL).await?;
        let key_pem = key.serialize_pem();
        let served = certified(chain.as_bytes(), key_pem.as_bytes(), provider).map_err(|p| {
            AcmeError::Order(match p {
                PemProblem::Mismatch => "the issued certificate is not for our key".into(),
                _ => "the issued certificate cannot be read".into(),
            })
        })?;
        Ok(Issued {
            served,
            chain,
            key_pem,
        })
    }

    /// Keeps an issued certificate for the next start. A failure is
    /// logged, not retried by ordering again: the CA's duplicate limit
    /// must not be spent on a full disk.
    async fn store(&self, chain: &str, key_pem: &str) {
        let files = self.files();
        let stored = async {
            write_private(&files.key, key_pem.as_bytes()).await?;
            write_private(&files.cert, chain.as_bytes()).await
        };
        if let Err(e) = stored.await {
            tracing::warn!(
                domain = %self.domain,
                "the ACME certificate serves but is not kept for the next start: {e}"
            );
        }
    }

    /// Keeps a certificate served until `stop`: orders one at once when
    /// `certs` holds none, else when the one it holds (valid over
    /// `validity`) is due; `issued` is told of each new one.
    pub async fn keep(
        self,
        certs: Arc<Certificates>,
        provider: Arc<CryptoProvider>,
        mut validity: Option<(i64, i64)>,
        issued: impl Fn(),
        stop: CancellationToken,
    ) {
        let mut retry = FIRST_RETRY;
        let mut wait = validity.map_or(Duration::ZERO, renew_in);
        let mut renewal = validity.is_some();
        loop {
            if renewal {
                tracing::info!(domain = %self.domain, renew_in_s = wait.as_secs(), "ACME certificate renewal scheduled");
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = stop.cancelled() => return,
            }
            let ordering = tokio::time::timeout(ORDER_DEADLINE, self.order(&certs, &provider));
            let result = tokio::select! {
                result = ordering => result.unwrap_or_else(|_| {
                    Err(AcmeError::Order(format!(
                        "no certificate within {} s",
                        ORDER_DEADLINE.as_secs()
                    )))
                }),
                () = stop.cancelled() => return,
            };
            match result {
                Ok(Issued {
                    served,
                    chain,
                    key_pem,
                }) => {
                    validity = served.not_before.zip(served.not_after);
                    tracing::info!(
                        domain = %self.domain,
                        expires_unix_s = served.not_after,
                        "ACME certificate issued"
                    );
                    certs.replace(served);
                    issued();
                    self.store(&chain, &key_pem).await;
                    retry = FIRST_RETRY;
                    wait = validity.map_or(MAX_RETRY, renew_in);
                    renewal = true;
                }
                Err(e) => {
                    tracing::warn!(
                        domain = %self.domain,
                        retry_in_s = retry.as_secs(),
                        "ACME order failed, the certificate in use (if any) stays: {e}"
                    );
                    wait = retry;
                    retry = (retry * 2).min(MAX_RETRY);
                    renewal = false;
                }
            }
        }
    }
}

/// A certificate just issued, and its PEM to keep.
struct Issued {
    served: Served,
    chain: String,
    key_pem: String,
}

/// Clears the TLS-ALPN-01 answer when the order is decided or dropped.
struct Answering<'a> {
    certs: &'a Certificates,
    domain: &'a str,
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        self.certs.clear_challenge(self.domain);
    }
}

/// The self-signed certificate that answers TLS-ALPN-01: the domain, and
/// the key authorization's digest in the critical acmeIdentifier extension.
fn answer(
    domain: &str,
    digest: &[u8],
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, AcmeError> {
    let mut params = CertificateParams::new(vec![domain.to_owned()])?;
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest)];
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| AcmeError::Order(format!("cannot make the tls-alpn-01 answer: {e}")))?;
    // Not `from_der`: its check would refuse the critical acmeIdentifier
    // extension, which only the ACME server reads.
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.der().clone()],
        signing,
    )))
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Until two thirds of the certificate's life have passed, as Let's
/// Encrypt advises (30 days before the end of a 90-day certificate); a
/// share of the life, not a fixed time, so short lives renew sanely too.
fn renew_in((not_before, not_after): (i64, i64)) -> Duration {
    let at = not_before.saturating_add(not_after.saturating_sub(not_before) * 2 / 3);
    Duration::from_secs(u64::try_from(at.saturating_sub(now_s())).unwrap_or(0))
}

/// Writes a file only its owner can read, in full or not at all (a new
/// file renamed over the old), creating its folder.
async fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AcmeError> {
    let store = |source| AcmeError::Store {
        path: path.to_path_buf(),
        source,
    };
    let (path, bytes) = (path.to_path_buf(), bytes.to_vec());
    let target = path.clone();
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("new");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    })
    .await
    .map_err(|e| store(std::io::Error::other(e)))?
    .map_err(|e| AcmeError::Store {
        path: target,
        source: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_comes_at_two_thirds_of_the_life() {
        let now = now_s();
        // A 90-day certificate issued 10 days ago: renew in 50 days.
        let day = 86_400;
        let wait = renew_in((now - 10 * day, now + 80 * day));
        assert!((wait.as_secs() as i64 - 50 * day).abs() <= 2, "{wait:?}");
        // Past two thirds: at once.
        assert_eq!(renew_in((now - 70 * day, now + 20 * day)), Duration::ZERO);
    }
}
