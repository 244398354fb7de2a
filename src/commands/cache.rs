//! `qyv cache`: the compile cache.

use clap::{Parser, Subcommand};

use super::exit;

/// Manage the cache ($XDG_CACHE_HOME/qyv): precompiled code that makes a second `qyv run` of
/// the same app start fast, and the digests and validations remembered for large files.
#[derive(Parser)]
pub struct Opts {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Delete every cached artifact and remembered digest or validation.
    Clean,
    /// Print the cache directory.
    Dir,
}

pub fn run(opts: Opts) -> anyhow::Result<i32> {
    match opts.action {
        Action::Clean => {
            let (files, bytes) = runner::cache::clean()?;
            eprintln!(
                "removed {files} file{} ({})",
                if files == 1 { "" } else { "s" },
                runner::inspect::human_size(bytes)
            );
        }
        Action::Dir => match runner::cache::compiled_dir() {
            Some(dir) => println!("{}", dir.display()),
            None => anyhow::bail!("no cache directory: set XDG_CACHE_HOME or HOME"),
        },
    }
    Ok(exit::OK)
}
