//! Python: componentize-py (from PyPI) against the WASI WIT qyv ships. The output is a
//! component (CPython inside), so nothing is adapted.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::progress::Progress;
use crate::toolchain::{
    BuildError, BuildRequest, CompileOutput, Driver, Missing, ToolStatus, Toolchain,
};
use crate::{tools, wit};

/// The componentize-py driver.
pub struct Python;

const INSTALL: &str = "pip install componentize-py==0.25.1";

fn componentize_py() -> Option<PathBuf> {
    tools::on_path("componentize-py")
}

fn missing() -> Vec<Missing> {
    vec![Missing {
        what: "componentize-py".into(),
        install: INSTALL.into(),
    }]
}

impl Toolchain for Python {
    fn driver(&self) -> Driver {
        Driver::Python
    }

    fn markers(&self) -> &'static [&'static str] {
        &["app.py", "pyproject.toml"]
    }

    fn find_marker(&self, dir: &Path) -> Option<PathBuf> {
        tools::first_file(dir, &["app.py", "pyproject.toml"])
    }

    fn status(&self) -> ToolStatus {
        let version = componentize_py().and_then(|p| tools::version_line(&p, &["--version"]));
        ToolStatus {
            driver: Driver::Python,
            missing: if version.is_some() {
                Vec::new()
            } else {
                missing()
            },
            version,
        }
    }

    fn compile(
        &self,
        request: &BuildRequest,
        progress: &dyn Progress,
    ) -> Result<CompileOutput, BuildError> {
        let tool = componentize_py().ok_or_else(|| BuildError::ToolchainMissing {
            driver: Driver::Python,
            missing: missing(),
        })?;
        let dir = &request.dir;
        if !dir.join("app.py").is_file() {
            return Err(BuildError::Project(format!(
                "{} has no app.py: qyv builds the module `app`, whose class `Run(wit_world.WitWorld)` \
                 defines `run(self)`",
                dir.display()
            )));
        }
        let name = tools::dir_name(dir);
        let target = dir.join("target/qyv");
        let wit_dir = wit::write_command_world(&target.join("wit"))
            .map_err(|e| BuildError::io("cannot write the WASI WIT files", e))?;
        let out = target.join(format!("{name}.py.wasm"));
        // componentize-py has no incremental build and takes seconds: skip it when no
        // Python source changed.
        let digest =
            tools::sources_digest(dir, &["py"], &format!("{INSTALL} {}", wit::WASI_VERSION));
        if tools::up_to_date(&out, &digest) {
            return Ok(CompileOutput {
                wasm: out,
                name,
                target: format!("wasi:cli/command@{}", wit::WASI_VERSION),
                notes: Vec::new(),
            });
        }
        let mut cmd = Command::new(tool);
        cmd.current_dir(dir)
            .arg("-d")
            .arg(&wit_dir)
            .args(["-w", wit::APP_WORLD, "componentize", "app", "-o"])
            .arg(&out);
        progress.phase("compiling");
        progress.detail("componentize-py");
        tools::run_and_record(cmd, "componentize-py", progress, &out, &digest)?;
        Ok(CompileOutput {
            wasm: out,
            name,
            target: format!("wasi:cli/command@{}", wit::WASI_VERSION),
            notes: Vec::new(),
        })
    }
}
