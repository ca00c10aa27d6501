//! The subcommands, in the order things happen: the plugins folder is
//! loaded (one bootstrap for serve, routes and test, with the plugin state
//! for serve and test), then served, listed or tried. `state` only reads
//! the state database (`state_admin`).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use super::admin_client::AdminClient;
use super::args::{CacheArgs, Command, RoutesArgs, ServeArgs, StateArgs, TestArgs};
use super::https::Https;
use super::{cert, deliveries_admin, state_admin, trial};
use crate::plugins::status::{self, StatusFile};
use crate::plugins::{self, Loader, OwnRoutes, Registry, SharedRegistry, Watcher};
use crate::runtime::Runtime;
use crate::server::admin::{self, Admin};
use crate::server::{self, AppState, Signals, routes};

pub async fn run(command: Command) -> anyhow::Result<()> {
    let dir = match &command {
        Command::Serve(args) => &args.plugins,
        Command::Routes(args) => &args.plugins,
        Command::Test(args) => &args.plugins,
        // The operator's state tools read no plugins folder.
        Command::State(_) | Command::Deliveries(_) | Command::Replay(_) | Command::Cert(_) => {
            Path::new(".")
        }
    };
    if !dir.is_dir() {
        bail!(
            "plugins folder {} does not exist (create it or pass --plugins DIR)",
            dir.display()
        );
    }
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Routes(args) => list(args).await,
        Command::Test(args) => test(args).await,
        Command::State(args) => state_admin::run(args).await,
        Command::Deliveries(args) => deliveries_admin::list(args).await,
        Command::Replay(args) => deliveries_admin::replay(args).await,
        Command::Cert(args) => cert::run(&args),
    }
}

pub struct Loaded {
    pub runtime: Arc<Runtime>,
    pub registry: SharedRegistry,
    /// Set when loading with a status file: the folder is being followed.
    pub watcher: Option<Watcher>,
}

/// Every command starts here: the engine, the registry and a first load of
/// `dir`. With `live`, the folder is then watched, and every reload is
/// published to that status file for `hookhost routes`. Without `state`,
/// plugins run without state (`hookhost routes`' dry run).
pub async fn load(
    dir: &Path,
    cache: &CacheArgs,
    state: Option<&StateArgs>,
    live: Option<StatusFile>,
) -> anyhow::Result<Loaded> {
    let cache_dir = cache.resolve(dir)?;
    let store = match state {
        Some(args) => Some(state_admin::open(args, dir).await?),
        None => None,
    };
    let runtime = Runtime::with_cache_and_state(cache_dir.as_deref(), store)?;
    let registry = Arc::new(ArcSwap::from_pointee(Registry::default()));
    let own = OwnRoutes::new(routes::own_routes());
    let mut loader = Loader::new(runtime.clone(), dir.to_path_buf(), registry.clone(), own);
    let watcher = match live {
        // The watcher loads the folder once it is watching, so no change is missed.
        Some(status) => Some(plugins::watch(loader.publish_status(status)).await?),
        None => {
            loader
                .rescan()
                .await
                .with_context(|| format!("cannot read plugins folder {}", dir.display()))?;
            None
        }
    };
    Ok(Loaded {
        runtime,
        registry,
        watcher,
    })
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Before anything slow: a stop signal during the first load must not
    // kill the process the default way.
    let signals = Signals::install().context("cannot listen for stop signals")?;
    // Before anything opens files: the open-file limit is raised here.
    let max_connections = args
        .max_connections
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let limits = server::ConnLimits::resolve(args.timeouts(), max_connections);
    // Bound first so the status file can name the address; connections that
    // arrive while the plugins load wait in the backlog.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    // A certificate that cannot be served stops the start here.
    let https = Https::open(&args.tls, &args.state).await?;
    // Up first, so health checks answer (not ready) while plugins load.
    let admin = start_admin(&args, limits, &signals).await?;
    // Before the plugins load: a state folder that cannot keep what is
    // acknowledged must stop the server before it acknowledges anything.
    let journal = deliveries_admin::open(&args.state, Some(&args.plugins)).await?;
    admin.admin.readiness.state_open();
    let state_dir = args.state.dir()?;
    // For `deliveries` and `replay`, which find a server by its state folder.
    if let Err(e) = status::publish_admin(&state_dir, &admin.url) {
        tracing::warn!(
            "cannot note the admin address in {}: {e}",
            state_dir.display()
        );
    }
    let status = StatusFile::new(
        &args.plugins,
        format!("http://{addr}"),
        Some(admin.url.clone()),
    );
    let loaded = tokio::select! {
        loaded = load(&args.plugins, &args.cache, Some(&args.state), Some(status.clone())) => loaded?,
        () = signals.nth(1) => {
            status.remove();
            tracing::info!("stopped while loading plugins");
            return Ok(());
        }
    };
    admin.admin.readiness.plugins_loaded();

    let state = Arc::new(AppState::new(
        loaded.registry,
        loaded.runtime,
        args.body_limit,
        journal,
        args.journal_cap_mb.saturating_mul(1 << 20),
    ));
    let keep = std::time::Duration::from_secs(u64::from(args.keep_days) * 86_400);
    let waiting = state
        .deliveries
        .recover(keep)
        .await
        .context("cannot read the delivery journal")?;
    if waiting > 0 {
        tracing::info!(plugins = waiting, "resuming journaled deliveries");
    }
    let _ = admin.admin.app.set(state.clone());
    if https.as_ref().is_some_and(Https::awaits_certificate) {
        admin.admin.readiness.waiting_for_certificate();
    }
    admin.admin.readiness.listening();
    announce(addr, https.as_ref(), &args.plugins)?;
    let following = CancellationToken::new();
    let https = https.map(|https| https.serve(&admin.admin, &following));
    let served = server::serve(listener, https, state, limits, &signals).await;
    following.cancel();
    status::forget_admin(&state_dir);
    admin.stop().await;
    // No reload may publish the table again after it is removed.
    if let Some(watcher) = loaded.watcher {
        watcher.stop().await;
    }
    status.remove();
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// Says where the webhook listeners are, once they serve.
fn announce(addr: SocketAddr, https: Option<&Https>, plugins: &Path) -> std::io::Result<()> {
    tracing::info!(%addr, plugins = %plugins.display(), "listening");
    // On stdout, for scripts and tests that start hookhost on port 0. A
    // closed stdout must not stop the server.
    let mut stdout = std::io::stdout();
    if let Some(https) = https {
        let tls_addr = https.local_addr()?;
        tracing::info!(addr = %tls_addr, "listening for HTTPS");
        let _ = writeln!(stdout, "hookhost listening on https://{tls_addr}");
    }
    let _ = writeln!(stdout, "hookhost listening on http://{addr}");
    Ok(())
}

/// How long a stopping host waits for admin requests still open.
const ADMIN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The admin listener, serving until [`AdminServer::stop`].
struct AdminServer {
    admin: Arc<Admin>,
    /// `http://ADDR`, as the tools reach it.
    url: String,
    stop: CancellationToken,
    serving: tokio::task::JoinHandle<()>,
}

impl AdminServer {
    /// Stops it; an admin client that will not read its answer gets
    /// `ADMIN_GRACE`, not the power to hold the stop.
    async fn stop(self) {
        self.stop.cancel();
        let abort = self.serving.abort_handle();
        if tokio::time::timeout(ADMIN_GRACE, self.serving)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

async fn start_admin(
    args: &ServeArgs,
    limits: server::ConnLimits,
    signals: &Signals,
) -> anyhow::Result<AdminServer> {
    let token = std::env::var(admin::TOKEN_VAR).ok();
    let access = admin::Access::new(args.admin_listen, token)?;
    let listener = tokio::net::TcpListener::bind(args.admin_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} for the admin listener (pass another --admin-listen)",
                args.admin_listen
            )
        })?;
    let addr = listener.local_addr()?;
    let admin = Admin::new(access);
    let stop = CancellationToken::new();
    let serving = tokio::spawn(server::serve_admin(
        listener,
        admin.clone(),
        limits,
        stop.clone().cancelled_owned(),
    ));
    // Not ready from the first stop signal on, while requests drain.
    let (draining, first) = (admin.clone(), signals.clone());
    tokio::spawn(async move {
        first.nth(1).await;
        draining.readiness.stopping();
    });
    tracing::info!(%addr, "admin listener");
    let _ = writeln!(std::io::stdout(), "hookhost admin on http://{addr}");
    Ok(AdminServer {
        admin,
        url: format!("http://{addr}"),
        stop,
        serving,
    })
}

async fn test(args: TestArgs) -> anyhow::Result<()> {
    let loaded = load(&args.plugins, &args.cache, Some(&args.state), None).await?;
    trial::run(&args, loaded).await
}

async fn list(args: RoutesArgs) -> anyhow::Result<()> {
    if let Some(live) = status::read_live(&args.plugins) {
        println!(
            "live: hookhost pid {} serving {} on {}",
            live.pid,
            args.plugins.display(),
            live.url
        );
        // Asked of the server itself; its last published table if it
        // cannot be asked (an admin token this shell does not have).
        let asked = match &live.admin {
            Some(url) => match AdminClient::new(url)?
                .get::<Vec<status::Row>>("/api/routes")
                .await
            {
                Ok(rows) => Some(rows),
                Err(e) => {
                    eprintln!("hookhost: {e}; showing the table it last published");
                    None
                }
            },
            None => None,
        };
        print!("{}", status::render(&asked.unwrap_or(live.rows)));
        return Ok(());
    }
    println!(
        "dry run: no hookhost is serving {}; this is what serving it would load",
        args.plugins.display()
    );
    let loaded = load(&args.plugins, &args.cache, None, None).await?;
    print!("{}", status::render(&status::rows(&loaded.registry.load())));
    Ok(())
}
