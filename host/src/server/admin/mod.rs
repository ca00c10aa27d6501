//! The admin listener, apart from the one senders reach: `/healthz`
//! (alive), `/readyz` (plugins loaded, state open, webhook listener up),
//! `/metrics` (Prometheus), the admin API (`/api/…`) and the admin page at
//! `/`, built into the binary. The page's files hold no data and are open;
//! everything else but the two health checks needs the bearer token when
//! one is set, and a non-loopback admin address needs one.

mod api;
mod page;

pub use api::{Attempt, Listed, Shown};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use crate::metrics;

/// The variable the admin token is read from; never a flag, so it stays out
/// of `ps` and shell history.
pub const TOKEN_VAR: &str = "HOOKHOST_ADMIN_TOKEN";
/// Shorter tokens are guessable; `openssl rand -hex 16` gives 32 characters.
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum AdminConfigError {
    #[error(
        "the admin listener {0} is not a loopback address: set {TOKEN_VAR} (a bearer token, e.g. `openssl rand -hex 16`) or use --admin-listen 127.0.0.1:9090"
    )]
    TokenRequired(SocketAddr),
    #[error("{TOKEN_VAR} is shorter than {MIN_TOKEN_LEN} characters")]
    TokenTooShort,
}

/// Who may use the admin API.
pub struct Access {
    token: Option<String>,
}

impl Access {
    /// The access rule for an admin listener on `addr`, with `token` as read
    /// from [`TOKEN_VAR`] (empty counts as unset).
    pub fn new(addr: SocketAddr, token: Option<String>) -> Result<Access, AdminConfigError> {
        let token = token.filter(|t| !t.is_empty());
        match &token {
            Some(t) if t.len() < MIN_TOKEN_LEN => Err(AdminConfigError::TokenTooShort),
            None if !addr.ip().is_loopback() => Err(AdminConfigError::TokenRequired(addr)),
            _ => Ok(Access { token }),
        }
    }

    /// Without a token the listener is on loopback, and must answer only
    /// for a loopback name: a web page that points its own name at
    /// 127.0.0.1 (DNS rebinding) must not reach the API from a browser.
    fn host_allowed(&self, req: &Request) -> bool {
        if self.token.is_some() {
            return true;
        }
        let host = req.uri().host().map(str::to_owned).or_else(|| {
            let value = req.headers().get(header::HOST)?.to_str().ok()?;
            let authority = axum::http::uri::Authority::try_from(value).ok()?;
            Some(authority.host().to_owned())
        });
        host.is_some_and(|host| {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            bare.eq_ignore_ascii_case("localhost")
                || bare
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        })
    }

    fn admits(&self, req: &Request) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        given.as_bytes().ct_eq(token.as_bytes()).into()
    }
}

/// What readiness waits for. The host sets each as it comes up.
#[derive(Default)]
pub struct Readiness {
    state_open: AtomicBool,
    plugins_loaded: AtomicBool,
    listening: AtomicBool,
    /// Set while ACME has yet to issue the first certificate.
    no_certificate: AtomicBool,
    stopping: AtomicBool,
}

impl Readiness {
    pub fn state_open(&self) {
        self.state_open.store(true, Ordering::Release);
    }

    pub fn plugins_loaded(&self) {
        self.plugins_loaded.store(true, Ordering::Release);
    }

    pub fn listening(&self) {
        self.listening.store(true, Ordering::Release);
    }

    pub fn waiting_for_certificate(&self) {
        self.no_certificate.store(true, Ordering::Release);
    }

    pub fn certificate_issued(&self) {
        self.no_certificate.store(false, Ordering::Release);
    }

    /// From the first stop signal on: a load balancer stops sending while
    /// in-flight requests finish.
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// What is not ready yet, in the order the host brings it up.
    fn waiting(&self) -> Vec<&'static str> {
        let flags = [
            (&self.state_open, "state"),
            (&self.plugins_loaded, "plugins"),
            (&self.listening, "listener"),
        ];
        let mut waiting: Vec<&'static str> = flags
            .iter()
            .filter(|(flag, _)| !flag.load(Ordering::Acquire))
            .map(|(_, what)| *what)
            .collect();
        if self.no_certificate.load(Ordering::Acquire) {
            waiting.push("certificate");
        }
        if self.stopping.load(Ordering::Acquire) {
            waiting.push("stopping");
        }
        waiting
    }
}

/// What the admin routes read.
pub struct Admin {
    pub access: Access,
    pub readiness: Readiness,
    /// The serving host, once its plugins are loaded.
    pub app: OnceLock<Arc<AppState>>,
}

impl Admin {
    pub fn new(access: Access) -> Arc<Admin> {
        Arc::new(Admin {
            access,
            readiness: Readiness::default(),
            app: OnceLock::new(),
        })
    }
}

pub fn router(admin: Arc<Admin>) -> Router {
    let guarded = Router::new()
        .route("/metrics", get(metrics))
        .route("/api/routes", get(api::routes))
        .route("/api/requests", get(api::requests))
        .route("/api/reloads", get(api::reloads))
        .route("/api/deliveries", get(api::deliveries))
        .route("/api/deliveries/{id}", get(api::delivery))
        .route("/api/replay", axum::routing::post(api::replay))
        .route_layer(axum::middleware::from_fn_with_state(admin.clone(), guard));
    Router::new()
        .route("/", get(page::index))
        .route("/admin.js", get(page::script))
        .route("/admin.css", get(page::style))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(guarded)
        .fallback(not_found)
        .method_not_allowed_fallback(super::error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            admin.clone(),
            loopback_only,
        ))
        .with_state(admin)
}

async fn loopback_only(State(admin): State<Arc<Admin>>, req: Request, next: Next) -> Response {
    if admin.access.host_allowed(&req) {
        return next.run(req).await;
    }
    ApiError::new(
        StatusCode::FORBIDDEN,
        "without HOOKHOST_ADMIN_TOKEN the admin listener answers only for localhost or a loopback address",
    )
    .into_response()
}

async fn guard(State(admin): State<Arc<Admin>>, req: Request, next: Next) -> Response {
    if admin.access.admits(&req) {
        return next.run(req).await;
    }
    tracing::warn!(path = %req.uri().path(), "admin request refused: no or wrong bearer token");
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "a valid admin bearer token is needed",
    )
    .with_header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"hookhost admin\""),
    )
    .into_response()
}

async fn healthz() -> Response {
    axum::Json(serde_json::json!({ "alive": true })).into_response()
}

async fn readyz(State(admin): State<Arc<Admin>>) -> Response {
    let waiting = admin.readiness.waiting();
    let status = if waiting.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({ "ready": waiting.is_empty(), "waiting": waiting });
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(admin): State<Arc<Admin>>) -> Response {
    let metrics = metrics::get();
    if let Some(app) = admin.app.get() {
        match app.deliveries.depth().await {
            Ok(depth) => {
                metrics.journal_depth("pending", depth.pending);
                metrics.journal_depth("retrying", depth.retrying);
                metrics.journal_depth("dead", depth.dead);
            }
            // The rest is still worth scraping; the gauges keep their last values.
            Err(e) => tracing::warn!("cannot read the journal's depth for /metrics: {e}"),
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        metrics.encode(),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such admin route")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_loopback_admin_address_needs_a_long_enough_token() {
        let public: SocketAddr = "0.0.0.0:9090".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:9090".parse().unwrap();
        assert!(matches!(
            Access::new(public, None),
            Err(AdminConfigError::TokenRequired(_))
        ));
        assert!(matches!(
            Access::new(public, Some(String::new())),
            Err(AdminConfigError::TokenRequired(_))
        ));
        assert!(matches!(
            Access::new(local, Some("short".into())),
            Err(AdminConfigError::TokenTooShort)
        ));
        assert!(Access::new(local, None).is_ok());
        assert!(Access::new(public, Some("0123456789abcdef".into())).is_ok());
    }
}
