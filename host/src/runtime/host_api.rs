//! The `host` interface every plugin imports: logging and its own config.

use std::fmt::Write as _;

use super::bindings::hookhost::plugin::types::{Field, Level};
use super::bindings::hookhost::plugin::{host, pyrus_types, types};
use super::state::HostState;

/// Longest message a guest may log in one line.
const MAX_MESSAGE: usize = 8 * 1024;

impl types::Host for HostState {}
impl pyrus_types::Host for HostState {}

impl host::Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        emit(&self.plugin, level, &message, &[]);
    }

    fn log_fields(&mut self, level: Level, message: String, fields: Vec<Field>) {
        emit(&self.plugin, level, &message, &fields);
    }

    fn get_config(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }

    fn list_config(&mut self) -> Vec<Field> {
        self.config
            .iter()
            .map(|(key, value)| Field {
                key: key.clone(),
                value: value.clone(),
            })
            .collect()
    }
}

fn emit(plugin: &str, level: Level, message: &str, fields: &[Field]) {
    let message = sanitize(message);
    let mut extra = String::new();
    for Field { key, value } in fields {
        let _ = write!(extra, " {}={}", sanitize(key), sanitize(value));
    }
    // The request id is on the enclosing request span.
    macro_rules! at {
        ($lvl:ident) => {
            tracing::$lvl!(target: "hookhost::guest", plugin, "{message}{extra}")
        };
    }
    match level {
        Level::Trace => at!(trace),
        Level::Debug => at!(debug),
        Level::Info => at!(info),
        Level::Warn => at!(warn),
        Level::Error => at!(error),
    }
}

/// Makes guest text safe for a line-oriented log: control characters are
/// escaped (a guest cannot forge log lines) and the length is capped.
pub(super) fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_MESSAGE));
    for ch in text.chars() {
        if out.len() >= MAX_MESSAGE {
            out.push('…');
            break;
        }
        match ch {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn escapes_newlines_and_controls() {
        assert_eq!(sanitize("a\nb\x1b[31m"), "a\\nb\\u{1b}[31m");
    }

    #[test]
    fn caps_length() {
        let long = "x".repeat(20_000);
        assert!(sanitize(&long).len() < 8 * 1024 + 8);
    }
}
