//! Rust: cargo projects built for `wasm32-wasip2` (a component) or `wasm32-wasip1` (a core
//! module that the adapter step turns into one).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::progress::Progress;
use crate::toolchain::{
    BuildError, BuildRequest, CompileOutput, Driver, Missing, ToolStatus, Toolchain,
};
use crate::tools;

mod c_deps;
mod cargo;
mod link_errors;
pub mod rustup;
mod toolchain_file;
mod unit;

use c_deps::CSetup;
use cargo::{CargoResult, cargo_build, compiler_failed, is_wasip2_rustix_failure};
use toolchain_file::toolchain_override;
use unit::{UnitCache, metadata, select_unit};

/// The default target: rustc emits a P2 component directly.
pub const WASIP2: &str = "wasm32-wasip2";
/// The fallback target: a preview1 core module, adapted afterwards.
pub const WASIP1: &str = "wasm32-wasip1";

/// The Rust toolchain driver (cargo + rustup).
pub struct Rust;

impl Toolchain for Rust {
    fn driver(&self) -> Driver {
        Driver::Rust
    }

    fn markers(&self) -> &'static [&'static str] {
        &["Cargo.toml"]
    }

    fn find_marker(&self, dir: &Path) -> Option<PathBuf> {
        tools::first_file(dir, &["Cargo.toml"])
    }

    fn status(&self) -> ToolStatus {
        let version = tool_version("cargo", &["--version"])
            .map(|v| format!("{v}; {}", c_deps::doctor_line()));
        let mut missing = Vec::new();
        if version.is_none() {
            missing.push(Missing {
                what: "cargo".into(),
                install: "install Rust with rustup (https://rustup.rs)".into(),
            });
        } else {
            for target in [WASIP2, WASIP1] {
                if !target_installed(target, None) {
                    missing.push(target_missing(target, None));
                }
            }
        }
        ToolStatus {
            driver: Driver::Rust,
            version,
            missing,
        }
    }

    fn compile(
        &self,
        request: &BuildRequest,
        progress: &dyn Progress,
    ) -> Result<CompileOutput, BuildError> {
        let mut notes = Vec::new();
        let toolchain = toolchain_override(&request.dir, &mut notes);
        for note in &notes {
            progress.note(&format!("note: {note}"));
        }
        progress.phase("resolving");
        let unit = match UnitCache::load(&request.dir, request, toolchain.as_deref()) {
            Some(unit) => unit,
            None => {
                let metadata = metadata(&request.dir, toolchain.as_deref())?;
                let unit = select_unit(&metadata, &request.dir, request)?;
                UnitCache::store(
                    &request.dir,
                    request,
                    toolchain.as_deref(),
                    &metadata,
                    &unit,
                );
                unit
            }
        };

        let target = request.target.clone().unwrap_or_else(|| WASIP2.to_string());
        let c = c_setup(request, &target, toolchain.as_deref(), progress)?;
        progress.phase("compiling");
        let first = cargo_build(request, &unit, &target, toolchain.as_deref(), &c, progress)?;
        let wasm = match first {
            CargoResult::Built(wasm) => wasm,
            CargoResult::Failed { stderr, status }
                if target == WASIP2
                    && !request.target_forced
                    && is_wasip2_rustix_failure(&stderr) =>
            {
                let _ = status;
                let note = format!(
                    "a dependency does not build for {WASIP2} with this rustc (an old rustix \
                     pin asks for the unstable `wasip2` feature); building for {WASIP1} and \
                     adapting instead (use --target to force one)"
                );
                progress.note(&format!("note: {note}"));
                notes.push(note);
                let c = c_setup(request, WASIP1, toolchain.as_deref(), progress)?;
                match cargo_build(request, &unit, WASIP1, toolchain.as_deref(), &c, progress)? {
                    CargoResult::Built(wasm) => {
                        notes.extend(c_stubs(&c, &wasm, WASIP1, progress)?);
                        return Ok(CompileOutput {
                            wasm,
                            name: unit.name,
                            target: WASIP1.into(),
                            notes,
                        });
                    }
                    CargoResult::Failed { stderr, status } => {
                        return Err(compiler_failed(&stderr, status, WASIP1, &c, progress));
                    }
                }
            }
            CargoResult::Failed { stderr, status } => {
                return Err(compiler_failed(&stderr, status, &target, &c, progress));
            }
        };
        notes.extend(c_stubs(&c, &wasm, &target, progress)?);
        Ok(CompileOutput {
            wasm,
            name: unit.name,
            target,
            notes,
        })
    }
}

/// The C toolchain for `target` (see `c_deps`), said with `-v`.
fn c_setup(
    request: &BuildRequest,
    target: &str,
    toolchain: Option<&str>,
    progress: &dyn Progress,
) -> Result<CSetup, BuildError> {
    let c = c_deps::setup(&request.dir, target, toolchain, progress)?;
    if progress.verbose() {
        progress.note(&format!("note: {}", c.describe(target)));
    }
    Ok(c)
}

/// After a build with qyv's C toolchain: C calling what WASI lacks is an error naming the
/// crates and functions (on wasip1 it links, as imports no host has); otherwise the compat
/// layer's stubs it linked are said, as for C projects.
fn c_stubs(
    c: &CSetup,
    wasm: &Path,
    target: &str,
    progress: &dyn Progress,
) -> Result<Vec<String>, BuildError> {
    match c {
        CSetup::Ours(_) => {
            if let Some(explained) = link_errors::explain_env_imports(wasm, target) {
                return Err(BuildError::Project(explained));
            }
            Ok(crate::c_compat::report_stubs(wasm, progress))
        }
        _ => Ok(Vec::new()),
    }
}

/// The first line a tool prints for `args`, if it runs.
fn tool_version(tool: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(tool).args(args).output().ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string()
    })
}

/// Whether the standard library for `target` is installed for the rustc that builds in `dir`.
fn target_installed(target: &str, dir: Option<&Path>) -> bool {
    let mut cmd = Command::new("rustc");
    cmd.args(["--print", "sysroot"]);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let Ok(out) = cmd.output() else { return false };
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    sysroot
        .join("lib/rustlib")
        .join(target)
        .join("lib")
        .is_dir()
}

fn target_missing(target: &str, toolchain: Option<&str>) -> Missing {
    Missing {
        what: format!("the Rust target {target}"),
        install: match toolchain {
            Some(tc) => format!("rustup target add {target} --toolchain {tc}"),
            None => format!("rustup target add {target}"),
        },
    }
}
