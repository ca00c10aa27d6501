//! The URI rules a generic hook plugin declares, checked and put under
//! its mount point.

use super::pattern::Pattern;
use crate::bindings::http_hook::hookhost::plugin::http_types::Route;

/// Methods a rule accepts when it names none.
const DEFAULT_METHODS: [&str; 2] = ["GET", "POST"];

pub const MAX_RESPONSE_HEADERS: usize = 100;

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
