//! hookhost: terminates HTTP, verifies webhook signatures, and dispatches
//! typed events to sandboxed, hot-reloaded WebAssembly components.
//!
//! Requests flow one way:
//! `server` (route table, intake: plugin, body limit, signature over the
//! raw bytes) → `protocol` (bytes → typed WIT event) → `runtime` (sandboxed
//! plugin call) → `protocol` (typed result → reply). `plugins` keeps the
//! table of what serves each route current as files in the plugins folder
//! change, generic hook rules included.
//!
//! Modules depend one way: `cli` → `server` → `plugins` → `runtime` →
//! `outbound` (HTTP policy for plugins), `protocol`, `verify` → `bindings`
//! (the WIT types); `scripts/module-graph` checks it. `journal` (durable
//! deliveries) stands apart: it uses only `state`'s settings. `metrics`
//! and `recent` (what the admin page shows of the recent past) use
//! nothing; every layer records into them.

pub mod bindings;
pub mod cli;
pub mod journal;
pub mod logtext;
pub mod metrics;
pub mod outbound;
pub mod plugins;
pub mod protocol;
pub mod recent;
pub mod runtime;
pub mod server;
pub mod state;
pub mod verify;
