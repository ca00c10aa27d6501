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
