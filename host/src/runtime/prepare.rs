//! A component becomes a plugin: its kind is the hookhost interface it
//! exports, and it is pre-linked against the host once, at load.

use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

use super::state::HostState;
use crate::bindings::http_hook::{HttpHook, HttpHookPre};
use crate::bindings::pyrus_ext::{PyrusExt, PyrusExtPre};
use crate::bindings::worksection::{Worksection, WorksectionPre};
use crate::bindings::{PyrusBot, PyrusBotPre};
use crate::protocol::PluginKind;

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

/// One world's pre-linked component type, so a route can ask for exactly
/// the kind it serves and get it typed, and every call instantiates alike.
pub trait World: Clone + Send + Sync + 'static {
    const KIND: PluginKind;
    type Instance: Send + 'static;
    fn from_prepared(prepared: &Prepared) -> Option<&Self>;
    fn instantiate(
        &self,
        store: &mut Store<HostState>,
    ) -> impl Future<Output = wasmtime::Result<Self::Instance>> + Send;
}

macro_rules! world {
    ($pre:ident, $instance:ident, $variant:ident) => {
        impl World for $pre<HostState> {
            const KIND: PluginKind = PluginKind::$variant;
            type Instance = $instance;
            fn from_prepared(prepared: &Prepared) -> Option<&Self> {
                match prepared {
                    Prepared::$variant(pre) => Some(pre),
                    _ => None,
                }
            }
            fn instantiate(
                &self,
                store: &mut Store<HostState>,
            ) -> impl Future<Output = wasmtime::Result<$instance>> + Send {
                self.instantiate_async(store)
            }
        }
    };
}
world!(PyrusBotPre, PyrusBot, PyrusBot);
world!(PyrusExtPre, PyrusExt, PyrusExt);
world!(WorksectionPre, Worksection, Worksection);
world!(HttpHookPre, HttpHook, HttpHook);

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
    // In the order of `ALL`, should a component export two handlers.
    let kind = PluginKind::ALL
        .into_iter()
        .find(|kind| {
            exports
                .iter()
                .any(|name| PluginKind::exported_by(name) == Some(*kind))
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
        PluginKind::PyrusBot => PyrusBotPre::new(pre).map(Prepared::PyrusBot),
        PluginKind::PyrusExt => PyrusExtPre::new(pre).map(Prepared::PyrusExt),
        PluginKind::Worksection => WorksectionPre::new(pre).map(Prepared::Worksection),
        PluginKind::HttpHook => HttpHookPre::new(pre).map(Prepared::HttpHook),
    }
    .map_err(link_err)
}
