//! `qyv build`: compile a project and adapt it to a WASI P2 component.

use std::path::PathBuf;

use clap::Parser;
use qyvbuild::build::{self, BuildOptions};
use qyvbuild::progress::Progress;
use qyvbuild::toolchain::BuildError;

use super::exit;
use super::options::Verbosity;
use crate::progress::Spinner;

/// Build the project in a directory into a WASI P2 component.
///
/// Detects the language, drives its compiler, and adapts a preview1 core module to a component
/// with the bundled adapters. The component goes where the manifest's `entrypoint` says; a
/// project without a `.qyv` gets one with safe defaults (nothing granted), written beside it.
#[derive(Parser)]
pub struct Opts {
    /// The project directory.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The wasm target, e.g. wasm32-wasip2 (default) or wasm32-wasip1; no automatic fallback.
    #[arg(long)]
    target: Option<String>,
    /// The package to build in a workspace (like cargo's -p).
    #[arg(short, long)]
    package: Option<String>,
    /// The binary to build when there are several (like cargo's --bin).
    #[arg(long)]
    bin: Option<String>,
    /// Build profile [default: release, or the manifest's build.profile].
    #[arg(long)]
    profile: Option<String>,
    /// Features to enable (cargo features for Rust); comma-separated or repeated.
    #[arg(long, value_delimiter = ',')]
    features: Vec<String>,
    #[command(flatten)]
    verbosity: Verbosity,
}

pub fn run(opts: Opts) -> anyhow::Result<i32> {
    let progress = Spinner::new(opts.verbosity.verbose, opts.verbosity.quiet);
    let options = BuildOptions {
        target: opts.target,
        profile: opts.profile,
        package: opts.package,
        bin: opts.bin,
        features: opts.features,
    };
    let built = match build::build(&opts.dir, &options, &progress) {
        Ok(built) => built,
        Err(err) => {
            progress.finish();
            super::failure::note(super::failure::of_build(&err));
            eprintln!("error: {err}");
            return Ok(match err {
                BuildError::Io { .. } => exit::USAGE,
                _ => exit::INVALID,
            });
        }
    };
    if !opts.verbosity.quiet {
        let how = match (built.adapter, built.up_to_date) {
            (_, true) => "up to date".to_string(),
            (None, false) if built.core_module.is_some() => {
                format!("{} core module, kept as is", built.target)
            }
            (Some(kind), false) => format!(
                "{} core module adapted with the preview1 {kind} adapter {}",
                built.target,
                qyvbuild::componentize::ADAPTER_VERSION
            ),
            (None, false) => format!("{} component", built.target),
        };
        eprintln!(
            "built {} ({}): {} [{how}]",
            built.name,
            built.driver,
            relative(&built.output).display()
        );
    }
    // The first run starts warm: compile into the cache now, in the background, with the
    // engine settings the manifest's limits call for.
    match qyvpack::manifest::find_in_dir(&opts.dir) {
        Ok(manifest) => super::cache::warm_in_background(&manifest, None),
        Err(_) => super::cache::warm_in_background(&built.output, None),
    }
    Ok(exit::OK)
}

/// Shows a path relative to the current directory when it is below it.
fn relative(path: &std::path::Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(PathBuf::from))
        .unwrap_or_else(|| path.to_path_buf())
}
