//! What every request to a plugin goes through before the plugin sees it:
//! find the serving plugin (pinned for the whole request), read the body
//! within the limit, and check the sender over the raw bytes.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;

use super::AppState;
use super::body::read_limited;
use super::error::ApiError;
use crate::plugins::LoadedPlugin;
use crate::runtime::World;

/// A request to `/{protocol}/{plugin}` that passed intake.
pub struct Verified<W> {
    pub plugin: Arc<LoadedPlugin>,
    /// The plugin's component, pre-linked for the world `W` the route serves.
    pub pre: W,
    pub headers: HeaderMap,
    /// The raw body, authenticated.
    pub body: Bytes,
}

impl<W: World> FromRequest<Arc<AppState>> for Verified<W> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &Arc<AppState>) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        // A name that does not even decode names no plugin.
        let Ok(Path(name)) = Path::<String>::from_request_parts(&mut parts, app).await else {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "no such plugin"));
        };
        let plugin = app.plugin(&name, W::KIND)?;
        let pre = W::from_prepared(&plugin.prepared).cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no {} plugin named {name}", W::KIND),
            )
        })?;
        let body = verified_body(app, &plugin, &parts.headers, body).await?;
        Ok(Verified {
            plugin,
            pre,
            headers: parts.headers,
            body,
        })
    }
}

/// Reads the body within the limit and checks it came from the plugin's
/// sender. From here on the request span names the plugin.
pub async fn verified_body(
    app: &AppState,
    plugin: &LoadedPlugin,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    tracing::Span::current().record("plugin", &*plugin.name);
    let body = read_limited(body, app.body_limit).await?;
    let Err(e) = plugin.verifier.verify(headers, &body, SystemTime::now()) else {
        return Ok(body);
    };
    tracing::warn!("request rejected: {e}");
    let mut refused = ApiError::new(StatusCode::UNAUTHORIZED, e.to_string());
    refused.headers.extend(plugin.verifier.challenge());
    Err(refused)
}
