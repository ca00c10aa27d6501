//! `POST /worksection/{plugin}`: a Worksection webhook. An authenticated,
//! well-formed delivery is answered `{"status":"OK"}` at once; the plugin
//! handles its events afterwards (see `background`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::body::read_limited;
use super::error::ApiError;
use super::{AppState, auth};
use crate::protocol::worksection;
use crate::runtime::PluginKind;

pub async fn handle(
    State(app): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Ok(Path(name)) = name else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such plugin"));
    };
    let plugin = app.plugin(&name, PluginKind::Worksection)?;
    let body = read_limited(body, app.body_limit).await?;
    auth::check(&plugin, &headers, &body)?;
    let delivery = worksection::parse_delivery(&body).map_err(|e| {
        tracing::warn!(plugin = %name, "bad request: {e}");
        ApiError::new(StatusCode::BAD_REQUEST, e.0)
    })?;
    for why in &delivery.skipped {
        tracing::warn!(plugin = %name, "delivery element skipped: {why}");
    }
    tracing::debug!(plugin = %name, events = delivery.events.len(), "delivery accepted");
    app.background
        .worksection(app.runtime.clone(), plugin, delivery.events, body.len())?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        worksection::OK_BODY,
    )
        .into_response())
}
