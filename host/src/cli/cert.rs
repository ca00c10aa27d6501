//! `hookhost cert --self-signed`: a certificate and key for HTTPS, as
//! errbot's `!generate certificate` makes one.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, bail};
use rcgen::{CertificateParams, KeyPair};

use super::args::CertArgs;

pub fn run(args: &CertArgs) -> anyhow::Result<()> {
    let Some(first) = args.domains.first() else {
        bail!("name at least one --domain");
    };
    // The file name comes from the name, so it must be one.
    if !crate::server::tls::names_a_file(first) {
        bail!("--domain {first:?} is not a host name");
    }
    let mut params = CertificateParams::new(args.domains.clone())
        .with_context(|| format!("{:?} are not names a certificate can hold", args.domains))?;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now + time::Duration::days(i64::from(args.days));
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, first.as_str());
    let key = KeyPair::generate().context("cannot generate a key")?;
    let cert = params
        .self_signed(&key)
        .context("cannot sign the certificate")?;

    let cert_path = args.out.join(format!("{first}.crt"));
    let key_path = args.out.join(format!("{first}.key"));
    for path in [&cert_path, &key_path] {
        if path.exists() && !args.force {
            bail!("{} exists; pass --force to replace it", path.display());
        }
    }
    write(&cert_path, cert.pem().as_bytes(), 0o644)?;
    // Readable by the owner only, from its first byte.
    write(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
    println!(
        "wrote {} and {} ({}, valid {} days)",
        cert_path.display(),
        key_path.display(),
        args.domains.join(", "),
        args.days
    );
    println!(
        "serve HTTPS with: hookhost serve --tls-cert {} --tls-key {}",
        cert_path.display(),
        key_path.display()
    );
    Ok(())
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let cannot = |e| anyhow::Error::new(e).context(format!("cannot write {}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(cannot)?;
    // `mode` applies to a new file only; one replaced (--force) keeps its own.
    use std::os::unix::fs::PermissionsExt as _;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(cannot)?;
    file.write_all(bytes).map_err(cannot)?;
    file.sync_all().map_err(cannot)?;
    Ok(())
}
