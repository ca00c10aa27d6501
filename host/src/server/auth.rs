//! The check every request passes before its body is parsed: the plugin's
//! signature scheme over the raw bytes.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;

use super::AppState;
use super::body::read_limited;
use super::error::ApiError;
use crate::plugins::LoadedPlugin;
use crate::protocol::BadRequest;
use crate::runtime::PluginKind;

/// What every `/{protocol}/{plugin}` route does before parsing: find the
/// serving plugin of `kind` (pinned for the whole request), read the body
/// within the limit, and check the sender over its raw bytes.
pub async fn accept(
    app: &AppState,
    name: Result<Path<String>, PathRejection>,
    kind: PluginKind,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Arc<LoadedPlugin>, Bytes), ApiError> {
    // A name that does not even decode names no plugin.
    let Ok(Path(name)) = name else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such plugin"));
    };
    let plugin = app.plugin(&name, kind)?;
    let body = read_limited(body, app.body_limit).await?;
    check(&plugin, headers, &body)?;
    Ok((plugin, body))
}

/// An authentic request the protocol cannot read: logged, and a 400 that
/// names the problem.
pub fn bad_request(plugin: &str, e: BadRequest) -> ApiError {
    tracing::warn!(plugin, "bad request: {e}");
    ApiError::new(StatusCode::BAD_REQUEST, e.0)
}

pub fn check(plugin: &LoadedPlugin, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let Err(e) = plugin.verifier.verify(headers, body, SystemTime::now()) else {
        return Ok(());
    };
    tracing::warn!(plugin = %plugin.name, "request rejected: {e}");
    let refused = ApiError::new(StatusCode::UNAUTHORIZED, e.to_string());
    Err(match plugin.verifier.challenge() {
        Some((name, value)) => refused.with_header(name, value),
        None => refused,
    })
}
