//! Gives every request an id: in its log span, and in the `x-request-id`
//! response header so a sender's report can be matched to the host's log.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";

#[derive(Clone, Debug)]
pub struct RequestId(Arc<str>);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub async fn tag(mut req: Request, next: Next) -> Response {
    let id = RequestId(Arc::from(uuid::Uuid::new_v4().simple().to_string()));
    req.extensions_mut().insert(id.clone());
    let span =
        tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path());
    async move {
        let started = Instant::now();
        let mut res = next.run(req).await;
        tracing::info!(
            status = res.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "answered"
        );
        if let Ok(value) = HeaderValue::from_str(&id.0) {
            res.headers_mut().insert(HEADER, value);
        }
        res
    }
    .instrument(span)
    .await
}
