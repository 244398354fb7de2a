//! `qyv cache`: the compile cache.

use clap::{Parser, Subcommand};

use super::exit;

/// Manage the cache ($XDG_CACHE_HOME/qyv, or $QYV_CACHE_DIR): precompiled code that makes a
/// second `qyv run` of the same app start fast, the digests, validations and verified bundles
/// remembered for files, netfs files kept between runs, and the C compat layer.
#[derive(Parser)]
pub struct Opts {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Delete every area of the cache with all it holds.
    Clean,
    /// Print the cache directory (the root of every area).
    Dir,
}

pub fn run(opts: Opts) -> anyhow::Result<i32> {
    match opts.action {
        Action::Clean => {
            let (files, bytes) = runner::cache::clean()?;
            eprintln!(
                "removed {files} file{} ({})",
                if files == 1 { "" } else { "s" },
                qyvpack::manifest::units::human_size(bytes)
            );
        }
        Action::Dir => match qyvpack::dirs::cache_dir() {
            Some(dir) => println!("{}", dir.display()),
            None => anyhow::bail!("no cache directory: set XDG_CACHE_HOME or HOME"),
        },
    }
    Ok(exit::OK)
}
