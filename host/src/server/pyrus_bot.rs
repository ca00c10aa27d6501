//! `POST /pyrus/{plugin}`: a Pyrus bot webhook.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::answer_memo::{Answer, Key};
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
    let key = Key::new(&request.plugin, "bot", "", &request.body);
    if let Some(repeated) = app.answers.recall(&key, &request.headers) {
        return Ok(repeated);
    }
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
    let answer = match answer {
        None => Answer::ok_empty(),
        Some(comment) => Answer::json(pyrus_bot::comment_json(comment)?),
    };
    app.answers.remember(key, &answer);
    Ok(answer.into_response())
}
