//! `POST /worksection/{plugin}`: a Worksection webhook. An authenticated,
//! well-formed delivery is answered `{"status":"OK"}` at once; the plugin
//! handles its events afterwards (see `background`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::intake::Verified;
use crate::bindings::worksection::WorksectionPre;
use crate::protocol::worksection;
use crate::runtime::HostState;

pub async fn handle(
    State(app): State<Arc<AppState>>,
    request: Verified<WorksectionPre<HostState>>,
) -> Result<Response, ApiError> {
    let delivery = worksection::parse_delivery(&request.body)?;
    for why in &delivery.skipped {
        tracing::warn!("delivery element skipped: {why}");
    }
    tracing::debug!(events = delivery.events.len(), "delivery accepted");
    app.background.worksection(
        app.runtime.clone(),
        request.plugin,
        request.pre,
        delivery.events,
        request.body.len(),
    )?;
    let json = [(header::CONTENT_TYPE, "application/json")];
    Ok((json, worksection::OK_BODY).into_response())
}
