//! Protocol adapters: a sender's raw bytes into a typed WIT event, and a
//! plugin's typed result into the reply that sender expects.

pub mod http_hook;
mod kind;
pub mod pyrus_bot;
pub mod pyrus_ext;
mod wire;
pub mod worksection;

pub use kind::PluginKind;

/// A request that is authentic but not what the protocol says it should be.
/// The text names what is wrong and is sent back with a 400.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct BadRequest(pub String);

/// A plugin answered with something the protocol cannot carry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("plugin returned an invalid answer: {0}")]
pub struct BadAnswer(pub String);
