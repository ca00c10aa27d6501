//! Gives every request an id: in its log span, and in the `x-request-id`
//! response header so a sender's report can be matched to the host's log.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::error::Unavailable;
use super::metered;
use crate::{metrics, recent};

pub const HEADER: &str = "x-request-id";

pub async fn tag(req: Request, next: Next) -> Response {
    // Random, not secret: it only ties log lines to a response, so a fast
    // generator does, and no system call is made per request.
    let uuid = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid();
    let mut text = [0u8; uuid::fmt::Simple::LENGTH];
    let id: &str = uuid.simple().encode_lower(&mut text);
    // A copy for the admin page's recent requests.
    let raw: [u8; 32] = id.as_bytes().try_into().unwrap_or([b'-'; 32]);
    // The span holds only what every line of the request needs to be found
    // by: each field on it is formatted when it opens, for every request.
    // Method and path are said once, on the line that closes the request.
    // `plugin` is filled in once the request has found its plugin.
    let method = req.method().clone();
    let uri = req.uri().clone();
    let span = tracing::info_span!(
        "request",
        id = %id,
        plugin = tracing::field::Empty,
    );
    async move {
        let started = Instant::now();
        let (mut res, served) = metered::scope(next.run(req)).await;
        let took = started.elapsed();
        let status = res.status().as_u16();
        let metrics = metrics::get();
        metrics.request(&served.plugin, served.kind, status, took);
        if status == 503 {
            let cause = res
                .extensions()
                .get::<Unavailable>()
                .map_or("plugin", |u| u.0);
            metrics.unavailable(cause);
        }
        let micros = took.as_micros() as u64;
        tracing::info!(
            status,
            micros,
            method = %method,
            path = %uri.path(),
            "answered"
        );
        if let Ok(value) = HeaderValue::from_str(id) {
            res.headers_mut().insert(HEADER, value);
        }
        recent::get().request(recent::Request {
            at_ms: recent::now_ms(),
            method,
            path: recent::kept_path(&uri),
            plugin: served.plugin,
            status,
            micros,
            id: recent::RequestId(raw),
        });
        res
    }
    .instrument(span)
    .await
}
