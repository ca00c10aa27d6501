//! The check every request passes before its body is parsed: the plugin's
//! signature scheme over the raw bytes.

use std::time::SystemTime;

use axum::http::{HeaderMap, StatusCode};

use super::error::ApiError;
use crate::plugins::{Auth, LoadedPlugin};
use crate::verify;

pub fn check(plugin: &LoadedPlugin, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let checked = match &plugin.auth {
        Auth::PyrusSig(secret) => {
            // Two signatures: which one was meant? Refuse, as the other schemes do.
            let mut values = headers.get_all(verify::pyrus::HEADER).iter();
            match (values.next(), values.next()) {
                (first, None) => verify::pyrus::verify(secret.expose(), first, body),
                _ => Err(verify::VerifyError::Malformed(verify::pyrus::HEADER)),
            }
        }
        Auth::Verifier(verifier) => verifier.verify(headers, body, SystemTime::now()),
    };
    checked.map_err(|e| {
        tracing::warn!(plugin = %plugin.name, "request rejected: {e}");
        let refused = ApiError::new(StatusCode::UNAUTHORIZED, e.to_string());
        match &plugin.auth {
            Auth::Verifier(v) => match v.challenge() {
                Some((name, value)) => refused.with_header(name, value),
                None => refused,
            },
            Auth::PyrusSig(_) => refused,
        }
    })
}
