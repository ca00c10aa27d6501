//! HTTP: the router, per-request plumbing, and graceful shutdown.

pub mod admin;
mod answer_memo;
mod body;
mod conn;
mod deliveries;
mod error;
mod hooks;
mod intake;
mod metered;
mod outcome;
mod pyrus_bot;
mod pyrus_ext;
mod request_id;
pub mod routes;
mod seen;
mod shutdown;
pub mod tls;
mod worksection;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::journal::Journal;
use crate::plugins::{LoadedPlugin, SharedRegistry};
use crate::protocol::PluginKind;
use crate::runtime::Runtime;

pub use conn::{DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, Limits as ConnLimits, Timeouts};
pub use deliveries::{DEFAULT_JOURNAL_CAP, Deliveries};
pub use error::ApiError;
pub use shutdown::Signals;

pub const DEFAULT_BODY_LIMIT: usize = 4 << 20;

pub struct AppState {
    pub registry: SharedRegistry,
    pub runtime: Arc<Runtime>,
    pub body_limit: usize,
    /// Deliveries answered before their plugin runs, journaled.
    pub deliveries: Deliveries,
    /// Successful Pyrus answers, so a resend does not run the plugin twice.
    pub answers: answer_memo::AnswerMemo,
}

impl AppState {
    pub fn new(
        registry: SharedRegistry,
        runtime: Arc<Runtime>,
        body_limit: usize,
        journal: Arc<dyn Journal>,
        journal_cap: u64,
    ) -> Self {
        let deliveries = Deliveries::new(journal, registry.clone(), runtime.clone(), journal_cap);
        AppState {
            registry,
            runtime,
            body_limit,
            deliveries,
            answers: answer_memo::AnswerMemo::default(),
        }
    }

    /// The serving version of plugin `name`, if it is a plugin of `kind`.
    /// The `Arc` pins that version for the whole request.
    fn plugin(&self, name: &str, kind: PluginKind) -> Result<Arc<LoadedPlugin>, ApiError> {
        let registry = self.registry.load();
        let entry = registry.get(name).ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, format!("no plugin named {name}"))
        })?;
        match &entry.serving {
            Some(serving) => metered::plugin(&serving.name, kind),
            // Rare: the name is a registry key, so bounded.
            None => metered::plugin(&Arc::from(name), entry.kind.unwrap_or(kind)),
        }
        if let Some(actual) = entry.kind
            && actual != kind
        {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("plugin {name} is a {actual} plugin, not a {kind} plugin"),
            ));
        }
        entry.serving.clone().ok_or_else(|| {
            if let Some(problem) = &entry.problem {
                tracing::warn!(plugin = name, "refused: plugin not served: {problem}");
            }
            // The detail (a missing variable, a compile error) is for the
            // operator, not for whoever sent the request.
            ApiError::unavailable(
                "not_served",
                format!("plugin {name} is not served; `hookhost routes` shows why"),
            )
        })
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    let own = routes::ROUTES.iter().fold(Router::new(), |router, r| {
        router.route(r.path, (r.handler)())
    });
    // Everything else may be a rule of a generic hook plugin.
    own.fallback(hooks::handle)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
        .layer(axum::middleware::from_fn(request_id::tag))
}

/// Connections open at once on the admin listener.
const ADMIN_MAX_CONNECTIONS: usize = 64;

/// Serves the admin routes until `stop` resolves.
pub async fn serve_admin(
    listener: TcpListener,
    admin: Arc<admin::Admin>,
    limits: ConnLimits,
    stop: impl Future<Output = ()>,
) {
    // A few at a time: a flood there must not take the webhooks' descriptors.
    let limits = ConnLimits {
        max_connections: ADMIN_MAX_CONNECTIONS,
        ..limits
    };
    let slots = conn::slots(&limits);
    conn::serve(listener, admin::router(admin), None, limits, slots, stop).await;
}

/// How long a shutdown waits for in-flight requests: longer than any Pyrus
/// deadline, short enough that a stuck connection cannot hold the host.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);

/// Serves until the first stop signal, then lets in-flight requests and
/// running delivery attempts finish (for up to `SHUTDOWN_GRACE`, or until
/// a second signal); deliveries not yet attempted stay in the journal.
pub async fn serve(
    listener: TcpListener,
    https: Option<(TcpListener, TlsAcceptor)>,
    state: Arc<AppState>,
    limits: ConnLimits,
    signals: &Signals,
) -> std::io::Result<()> {
    let app = router(state.clone());
    // One cap for both webhook listeners: it was sized to the open-file limit.
    let slots = conn::slots(&limits);
    let first = signals.clone();
    let plain = conn::serve(
        listener,
        app.clone(),
        None,
        limits,
        slots.clone(),
        async move {
            first.nth(1).await;
            tracing::info!("shutting down: finishing in-flight requests");
        },
    );
    let secure = async {
        if let Some((listener, tls)) = https {
            conn::serve(listener, app, Some(tls), limits, slots, signals.nth(1)).await;
        }
    };
    let server = async {
        tokio::join!(plain, secure);
    };
    let cut_short = async {
        signals.nth(1).await;
        let why = tokio::select! {
            () = tokio::time::sleep(SHUTDOWN_GRACE) => format!(
                "requests still open {} s after the stop signal",
                SHUTDOWN_GRACE.as_secs()
            ),
            () = signals.nth(2) => "a second stop signal".to_owned(),
        };
        match state.deliveries.running() {
            0 => why,
            // Still journaled: they run again at the next start.
            n => format!("{why}; {n} delivery attempts were cut short and will run again"),
        }
    };
    let drained = async {
        server.await;
        state.deliveries.stop().await;
        Ok(())
    };
    tokio::select! {
        served = drained => served,
        why = cut_short => Err(std::io::Error::other(format!("stopped before requests finished: {why}"))),
    }
}
