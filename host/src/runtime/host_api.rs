//! The `host` interface every plugin imports: logging and its own config.

use std::fmt::Write as _;

use super::state::HostState;
use crate::bindings::hookhost::plugin::types::{Field, Level};
use crate::bindings::hookhost::plugin::{host, pyrus_types, types};

use crate::logtext::{MAX_LOGGED, sanitize};

impl types::Host for HostState {}
impl pyrus_types::Host for HostState {}

impl host::Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        self.emit(level, &message, &[]);
    }

    fn log_fields(&mut self, level: Level, message: String, fields: Vec<Field>) {
        self.emit(level, &message, &fields);
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

impl HostState {
    fn emit(&self, level: Level, message: &str, fields: &[Field]) {
        // A line the filter drops costs neither cleaning nor budget.
        let enabled = match level {
            Level::Trace => tracing::enabled!(target: "hookhost::guest", tracing::Level::TRACE),
            Level::Debug => tracing::enabled!(target: "hookhost::guest", tracing::Level::DEBUG),
            Level::Info => tracing::enabled!(target: "hookhost::guest", tracing::Level::INFO),
            Level::Warn => tracing::enabled!(target: "hookhost::guest", tracing::Level::WARN),
            Level::Error => tracing::enabled!(target: "hookhost::guest", tracing::Level::ERROR),
        };
        if !enabled {
            return;
        }
        let mut line = sanitize(message, MAX_LOGGED);
        for Field { key, value } in fields {
            if line.len() >= MAX_LOGGED {
                break;
            }
            let _ = write!(
                line,
                " {}={}",
                sanitize(key, 256),
                sanitize(value, MAX_LOGGED)
            );
        }
        // Shares one per-request budget with stdout and stderr.
        if !self.log_budget.admit(&self.plugin, line.len()) {
            return;
        }
        let plugin = &*self.plugin;
        // The request id is on the enclosing request span.
        macro_rules! at {
            ($lvl:ident) => {
                tracing::$lvl!(target: "hookhost::guest", plugin, "{line}")
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
}
