//! `POST /pyrus/{plugin}`: a Pyrus bot webhook.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::intake::Verified;
use crate::bindings::PyrusBotPre;
use crate::protocol::pyrus_bot;
use crate::runtime::HostState;

pub async fn handle(
    State(app): State<Arc<AppState>>,
    request: Verified<PyrusBotPre<HostState>>,
) -> Result<Response, ApiError> {
    let retry = pyrus_bot::parse_retry(request.headers.get(pyrus_bot::RETRY_HEADER))?;
    let event = pyrus_bot::parse_event(request.body, retry)?;
    tracing::debug!(
        task_id = event.task_id,
        attempt = retry.attempt,
        "calling plugin"
    );

    let plugin = &request.plugin;
    let answer = app
        .runtime
        .call_pyrus_bot(&request.pre, &plugin.sandbox, &event)
        .await??;
    Ok(match answer {
        None => StatusCode::OK.into_response(),
        Some(comment) => {
            let json = pyrus_bot::comment_json(comment)?;
            ([(header::CONTENT_TYPE, "application/json")], json).into_response()
        }
    })
}
