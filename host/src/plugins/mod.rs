//! The plugins folder: what is in it, what is served, and keeping that
//! current as files come and go.

mod auth;
mod hook_routing;
mod loader;
mod registry;
pub mod sidecar;
mod watcher;

use std::sync::Arc;

use crate::hooks::HookRoute;
use crate::runtime::{Prepared, Sandbox};

pub use auth::DEFAULT_TOKEN_HEADER;
pub use loader::Loader;
pub use registry::{PluginEntry, Registry, SharedRegistry};
pub use sidecar::Secret;
pub use watcher::{WatchError, Watcher, watch};

/// One compiled, configured version of a plugin that can take requests.
/// Requests hold an `Arc` to it, so a reload never pulls it from under them.
pub struct LoadedPlugin {
    pub name: Arc<str>,
    pub prepared: Prepared,
    pub sandbox: Sandbox,
    /// The check every request passes before its body is parsed.
    pub verifier: crate::verify::Verifier,
    /// A generic hook plugin's rules under its mount point; empty otherwise.
    pub hook_routes: Vec<HookRoute>,
    /// SHA-256 of the `.wasm` file, hex.
    pub hash: String,
    /// Increases with every version loaded in this process.
    pub generation: u64,
}
