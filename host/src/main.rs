use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use arc_swap::ArcSwap;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use hookhost::cli::{Cli, Command, RoutesArgs, ServeArgs, TestArgs};
use hookhost::plugins::{self, Loader, Registry};
use hookhost::routes::{self, StatusFile};
use hookhost::runtime::Runtime;
use hookhost::server::{self, AppState, Signals};
use hookhost::trial;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Serve(args) => init_logging("info", args.log_json),
        // `routes` reports problems in its table; the log only adds warnings.
        Command::Routes(_) => init_logging("warn", false),
        // The plugin's own log lines are part of what a test shows.
        Command::Test(_) => init_logging("info", false),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hookhost: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Routes(args) => routes(args).await,
            Command::Test(args) => test(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookhost: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(default: &str, json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn check_folder(dir: &std::path::Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        bail!(
            "plugins folder {} does not exist (create it or pass --plugins DIR)",
            dir.display()
        );
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    check_folder(&args.plugins)?;
    // Before anything slow: a stop signal during the first load must not
    // kill the process the default way.
    let signals = Signals::install().context("cannot listen for stop signals")?;
    // Bound first so the status file can name the address; connections that
    // arrive while the plugins load wait in the backlog.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let status = StatusFile::new(&args.plugins, format!("http://{addr}"));

    let runtime = Runtime::with_cache(args.cache.resolve(&args.plugins)?.as_deref())?;
    let registry = Arc::new(ArcSwap::from_pointee(Registry::default()));
    let loader = Loader::new(runtime.clone(), args.plugins.clone(), registry.clone())
        .publish_status(status.clone());
    let watcher = tokio::select! {
        watcher = plugins::watch(loader) => watcher?,
        () = signals.nth(1) => {
            status.remove();
            tracing::info!("stopped while loading plugins");
            return Ok(());
        }
    };

    tracing::info!(%addr, plugins = %args.plugins.display(), "listening");
    // On stdout, for scripts and tests that start hookhost on port 0. A
    // closed stdout must not stop the server.
    let _ = writeln!(std::io::stdout(), "hookhost listening on http://{addr}");

    let state = Arc::new(AppState {
        registry,
        runtime,
        body_limit: args.body_limit,
        background: server::Background::default(),
    });
    let served = server::serve(listener, state, &signals).await;
    // No reload may publish the table again after it is removed.
    watcher.stop().await;
    status.remove();
    served?;
    tracing::info!("stopped");
    Ok(())
}

async fn test(args: TestArgs) -> anyhow::Result<()> {
    check_folder(&args.plugins)?;
    let outcome = trial::run(args).await?;
    print!("{}", outcome.report);
    if !outcome.success {
        bail!("the route did not answer with a success status");
    }
    Ok(())
}

async fn routes(args: RoutesArgs) -> anyhow::Result<()> {
    check_folder(&args.plugins)?;
    if let Some(live) = routes::read_live(&args.plugins) {
        println!(
            "live: hookhost pid {} serving {} on {}",
            live.pid,
            args.plugins.display(),
            live.url
        );
        print!("{}", routes::render(&live.rows));
        return Ok(());
    }
    println!(
        "dry run: no hookhost is serving {}; this is what serving it would load",
        args.plugins.display()
    );
    let runtime = Runtime::with_cache(args.cache.resolve(&args.plugins)?.as_deref())?;
    let registry = Arc::new(ArcSwap::from_pointee(Registry::default()));
    let mut loader = Loader::new(runtime, args.plugins.clone(), registry.clone());
    loader
        .rescan()
        .await
        .with_context(|| format!("cannot read plugins folder {}", args.plugins.display()))?;
    print!("{}", routes::render(&routes::rows(&registry.load())));
    Ok(())
}
