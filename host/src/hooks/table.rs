//! The routing table of every serving hook plugin, rebuilt on each reload.
//! Rules of different plugins may never overlap: the later plugin is
//! refused with a reason naming both, so nothing is silently shadowed.

use std::sync::{Arc, LazyLock};

use super::pattern::{Pattern, split_path};
use crate::plugins::LoadedPlugin;
use crate::runtime::bindings::http_hook::hookhost::plugin::http_types::Route;

/// Methods a rule accepts when it names none.
const DEFAULT_METHODS: [&str; 2] = ["GET", "POST"];

/// hookhost's own routes; a rule mounted at `/` may not reach under them.
pub const RESERVED: [&str; 3] = [
    "/pyrus/<plugin>",
    "/pyrus-ext/<plugin>/<call>",
    "/worksection/<plugin>",
];

static RESERVED_PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    RESERVED
        .iter()
        .filter_map(|rule| Pattern::parse(rule).ok())
        .collect()
});

/// Most headers a plugin may answer with.
pub const MAX_RESPONSE_HEADERS: usize = 100;

/// One rule of a hook plugin, under its mount point.
#[derive(Debug, Clone)]
pub struct HookRoute {
    /// Mount point and rule together: what request paths are matched against.
    pub pattern: Pattern,
    /// The rule as the plugin declared it, handed back on each request.
    pub rule: String,
    /// Upper case, sorted.
    pub methods: Vec<String>,
    pub form_param: Option<String>,
    pub raw: bool,
    /// Mounted at the plugin's own `/hooks/NAME`, the namespace no other
    /// plugin may reach into.
    pub own_mount: bool,
}

impl HookRoute {
    pub fn allows(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m == method)
    }

    /// `GET,POST /hooks/name/rule`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.methods.join(","), self.pattern)
    }
}

/// Checks the plugin's declared routes and puts them under `mount`
/// (`own_mount`: the plugin's default `/hooks/NAME`).
pub fn declare_routes(
    mount: &Pattern,
    own_mount: bool,
    routes: Vec<Route>,
) -> Result<Vec<HookRoute>, String> {
    let mut declared: Vec<HookRoute> = Vec::with_capacity(routes.len());
    for route in routes {
        let rule = Pattern::parse(&route.rule).map_err(|e| e.to_string())?;
        let mut methods = Vec::new();
        for method in &route.methods {
            let upper = method.trim().to_ascii_uppercase();
            if upper.is_empty() || !upper.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(format!(
                    "rule {:?}: {method:?} is not an HTTP method",
                    route.rule
                ));
            }
            methods.push(upper);
        }
        if methods.is_empty() {
            methods = DEFAULT_METHODS.map(str::to_owned).to_vec();
        }
        methods.sort();
        methods.dedup();
        if let Some(param) = &route.form_param
            && param.is_empty()
        {
            return Err(format!("rule {:?}: form-param is empty", route.rule));
        }
        let pattern = mount.join(&rule);
        if let Some(twin) = declared
            .iter()
            .find(|d| d.pattern == pattern && d.methods.iter().any(|m| methods.contains(m)))
        {
            return Err(format!(
                "rules {:?} and {:?} are the same path with the same method",
                twin.rule, route.rule
            ));
        }
        declared.push(HookRoute {
            pattern,
            rule: route.rule,
            methods,
            form_param: route.form_param,
            raw: route.raw,
            own_mount,
        });
    }
    Ok(declared)
}

/// The best match so far: plugin, rule, parameters.
type Found<'a> = (&'a Arc<LoadedPlugin>, &'a HookRoute, Vec<(String, String)>);

/// What a request path finds.
pub enum Lookup<'a> {
    Found {
        plugin: &'a Arc<LoadedPlugin>,
        route: &'a HookRoute,
        params: Vec<(String, String)>,
    },
    /// The path is known, the method is not: the methods that would do.
    WrongMethod {
        allow: Vec<String>,
    },
    NotFound,
}

#[derive(Default)]
pub struct HookTable {
    plugins: Vec<Arc<LoadedPlugin>>,
}

impl HookTable {
    /// Why `routes` cannot join the table, naming both rules, or `None`.
    pub fn conflict(&self, routes: &[HookRoute]) -> Option<String> {
        for route in routes {
            // `/hooks/NAME/…` belongs to plugin NAME alone: another mount
            // reaching in would take its URLs (and perhaps its stricter
            // check) away depending on load order.
            if !route.own_mount && route.pattern.could_be_under("hooks") {
                return Some(format!(
                    "rule {} could match paths under /hooks/, which belong to the plugins mounted there",
                    route.pattern
                ));
            }
            for reserved in RESERVED_PATTERNS.iter() {
                if route.pattern.overlaps(reserved) {
                    return Some(format!(
                        "rule {} overlaps hookhost's own route {reserved}",
                        route.pattern
                    ));
                }
            }
            for plugin in &self.plugins {
                if let Some(theirs) = plugin
                    .hook_routes
                    .iter()
                    .find(|theirs| theirs.pattern.overlaps(&route.pattern))
                {
                    return Some(format!(
                        "rule {} overlaps plugin {}'s rule {}",
                        route.pattern, plugin.name, theirs.pattern
                    ));
                }
            }
        }
        None
    }

    /// Adds a plugin whose rules passed `conflict`.
    pub fn insert(&mut self, plugin: Arc<LoadedPlugin>) {
        self.plugins.push(plugin);
    }

    pub fn lookup(&self, path: &str, method: &str) -> Lookup<'_> {
        let Some(segments) = split_path(path) else {
            return Lookup::NotFound;
        };
        // HEAD is GET without the body, unless a rule asks for HEAD itself.
        let mut best: Option<Found<'_>> = None;
        let mut allow: Vec<String> = Vec::new();
        for plugin in &self.plugins {
            for route in &plugin.hook_routes {
                let Some(params) = route.pattern.matches(&segments) else {
                    continue;
                };
                allow.extend(route.methods.iter().cloned());
                let fits = route.allows(method) || (method == "HEAD" && route.allows("GET"));
                let better = best
                    .as_ref()
                    .is_none_or(|(_, b, _)| route.pattern.specificity() > b.pattern.specificity());
                if fits && better {
                    best = Some((plugin, route, params));
                }
            }
        }
        match best {
            Some((plugin, route, params)) => Lookup::Found {
                plugin,
                route,
                params,
            },
            None if allow.is_empty() => Lookup::NotFound,
            None => {
                if allow.iter().any(|m| m == "GET") {
                    allow.push("HEAD".to_owned());
                }
                allow.push("OPTIONS".to_owned());
                allow.sort();
                allow.dedup();
                Lookup::WrongMethod { allow }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reserved_route_parses() {
        assert_eq!(RESERVED_PATTERNS.len(), RESERVED.len());
    }
}
