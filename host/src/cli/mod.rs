//! The `hookhost` command: parse, set up logging, run one subcommand.

mod admin_client;
mod args;
mod cert;
mod commands;
mod deliveries_admin;
mod https;
mod state_admin;
mod trial;

use std::io::{BufWriter, IsTerminal};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

pub use args::{
    CacheArgs, CacheIsPluginsFolder, Cli, Command, RoutesArgs, ServeArgs, StateAction, StateArgs,
    StateCmdArgs, StateDirError, TestArgs,
};
pub use trial::detect_content_type;

use crate::server::routes;
use crate::verify::Scheme;

pub fn main() -> ExitCode {
    let cli = parse().unwrap_or_else(|e| e.exit());
    // Held until the end of `main`: dropping it writes out what is queued.
    let log_writer = match &cli.command {
        Command::Serve(args) => init_logging("info", args.log_json),
        // Problems show in what they print; the log only adds warnings.
        Command::Routes(_)
        | Command::State(_)
        | Command::Deliveries(_)
        | Command::Replay(_)
        | Command::Cert(_) => init_logging("warn", false),
        // The plugin's own log lines are part of what a test shows.
        Command::Test(_) => init_logging("info", false),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hookhost: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(commands::run(cli.command));
    // The log's last lines come out before the error that ends the run.
    drop(log_writer);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookhost: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--help` lists the routes from the server's own table.
fn parse() -> Result<Cli, clap::Error> {
    let matches = Cli::command()
        .after_long_help(after_help())
        .try_get_matches()?;
    Cli::from_arg_matches(&matches)
}

fn after_help() -> String {
    format!(
        "{routes}
Sidecar NAME.toml (all keys optional unless the kind needs them):
  secret = {{ env = \"VAR\" }} | {{ file = \"path\" }} | {{ value = \"...\" }}
  verify = {schemes}
           (generic hooks: required; Pyrus kinds: always pyrus-sig)
  token_header = \"X-Gitlab-Token\"   basic_auth = {{ user = \"u\", password = {{ env = \"VAR\" }} }}
  mount = \"/\"   timeout_ms = 10000   memory_mb = 64   [config] key = \"value\"
  [state] max_bytes_mb = 64   max_keys = 100000   (quota of the plugin's wasi:keyvalue state)

Examples:
  ECHO_BOT_SECRET=... hookhost serve --listen 0.0.0.0:8080
  hookhost routes --plugins ./plugins
  hookhost state                      hookhost state get my-plugin some-key
  hookhost test /hooks/errbot-examples/example/ann/jump/
  hookhost test /hooks/errbot-examples/github payload=%7B%7D --sign",
        routes = routes::help(),
        schemes = Scheme::NAMES.join(" | "),
    )
}

/// Log lines go to stderr from a thread of their own, in batches: a request
/// hands its line over and does not wait for the write, and a busy host makes
/// one `write` for many lines instead of one each (measured in BENCHMARKS.md:
/// it halves what the per-request line costs). So a line may reach stderr
/// just after the answer it describes. The queue is not lossy: if the writer
/// falls that far behind, requests wait for it rather than drop lines.
fn init_logging(default: &str, json: bool) -> WorkerGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("hookhost-log")
        .finish(BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    guard
}
