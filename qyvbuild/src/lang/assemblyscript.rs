//! AssemblyScript: `asc` (npm `assemblyscript`) on `assembly/index.ts`, with the WASI shim
//! (npm `@assemblyscript/wasi-shim`) so `console`, `process.argv`, `process.env` and the
//! clock use WASI imports; a project's own `asconfig.json` replaces the shim's settings. The
//! result stays a preview1 core module, like Go's: the preview1 adapter takes its state page
//! with `memory.grow` (the module exports no `cabi_realloc`), and AssemblyScript's allocator,
//! which sizes its heap from `memory.size` when it starts, hands that page out again.

use std::path::{Component, Path, PathBuf};
use std::process::Command;

use crate::progress::Progress;
use crate::toolchain::{
    BuildError, BuildRequest, CompileOutput, Driver, Missing, ToolStatus, Toolchain,
};
use crate::tools;

/// The AssemblyScript driver.
pub struct AssemblyScript;

const VERSIONS: &str = "assemblyscript@0.28.20 @assemblyscript/wasi-shim@0.1.0";
const ENTRY: &str = "assembly/index.ts";

/// `rel` in the project's `node_modules`, else in the one `install-toolchains.sh` filled.
fn module_file(dir: &Path, rel: &str) -> Option<PathBuf> {
    tools::node_modules(dir, |m| m.join(rel).is_file()).map(|m| m.join(rel))
}

/// `asc`'s script.
fn asc(dir: &Path) -> Option<PathBuf> {
    module_file(dir, "assemblyscript/bin/asc.js")
}

fn shim(dir: &Path) -> Option<PathBuf> {
    module_file(dir, "@assemblyscript/wasi-shim/asconfig.json")
}

fn missing(dir: &Path) -> Vec<Missing> {
    let mut missing: Vec<Missing> = tools::node_missing().into_iter().collect();
    if asc(dir).is_none() {
        missing.push(Missing {
            what: "asc (npm assemblyscript)".into(),
            install: tools::npm_install(VERSIONS),
        });
    }
    if shim(dir).is_none() {
        missing.push(Missing {
            what: "the WASI shim (npm @assemblyscript/wasi-shim)".into(),
            install: tools::npm_install(VERSIONS),
        });
    }
    missing
}

/// `to` relative to the directory `from` (both absolute): asc resolves library paths
/// relative to its working directory and mishandles absolute ones.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to_parts: Vec<Component> = to.components().collect();
    let common = from
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut rel = PathBuf::new();
    for _ in common..from.len() {
        rel.push("..");
    }
    for part in &to_parts[common..] {
        rel.push(part.as_os_str());
    }
    rel
}

impl Toolchain for AssemblyScript {
    fn driver(&self) -> Driver {
        Driver::AssemblyScript
    }

    fn markers(&self) -> &'static [&'static str] {
        &["asconfig.json", ENTRY]
    }

    fn find_marker(&self, dir: &Path) -> Option<PathBuf> {
        tools::first_file(dir, self.markers())
    }

    fn keeps_core_module(&self) -> Option<&'static str> {
        Some(
            "AssemblyScript modules stay preview1 core modules: the preview1 adapter's state \
             collides with AssemblyScript's heap, and qyv run executes core modules with \
             wasmtime's own preview1",
        )
    }

    fn status(&self) -> ToolStatus {
        let here = std::env::current_dir().unwrap_or_default();
        let version = asc(&here).and_then(|asc| {
            let node = tools::on_path("node")?;
            let out = Command::new(node).arg(asc).arg("--version").output().ok()?;
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let version = text.trim_start_matches("Version ").to_string();
            (out.status.success() && !version.is_empty()).then(|| format!("asc {version}"))
        });
        ToolStatus {
            driver: Driver::AssemblyScript,
            version,
            missing: missing(&here),
        }
    }

    fn compile(
        &self,
        request: &BuildRequest,
        progress: &dyn Progress,
    ) -> Result<CompileOutput, BuildError> {
        let dir = &request.dir;
        let lacking = missing(dir);
        let (Some(asc), Some(shim), true) = (asc(dir), shim(dir), lacking.is_empty()) else {
            return Err(BuildError::ToolchainMissing {
                driver: Driver::AssemblyScript,
                missing: lacking,
            });
        };
        if !dir.join(ENTRY).is_file() {
            return Err(BuildError::Project(format!(
                "no {ENTRY} in {}: asc needs an entry file",
                dir.display()
            )));
        }
        let name = tools::dir_name(dir);
        let target_dir = dir.join("target/qyv");
        std::fs::create_dir_all(&target_dir)
            .map_err(|e| BuildError::io("cannot create target/qyv", e))?;
        let out = target_dir.join(format!("{name}.core.wasm"));
        let debug = request.profile.as_deref() == Some("debug");
        let digest = tools::sources_digest(
            dir,
            &["ts", "json"],
            &format!("{VERSIONS} {:?}", request.profile),
        );
        if tools::up_to_date(&out, &digest) {
            return Ok(output(out, name));
        }
        let mut cmd = Command::new("node");
        cmd.current_dir(dir).arg(&asc).arg(ENTRY);
        // A project's asconfig.json is read by asc itself; otherwise the shim's.
        if !dir.join("asconfig.json").is_file() {
            let shim = shim.canonicalize().unwrap_or(shim);
            cmd.arg("--config").arg(relative(dir, &shim));
        }
        cmd.args(if debug {
            ["--debug", "-O0"]
        } else {
            ["-O3", "--noAssert"]
        })
        .arg("-o")
        .arg(out.strip_prefix(dir).unwrap_or(&out));
        progress.phase("compiling");
        progress.detail("asc");
        tools::run_and_record(cmd, "asc", progress, &out, &digest)?;
        Ok(output(out, name))
    }
}

fn output(wasm: PathBuf, name: String) -> CompileOutput {
    CompileOutput::new(wasm, name, "wasm32-wasi (asc + wasi-shim)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_to_the_common_ancestor() {
        assert_eq!(
            relative(Path::new("/tmp/app"), Path::new("/root/tools/shim")),
            PathBuf::from("../../root/tools/shim")
        );
        assert_eq!(
            relative(Path::new("/a/b"), Path::new("/a/b/c")),
            PathBuf::from("c")
        );
    }
}
