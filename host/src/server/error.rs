//! The one shape every refusal takes: a status and `{"error": "…"}`.

use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub reason: Cow<'static, str>,
    /// E.g. `Allow` on a 405, `WWW-Authenticate` on a 401.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Why a 503 was given, for `hookhost_unavailable_total`.
    pub cause: Option<&'static str>,
}

/// On a 503 response: why, as a metric label.
#[derive(Clone, Copy, Debug)]
pub struct Unavailable(pub &'static str);

impl ApiError {
    pub fn new(status: StatusCode, reason: impl Into<Cow<'static, str>>) -> Self {
        ApiError {
            status,
            reason: reason.into(),
            headers: Vec::new(),
            cause: None,
        }
    }

    /// A 503 for `cause` (a fixed word: `journal_full`, `plugin_busy`, …).
    pub fn unavailable(cause: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        ApiError {
            cause: Some(cause),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, reason)
        }
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            axum::response::AppendHeaders(self.headers),
            Json(serde_json::json!({ "error": self.reason })),
        )
            .into_response();
        if let Some(cause) = self.cause {
            res.extensions_mut().insert(Unavailable(cause));
        }
        res
    }
}

/// A known path with another method; axum adds the `Allow` header.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here")
}
