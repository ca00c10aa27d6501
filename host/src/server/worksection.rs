//! `POST /worksection/{plugin}`: a Worksection webhook. An authenticated,
//! well-formed delivery is answered `{"status":"OK"}` at once; the plugin
//! handles its events afterwards (see `background`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

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
    let (plugin, body) = auth::accept(&app, name, PluginKind::Worksection, &headers, body).await?;
    let name = &*plugin.name;
    let delivery = worksection::parse_delivery(&body).map_err(|e| auth::bad_request(name, e))?;
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
