//! Signature checks over the raw request bytes, one file per scheme. Every
//! check runs before the body is parsed and compares in constant time.
//!
//! Pyrus bots use [`pyrus`] directly. Generic webhook plugins name a scheme in
//! their sidecar (`verify = "github"`, …); the loader builds one [`Verifier`]
//! per plugin from that [`Scheme`] and its [`Credentials`], and the handler
//! calls [`Verifier::verify`] on every request.

mod basic;
mod common;
mod github;
pub mod pyrus;
mod shopify;
mod slack;
mod standard_webhooks;
mod stripe;
mod token;
mod verifier;

use axum::http::HeaderName;

pub use common::TOLERANCE;
pub use verifier::{ConfigError, Credentials, Scheme, Verifier};

/// Why a request was not accepted as coming from its sender. The texts are
/// safe to send back: they never include the secret or the expected value.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("missing {0} header")]
    Missing(&'static str),
    /// A header named in the plugin's sidecar (the `token` scheme's
    /// `token_header`) is missing.
    #[error("missing {0} header")]
    MissingHeader(HeaderName),
    #[error("{0} header is malformed")]
    Malformed(&'static str),
    #[error("{0} does not match the request body")]
    Mismatch(&'static str),
    /// The signed timestamp is more than [`TOLERANCE`] before or after now.
    #[error("{0} is outside the 5-minute tolerance")]
    Stale(&'static str),
    /// A shared token or a user and password that are not the configured
    /// ones (which part was wrong is not said).
    #[error("{0} not accepted")]
    Denied(&'static str),
}
