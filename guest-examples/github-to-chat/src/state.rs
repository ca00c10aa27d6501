//! The plugin's own `wasi:keyvalue` bucket: per delivery id, how many of its
//! commits are already posted (decimal text).

use crate::hookhost::plugin::types::PluginError;
use crate::wasi::keyvalue::store::{self, Error};

pub struct Bucket(store::Bucket);

impl Bucket {
    /// `default` is the bucket hookhost gives each plugin for itself.
    pub fn open() -> Result<Self, PluginError> {
        store::open("default")
            .map(Bucket)
            .map_err(|e| unavailable("open the state bucket", e))
    }

    /// The count under `key`; 0 when absent.
    pub fn get_count(&self, key: &str) -> Result<usize, PluginError> {
        let value = self
            .0
            .get(key)
            .map_err(|e| unavailable("read the state", e))?;
        match value {
            None => Ok(0),
            Some(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| PluginError::Internal(format!("state {key} is not a count"))),
        }
    }

    pub fn set_count(&self, key: &str, count: usize) -> Result<(), PluginError> {
        self.0
            .set(key, count.to_string().as_bytes())
            .map_err(|e| unavailable("write the state", e))
    }
}

/// A state failure is temporary as far as the sender is concerned: 503, so
/// a redelivery may succeed.
fn unavailable(what: &str, error: Error) -> PluginError {
    let why = match error {
        Error::NoSuchStore => "no such store".to_owned(),
        Error::AccessDenied => "access denied".to_owned(),
        Error::Other(text) => text,
    };
    PluginError::Unavailable(format!("cannot {what}: {why}"))
}
