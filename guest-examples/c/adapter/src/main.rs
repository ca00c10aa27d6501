//! `hookhost-wasi-adapter OUT`: writes the WASI preview1 reactor adapter to OUT.

use std::process::ExitCode;

use wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER;

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1) else {
        eprintln!("usage: hookhost-wasi-adapter OUT.wasm");
        return ExitCode::FAILURE;
    };
    match std::fs::write(&out, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write {}: {e}", out.to_string_lossy());
            ExitCode::FAILURE
        }
    }
}
