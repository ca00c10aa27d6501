//! The routing table of every serving hook plugin, rebuilt on each reload.
//! Rules of different plugins may never overlap: the later plugin is
//! refused with a reason naming both, so nothing is silently shadowed.

use std::sync::Arc;

use super::LoadedPlugin;
use crate::protocol::http_hook::{HookRoute, Pattern, split_path};

/// The best match so far: plugin, rule, parameters.
type Found<'a> = (&'a Arc<LoadedPlugin>, &'a HookRoute, Vec<(String, String)>);

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
    /// hookhost's own routes, which no rule may overlap.
    reserved: Vec<Pattern>,
}

impl HookTable {
    pub fn new(reserved: &[Pattern]) -> Self {
        HookTable {
            plugins: Vec::new(),
            reserved: reserved.to_vec(),
        }
    }

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
            for reserved in &self.reserved {
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
