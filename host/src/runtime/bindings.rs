//! Rust types and glue generated from `wit/`, one `bindgen!` per world.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "pyrus-bot",
    exports: { default: async },
});
