//! The host side of `wasi:keyvalue@0.2.0-draft`: `store`, `atomics` and
//! `batch` over the [`StateStore`] the runtime was given.
//!
//! A plugin reaches exactly one bucket, its own: `open("default")` is the
//! only identifier that opens, and the bucket it opens is named by the host
//! from the sandbox (the plugin's name), never by the guest. Every
//! operation awaits the store, whose database calls run off the async
//! workers. Refusals and failures come back as the interface's `error`,
//! never as a trap, so a plugin can handle a full quota like any answer.

use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime_wasi::WasiView;

use super::state::HostState;
use crate::bindings::keyvalue::OpenBucket;
use crate::bindings::keyvalue::wasi::keyvalue::store::{Error, KeyResponse};
use crate::bindings::keyvalue::wasi::keyvalue::{atomics, batch, store};
use crate::state::{Bucket, Entry, StateError, StateStore};

/// The one identifier `open` accepts.
const DEFAULT_BUCKET: &str = "default";

/// Bucket handles one request may hold at once. Each is a table entry in
/// host memory; a guest opening in a loop gets an error, not the host's
/// memory.
const MAX_OPEN_BUCKETS: usize = 64;

/// A request's way to its plugin's state. Cheap: two `Arc`s and a quota.
#[derive(Clone)]
pub struct StateAccess {
    pub store: Arc<dyn StateStore>,
    pub bucket: Bucket,
}

/// Per-request keyvalue state inside [`HostState`].
#[derive(Default)]
pub struct KeyValueCtx {
    /// `None` where the command runs plugins without state (`hookhost
    /// routes`' dry run): `open` then says so.
    pub(super) access: Option<StateAccess>,
    open_buckets: usize,
}

impl KeyValueCtx {
    pub fn new(access: Option<StateAccess>) -> KeyValueCtx {
        KeyValueCtx {
            access,
            open_buckets: 0,
        }
    }
}

impl HostState {
    /// The store and bucket for an operation on a handle the guest holds.
    /// A handle exists only after a successful `open`, so access is there;
    /// the error covers a host bug rather than a guest one.
    fn state(&self) -> Result<StateAccess, Error> {
        self.keyvalue
            .access
            .clone()
            .ok_or_else(|| Error::Other(NO_STATE.into()))
    }
}

const NO_STATE: &str = "no state store in this command";

/// Counts a state operation and turns a refusal into the guest's error.
fn counted<T>(
    s: &StateAccess,
    op: &'static str,
    result: Result<T, StateError>,
) -> Result<T, Error> {
    crate::metrics::get().keyvalue(s.bucket.plugin(), op, result.is_ok());
    result.map_err(|e| refused(s.bucket.name(), e))
}

/// The guest sees limits, quota and database failures as `other(text)`.
/// The texts name sizes and limits only, never a key or a value.
fn refused(plugin: &str, e: StateError) -> Error {
    match &e {
        StateError::Io(_) | StateError::Database(_) => {
            // The operator's problem, not the plugin's: say it in the log.
            tracing::warn!(plugin, "state operation failed: {e}");
        }
        _ => tracing::debug!(plugin, "state operation refused: {e}"),
    }
    Error::Other(e.to_string())
}

impl store::Host for HostState {
    async fn open(&mut self, identifier: String) -> Result<Resource<OpenBucket>, Error> {
        if identifier != DEFAULT_BUCKET {
            return Err(Error::NoSuchStore);
        }
        if self.keyvalue.access.is_none() {
            return Err(Error::Other(NO_STATE.into()));
        }
        if self.keyvalue.open_buckets >= MAX_OPEN_BUCKETS {
            return Err(Error::Other(format!(
                "more than {MAX_OPEN_BUCKETS} buckets open at once"
            )));
        }
        let handle = self
            .ctx()
            .table
            .push(OpenBucket)
            .map_err(|e| Error::Other(e.to_string()))?;
        self.keyvalue.open_buckets += 1;
        Ok(handle)
    }
}

impl store::HostBucket for HostState {
    async fn get(
        &mut self,
        _bucket: Resource<OpenBucket>,
        key: String,
    ) -> Result<Option<Vec<u8>>, Error> {
        let s = self.state()?;
        let result = s.store.get(&s.bucket, key).await;
        counted(&s, "get", result)
    }

    async fn set(
        &mut self,
        _bucket: Resource<OpenBucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        let s = self.state()?;
        let result = s.store.set(&s.bucket, key, value).await;
        counted(&s, "set", result)
    }

    async fn delete(&mut self, _bucket: Resource<OpenBucket>, key: String) -> Result<(), Error> {
        let s = self.state()?;
        let result = s.store.delete(&s.bucket, key).await;
        counted(&s, "delete", result)
    }

    async fn exists(&mut self, _bucket: Resource<OpenBucket>, key: String) -> Result<bool, Error> {
        let s = self.state()?;
        let result = s.store.exists(&s.bucket, key).await;
        counted(&s, "exists", result)
    }

    async fn list_keys(
        &mut self,
        _bucket: Resource<OpenBucket>,
        cursor: Option<u64>,
    ) -> Result<KeyResponse, Error> {
        let s = self.state()?;
        let result = s.store.list_keys(&s.bucket, cursor).await;
        let page = counted(&s, "list_keys", result)?;
        Ok(KeyResponse {
            keys: page.keys,
            cursor: page.cursor,
        })
    }

    async fn drop(&mut self, bucket: Resource<OpenBucket>) -> wasmtime::Result<()> {
        self.ctx().table.delete(bucket)?;
        self.keyvalue.open_buckets = self.keyvalue.open_buckets.saturating_sub(1);
        Ok(())
    }
}

impl atomics::Host for HostState {
    async fn increment(
        &mut self,
        _bucket: Resource<OpenBucket>,
        key: String,
        delta: u64,
    ) -> Result<u64, Error> {
        let s = self.state()?;
        let result = s.store.increment(&s.bucket, key, delta).await;
        counted(&s, "increment", result)
    }
}

impl batch::Host for HostState {
    async fn get_many(
        &mut self,
        _bucket: Resource<OpenBucket>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<Entry>>, Error> {
        let s = self.state()?;
        let result = s.store.get_many(&s.bucket, keys).await;
        counted(&s, "get_many", result)
    }

    async fn set_many(
        &mut self,
        _bucket: Resource<OpenBucket>,
        key_values: Vec<Entry>,
    ) -> Result<(), Error> {
        let s = self.state()?;
        let result = s.store.set_many(&s.bucket, key_values).await;
        counted(&s, "set_many", result)
    }

    async fn delete_many(
        &mut self,
        _bucket: Resource<OpenBucket>,
        keys: Vec<String>,
    ) -> Result<(), Error> {
        let s = self.state()?;
        let result = s.store.delete_many(&s.bucket, keys).await;
        counted(&s, "delete_many", result)
    }
}

/// Links the three interfaces for every world's plugins.
pub(super) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<HostState>,
) -> wasmtime::Result<()> {
    use wasmtime::component::HasSelf;
    store::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    atomics::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    batch::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_the_interfaces_other_error_with_the_stores_text() {
        let e = refused("p", StateError::KeyTooLong { len: 257, max: 256 });
        assert!(matches!(e, Error::Other(m) if m == "key is 257 bytes, the limit is 256"));
        let e = refused("p", StateError::Database("disk I/O error".into()));
        assert!(matches!(e, Error::Other(m) if m == "state database: disk I/O error"));
    }
}
