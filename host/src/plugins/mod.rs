//! The plugins folder: what is in it, what is served, and keeping that
//! current as files come and go.

mod auth;
pub mod delivery_policy;
mod hook_routing;
mod hook_table;
mod loader;
mod own_routes;
mod registry;
pub mod sidecar;
pub mod status;
mod watcher;

use std::sync::Arc;

use crate::protocol::http_hook::HookRoute;
use crate::runtime::{FileHash, Prepared, Sandbox};
use crate::verify::Verifier;

pub use auth::DEFAULT_TOKEN_HEADER;
pub use delivery_policy::{DeliveryPolicy, Mode, RetryPolicy};
pub use hook_table::{HookTable, Lookup};
pub use loader::Loader;
pub use own_routes::{OwnRoute, OwnRoutes};
pub use registry::{PluginEntry, Registry, SharedRegistry};
pub use sidecar::Secret;
pub use status::StatusFile;
pub use watcher::{WatchError, Watcher, watch};

/// One compiled, configured version of a plugin that can take requests.
/// Requests hold an `Arc` to it, so a reload never pulls it from under them.
pub struct LoadedPlugin {
    pub name: Arc<str>,
    pub prepared: Prepared,
    pub sandbox: Sandbox,
    /// The check every request passes before its body is parsed.
    pub verifier: Verifier,
    /// A generic hook plugin's rules under its mount point; empty otherwise.
    pub hook_routes: Vec<HookRoute>,
    /// How deliveries answered before the plugin runs are handled.
    pub delivery: DeliveryPolicy,
    pub hash: FileHash,
    /// Increases with every version loaded in this process.
    pub generation: u64,
}
