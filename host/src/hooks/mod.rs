//! Generic HTTP hooks: the URI rules plugins declare for themselves, where
//! they are mounted, and the table that routes a request to one of them.

mod pattern;
mod table;

pub use pattern::{Pattern, RuleError, Segment, split_path};
pub use table::{HookRoute, HookTable, Lookup, MAX_RESPONSE_HEADERS, RESERVED, declare_routes};
