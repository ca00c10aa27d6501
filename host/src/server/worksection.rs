//! `POST /worksection/{plugin}`: a Worksection webhook. An authenticated,
//! well-formed delivery is answered `{"status":"OK"}` once it is in the
//! journal; the plugin handles its events afterwards (see `deliveries`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::deliveries::WORKSECTION;
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
    // An empty delivery (a connectivity check) has nothing to journal.
    if !delivery.events.is_empty() {
        let id = app
            .deliveries
            .accept(
                &request.plugin.name,
                WORKSECTION,
                request.body.to_vec(),
                "{}".into(),
            )
            .await?;
        tracing::debug!(events = delivery.events.len(), delivery = %id, "delivery accepted");
    }
    let json = [(header::CONTENT_TYPE, "application/json")];
    Ok((json, worksection::OK_BODY).into_response())
}
