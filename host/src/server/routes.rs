//! hookhost's own routes, written once. The router, `hookhost routes`,
//! `hookhost test`, `--help` and the check that keeps generic hook rules
//! off these paths all read this table, so adding a route is one line.

use std::sync::Arc;

use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};

use super::{AppState, pyrus_bot, pyrus_ext, worksection};
use crate::plugins::OwnRoute;
use crate::protocol::PluginKind::{self, PyrusBot, PyrusExt, Worksection};

pub struct Route {
    pub kind: PluginKind,
    pub method: Method,
    /// In axum's syntax; `{plugin}` is the plugin's name.
    pub path: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    pub(super) handler: fn() -> MethodRouter<Arc<AppState>>,
}

/// One row: `route!(kind, METHOD, "/path/{plugin}", handler, "about")`.
macro_rules! route {
    ($kind:ident, $method:ident, $path:literal, $handler:path, $about:literal) => {
        Route {
            kind: $kind,
            method: Method::$method,
            path: $path,
            about: $about,
            handler: || on(MethodFilter::$method, $handler),
        }
    };
}

#[rustfmt::skip]
pub static ROUTES: [Route; 8] = [
    route!(PyrusBot, POST, "/pyrus/{plugin}", pyrus_bot::handle, "Pyrus bot; X-Pyrus-Sig = hex HMAC-SHA1(secret, body)"),
    route!(PyrusExt, GET, "/pyrus-ext/{plugin}/pulse", pyrus_ext::pulse, "Pyrus extension health; X-Pyrus-Sig over the empty body"),
    route!(PyrusExt, POST, "/pyrus-ext/{plugin}/authorize", pyrus_ext::authorize, "Pyrus extension: credentials or OAuth code; X-Pyrus-Sig"),
    route!(PyrusExt, POST, "/pyrus-ext/{plugin}/toggle", pyrus_ext::toggle, "Pyrus extension: account enabled or disabled"),
    route!(PyrusExt, POST, "/pyrus-ext/{plugin}/event", pyrus_ext::event, "Pyrus extension: task created, closed or commented"),
    route!(PyrusExt, POST, "/pyrus-ext/{plugin}/sendmessage", pyrus_ext::send_message, "Pyrus extension: deliver a message to the external system"),
    route!(PyrusExt, GET, "/pyrus-ext/{plugin}/getavailablenumbers", pyrus_ext::available_numbers, "Pyrus extension: numbers for the account (query string)"),
    route!(Worksection, POST, "/worksection/{plugin}", worksection::handle, "Worksection; answers {\"status\":\"OK\"} at once"),
];

/// Where generic hook plugins live: every path the table above does not take.
pub const HOOKS_ROUTE: &str = "/hooks/{plugin}/{rule}";

impl Route {
    /// The plugin name in `path` (one non-empty segment), when this route
    /// takes that path. Leading slashes do not count.
    fn plugin_in<'a>(&self, path: &'a str) -> Option<&'a str> {
        let (before, after) = self.path.split_once("{plugin}")?;
        let rest = path.trim_start_matches('/');
        let name = rest.strip_prefix(before.trim_start_matches('/'))?;
        let name = name.strip_suffix(after)?;
        (!name.is_empty() && !name.contains('/')).then_some(name)
    }
}

/// The table as the plugins layer needs it: what to list for each plugin
/// and what no hook rule may shadow.
pub fn own_routes() -> Vec<OwnRoute> {
    ROUTES
        .iter()
        .map(|r| OwnRoute {
            kind: r.kind,
            method: r.method.as_str(),
            path: r.path,
        })
        .collect()
}

/// The routes of the table that take `path`, whatever their method, each
/// with the plugin name in `path`.
pub fn taking(path: &str) -> impl Iterator<Item = (&'static Route, &str)> {
    ROUTES
        .iter()
        .filter_map(move |r| r.plugin_in(path).map(|name| (r, name)))
}

/// The routes section of `--help`.
pub fn help() -> String {
    let line =
        |method: &str, path: &str, about: &str| format!("  {method:<5} {path:<40} {about}\n");
    let mut out = String::from("Routes (the plugin's WIT world decides which):\n");
    for r in &ROUTES {
        out.push_str(&line(r.method.as_str(), r.path, r.about));
    }
    out.push_str(&line(
        "*",
        HOOKS_ROUTE,
        "generic hook; the plugin declares its rules",
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_names_its_plugin() {
        let find = |path, method: &Method| taking(path).find(|(r, _)| r.method == *method);
        let takes = |path| taking(path).next();
        assert_eq!(
            find("/pyrus/echo-bot", &Method::POST).map(|(r, n)| (r.kind, n)),
            Some((PyrusBot, "echo-bot"))
        );
        assert_eq!(
            find("/pyrus-ext/x/pulse", &Method::GET).map(|(r, n)| (r.path, n)),
            Some(("/pyrus-ext/{plugin}/pulse", "x"))
        );
        assert!(find("/pyrus-ext/x/pulse", &Method::POST).is_none());
        assert!(takes("/pyrus-ext/x/pulse").is_some());
        assert!(takes("/pyrus/").is_none());
        assert!(takes("/pyrus/a/b").is_none());
        assert!(takes("/hooks/a").is_none());
    }

    #[test]
    fn the_plugins_layer_reserves_each_namespace_once() {
        let own = crate::plugins::OwnRoutes::new(own_routes());
        let reserved: Vec<String> = own.reserved().iter().map(|p| p.to_string()).collect();
        assert_eq!(
            reserved,
            [
                "/pyrus/<plugin>",
                "/pyrus-ext/<plugin>/<call>",
                "/worksection/<plugin>"
            ]
        );
    }

    #[test]
    fn every_method_can_be_filtered() {
        for r in &ROUTES {
            assert!(
                MethodFilter::try_from(r.method.clone()).is_ok(),
                "{}",
                r.path
            );
        }
    }
}
