//! The admin API the admin page (and `curl`) reads: routes and their state,
//! recent requests, reloads, deliveries, and replaying them. JSON; behind
//! the admin token when one is set.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::Admin;
use crate::journal::{Delivery, DeliveryState, Filter};
use crate::plugins::status;
use crate::recent;
use crate::server::AppState;
use crate::server::error::ApiError;

/// Deliveries listed at most.
const MAX_LISTED: u32 = 500;

fn app(admin: &Admin) -> Result<&Arc<AppState>, ApiError> {
    admin
        .app
        .get()
        .ok_or_else(|| ApiError::unavailable("starting", "the host is still starting"))
}

fn journal_failed(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!("admin API: cannot read the journal: {e}");
    ApiError::unavailable("journal_error", "the journal cannot be read now")
}

pub async fn routes(State(admin): State<Arc<Admin>>) -> Result<Response, ApiError> {
    let app = app(&admin)?;
    let registry = app.registry.load();
    Ok(Json(status::rows(&registry)).into_response())
}

pub async fn requests() -> Response {
    Json(recent::get().requests()).into_response()
}

pub async fn reloads() -> Response {
    Json(recent::get().reloads()).into_response()
}

#[derive(Deserialize)]
pub struct ListQuery {
    state: Option<String>,
    plugin: Option<String>,
    limit: Option<u32>,
    /// Only those received at or after this (Unix milliseconds).
    since_ms: Option<i64>,
}

/// A delivery as the page lists it: no payload, the last error.
/// (`hookhost deliveries` reads the same shape from a running server.)
#[derive(Serialize, Deserialize)]
pub struct Listed {
    pub id: String,
    pub plugin: String,
    pub kind: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub received_at_ms: i64,
    pub next_at_ms: i64,
    pub last_error: Option<String>,
}

/// A query or body axum could not read, as a 400 with its reason.
fn unreadable(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
}

pub async fn deliveries(
    State(admin): State<Arc<Admin>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(unreadable)?;
    let app = app(&admin)?;
    let state = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::parse::<DeliveryState>)
        .transpose()
        .map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "state must be pending, retrying, dead or done",
            )
        })?;
    let filter = Filter {
        plugin: query.plugin.filter(|p| !p.is_empty()),
        state,
        since_ms: query.since_ms,
        limit: query.limit.unwrap_or(100).min(MAX_LISTED),
    };
    let found = app.deliveries.list(filter).await.map_err(journal_failed)?;
    let mut listed = Vec::with_capacity(found.len());
    for delivery in found {
        listed.push(listing(app, delivery).await?);
    }
    Ok(Json(listed).into_response())
}

async fn listing(app: &AppState, d: Delivery) -> Result<Listed, ApiError> {
    // Only a failed delivery has an error worth a second read.
    let last_error = if d.attempts > 0 && d.state != DeliveryState::Done {
        let detail = app.deliveries.show(&d.id).await.map_err(journal_failed)?;
        detail.and_then(|detail| detail.attempts.into_iter().rev().find_map(|a| a.error))
    } else {
        None
    };
    Ok(Listed {
        id: d.id,
        plugin: d.plugin,
        kind: d.kind,
        state: d.state,
        attempts: d.attempts,
        received_at_ms: d.received_at,
        next_at_ms: d.next_at,
        last_error,
    })
}

/// One delivery with its request and attempts (`hookhost deliveries show`
/// reads the same shape).
#[derive(Serialize, Deserialize)]
pub struct Shown {
    pub id: String,
    pub plugin: String,
    pub kind: String,
    pub state: DeliveryState,
    pub received_at_ms: i64,
    /// Method, path and headers; credentials were removed before journaling.
    pub meta: serde_json::Value,
    pub payload: String,
    pub attempts: Vec<Attempt>,
}

#[derive(Serialize, Deserialize)]
pub struct Attempt {
    pub started_at_ms: i64,
    pub ended_at_ms: i64,
    pub error: Option<String>,
}

pub async fn delivery(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let app = app(&admin)?;
    let Some(detail) = app.deliveries.show(&id).await.map_err(journal_failed)? else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such delivery"));
    };
    let attempts: Vec<Attempt> = detail
        .attempts
        .into_iter()
        .map(|a| Attempt {
            started_at_ms: a.started_at,
            ended_at_ms: a.ended_at,
            error: a.error,
        })
        .collect();
    let d = detail.delivery;
    let shown = Shown {
        meta: serde_json::from_str(&d.meta).unwrap_or_default(),
        payload: String::from_utf8_lossy(&d.payload).into_owned(),
        id: d.id,
        plugin: d.plugin,
        kind: d.kind,
        state: d.state,
        received_at_ms: d.received_at,
        attempts,
    };
    Ok(Json(shown).into_response())
}

/// `{"ids": […]}`, or `{"plugin": P, "dead": true, "since_ms": …}`.
#[derive(Deserialize)]
pub struct ReplayBody {
    #[serde(default)]
    ids: Vec<String>,
    plugin: Option<String>,
    #[serde(default)]
    dead: bool,
    since_ms: Option<i64>,
}

pub async fn replay(
    State(admin): State<Arc<Admin>>,
    body: Result<Json<ReplayBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(unreadable)?;
    let app = app(&admin)?;
    let known = match (body.plugin, body.dead) {
        (Some(plugin), true) if body.ids.is_empty() => {
            let known = app
                .deliveries
                .replay_dead(&plugin, body.since_ms)
                .await
                .map_err(journal_failed)?;
            tracing::info!(plugin, known, "dead deliveries replayed from the admin API");
            known
        }
        _ if body.ids.is_empty() || body.ids.len() > MAX_LISTED as usize => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("give 1 to {MAX_LISTED} delivery ids, or a plugin with \"dead\": true"),
            ));
        }
        _ => {
            let asked = body.ids.len();
            let known = app
                .deliveries
                .replay(body.ids)
                .await
                .map_err(journal_failed)?;
            tracing::info!(asked, known, "deliveries replayed from the admin API");
            known
        }
    };
    Ok(Json(serde_json::json!({ "replayed": known })).into_response())
}
