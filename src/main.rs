//! `qyv`: build, pack, inspect and run WebAssembly components.

mod commands;

use clap::Parser;

fn main() {
    let cli = commands::Cli::parse();
    std::process::exit(commands::dispatch(cli));
}
