//! `POST /pyrus/{plugin}`: a Pyrus bot webhook.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::{AppState, auth, outcome};
use crate::protocol::pyrus_bot;
use crate::runtime::{PluginKind, Prepared};

pub async fn handle(
    State(app): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (plugin, body) = auth::accept(&app, name, PluginKind::PyrusBot, &headers, body).await?;
    let Prepared::PyrusBot(pre) = &plugin.prepared else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not a Pyrus bot"));
    };
    let name = &*plugin.name;
    let bad_request = |e| auth::bad_request(name, e);
    let retry =
        pyrus_bot::parse_retry(headers.get(pyrus_bot::RETRY_HEADER)).map_err(bad_request)?;
    let event = pyrus_bot::parse_event(body, retry).map_err(bad_request)?;
    tracing::debug!(plugin = %name, task_id = event.task_id, attempt = retry.attempt, "calling plugin");

    let answer = app
        .runtime
        .call_pyrus_bot(pre, &plugin.sandbox, &event)
        .await
        .map_err(|e| outcome::invoke_error(name, e))?
        .map_err(|e| outcome::plugin_error(name, e))?;

    Ok(match answer {
        None => StatusCode::OK.into_response(),
        Some(comment) => {
            let json =
                pyrus_bot::comment_json(comment).map_err(|e| outcome::bad_answer(name, e))?;
            ([(header::CONTENT_TYPE, "application/json")], json).into_response()
        }
    })
}
