//! Signature checks over the raw request bytes, one file per scheme. Every
//! check runs before the body is parsed and compares in constant time.
//!
//! Every plugin has one [`Verifier`], built at load from its [`Scheme`] and
//! [`Credentials`]: Pyrus bots and extensions always `pyrus-sig`, generic
//! webhook plugins what their sidecar names (`verify = "github"`, …). The
//! handlers call [`Verifier::verify`] on every request.

mod basic;
mod common;
mod github;
mod pyrus;
mod shopify;
mod slack;
mod standard_webhooks;
mod stripe;
mod token;
mod verifier;

use std::borrow::Cow;

pub use common::TOLERANCE;
pub use verifier::{ConfigError, Credentials, Scheme, Verifier};

/// Why a request was not accepted as coming from its sender. The texts are
/// safe to send back: they never include the secret or the expected value.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// Spelled as the sender documents it (`X-Pyrus-Sig`), or in lower case
    /// for the `token_header` a sidecar names.
    #[error("missing {0} header")]
    Missing(Cow<'static, str>),
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
