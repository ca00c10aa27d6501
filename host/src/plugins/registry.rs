//! The table requests read: plugin name → what serves it. Replaced whole on
//! every reload, read without locks.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::LoadedPlugin;
use super::hook_table::HookTable;
use crate::protocol::PluginKind;
use crate::runtime::FileHash;

pub type SharedRegistry = Arc<ArcSwap<Registry>>;

#[derive(Clone, Default)]
pub struct PluginEntry {
    pub name: String,
    pub serving: Option<Arc<LoadedPlugin>>,
    /// The kind of the serving version, else of the newest file that compiled.
    pub kind: Option<PluginKind>,
    /// The file on disk, if it could be read.
    pub file_hash: Option<FileHash>,
    /// Why the plugin is not served, or why its newest file was not taken.
    /// For the operator (log, `routes`); never sent to a webhook sender.
    pub problem: Option<String>,
    /// Where the secret comes from, for `routes` (never the value).
    pub secret_source: Option<String>,
    /// The routes it serves or would serve, e.g. `POST /pyrus/echo-bot`.
    pub routes: Vec<String>,
    /// The signature scheme, for `routes`.
    pub verify: Option<String>,
    /// The `allowed_outbound_hosts` entries, for `routes`.
    pub outbound: Option<String>,
}

impl PluginEntry {
    /// One line for `routes`.
    pub fn state(&self) -> String {
        match (&self.serving, &self.problem) {
            (Some(_), None) => "serving".to_owned(),
            (Some(p), Some(why)) => format!(
                "serving generation {} (newest file not loaded: {why})",
                p.generation
            ),
            (None, Some(why)) => format!("not served: {why}"),
            (None, None) => "not served".to_owned(),
        }
    }
}

#[derive(Default)]
pub struct Registry {
    entries: BTreeMap<String, Arc<PluginEntry>>,
    hooks: HookTable,
}

impl Registry {
    pub fn new(entries: BTreeMap<String, Arc<PluginEntry>>, hooks: HookTable) -> Self {
        Registry { entries, hooks }
    }

    /// The rules of every serving generic hook plugin.
    pub fn hooks(&self) -> &HookTable {
        &self.hooks
    }

    pub fn get(&self, name: &str) -> Option<&Arc<PluginEntry>> {
        self.entries.get(name)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Arc<PluginEntry>> {
        self.entries.values()
    }
}
