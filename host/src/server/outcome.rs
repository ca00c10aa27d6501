//! How a plugin's failure becomes an HTTP status. Shared by every kind so a
//! trap means the same thing on every route.

use axum::http::StatusCode;

use super::error::ApiError;
use crate::logtext::{MAX_LOGGED, sanitize};
use crate::protocol::BadAnswer;
use crate::runtime::InvokeError;
use crate::runtime::bindings::hookhost::plugin::types::PluginError;

/// Longest plugin error message passed on to the sender.
const MAX_REPLY_MESSAGE: usize = 1024;

/// A typed error the plugin chose to return; its message is the plugin's own.
pub fn plugin_error(plugin: &str, error: PluginError) -> ApiError {
    let (status, mut message) = match error {
        PluginError::Rejected(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
        PluginError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
        PluginError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
    };
    tracing::warn!(
        plugin,
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

/// The plugin gave no answer. Details go to the log, a short reason to the sender.
pub fn invoke_error(plugin: &str, error: InvokeError) -> ApiError {
    let status = match &error {
        InvokeError::Deadline(_) => StatusCode::GATEWAY_TIMEOUT,
        InvokeError::MemoryLimit(_) | InvokeError::Trap(_) => StatusCode::BAD_GATEWAY,
        InvokeError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        InvokeError::Instantiate(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    // A trap's text carries names from the plugin's own binary.
    tracing::error!(
        plugin,
        status = status.as_u16(),
        "plugin failed: {}",
        sanitize(&error.to_string(), MAX_LOGGED)
    );
    let reason = match error {
        // A trap's backtrace is for the operator.
        InvokeError::Trap(_) => "plugin trapped".to_owned(),
        InvokeError::Instantiate(_) => "plugin could not be started".to_owned(),
        other => other.to_string(),
    };
    ApiError::new(status, reason)
}

pub fn bad_answer(plugin: &str, error: BadAnswer) -> ApiError {
    tracing::error!(plugin, "{}", sanitize(&error.to_string(), MAX_LOGGED));
    ApiError::new(StatusCode::BAD_GATEWAY, error.to_string())
}
