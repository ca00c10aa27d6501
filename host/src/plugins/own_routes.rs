//! hookhost's own routes as the plugins folder sees them: handed down from
//! the server's route table when the loader is made, so the table is
//! written once and the plugins layer still depends on nothing above it.

use crate::protocol::PluginKind;
use crate::protocol::http_hook::Pattern;

/// One row of the server's route table.
#[derive(Debug, Clone)]
pub struct OwnRoute {
    pub kind: PluginKind,
    pub method: &'static str,
    /// In axum's syntax: `/pyrus/{plugin}`.
    pub path: &'static str,
}

#[derive(Debug, Clone, Default)]
pub struct OwnRoutes {
    routes: Vec<OwnRoute>,
    /// What no generic hook rule may overlap.
    reserved: Vec<Pattern>,
}

impl OwnRoutes {
    pub fn new(routes: Vec<OwnRoute>) -> Self {
        let mut reserved: Vec<Pattern> = routes
            .iter()
            .filter_map(|r| Pattern::parse(&reservation(r.path)).ok())
            .collect();
        reserved.dedup();
        OwnRoutes { routes, reserved }
    }

    /// What `routes` lists for plugin `name` of `kind`: `POST /pyrus/name`.
    pub fn listed(&self, kind: PluginKind, name: &str) -> Vec<String> {
        self.routes
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| format!("{} {}", r.method, r.path.replace("{plugin}", name)))
            .collect()
    }

    pub fn reserved(&self) -> &[Pattern] {
        &self.reserved
    }
}

/// The Flask-style rule a route reserves. Everything after the plugin's
/// name is reserved as a whole (`/pyrus-ext/<plugin>/<call>`), so a call
/// hookhost adds later cannot change which hook plugins load.
fn reservation(path: &str) -> String {
    let mut after_plugin = false;
    let mut out = String::new();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(param) => {
                after_plugin |= param == "plugin";
                out.push_str(&format!("<{param}>"));
            }
            None if after_plugin => out.push_str("<call>"),
            None => out.push_str(segment),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_after_the_plugin_name_are_reserved_as_a_whole() {
        assert_eq!(reservation("/pyrus/{plugin}"), "/pyrus/<plugin>");
        assert_eq!(
            reservation("/pyrus-ext/{plugin}/pulse"),
            "/pyrus-ext/<plugin>/<call>"
        );
        let own = OwnRoutes::new(vec![
            OwnRoute {
                kind: PluginKind::PyrusExt,
                method: "GET",
                path: "/pyrus-ext/{plugin}/pulse",
            },
            OwnRoute {
                kind: PluginKind::PyrusExt,
                method: "POST",
                path: "/pyrus-ext/{plugin}/event",
            },
        ]);
        assert_eq!(own.reserved().len(), 1);
        assert_eq!(
            own.listed(PluginKind::PyrusExt, "x"),
            ["GET /pyrus-ext/x/pulse", "POST /pyrus-ext/x/event"]
        );
    }
}
