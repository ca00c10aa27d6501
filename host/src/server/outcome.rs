//! How everything that can go wrong with a plugin call becomes an HTTP
//! status, so handlers can use `?` and a trap means the same on every
//! route. The plugin's name is on the request span of each log line.

use axum::http::{HeaderValue, StatusCode, header};

use super::error::ApiError;
use crate::bindings::hookhost::plugin::types::PluginError;
use crate::logtext::{MAX_LOGGED, sanitize};
use crate::protocol::{BadAnswer, BadRequest};
use crate::runtime::InvokeError;

/// Longest plugin error message passed on to the sender.
const MAX_REPLY_MESSAGE: usize = 1024;

/// An authentic request the protocol cannot read: a 400 that names the problem.
impl From<BadRequest> for ApiError {
    fn from(e: BadRequest) -> Self {
        tracing::warn!("bad request: {e}");
        ApiError::new(StatusCode::BAD_REQUEST, e.0)
    }
}

/// A typed error the plugin chose to return; its message is the plugin's own.
impl From<PluginError> for ApiError {
    fn from(error: PluginError) -> Self {
        let (status, mut message) = match error {
            PluginError::Rejected(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
            // Counted as cause `plugin`, the default for a 503.
            PluginError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
            PluginError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
        };
        tracing::warn!(
            status = status.as_u16(),
            "plugin returned an error: {}",
            sanitize(&message, MAX_LOGGED)
        );
        if message.len() > MAX_REPLY_MESSAGE {
            message.truncate(message.floor_char_boundary(MAX_REPLY_MESSAGE));
            message.push('…');
        }
        ApiError::new(status, format!("plugin error: {message}"))
    }
}

/// The plugin gave no answer. Details go to the log, a short reason to the sender.
impl From<InvokeError> for ApiError {
    fn from(error: InvokeError) -> Self {
        let status = match &error {
            InvokeError::Deadline(_) => StatusCode::GATEWAY_TIMEOUT,
            InvokeError::MemoryLimit(_) | InvokeError::Trap(_) => StatusCode::BAD_GATEWAY,
            InvokeError::Busy | InvokeError::PluginBusy(_) => StatusCode::SERVICE_UNAVAILABLE,
            InvokeError::Instantiate(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let cause = match &error {
            InvokeError::Busy => Some("instances"),
            InvokeError::PluginBusy(_) => Some("plugin_busy"),
            _ => None,
        };
        // A busy plugin and a failed call are logged by the runtime, under
        // the plugin's log rate: a flood of senders must not flood the log.
        if let InvokeError::Busy = error {
            tracing::warn!(status = status.as_u16(), "request refused: {error}");
        }
        let reason = match error {
            // A trap's backtrace is for the operator.
            InvokeError::Trap(_) => "plugin trapped".to_owned(),
            InvokeError::Instantiate(_) => "plugin could not be started".to_owned(),
            other => other.to_string(),
        };
        let mut refused = ApiError::new(status, reason);
        refused.cause = cause;
        // A busy plugin is worth trying again shortly.
        if cause.is_some() {
            refused.with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
        } else {
            refused
        }
    }
}

impl From<BadAnswer> for ApiError {
    fn from(error: BadAnswer) -> Self {
        tracing::error!("{}", sanitize(&error.to_string(), MAX_LOGGED));
        ApiError::new(StatusCode::BAD_GATEWAY, error.to_string())
    }
}
