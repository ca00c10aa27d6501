//! Which generic hook plugins get their rules served, when rules of two
//! plugins overlap. The policy: rules already serving win over newcomers,
//! then names in order; `/hooks/NAME/…` belongs to NAME alone (see
//! `HookTable::conflict`).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::hook_table::HookTable;
use super::registry::{PluginEntry, Registry};
use crate::protocol::http_hook::Pattern;

/// Routes the serving hook plugins into one table. A plugin whose rules overlap
/// another's is refused (its previous version keeps serving if that fits).
pub fn hook_table(
    current: &Registry,
    next: &mut BTreeMap<String, Arc<PluginEntry>>,
    reserved: &[Pattern],
) -> (HookTable, Vec<String>) {
    let unchanged = |entry: &PluginEntry| {
        let old = current.get(&entry.name).and_then(|e| e.serving.as_ref());
        old.zip(entry.serving.as_ref())
            .is_some_and(|(old, new)| Arc::ptr_eq(old, new))
    };
    let mut order: Vec<String> = next
        .values()
        .filter(|e| {
            e.serving
                .as_ref()
                .is_some_and(|p| !p.hook_routes.is_empty())
        })
        .map(|e| e.name.clone())
        .collect();
    order.sort_by_key(|name| !next.get(name).is_some_and(|e| unchanged(e)));

    let mut table = HookTable::new(reserved);
    let mut refused_names = Vec::new();
    for name in order {
        let Some(entry) = next.get_mut(&name) else {
            continue;
        };
        let Some(serving) = entry.serving.clone() else {
            continue;
        };
        let Some(conflict) = table.conflict(&serving.hook_routes) else {
            table.insert(serving);
            continue;
        };
        let mut refused = (**entry).clone();
        let fallback = current
            .get(&name)
            .and_then(|e| e.serving.clone())
            .filter(|old| {
                !Arc::ptr_eq(old, &serving) && table.conflict(&old.hook_routes).is_none()
            });
        match fallback {
            Some(old) => {
                tracing::error!(plugin = %name, generation = old.generation, "newest file not loaded, the previous version keeps serving: {conflict}");
                refused.routes = old.hook_routes.iter().map(|r| r.describe()).collect();
                table.insert(old.clone());
                refused.serving = Some(old);
            }
            None => {
                tracing::error!(plugin = %name, "plugin not served: {conflict}");
                refused.serving = None;
            }
        }
        refused.problem = Some(conflict);
        *entry = Arc::new(refused);
        refused_names.push(name);
    }
    (table, refused_names)
}
