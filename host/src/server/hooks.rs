//! Generic hooks: every path no built-in route takes is looked up in the
//! rules hook plugins declared (mounted at `/hooks/{plugin}` or where their
//! sidecar says).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::deliveries::{HTTP_HOOK, HookMeta};
use super::error::ApiError;
use super::intake::verified_body;
use super::metered;
use super::seen;
use crate::metrics;
use crate::plugins::{Lookup, Mode};
use crate::protocol::{PluginKind, http_hook};
use crate::runtime::Prepared;

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
        Lookup::WrongMethod { allow } => return Ok(wrong_method(&method, &allow)),
        Lookup::NotFound => return Err(not_found(&app, path)),
    };
    metered::plugin(&plugin.name, PluginKind::HttpHook);
    // The table holds hook plugins only.
    let Prepared::HttpHook(pre) = &plugin.prepared else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such route"));
    };
    let body = verified_body(&app, plugin, &headers, body).await?;
    let key = seen::delivery_key(plugin.verifier.scheme(), &headers, &body);
    if let Some(key) = &key
        && let Some(answer) = app.deliveries.recall(&plugin.name, key).await
    {
        metrics::get().duplicate(&plugin.name);
        tracing::info!(
            delivery_id = %key,
            status = answer.status,
            "duplicate delivery: answered as the first time, plugin not run"
        );
        return Ok(seen::response(answer));
    }
    let hidden = plugin.verifier.credential_header();
    let response = if plugin.delivery.mode == Mode::Async {
        // A body the plugin could never be given is refused now, while the
        // sender can still hear it, not journaled to fail later.
        http_hook::decode(route, &headers, &body)?;
        let meta = HookMeta::new(&method, &uri, &headers, hidden);
        let meta = serde_json::to_string(&meta).map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot journal the request",
            )
        })?;
        let id = app
            .deliveries
            .accept(&plugin.name, HTTP_HOOK, body.to_vec(), meta)
            .await?;
        tracing::debug!(rule = %route.rule, delivery = %id, "delivery accepted");
        (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "delivery": id })),
        )
            .into_response()
    } else {
        let request = http_hook::request(route, params, &method, &uri, &headers, hidden, body)?;
        tracing::debug!(rule = %route.rule, "calling plugin");
        let answer = app
            .runtime
            .call_hook(pre, &plugin.sandbox, &request)
            .await??;
        http_hook::reply(answer)?
    };
    match key {
        Some(key) if response.status().is_success() => {
            let (answer, response) = seen::capture(response).await;
            if let Some(answer) = answer {
                app.deliveries
                    .remember(&plugin.name, &key, answer, seen::REMEMBER_MS)
                    .await;
            }
            Ok(response)
        }
        _ => Ok(response),
    }
}

/// 405 with the methods that would do; OPTIONS is answered with them.
fn wrong_method(method: &Method, allow: &[String]) -> Response {
    let allow = HeaderValue::from_str(&allow.join(", "))
        .unwrap_or_else(|_| HeaderValue::from_static("OPTIONS"));
    if method == Method::OPTIONS {
        return (StatusCode::NO_CONTENT, [(header::ALLOW, allow)]).into_response();
    }
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here")
        .with_header(header::ALLOW, allow)
        .into_response()
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
