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
    /// Compile an app into the cache now, so that its first `qyv run` starts warm (`qyv build`,
    /// `qyv pack` and a cold `qyv run` have this done in the background unless
    /// QYV_PRECOMPILE=0).
    Warm {
        /// A project directory, a .qyv manifest, a .wasm or a .qyvbin file [default: .].
        path: Option<PathBuf>,
        /// The engine settings to compile for, instead of those the manifest's limits call
        /// for: what `qyv run` passes after a cold start with its own limits.
        #[arg(long, value_delimiter = ',', hide = true)]
        engine: Option<Vec<EngineSetting>>,
    },
}

/// An engine setting that changes compiled code (see `runner::engine::EngineOptions`).
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineSetting {
    None,
    Fuel,
    Epochs,
}

impl EngineSetting {
    fn options(settings: &[EngineSetting]) -> runner::engine::EngineOptions {
        runner::engine::EngineOptions {
            fuel: settings.contains(&EngineSetting::Fuel),
            epochs: settings.contains(&EngineSetting::Epochs),
        }
    }

    fn of(options: runner::engine::EngineOptions) -> String {
        let mut names = Vec::new();
        if options.fuel {
            names.push("fuel");
        }
        if options.epochs {
            names.push("epochs");
        }
        if names.is_empty() {
            names.push("none");
        }
        names.join(",")
    }
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
        Action::Warm { path, engine } => {
            let path = path.unwrap_or_else(|| PathBuf::from("."));
            let app = app_of(&path)?;
            let options = match engine {
                Some(settings) => EngineSetting::options(&settings),
                None => runner::run::engine_options(&app.limits),
            };
            let wasm = &app.shown;
            let cached = runner::run::precompile(&app.bytes, &app.digest, options)
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

/// The wasm that `qyv cache warm` compiles.
struct App {
    /// What it is called in messages.
    shown: PathBuf,
    bytes: Vec<u8>,
    /// The digest a run looks the compiled code up by.
    digest: String,
    /// The limits its manifest sets (which choose the engine settings).
    limits: runner::host::RunLimits,
}

/// The wasm a path runs.
fn app_of(path: &Path) -> anyhow::Result<App> {
    let (wasm, limits) = match Input::of(path)? {
        Input::Wasm => (path.to_path_buf(), Default::default()),
        Input::Manifest(manifest_path) => {
            let loaded = qyvpack::manifest::load(&manifest_path)?;
            let m = &loaded.manifest;
            let limits = runner::host::RunLimits {
                memory: m.limits.memory,
                timeout: m.limits.timeout,
                fuel: m.limits.fuel,
            };
            (m.entrypoint_path(&loaded.dir), limits)
        }
        Input::Bundle => return bundle_app(path),
    };
    let bytes = qyvpack::bounded::read(&wasm, qyvpack::bounded::MAX_WASM_FILE, "a wasm file")?;
    let digest = runner::cache::file_digest(&wasm, &bytes);
    Ok(App {
        shown: wasm,
        bytes,
        digest,
        limits,
    })
}

/// A bundle's component, verified in full like `qyv run` does. Any signer is accepted:
/// compiling is not running, and the code is filed under the digest of the very bytes
/// compiled, which only a run of a bundle with this component (and a signer that run
/// trusts) looks up.
fn bundle_app(path: &Path) -> anyhow::Result<App> {
    let policy = qyvpack::keys::TrustPolicy {
        expected: None,
        allow_unsigned: true,
        allow_untrusted: true,
    };
    let inv = runner::app::Invocation {
        cache: true,
        ..Default::default()
    };
    let opened = runner::open::open_bundle(path, &policy, &inv)?;
    let request = &opened.prepared.request;
    let bytes = request.wasm.stable()?.into_owned();
    let digest = request
        .digest
        .clone()
        .unwrap_or_else(|| runner::cache::content_digest(&bytes));
    Ok(App {
        shown: path.to_path_buf(),
        bytes,
        digest,
        limits: request.limits,
    })
}

/// Whether optimized code is compiled in the background (after `qyv build`, `qyv pack` and a
/// cold `qyv run`). QYV_PRECOMPILE=0 turns it off: runs then compile optimized code into the
/// cache themselves, before the guest starts, as they always could.
pub fn compiles_in_background() -> bool {
    std::env::var_os("QYV_PRECOMPILE").is_none_or(|v| v != "0")
}

/// Starts `qyv cache warm PATH` in the background, at low priority and in its own process
/// group (a Ctrl-C meant for the next command does not stop it), with no stdio. Nothing waits
/// for it: the cache is written atomically, so a run that starts meanwhile compiles for itself
/// or finds a whole entry. QYV_PRECOMPILE=0 turns this off. `engine` is the settings to
/// compile for, when not those of the app's manifest.
pub fn warm_in_background(path: &Path, engine: Option<runner::engine::EngineOptions>) {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    if !compiles_in_background() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut cmd = Command::new(exe);
    cmd.args(["cache", "warm"]).arg(path);
    if let Some(options) = engine {
        cmd.arg(format!("--engine={}", EngineSetting::of(options)));
    }
    cmd.stdin(Stdio::null())
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
