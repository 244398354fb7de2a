//! The wasmtime engines qyv runs guests on: the wasm features real toolchains emit, epoch
//! interruption for timeouts, fuel when a limit asks for it. Cranelift (optimizing) compiles
//! what the cache keeps; Winch (baseline, about four times faster to compile, slower code)
//! runs a cold start while the optimized code is compiled in the background.

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Strategy};

/// Engine settings that change compiled code (and so the compile cache's key).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EngineOptions {
    /// Count fuel (for `limits.fuel`).
    pub fuel: bool,
    /// Epoch checks in loops and calls (for `limits.timeout`). They cost compile and run
    /// time, so only runs with a timeout get them.
    pub epochs: bool,
}

/// Builds the optimizing engine: its code is what the compile cache holds.
pub fn engine(options: EngineOptions) -> wasmtime::Result<Engine> {
    Engine::new(&config(options))
}

/// Builds the baseline engine (Winch) for a cold start. Winch lacks GC, exceptions, typed
/// function references, tail calls and relaxed SIMD, so a module that uses them fails to compile here
/// and the caller falls back to [`engine`]. Its code is never cached.
pub fn baseline_engine(options: EngineOptions) -> wasmtime::Result<Engine> {
    let mut config = config(options);
    config
        .strategy(Strategy::Winch)
        .wasm_gc(false)
        .wasm_exceptions(false)
        .wasm_function_references(false)
        .wasm_tail_call(false)
        .wasm_relaxed_simd(false);
    Engine::new(&config)
}

/// Builds the engine HTTP apps are served on: the optimizing engine with the pooling
/// allocator, which keeps slots for instances, memories and tables ready and reuses them, so
/// that a fresh instance per request costs no mmap and munmap of its own. Limits are wider than
/// wasmtime's defaults where interpreters built with componentize-py or componentize-js need it
/// (bigger function tables, more memories and tables per module), and slots are reset
/// cheaply (see below). Falls back to the ordinary
/// engine when the pool's address space cannot be reserved (a `ulimit -v`, say).
pub fn serving_engine(options: EngineOptions) -> wasmtime::Result<Engine> {
    let mut pooling = PoolingAllocationConfig::new();
    pooling
        .total_component_instances(POOL_INSTANCES)
        .total_core_instances(POOL_INSTANCES * 4)
        .total_memories(POOL_INSTANCES * 2)
        .total_tables(POOL_INSTANCES * 4)
        .total_stacks(POOL_INSTANCES)
        .max_memories_per_module(4)
        .max_tables_per_module(8)
        .table_elements(1 << 17)
        .max_core_instance_size(8 << 20)
        .max_component_instance_size(8 << 20)
        // Resetting a slot with madvise costs a TLB shootdown across the server's threads
        // each time: batch the decommits, and zero the first pages of memories and tables
        // (what a small handler touches) with memset instead.
        .decommit_batch_size(64)
        .linear_memory_keep_resident(256 << 10)
        .table_keep_resident(64 << 10);
    let mut config = config(options);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    Engine::new(&config).or_else(|_| engine(options))
}

/// Requests served at once by one app (each holds one instance slot until it ends).
const POOL_INSTANCES: u32 = 1000;

fn config(options: EngineOptions) -> Config {
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
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_baseline_engine_builds_for_every_setting() {
        for fuel in [false, true] {
            for epochs in [false, true] {
                let options = EngineOptions { fuel, epochs };
                if let Err(e) = baseline_engine(options) {
                    panic!("{options:?}: {e:#}");
                }
            }
        }
    }
}
