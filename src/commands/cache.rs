//! `qyv cache`: the compile cache.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use runner::open::Input;

use super::exit;

/// Manage the cache ($XDG_CACHE_HOME/qyv, or $QYV_CACHE_DIR): precompiled code that makes a
/// second `qyv run` of the same app start fast, the digests, validations and verified bundles
/// remembered for files, netfs files kept between runs, the C compat layer, and the store of
/// bundles' verified models and assets (capped by QYV_CACHE_MAX, 10 GiB by default).
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
    /// Compile an app into the cache now, so that its first `qyv run` starts warm (`qyv build`
    /// and `qyv pack` have this done in the background unless QYV_PRECOMPILE=0).
    Warm {
        /// A project directory, a .qyv manifest or a .wasm file [default: .].
        path: Option<PathBuf>,
    },
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
        Action::Warm { path } => {
            let path = path.unwrap_or_else(|| PathBuf::from("."));
            let (wasm, limits) = app_of(&path)?;
            let bytes =
                qyvpack::bounded::read(&wasm, qyvpack::bounded::MAX_WASM_FILE, "a wasm file")?;
            let digest = runner::cache::file_digest(&wasm, &bytes);
            let options = runner::run::engine_options(&limits);
            let cached = runner::run::precompile(&bytes, &digest, options)
                .with_context(|| format!("cannot compile {}", wasm.display()))?;
            eprintln!(
                "{} {}",
                if cached {
                    "already compiled:"
                } else {
                    "compiled:"
                },
                wasm.display()
            );
        }
    }
    Ok(exit::OK)
}

/// The wasm a path runs and the limits its manifest sets (which choose the engine settings).
fn app_of(path: &Path) -> anyhow::Result<(PathBuf, runner::host::RunLimits)> {
    match Input::of(path)? {
        Input::Wasm => Ok((path.to_path_buf(), Default::default())),
        Input::Manifest(manifest_path) => {
            let loaded = qyvpack::manifest::load(&manifest_path)?;
            let m = &loaded.manifest;
            let limits = runner::host::RunLimits {
                memory: m.limits.memory,
                timeout: m.limits.timeout,
                fuel: m.limits.fuel,
            };
            Ok((m.entrypoint_path(&loaded.dir), limits))
        }
        Input::Bundle => anyhow::bail!(
            "{} is a bundle: its component is compiled when it first runs",
            path.display()
        ),
    }
}

/// Starts `qyv cache warm PATH` in the background, at low priority and in its own process
/// group (a Ctrl-C meant for the next command does not stop it), with no stdio. Nothing waits
/// for it: the cache is written atomically, so a run that starts meanwhile compiles for itself
/// or finds a whole entry. QYV_PRECOMPILE=0 turns this off.
pub fn warm_in_background(path: &Path) {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    if std::env::var_os("QYV_PRECOMPILE").is_some_and(|v| v == "0") {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut cmd = Command::new(exe);
    cmd.args(["cache", "warm"])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    // SAFETY: nice(2) is a plain system call, safe between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::nice(10);
            Ok(())
        });
    }
    // Best effort: without it the first run compiles, as it always did.
    let _ = cmd.spawn();
}
