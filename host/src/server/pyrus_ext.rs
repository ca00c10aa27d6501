//! `/pyrus-ext/{plugin}/…`: a Pyrus extension service. Every call, GETs
//! included (over their empty body), carries `X-Pyrus-Sig`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::AppState;
use super::error::ApiError;
use super::intake::Verified;
use crate::bindings::pyrus_ext::PyrusExtPre;
use crate::protocol::pyrus_ext::{self, ExtCall};
use crate::protocol::{BadRequest, pyrus_bot};
use crate::runtime::HostState;

type Request = Verified<PyrusExtPre<HostState>>;

/// Parses the call, runs the plugin, and answers in the protocol's JSON.
async fn call(
    app: &AppState,
    request: Result<Request, ApiError>,
    parse: impl FnOnce(Bytes) -> Result<ExtCall, BadRequest>,
) -> Response {
    answer(call_plugin(app, request, parse).await)
}

async fn call_plugin(
    app: &AppState,
    request: Result<Request, ApiError>,
    parse: impl FnOnce(Bytes) -> Result<ExtCall, BadRequest>,
) -> Result<Response, ApiError> {
    let request = request?;
    let retry = pyrus_bot::parse_retry(request.headers.get(pyrus_bot::RETRY_HEADER))?;
    let call = parse(request.body)?;
    let answer = app
        .runtime
        .call_pyrus_ext(&request.pre, &request.plugin.sandbox, &call, retry)
        .await?;
    if let Err(e) = &answer {
        tracing::info!(
            error_code = pyrus_ext::error_code(e.code),
            "plugin answered with an error code"
        );
    }
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        pyrus_ext::answer_json(answer),
    )
        .into_response())
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

/// Every handler's answer, failures in the protocol's shape.
fn answer(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(failure)
}

/// `GET /pulse`: 200 while the plugin is loaded and can be instantiated.
pub async fn pulse(
    State(app): State<Arc<AppState>>,
    request: Result<Request, ApiError>,
) -> Response {
    answer(
        async {
            let request = request?;
            // A bad retry header is a bad request here too.
            pyrus_bot::parse_retry(request.headers.get(pyrus_bot::RETRY_HEADER))?;
            app.runtime
                .probe_pyrus_ext(&request.pre, &request.plugin.sandbox)
                .await?;
            Ok(StatusCode::OK.into_response())
        }
        .await,
    )
}

pub async fn authorize(
    State(app): State<Arc<AppState>>,
    request: Result<Request, ApiError>,
) -> Response {
    call(&app, request, |b| {
        pyrus_ext::parse_authorize(&b).map(ExtCall::Authorize)
    })
    .await
}

pub async fn toggle(
    State(app): State<Arc<AppState>>,
    request: Result<Request, ApiError>,
) -> Response {
    call(&app, request, |b| {
        pyrus_ext::parse_toggle(&b).map(ExtCall::Toggle)
    })
    .await
}

pub async fn event(
    State(app): State<Arc<AppState>>,
    request: Result<Request, ApiError>,
) -> Response {
    call(&app, request, |b| {
        pyrus_ext::parse_event(b).map(ExtCall::Event)
    })
    .await
}

pub async fn send_message(
    State(app): State<Arc<AppState>>,
    request: Result<Request, ApiError>,
) -> Response {
    call(&app, request, |b| {
        pyrus_ext::parse_message(&b).map(ExtCall::SendMessage)
    })
    .await
}

/// `GET /getavailablenumbers?…`: the parameters are in the query string.
pub async fn available_numbers(
    State(app): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    request: Result<Request, ApiError>,
) -> Response {
    let query = query.unwrap_or_default();
    call(&app, request, move |_| {
        pyrus_ext::parse_numbers_query(&query).map(ExtCall::AvailableNumbers)
    })
    .await
}
