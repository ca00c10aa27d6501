//! A plugin describes itself: its kind is the hookhost interface its
//! component exports.

use std::fmt;

use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use super::bindings::PyrusBotPre;
use super::bindings::http_hook::HttpHookPre;
use super::bindings::pyrus_ext::PyrusExtPre;
use super::bindings::worksection::WorksectionPre;
use super::state::HostState;

/// The plugin kinds hookhost knows, one per WIT world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    PyrusBot,
    PyrusExt,
    Worksection,
    HttpHook,
}

impl PluginKind {
    pub const ALL: [PluginKind; 4] = [
        PluginKind::PyrusBot,
        PluginKind::PyrusExt,
        PluginKind::Worksection,
        PluginKind::HttpHook,
    ];

    /// The WIT world a plugin of this kind targets.
    pub fn world(self) -> &'static str {
        match self {
            PluginKind::PyrusBot => "pyrus-bot",
            PluginKind::PyrusExt => "pyrus-ext",
            PluginKind::Worksection => "worksection",
            PluginKind::HttpHook => "http-hook",
        }
    }

    /// The interface (without version) the component exports.
    fn export(self) -> &'static str {
        match self {
            PluginKind::PyrusBot => "hookhost:plugin/pyrus-bot-handler",
            PluginKind::PyrusExt => "hookhost:plugin/pyrus-ext-handler",
            PluginKind::Worksection => "hookhost:plugin/worksection-handler",
            PluginKind::HttpHook => "hookhost:plugin/http-handler",
        }
    }

    /// The routes a plugin of this kind serves; a hook plugin's own rules
    /// are known only once it has loaded.
    pub fn routes(self, plugin: &str, mount: &str) -> Vec<String> {
        match self {
            PluginKind::PyrusBot => vec![format!("POST /pyrus/{plugin}")],
            PluginKind::PyrusExt => [
                "GET pulse",
                "POST authorize",
                "POST toggle",
                "POST event",
                "POST sendmessage",
                "GET getavailablenumbers",
            ]
            .iter()
            .filter_map(|r| r.split_once(' '))
            .map(|(method, call)| format!("{method} /pyrus-ext/{plugin}/{call}"))
            .collect(),
            PluginKind::Worksection => vec![format!("POST /worksection/{plugin}")],
            PluginKind::HttpHook => vec![format!("* {}/…", mount.trim_end_matches('/'))],
        }
    }

    /// Whether the kind is signed with `X-Pyrus-Sig` (and so needs `secret`).
    pub fn pyrus_signed(self) -> bool {
        matches!(self, PluginKind::PyrusBot | PluginKind::PyrusExt)
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.world())
    }
}

/// A component linked against the host and ready to instantiate per request.
#[derive(Clone)]
pub enum Prepared {
    PyrusBot(PyrusBotPre<HostState>),
    PyrusExt(PyrusExtPre<HostState>),
    Worksection(WorksectionPre<HostState>),
    HttpHook(HttpHookPre<HostState>),
}

impl Prepared {
    pub fn kind(&self) -> PluginKind {
        match self {
            Prepared::PyrusBot(_) => PluginKind::PyrusBot,
            Prepared::PyrusExt(_) => PluginKind::PyrusExt,
            Prepared::Worksection(_) => PluginKind::Worksection,
            Prepared::HttpHook(_) => PluginKind::HttpHook,
        }
    }
}

/// Why a component cannot be a plugin. Deterministic for given bytes.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    #[error("does not compile: {0}")]
    Compile(String),
    #[error("matches none of hookhost's worlds ({known}): it exports [{exports}]")]
    NoWorld { known: String, exports: String },
    #[error("does not fit the {kind} world: {message}")]
    Link { kind: PluginKind, message: String },
}

pub(super) fn prepare(
    engine: &Engine,
    linker: &Linker<HostState>,
    component: &Component,
) -> Result<Prepared, LoadError> {
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let kind = PluginKind::ALL
        .into_iter()
        .find(|kind| {
            exports
                .iter()
                .any(|name| exports_interface(name, kind.export()))
        })
        .ok_or_else(|| LoadError::NoWorld {
            known: PluginKind::ALL.map(PluginKind::world).join(", "),
            exports: exports.join(", "),
        })?;

    let link_err = |e: wasmtime::Error| LoadError::Link {
        kind,
        message: format!("{e:#}"),
    };
    let pre = linker.instantiate_pre(component).map_err(link_err)?;
    match kind {
        PluginKind::PyrusBot => PyrusBotPre::new(pre)
            .map(Prepared::PyrusBot)
            .map_err(link_err),
        PluginKind::PyrusExt => PyrusExtPre::new(pre)
            .map(Prepared::PyrusExt)
            .map_err(link_err),
        PluginKind::Worksection => WorksectionPre::new(pre)
            .map(Prepared::Worksection)
            .map_err(link_err),
        PluginKind::HttpHook => HttpHookPre::new(pre)
            .map(Prepared::HttpHook)
            .map_err(link_err),
    }
}

/// `hookhost:plugin/pyrus-bot-handler@0.1.0` exports `hookhost:plugin/pyrus-bot-handler`.
fn exports_interface(name: &str, interface: &str) -> bool {
    name.strip_prefix(interface)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('@'))
}

#[cfg(test)]
mod tests {
    use super::exports_interface;

    #[test]
    fn matches_versioned_and_bare_names_only() {
        let i = "hookhost:plugin/pyrus-bot-handler";
        assert!(exports_interface(
            "hookhost:plugin/pyrus-bot-handler@0.1.0",
            i
        ));
        assert!(exports_interface(i, i));
        assert!(!exports_interface(
            "hookhost:plugin/pyrus-bot-handler-x@0.1.0",
            i
        ));
        assert!(!exports_interface(
            "other:plugin/pyrus-bot-handler@0.1.0",
            i
        ));
    }
}
