//! Zig: `zig build-exe -target wasm32-wasi` on `src/main.zig` or `main.zig` (zig from PyPI's
//! ziglang), or `zig build` for a project with a `build.zig` and neither; the preview1 core
//! module is adapted with the command adapter.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::progress::Progress;
use crate::toolchain::{BuildError, BuildRequest, CompileOutput, Driver, ToolStatus, Toolchain};
use crate::tools;
use crate::zig_cc::{require_zig, zig_status};

/// The Zig driver.
pub struct Zig;

fn root_source(dir: &Path) -> Option<PathBuf> {
    ["src/main.zig", "main.zig"]
        .iter()
        .map(|p| dir.join(p))
        .find(|p| p.is_file())
}

impl Toolchain for Zig {
    fn driver(&self) -> Driver {
        Driver::Zig
    }

    fn markers(&self) -> &'static [&'static str] {
        &["build.zig", "src/main.zig", "main.zig"]
    }

    fn find_marker(&self, dir: &Path) -> Option<PathBuf> {
        tools::first_file(dir, &["build.zig"]).or_else(|| root_source(dir))
    }

    fn status(&self) -> ToolStatus {
        zig_status(Driver::Zig, "zig")
    }

    fn compile(
        &self,
        request: &BuildRequest,
        progress: &dyn Progress,
    ) -> Result<CompileOutput, BuildError> {
        let dir = &request.dir;
        let name = tools::dir_name(dir);
        let optimize = match request.profile.as_deref() {
            Some("debug") => "Debug",
            _ => "ReleaseSmall",
        };
        let target_dir = dir.join("target/qyv");
        std::fs::create_dir_all(&target_dir)
            .map_err(|e| BuildError::io("cannot create target/qyv", e))?;
        // zig build-exe takes over a second even when nothing changed: skip it then. A
        // build.zig project is left to zig's own cache.
        let digest = tools::sources_digest(
            dir,
            &["zig", "zon"],
            &format!("{} {optimize}", crate::zig_cc::INSTALL),
        );
        let single = target_dir.join(format!("{name}.core.wasm"));
        if root_source(dir).is_some() && tools::up_to_date(&single, &digest) {
            return Ok(CompileOutput::new(single, name, "wasm32-wasi (zig)"));
        }
        // Found only now: finding it asks python3 for its site-packages, which is slow.
        let zig = require_zig(Driver::Zig)?;
        let mut cmd = Command::new(zig);
        cmd.current_dir(dir);
        let out = match root_source(dir) {
            Some(root) => {
                let out = single.clone();
                cmd.args(["build-exe", "-target", "wasm32-wasi", "-O", optimize])
                    .arg(format!("-femit-bin={}", out.display()))
                    .arg(root.strip_prefix(dir).unwrap_or(&root));
                out
            }
            None => {
                cmd.args(["build", "-Dtarget=wasm32-wasi"])
                    .arg(format!("-Doptimize={optimize}"));
                PathBuf::new()
            }
        };
        progress.phase("compiling");
        progress.detail("zig");
        tools::run_tool(cmd, "zig", progress)?;
        if !out.as_os_str().is_empty() {
            tools::record_sources(&out, &digest)
                .map_err(|e| BuildError::io("cannot record the sources digest", e))?;
        }
        let out = if out.as_os_str().is_empty() {
            let found = tools::files_with_extension(&dir.join("zig-out/bin"), &["wasm"]);
            match found.as_slice() {
                [one] => one.clone(),
                [] => {
                    return Err(BuildError::Project(
                        "zig build produced no .wasm in zig-out/bin".into(),
                    ));
                }
                many => {
                    return Err(BuildError::Project(format!(
                        "zig build produced several .wasm files in zig-out/bin: {}",
                        many.iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
        } else {
            out
        };
        Ok(CompileOutput::new(out, name, "wasm32-wasi (zig)"))
    }
}
