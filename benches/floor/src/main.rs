//! The floor for `qyv run`'s start-up (`benches/run.sh`): the least a wasmtime host at qyv's
//! version can do to run a precompiled app. It maps the compiled file, links WASI with the
//! host's stdio and arguments, and calls `wasi:cli/run` (or `_start` of a core module).
//! Nothing is checked, hashed, granted or cached; it takes the same engine configuration as
//! qyv, so the code it runs is the code qyv runs.
//!
//!     qyv-floor precompile APP.wasm APP.cwasm   # once
//!     qyv-floor run APP.cwasm [ARGS...]         # what is timed
//!     qyv-floor tract MODEL.onnx IMAGE.pgm N    # native tract: N MNIST inferences (benches/nn.sh)

use wasmtime::component::{Component, Linker as ComponentLinker};
use wasmtime::{Engine, Linker, Module, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::bindings::sync::Command;

fn main() -> wasmtime::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let engine = || runner::engine::engine(runner::engine::EngineOptions::default());
    match args.as_slice() {
        // The cost of starting the process alone, beside `qyv --version`.
        [flag] if flag == "--version" => {
            println!("qyv-floor {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        [verb, input, output] if verb == "precompile" => {
            let wasm = std::fs::read(input)?;
            let compiled = if is_component(&wasm) {
                engine()?.precompile_component(&wasm)?
            } else {
                engine()?.precompile_module(&wasm)?
            };
            std::fs::write(output, compiled)?;
            Ok(())
        }
        [verb, compiled, rest @ ..] if verb == "run" => {
            let code = run(&engine()?, compiled, rest)?;
            std::process::exit(code)
        }
        [verb, model, image, n] if verb == "tract" => {
            println!("{}", tract_mnist(model, image, n.parse()?)?);
            Ok(())
        }
        _ => wasmtime::bail!(
            "usage: qyv-floor precompile IN.wasm OUT.cwasm | run IN.cwasm [ARGS] | tract MODEL IMAGE N"
        ),
    }
}

fn run(engine: &Engine, compiled: &str, args: &[String]) -> wasmtime::Result<i32> {
    let mut argv = vec!["app".to_string()];
    argv.extend_from_slice(args);
    let wasi = WasiCtxBuilder::new().inherit_stdio().args(&argv).build_p1();
    let mut store = Store::new(engine, wasi);
    // SAFETY: the file was written by `precompile` above with this engine's configuration.
    let result = match unsafe { Component::deserialize_file(engine, compiled) } {
        Ok(component) => {
            let mut linker = ComponentLinker::<WasiP1Ctx>::new(engine);
            wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
            let command = Command::instantiate(&mut store, &component, &linker)?;
            command
                .wasi_cli_run()
                .call_run(&mut store)
                .map(|r| i32::from(r.is_err()))
        }
        Err(_) => {
            // SAFETY: as above.
            let module = unsafe { Module::deserialize_file(engine, compiled)? };
            let mut linker = Linker::<WasiP1Ctx>::new(engine);
            wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |w| w)?;
            let instance = linker.instantiate(&mut store, &module)?;
            let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
            start.call(&mut store, ()).map(|()| 0)
        }
    };
    match result {
        Ok(code) => Ok(code),
        Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => Ok(exit.0),
            None => Err(e),
        },
    }
}

/// A component's header has layer 1 (bytes 6..8); a core module's has 0.
fn is_component(wasm: &[u8]) -> bool {
    wasm.len() >= 8 && wasm[0..4] == *b"\0asm" && wasm[6..8] == [1, 0]
}

/// What examples/mnist-rust asks of qyv's wasi-nn, done natively with tract as qyv's backend
/// does it (optimized, one plan): `n` inferences of a 28x28 PGM; returns the digit.
fn tract_mnist(model: &str, image: &str, n: u32) -> wasmtime::Result<usize> {
    use tract_onnx::prelude::*;
    let plan = tract_onnx::onnx()
        .model_for_path(model)
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(|e| wasmtime::format_err!("{e:#}"))?;
    let pgm = std::fs::read(image)?;
    // The example's image: a 13-byte header ("P5\n28 28\n255\n"), then 784 pixels.
    let pixels: Vec<f32> = pgm[pgm.len() - 784..]
        .iter()
        .map(|p| f32::from(*p))
        .collect();
    let mut logits = Vec::new();
    for _ in 0..n.max(1) {
        let input = Tensor::from_shape(&[1, 1, 28, 28], &pixels)
            .map_err(|e| wasmtime::format_err!("{e:#}"))?;
        let out = plan
            .run(tvec!(input.into_tvalue()))
            .map_err(|e| wasmtime::format_err!("{e:#}"))?;
        logits = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| wasmtime::format_err!("{e:#}"))?
            .iter()
            .copied()
            .collect();
    }
    Ok((0..logits.len())
        .max_by(|a, b| logits[*a].total_cmp(&logits[*b]))
        .unwrap_or(0))
}
