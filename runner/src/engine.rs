//! The wasmtime engine qyv runs guests on: the wasm features real toolchains emit, epoch
//! interruption for timeouts, fuel when a limit asks for it.

use wasmtime::{Config, Engine};

/// Engine settings that change compiled code (and so the compile cache's key).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EngineOptions {
    /// Count fuel (for `limits.fuel`).
    pub fuel: bool,
    /// Epoch checks in loops and calls (for `limits.timeout`). They cost compile and run
    /// time, so only runs with a timeout get them.
    pub epochs: bool,
}

/// Builds the engine.
pub fn engine(options: EngineOptions) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config
        // What Kotlin/Wasm, Go, Rust, C with setjmp and componentize-* emit.
        .wasm_gc(true)
        .wasm_function_references(true)
        .wasm_reference_types(true)
        .wasm_exceptions(true)
        .wasm_simd(true)
        .wasm_relaxed_simd(true)
        .wasm_bulk_memory(true)
        .wasm_multi_value(true)
        .wasm_multi_memory(true)
        .wasm_tail_call(true)
        .wasm_extended_const(true)
        .wasm_memory64(true)
        .wasm_component_model(true)
        // Timeouts: a ticker thread bumps the epoch.
        .epoch_interruption(options.epochs)
        .consume_fuel(options.fuel)
        // Backtraces name functions from the name section; reading DWARF for file and line
        // would slow every compile of a large module.
        .wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Disable);
    Engine::new(&config)
}
