//! The command line: subcommands and their arguments.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::server::{
    DEFAULT_BODY_LIMIT, DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_JOURNAL_CAP, Timeouts,
};

/// hookhost serves webhooks to sandboxed WebAssembly plugins.
///
/// Drop NAME.wasm (and optionally NAME.toml) into the plugins folder and it
/// is live within a second; `hookhost routes` prints where to point the
/// sender. Signatures are checked before a plugin sees a byte.
#[derive(Debug, Parser)]
#[command(name = "hookhost", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve every plugin in the plugins folder over HTTP, reloading them as
    /// files change. Stops gracefully on SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Print every route with its plugin, kind, version and state
    /// (serving, or not served and why). Reads the folder; no server needed.
    Routes(RoutesArgs),
    /// Run one request through the whole pipeline in-process (no server
    /// needed) and print the detected content type, status, headers and
    /// body. Exits non-zero unless the status is 2xx or 3xx.
    Test(TestArgs),
    /// Inspect plugin state (what plugins keep through wasi:keyvalue):
    /// usage per plugin, or one plugin's keys and values. Reads the same
    /// database as a running server, which may keep serving.
    State(StateCmdArgs),
    /// List journaled deliveries (Worksection's, and async hooks'), or show
    /// one with its attempts. Reads the state folder of a running or a
    /// stopped server.
    Deliveries(DeliveriesArgs),
    /// Run deliveries again: by id, or every dead one of a plugin. A
    /// running server picks them up within a second; a stopped one at its
    /// next start.
    Replay(ReplayArgs),
    /// Write a TLS certificate and key for `serve --tls-cert/--tls-key`.
    Cert(CertArgs),
}

#[derive(Debug, clap::Args)]
pub struct CertArgs {
    /// A self-signed certificate (the only kind this writes; for senders
    /// that can be told to trust it, and for trying HTTPS locally).
    #[arg(long, required = true)]
    pub self_signed: bool,
    /// A name the certificate is for (repeat for more); the first names
    /// the files. An IP address is allowed.
    #[arg(long = "domain", required = true)]
    pub domains: Vec<String>,
    /// Folder to write NAME.crt and NAME.key into.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// Days the certificate is valid.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,
    /// Replace files that exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, clap::Args)]
pub struct DeliveriesArgs {
    #[command(subcommand)]
    pub action: Option<DeliveriesAction>,
    /// Only this plugin's.
    #[arg(long)]
    pub plugin: Option<String>,
    /// Only those in this state: pending, retrying, dead or done.
    #[arg(long)]
    pub state: Option<String>,
    /// Only those received since: seconds ago (`3600`), or `30m`, `2h`, `7d`.
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    #[command(flatten)]
    pub dir: StateArgs,
}

#[derive(Debug, Subcommand)]
pub enum DeliveriesAction {
    /// One delivery: its payload, headers (credentials removed) and every
    /// attempt with its time and error.
    Show { id: String },
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Delivery ids to run again.
    pub ids: Vec<String>,
    /// With --dead: every dead delivery of this plugin.
    #[arg(long, requires = "dead")]
    pub plugin: Option<String>,
    #[arg(long, requires = "plugin", conflicts_with = "ids")]
    pub dead: bool,
    /// With --dead: only those received since (as for `deliveries`).
    #[arg(long, requires = "dead")]
    pub since: Option<String>,
    #[command(flatten)]
    pub dir: StateArgs,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "HOOKHOST_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The plugins folder.
    #[arg(long, env = "HOOKHOST_PLUGINS", default_value = "plugins")]
    pub plugins: PathBuf,
    /// Address of the admin listener (/healthz, /readyz, /metrics), apart
    /// from the one senders reach. A non-loopback address needs a bearer
    /// token in HOOKHOST_ADMIN_TOKEN (16 characters or more).
    #[arg(long, env = "HOOKHOST_ADMIN_LISTEN", default_value = "127.0.0.1:9090")]
    pub admin_listen: SocketAddr,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Largest request body in bytes; larger ones get 413.
    #[arg(long, env = "HOOKHOST_BODY_LIMIT", default_value_t = DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,
    /// Seconds a sender has to send a request's head, from its first byte
    /// (on a new connection, from connecting); a connection trickling its
    /// head, or silent, is closed then.
    #[arg(long, env = "HOOKHOST_HEADER_TIMEOUT_S", default_value_t = DEFAULT_HEADER_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_s: u64,
    /// Seconds a keep-alive connection may wait for its next request.
    #[arg(long, env = "HOOKHOST_IDLE_TIMEOUT_S", default_value_t = DEFAULT_IDLE_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout_s: u64,
    /// Connections open at once; past it new ones are answered 503 and
    /// closed [default: what the open-file limit allows, at most 16384].
    #[arg(long, env = "HOOKHOST_MAX_CONNECTIONS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: Option<u64>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "HOOKHOST_LOG_JSON")]
    pub log_json: bool,
    /// Days a handled delivery is kept in the journal before it is deleted.
    #[arg(long, env = "HOOKHOST_KEEP_DAYS", default_value_t = 7)]
    pub keep_days: u32,
    /// The journal's size cap in MiB; past it new deliveries get 503.
    #[arg(long, env = "HOOKHOST_JOURNAL_CAP_MB", default_value_t = DEFAULT_JOURNAL_CAP >> 20)]
    pub journal_cap_mb: u64,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub state: StateArgs,
}

impl ServeArgs {
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            header: Duration::from_secs(self.header_timeout_s),
            idle: Duration::from_secs(self.idle_timeout_s),
        }
    }
}

/// HTTPS on a listener of its own, beside the plain one.
#[derive(Debug, clap::Args)]
pub struct TlsArgs {
    /// PEM certificate chain (leaf first) for HTTPS; followed while serving:
    /// a renewed file is served to new connections within a second.
    #[arg(
        long,
        env = "HOOKHOST_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "acme_domain"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "HOOKHOST_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Address of the HTTPS listener (with --tls-cert); expose this one,
    /// and keep --listen on loopback for local use.
    #[arg(long, env = "HOOKHOST_TLS_LISTEN", default_value = "127.0.0.1:8443")]
    pub tls_listen: SocketAddr,
    /// HTTPS with a certificate for this name from an ACME CA (Let's Encrypt
    /// by default), obtained and renewed by hookhost, kept in the state
    /// folder. The CA validates over TLS-ALPN-01 on port 443 of the name,
    /// so --tls-listen must be reachable there.
    #[arg(long, env = "HOOKHOST_ACME_DOMAIN")]
    pub acme_domain: Option<String>,
    /// Contact address for the ACME account.
    #[arg(long, env = "HOOKHOST_ACME_EMAIL", requires = "acme_domain")]
    pub acme_email: Option<String>,
    /// The ACME directory URL.
    #[arg(long, env = "HOOKHOST_ACME_DIRECTORY", requires = "acme_domain",
          default_value = crate::server::tls::acme::LETS_ENCRYPT)]
    pub acme_directory: String,
    /// A PEM root to trust for the ACME server's own HTTPS (a private CA).
    #[arg(long, env = "HOOKHOST_ACME_DIRECTORY_CA", requires = "acme_domain")]
    pub acme_directory_ca: Option<PathBuf>,
}

/// Where compiled plugins are kept between runs.
#[derive(Debug, clap::Args)]
pub struct CacheArgs {
    /// Folder for compiled plugins, keyed by file hash and engine
    /// [default: $XDG_CACHE_HOME/hookhost, else $HOME/.cache/hookhost].
    /// Must not be the plugins folder.
    #[arg(long, env = "HOOKHOST_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile every plugin; read and write no cache.
    #[arg(long, env = "HOOKHOST_NO_CACHE", conflicts_with = "cache_dir")]
    pub no_cache: bool,
}

/// A cache folder that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("the cache folder {0} is the plugins folder; pass another --cache-dir")]
pub struct CacheIsPluginsFolder(PathBuf);

impl CacheArgs {
    /// The cache folder for serving `plugins`, `None` when caching is off
    /// or there is no default location (logged). It may not be the plugins
    /// folder: the watcher rescans on every file written there.
    pub fn resolve(&self, plugins: &Path) -> Result<Option<PathBuf>, CacheIsPluginsFolder> {
        let Some(dir) = self.dir() else {
            if !self.no_cache {
                tracing::warn!(
                    "no cache folder (set --cache-dir, XDG_CACHE_HOME or HOME); compiling every plugin"
                );
            }
            return Ok(None);
        };
        let same = matches!(
            (dir.canonicalize(), plugins.canonicalize()),
            (Ok(a), Ok(b)) if a == b
        );
        if same {
            return Err(CacheIsPluginsFolder(dir));
        }
        Ok(Some(dir))
    }

    /// The cache folder to use; `None` when caching is off or there is no default.
    pub fn dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        self.cache_dir
            .clone()
            .or_else(|| default_dir("XDG_CACHE_HOME", ".cache"))
    }
}

/// `$XDG_VAR/hookhost`, else `$HOME/UNDER_HOME/hookhost`; empty means unset.
fn default_dir(xdg_var: &str, under_home: &str) -> Option<PathBuf> {
    let nonempty = |var| std::env::var_os(var).filter(|v| !v.is_empty());
    nonempty(xdg_var)
        .map(PathBuf::from)
        .or_else(|| nonempty("HOME").map(|home| PathBuf::from(home).join(under_home)))
        .map(|base| base.join("hookhost"))
}

#[derive(Debug, clap::Args)]
pub struct RoutesArgs {
    /// The plugins folder.
    #[arg(long, env = "HOOKHOST_PLUGINS", default_value = "plugins")]
    pub plugins: PathBuf,
    #[command(flatten)]
    pub cache: CacheArgs,
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The path (and query) to request, e.g. /hooks/errbot-examples/test.
    pub route: String,
    /// The request body, or @FILE to read it from a file (@- for stdin).
    pub body: Option<String>,
    /// An extra request header; repeatable.
    #[arg(long = "header", short = 'H', value_name = "K:V")]
    pub headers: Vec<String>,
    /// The method; by default POST, or GET for routes that only take GET.
    #[arg(long, short = 'X')]
    pub method: Option<String>,
    /// Sign the request as the plugin's sender would, with its configured
    /// secret and scheme.
    #[arg(long)]
    pub sign: bool,
    /// The plugins folder.
    #[arg(long, env = "HOOKHOST_PLUGINS", default_value = "plugins")]
    pub plugins: PathBuf,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub state: StateArgs,
}

/// Where plugin state is kept.
#[derive(Debug, Clone, clap::Args)]
pub struct StateArgs {
    /// Folder of the plugin state database (state.db, SQLite)
    /// [default: $XDG_STATE_HOME/hookhost, else $HOME/.local/state/hookhost].
    /// Must not be the plugins folder or inside it.
    // Global: `hookhost state get P K --state-dir D` reads naturally.
    #[arg(long, env = "HOOKHOST_STATE_DIR", global = true)]
    pub state_dir: Option<PathBuf>,
}

/// A state folder that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    #[error("the state folder {0} is the plugins folder or inside it; pass another --state-dir")]
    InPluginsFolder(PathBuf),
    #[error("no state folder: pass --state-dir, or set XDG_STATE_HOME or HOME")]
    NoDefault,
}

impl StateArgs {
    /// The state folder as given or by default; not created or checked.
    pub fn dir(&self) -> Result<PathBuf, StateDirError> {
        if let Some(dir) = &self.state_dir {
            return Ok(dir.clone());
        }
        default_dir("XDG_STATE_HOME", ".local/state").ok_or(StateDirError::NoDefault)
    }

    /// Refuses `dir` when it is `plugins` or inside it: the watcher would
    /// rescan at every write of the database, and a state file must never
    /// sit among what is deployed. Both paths come absolute and resolved.
    pub fn check_outside(dir: &Path, plugins: &Path) -> Result<(), StateDirError> {
        if dir.starts_with(plugins) {
            return Err(StateDirError::InPluginsFolder(dir.to_path_buf()));
        }
        Ok(())
    }
}

#[derive(Debug, clap::Args)]
pub struct StateCmdArgs {
    #[command(subcommand)]
    pub action: Option<StateAction>,
    #[command(flatten)]
    pub state: StateArgs,
}

/// Without an action, `hookhost state` prints every plugin's usage.
#[derive(Debug, Subcommand)]
pub enum StateAction {
    /// Every key of one plugin, one per line.
    List { plugin: String },
    /// One value, written to stdout as stored.
    Get { plugin: String, key: String },
    /// Removes one key.
    Delete { plugin: String, key: String },
}
