//! Signature checks over the raw request bytes, one file per scheme. Every
//! check runs before the body is parsed and compares in constant time.

pub mod pyrus;

/// Why a request was not accepted as coming from its sender. The texts are
/// safe to send back: they never include the secret or the expected value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("{0} header is malformed")]
    Malformed(&'static str),
    #[error("{0} does not match the request body")]
    Mismatch(&'static str),
}
