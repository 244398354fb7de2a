//! `qyv`: build, pack, inspect and run WebAssembly components.

mod commands;
mod progress;

use clap::Parser;

/// mimalloc: compiling a large component with cranelift allocates a great deal from every
/// core, and glibc's allocator makes that measurably slower.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = commands::Cli::parse();
    std::process::exit(commands::dispatch(cli));
}
