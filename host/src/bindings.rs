//! Rust types and glue generated from `wit/`, one `bindgen!` per world. The
//! shared interfaces are generated once (with the Pyrus bot world) and
//! reused by the others, so the host implements `host` once for all.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "pyrus-bot",
    exports: { default: async },
});

pub mod pyrus_ext {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "pyrus-ext",
        exports: { default: async },
        with: {
            "hookhost:plugin/types": crate::bindings::hookhost::plugin::types,
            "hookhost:plugin/host": crate::bindings::hookhost::plugin::host,
            "hookhost:plugin/pyrus-types": crate::bindings::hookhost::plugin::pyrus_types,
        },
    });
}

pub mod worksection {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "worksection",
        exports: { default: async },
        with: {
            "hookhost:plugin/types": crate::bindings::hookhost::plugin::types,
            "hookhost:plugin/host": crate::bindings::hookhost::plugin::host,
        },
    });
}

pub mod http_hook {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "http-hook",
        exports: { default: async },
        with: {
            "hookhost:plugin/types": crate::bindings::hookhost::plugin::types,
            "hookhost:plugin/host": crate::bindings::hookhost::plugin::host,
        },
    });
}

/// `wasi:keyvalue@0.2.0-draft` (`store`, `atomics`, `batch`) as
/// wasmtime-wasi-keyvalue 48 ships it. Every import is async: the host
/// implementation (`runtime::keyvalue`) awaits the state store, which runs
/// its database calls off the async workers. No error is trappable: a
/// refused or failed operation is the guest's `error`, never a trap.
pub mod keyvalue {
    wasmtime::component::bindgen!({
        path: "../wit/deps/keyvalue",
        world: "wasi:keyvalue/imports",
        imports: { default: async },
        with: {
            "wasi:keyvalue/store.bucket": crate::bindings::keyvalue::OpenBucket,
        },
    });

    /// What a guest's `bucket` handle stands for. Only `open("default")`
    /// succeeds and it always means the calling plugin's own bucket, so the
    /// handle carries nothing a guest could point at another plugin.
    pub struct OpenBucket;
}
