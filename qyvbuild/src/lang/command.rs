//! A project's own build command (`build.command` in the manifest, like Spin's
//! `[component.build]`): qyv runs it with the wasm C toolchain in the environment, as
//! emscripten's emmake does (`CC`, `CXX`, `AR`, `RANLIB`, `CFLAGS`, `LDFLAGS`), takes the file
//! named by `build.output`, and adapts it like any other core module.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::c_compat::{self, Compat};
use crate::progress::Progress;
use crate::toolchain::{BuildError, BuildRequest, CompileOutput, Driver, ToolStatus, Toolchain};
use crate::tools;
use crate::zig_cc::{zig, zig_status};

/// The manifest's build command.
pub struct BuildCommand {
    pub command: String,
    pub output: Option<String>,
}

/// The environment a build command gets: the wasm C toolchain (zig cc for wasm32-wasi) and
/// qyv's compat layer in the flags.
pub fn toolchain_env(zig: &Path, compat: &Compat) -> Vec<(&'static str, String)> {
    let zig = zig.display();
    let mut cflags = vec!["-O2".to_string()];
    cflags.extend(compat.cflags());
    vec![
        ("CC", format!("{zig} cc -target wasm32-wasi")),
        ("CXX", format!("{zig} c++ -target wasm32-wasi")),
        ("AR", format!("{zig} ar")),
        ("RANLIB", format!("{zig} ranlib")),
        ("CFLAGS", cflags.join(" ")),
        ("LDFLAGS", compat.ldflags().join(" ")),
    ]
}

impl Toolchain for BuildCommand {
    fn driver(&self) -> Driver {
        Driver::Command
    }

    fn markers(&self) -> &'static [&'static str] {
        &["build.command in the manifest"]
    }

    fn find_marker(&self, _dir: &Path) -> Option<PathBuf> {
        None
    }

    fn status(&self) -> ToolStatus {
        zig_status(Driver::Command, "zig cc (CC for build.command)")
    }

    fn compile(
        &self,
        request: &BuildRequest,
        progress: &dyn Progress,
    ) -> Result<CompileOutput, BuildError> {
        let dir = &request.dir;
        let Some(output) = &self.output else {
            return Err(BuildError::Project(
                "`build.command` needs `build.output`, the .wasm file the command writes".into(),
            ));
        };
        let mut cmd = Command::new("sh");
        cmd.current_dir(dir).arg("-c").arg(&self.command);
        // The wasm C toolchain, when it is installed; a command that builds with something
        // else (cargo, tinygo, ...) does not need it.
        if let Some(z) = zig() {
            let compat = c_compat::prepare(&z, progress)?;
            for (k, v) in toolchain_env(&z, &compat) {
                cmd.env(k, v);
            }
        }
        progress.phase("compiling");
        progress.detail(&self.command);
        tools::run_tool(cmd, "build.command", progress)?;
        let wasm: PathBuf = dir.join(output);
        if !wasm.is_file() {
            return Err(BuildError::Project(format!(
                "`build.command` succeeded but did not write `build.output` {}",
                wasm.display()
            )));
        }
        let notes = c_compat::report_stubs(&wasm, progress);
        Ok(CompileOutput::new(wasm, tools::dir_name(dir), "build.command").with_notes(notes))
    }
}
