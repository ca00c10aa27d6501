//! `/pyrus-ext/{plugin}/…`: a Pyrus extension service. Every call, GETs
//! included (over their empty body), carries `X-Pyrus-Sig`.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{AppendHeaders, IntoResponse, Response};
use bytes::Bytes;

use super::AppState;
use super::answer_memo::{Answer, Key};
use super::error::ApiError;
use super::intake::Verified;
use crate::bindings::pyrus_ext::PyrusExtPre;
use crate::bindings::pyrus_ext::hookhost::plugin::pyrus_ext_types::{ErrorCode, ExtError};
use crate::protocol::pyrus_ext::ExtCall::{
    self, Authorize, AvailableNumbers, Event, SendMessage, Toggle,
};
use crate::protocol::pyrus_ext::{
    self, ExtAnswer, parse_authorize, parse_event, parse_message, parse_numbers_query, parse_toggle,
};
use crate::protocol::{BadRequest, pyrus_bot};
use crate::runtime::HostState;

type App = State<Arc<AppState>>;
/// The request, or why intake refused it, which is answered in the
/// protocol's shape too.
type Call = Result<Verified<PyrusExtPre<HostState>>, ApiError>;

/// Answers a resend from memory, or parses the call, runs the plugin, and
/// answers in the protocol's JSON. `name` is the call's, and `query` its
/// query string, which is the only input of a GET.
async fn call(
    app: &AppState,
    request: Call,
    (name, query): (&str, &str),
    parse: impl FnOnce(Bytes) -> Result<ExtCall, BadRequest>,
) -> Response {
    let answered = async {
        let request = request?;
        let retry = pyrus_bot::parse_retry(request.headers.get(pyrus_bot::RETRY_HEADER))?;
        let key = Key::new(&request.plugin, name, query, &request.body);
        if let Some(repeated) = app.answers.recall(&key, &request.headers) {
            return Ok(repeated);
        }
        let call = parse(request.body)?;
        let answer = app
            .runtime
            .call_pyrus_ext(&request.pre, &request.plugin.sandbox, &call, retry)
            .await?;
        let Err(e) = &answer else {
            let answer = json(answer);
            app.answers.remember(key, &answer);
            return Ok(answer.into_response());
        };
        // Not remembered: an error code (`internal_error`, `external_error`)
        // may not hold on the next attempt.
        tracing::info!(
            error_code = pyrus_ext::error_code(e.code),
            "plugin answered with an error code"
        );
        Ok(json(answer).into_response())
    };
    answered.await.unwrap_or_else(failure)
}

/// A failure on the host's side still reads as the protocol's
/// `internal_error`, so Pyrus shows something sensible.
fn failure(error: ApiError) -> Response {
    if !error.status.is_server_error() {
        return error.into_response();
    }
    let internal = ExtError {
        code: ErrorCode::InternalError,
        message: Some(error.reason.into_owned()),
    };
    let headers = AppendHeaders(error.headers);
    (error.status, headers, json(Err(internal))).into_response()
}

fn json(answer: Result<ExtAnswer, ExtError>) -> Answer {
    Answer::json(pyrus_ext::answer_json(answer))
}

/// `GET /pulse`: 200 while the plugin is loaded and can be instantiated.
pub async fn pulse(State(app): App, request: Call) -> Response {
    let probed = async {
        let request = request?;
        // A bad retry header is a bad request here too.
        pyrus_bot::parse_retry(request.headers.get(pyrus_bot::RETRY_HEADER))?;
        app.runtime
            .probe_pyrus_ext(&request.pre, &request.plugin.sandbox)
            .await?;
        Ok(StatusCode::OK.into_response())
    };
    probed.await.unwrap_or_else(failure)
}

/// A POSTed call, named `$name`, whose body `$parse` reads.
macro_rules! posted {
    ($handler:ident, $name:literal => $parse:expr) => {
        pub async fn $handler(State(app): App, request: Call) -> Response {
            call(&app, request, ($name, ""), $parse).await
        }
    };
}

posted!(authorize, "authorize" => |b| parse_authorize(&b).map(Authorize));
posted!(toggle, "toggle" => |b| parse_toggle(&b).map(Toggle));
posted!(event, "event" => |b| parse_event(b).map(Event));
posted!(send_message, "sendmessage" => |b| parse_message(&b).map(SendMessage));

/// `GET /getavailablenumbers?…`: the parameters are in the query string.
pub async fn available_numbers(State(app): App, query: RawQuery, request: Call) -> Response {
    let query = query.0.unwrap_or_default();
    let parse = |_| parse_numbers_query(&query).map(AvailableNumbers);
    call(&app, request, ("getavailablenumbers", &query), parse).await
}
