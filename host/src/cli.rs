//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::server::DEFAULT_BODY_LIMIT;

/// hookhost serves webhooks to sandboxed WebAssembly plugins.
///
/// Drop NAME.wasm (and optionally NAME.toml) into the plugins folder and it
/// is live within a second; `hookhost routes` prints where to point the
/// sender. Signatures are checked before a plugin sees a byte.
#[derive(Debug, Parser)]
#[command(name = "hookhost", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

const AFTER_HELP: &str = "\
Routes:
  POST /pyrus/{plugin}   Pyrus bot webhook; X-Pyrus-Sig = hex HMAC-SHA1(secret, raw body)

Sidecar NAME.toml (all keys optional):
  secret = { env = \"VAR\" } | { file = \"path\" } | { value = \"...\" }
  timeout_ms = 10000   memory_mb = 64   [config] key = \"value\"

Examples:
  ECHO_BOT_SECRET=... hookhost serve --listen 0.0.0.0:8080
  hookhost routes --plugins ./plugins";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve every plugin in the plugins folder over HTTP, reloading them as
    /// files change. Stops gracefully on SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Print every route with its plugin, kind, version and state
    /// (serving, or not served and why). Reads the folder; no server needed.
    Routes(RoutesArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "HOOKHOST_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The plugins folder.
    #[arg(long, env = "HOOKHOST_PLUGINS", default_value = "plugins")]
    pub plugins: PathBuf,
    /// Largest request body in bytes; larger ones get 413.
    #[arg(long, env = "HOOKHOST_BODY_LIMIT", default_value_t = DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "HOOKHOST_LOG_JSON")]
    pub log_json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RoutesArgs {
    /// The plugins folder.
    #[arg(long, env = "HOOKHOST_PLUGINS", default_value = "plugins")]
    pub plugins: PathBuf,
}
