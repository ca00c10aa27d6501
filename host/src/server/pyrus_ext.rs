//! `/pyrus-ext/{plugin}/…`: a Pyrus extension service. Every call, GETs
//! included (over their empty body), carries `X-Pyrus-Sig`.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::error::ApiError;
use super::{AppState, auth, outcome};
use crate::plugins::LoadedPlugin;
use crate::protocol::{BadRequest, pyrus_bot, pyrus_ext};
use crate::runtime::bindings::hookhost::plugin::pyrus_types::Retry;
use crate::runtime::{ExtCall, PluginKind, Prepared};

/// A call that passed its checks: the plugin version it pins, the verified
/// body, and the delivery attempt.
type Accepted = (Arc<LoadedPlugin>, Bytes, Retry);

/// Reads, checks and parses one call; the plugin is not involved yet.
async fn accept(
    app: &AppState,
    name: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Accepted, ApiError> {
    let (plugin, body) = auth::accept(app, name, PluginKind::PyrusExt, headers, body).await?;
    let retry = pyrus_bot::parse_retry(headers.get(pyrus_bot::RETRY_HEADER))
        .map_err(|e| auth::bad_request(&plugin.name, e))?;
    Ok((plugin, body, retry))
}

async fn call(
    app: Arc<AppState>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
    parse: impl FnOnce(Bytes) -> Result<ExtCall, BadRequest>,
) -> Response {
    let answered = async {
        let (plugin, body, retry) = accept(&app, name, &headers, body).await?;
        let request = parse(body).map_err(|e| auth::bad_request(&plugin.name, e))?;
        let Prepared::PyrusExt(pre) = &plugin.prepared else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not a Pyrus extension",
            ));
        };
        let answer = app
            .runtime
            .call_pyrus_ext(pre, &plugin.sandbox, &request, retry)
            .await
            .map_err(|e| outcome::invoke_error(&plugin.name, e))?;
        if let Err(e) = &answer {
            tracing::info!(plugin = %plugin.name, error_code = pyrus_ext::error_code(e.code), "plugin answered with an error code");
        }
        Ok((
            [(header::CONTENT_TYPE, "application/json")],
            pyrus_ext::answer_json(answer),
        )
            .into_response())
    };
    answered.await.unwrap_or_else(failure)
}

/// A failure on the host's side still reads as the protocol's
/// `internal_error`, so Pyrus shows something sensible.
fn failure(error: ApiError) -> Response {
    if !error.status.is_server_error() {
        return error.into_response();
    }
    #[derive(serde::Serialize)]
    struct Failure<'a> {
        error_code: &'static str,
        error: &'a str,
    }
    let body = Json(Failure {
        error_code: "internal_error",
        error: &error.reason,
    });
    (
        error.status,
        axum::response::AppendHeaders(error.headers),
        body,
    )
        .into_response()
}

/// `GET /pulse`: 200 while the plugin is loaded and can be instantiated.
pub async fn pulse(
    State(app): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let answered = async {
        let (plugin, _, _) = accept(&app, name, &headers, body).await?;
        let Prepared::PyrusExt(pre) = &plugin.prepared else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not a Pyrus extension",
            ));
        };
        app.runtime
            .probe_pyrus_ext(pre, &plugin.sandbox)
            .await
            .map_err(|e| outcome::invoke_error(&plugin.name, e))?;
        Ok(StatusCode::OK.into_response())
    };
    answered.await.unwrap_or_else(failure)
}

pub async fn authorize(
    State(app): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    call(app, name, headers, body, |b| {
        pyrus_ext::parse_authorize(&b).map(ExtCall::Authorize)
    })
    .await
}

pub async fn toggle(
    State(app): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    call(app, name, headers, body, |b| {
        pyrus_ext::parse_toggle(&b).map(ExtCall::Toggle)
    })
    .await
}

pub async fn event(
    State(app): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    call(app, name, headers, body, |b| {
        pyrus_ext::parse_event(b).map(ExtCall::Event)
    })
    .await
}

pub async fn send_message(
    State(app): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    call(app, name, headers, body, |b| {
        pyrus_ext::parse_message(&b).map(ExtCall::SendMessage)
    })
    .await
}

/// `GET /getavailablenumbers?…`: the parameters are in the query string.
pub async fn available_numbers(
    State(app): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let query = query.unwrap_or_default();
    call(app, name, headers, body, move |_| {
        pyrus_ext::parse_numbers_query(&query).map(ExtCall::AvailableNumbers)
    })
    .await
}
