//! Rust types and glue generated from `wit/`, one `bindgen!` per world. The
//! shared interfaces are generated once (with the Pyrus bot world) and
//! reused by the others, so the host implements `host` once for all.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "pyrus-bot",
    exports: { default: async },
});

/// A world beside the Pyrus bot's, reusing the interfaces generated there.
macro_rules! world {
    ($world:literal $(, $interface:literal => $($module:ident)::+)*) => {
        wasmtime::component::bindgen!({
            path: "../wit",
            world: $world,
            exports: { default: async },
            with: {
                "hookhost:plugin/types": crate::bindings::hookhost::plugin::types,
                "hookhost:plugin/host": crate::bindings::hookhost::plugin::host,
                $($interface: $($module)::+,)*
            },
        });
    };
}

pub mod pyrus_ext {
    world!("pyrus-ext",
        "hookhost:plugin/pyrus-types" => crate::bindings::hookhost::plugin::pyrus_types);
}

pub mod worksection {
    world!("worksection");
}

pub mod http_hook {
    world!("http-hook");
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
