//! hookhost: terminates HTTP, verifies webhook signatures, and dispatches
//! typed events to sandboxed, hot-reloaded WebAssembly components.
//!
//! Requests flow one way:
//! `server` (route, body limit) → `verify` (signature over raw bytes) →
//! `protocol` (bytes → typed event) → `runtime` (sandboxed plugin call) →
//! `protocol` (typed result → reply). `plugins` keeps the table of what
//! serves each route current as files in the plugins folder change; `hooks`
//! routes generic hooks by the URI rules their plugins declare.

pub mod cli;
pub mod hooks;
pub mod logtext;
pub mod plugins;
pub mod protocol;
pub mod routes;
pub mod runtime;
pub mod server;
pub mod state;
pub mod trial;
pub mod verify;
