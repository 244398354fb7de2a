//! One module per subcommand. Each has an `Opts` (clap; its doc comment is the help text)
//! and a `run(opts) -> anyhow::Result<i32>`: `Ok(code)` is the exit code of a handled outcome
//! (diagnostics already printed), `Err` is a usage or I/O error that `dispatch` prints with
//! its context chain and turns into exit code 2.

pub mod adapt;
pub mod build;
pub mod cache;
pub mod deploy;
pub mod doctor;
pub mod failure;
pub mod inspect;
pub mod keygen;
pub mod new;
pub mod options;
pub mod pack;
pub mod pull;
pub mod push;
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
    Deploy(deploy::Opts),
    Doctor(doctor::Opts),
    Inspect(inspect::Opts),
    Keygen(keygen::Opts),
    New(new::Opts),
    Pack(pack::Opts),
    Pull(pull::Opts),
    Push(push::Opts),
    Run(run::Opts),
    Shell(crate::shell::Opts),
    Trust(trust::Opts),
    Validate(validate::Opts),
    Verify(verify::Opts),
}

/// Every exit code qyv itself uses, in one place (documented in README.md). `qyv run` also
/// passes the app's own exit code through.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// The input was read but is invalid (bad manifest, bad wasm, failed verification).
    pub const INVALID: i32 = 1;
    /// Usage or I/O error: bad flags, missing file, unreadable file.
    pub const USAGE: i32 = 2;
    /// `qyv verify`: intact, but unsigned or signed by a key that is not accepted.
    pub const NOT_TRUSTED: i32 = 3;
    /// `qyv run`: limits.timeout passed (like timeout(1)).
    pub const TIMED_OUT: i32 = 124;
    /// `qyv run`: qyv could not start the app.
    pub const CANNOT_RUN: i32 = 125;
    /// `qyv run`: the app trapped (like wasmtime: 128 + SIGABRT).
    pub const TRAPPED: i32 = 134;
    /// `qyv run` in the shell: Ctrl-C stopped the app (128 + SIGINT, as a shell reports it).
    pub const INTERRUPTED: i32 = 130;
}

/// Runs the chosen subcommand and returns the process exit code.
pub fn dispatch(cli: Cli) -> i32 {
    let result: anyhow::Result<i32> = match cli.command {
        Command::Adapt(opts) => adapt::run(opts),
        Command::Build(opts) => build::run(opts),
        Command::Cache(opts) => cache::run(opts),
        Command::Deploy(opts) => deploy::run(opts),
        Command::Doctor(opts) => doctor::run(opts),
        Command::Inspect(opts) => inspect::run(opts),
        Command::Keygen(opts) => keygen::run(opts),
        Command::New(opts) => new::run(opts),
        Command::Pack(opts) => pack::run(opts),
        Command::Pull(opts) => pull::run(opts),
        Command::Push(opts) => push::run(opts),
        Command::Run(opts) => run::run(opts),
        Command::Shell(opts) => crate::shell::run(opts),
        Command::Trust(opts) => trust::run(opts),
        Command::Validate(opts) => validate::run(opts),
        Command::Verify(opts) => verify::run(opts),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            failure::note(failure::of_error(&err));
            eprint!("{}", render_error(&err));
            exit::USAGE
        }
    }
}

/// `error: what failed`, then the chain of causes under `Caused by:`, as cargo prints them.
fn render_error(err: &anyhow::Error) -> String {
    let mut text = format!("error: {err}\n");
    let mut causes = err.chain().skip(1).peekable();
    if causes.peek().is_some() {
        text.push_str("\nCaused by:\n");
        for cause in causes {
            text.push_str(&format!("  {cause}\n"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// clap's own consistency checks of every subcommand and flag (duplicate names, bad
    /// defaults, conflicting settings), which otherwise fail only when a user hits them.
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn errors_print_their_causes_one_per_line() {
        let err = anyhow::Error::new(std::io::Error::other("permission denied"))
            .context("cannot read app.qyv");
        assert_eq!(
            render_error(&err),
            "error: cannot read app.qyv\n\nCaused by:\n  permission denied\n"
        );
        assert_eq!(
            render_error(&anyhow::anyhow!("no such key")),
            "error: no such key\n"
        );
    }
}
