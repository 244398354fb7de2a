//! One module per subcommand. Each has an `Opts` (clap; its doc comment is the help text)
//! and a `run(opts) -> anyhow::Result<i32>`: `Ok(code)` is the exit code of a handled outcome
//! (diagnostics already printed), `Err` is a usage or I/O error that `dispatch` prints with
//! its context chain and turns into exit code 2.

pub mod adapt;
pub mod build;
mod bundles;
pub mod cache;
pub mod doctor;
pub mod inspect;
pub mod keygen;
pub mod new;
pub mod pack;
pub mod run;
pub mod trust;
pub mod validate;
pub mod verify;

use clap::{Parser, Subcommand};

/// Build, pack, inspect and run WebAssembly components.
#[derive(Parser)]
#[command(name = "qyv", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    Adapt(adapt::Opts),
    Build(build::Opts),
    Cache(cache::Opts),
    Doctor(doctor::Opts),
    Inspect(inspect::Opts),
    Keygen(keygen::Opts),
    New(new::Opts),
    Pack(pack::Opts),
    Run(run::Opts),
    Trust(trust::Opts),
    Validate(validate::Opts),
    Verify(verify::Opts),
}

/// Exit codes shared by every subcommand (documented in README.md).
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// The input was read but is invalid (bad manifest, bad wasm, failed verification).
    pub const INVALID: i32 = 1;
    /// Usage or I/O error: bad flags, missing file, unreadable file.
    pub const USAGE: i32 = 2;
}

/// Runs the chosen subcommand and returns the process exit code.
pub fn dispatch(cli: Cli) -> i32 {
    let result: anyhow::Result<i32> = match cli.command {
        Command::Adapt(opts) => adapt::run(opts),
        Command::Build(opts) => build::run(opts),
        Command::Cache(opts) => cache::run(opts),
        Command::Doctor(opts) => doctor::run(opts),
        Command::Inspect(opts) => inspect::run(opts),
        Command::Keygen(opts) => keygen::run(opts),
        Command::New(opts) => new::run(opts),
        Command::Pack(opts) => pack::run(opts),
        Command::Run(opts) => run::run(opts),
        Command::Trust(opts) => trust::run(opts),
        Command::Validate(opts) => validate::run(opts),
        Command::Verify(opts) => verify::run(opts),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            exit::USAGE
        }
    }
}
