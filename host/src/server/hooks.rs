//! Generic hooks: every path no built-in route takes is looked up in the
//! rules hook plugins declared (mounted at `/hooks/{plugin}` or where their
//! sidecar says).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::body::read_limited;
use super::error::ApiError;
use super::{AppState, auth, outcome};
use crate::hooks::Lookup;
use crate::protocol::http_hook;
use crate::runtime::bindings::hookhost::plugin::types::Field;
use crate::runtime::bindings::http_hook::hookhost::plugin::http_types::Request;
use crate::runtime::{PluginKind, Prepared};

pub async fn handle(
    State(app): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // Pins this table (and the plugin versions in it) for the whole request.
    let registry = app.registry.load_full();
    let path = uri.path();
    let (plugin, route, params) = match registry.hooks().lookup(path, method.as_str()) {
        Lookup::Found {
            plugin,
            route,
            params,
        } => (plugin, route, params),
        Lookup::WrongMethod { allow } => {
            let allow = HeaderValue::from_str(&allow.join(", "))
                .unwrap_or_else(|_| HeaderValue::from_static("OPTIONS"));
            if method == Method::OPTIONS {
                return Ok((StatusCode::NO_CONTENT, [(header::ALLOW, allow)]).into_response());
            }
            return Err(
                ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here")
                    .with_header(header::ALLOW, allow),
            );
        }
        Lookup::NotFound => return Err(not_found(&app, path)),
    };
    let Prepared::HttpHook(pre) = &plugin.prepared else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such route"));
    };

    let body = read_limited(body, app.body_limit).await?;
    auth::check(plugin, &headers, &body)?;
    let decoded = http_hook::decode(route, &headers, &body).map_err(|e| {
        tracing::warn!(plugin = %plugin.name, "bad request: {e}");
        ApiError::new(StatusCode::BAD_REQUEST, e.0)
    })?;
    let request = Request {
        rule: route.rule.clone(),
        params: params
            .into_iter()
            .map(|(key, value)| Field { key, value })
            .collect(),
        method: method.as_str().to_owned(),
        path: path.to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers: http_hook::headers(&headers, plugin.verifier.credential_header()),
        // `Vec::from(Bytes)` reuses the buffer when nothing else holds it.
        body: Vec::from(body),
        decoded,
    };
    tracing::debug!(plugin = %plugin.name, rule = %route.rule, "calling plugin");
    let answer = app
        .runtime
        .call_hook(pre, &plugin.sandbox, &request)
        .await
        .map_err(|e| outcome::invoke_error(&plugin.name, e))?
        .map_err(|e| outcome::plugin_error(&plugin.name, e))?;
    let (status, headers, body) =
        http_hook::response(answer).map_err(|e| outcome::bad_answer(&plugin.name, e))?;
    Ok((status, headers, body).into_response())
}

/// A path under `/hooks/{plugin}` for a plugin that exists but is not
/// served says so; anything else is simply unknown.
fn not_found(app: &AppState, path: &str) -> ApiError {
    let name = path
        .strip_prefix("/hooks/")
        .and_then(|rest| rest.split('/').next())
        .filter(|name| !name.is_empty());
    match name.map(|name| app.plugin(name, PluginKind::HttpHook)) {
        Some(Err(refused)) if refused.status != StatusCode::NOT_FOUND => refused,
        _ => ApiError::new(StatusCode::NOT_FOUND, "no such route"),
    }
}
