//! Python: componentize-py (from PyPI) against the WASI WIT qyv ships. The output is a
//! component (CPython inside), so nothing is adapted.
//!
//! A project written as Python developers write it (a script, `python -m pkg`, a
//! `[project.scripts]` entry point) is built through glue qyv generates (`glue.py`): a `Run`
//! whose `run()` executes the program as `__main__`. An `app.py` written against
//! componentize-py's `wit_world` is built as it is: against `wasi:http/proxy` when it
//! defines `IncomingHandler` (an HTTP handler, as componentize-py's http example writes
//! one), else against qyv's command world.

mod deps;
mod errors;
pub mod project;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::progress::Progress;
use crate::toolchain::{
    BuildError, BuildRequest, CompileOutput, Driver, Missing, ToolStatus, Toolchain,
};
use crate::{tools, wit};
use project::Entry;

/// The componentize-py driver.
pub struct Python;

const INSTALL: &str = "pip install componentize-py==0.25.1";

/// The glue module: its name must not be one a project uses.
const GLUE_MODULE: &str = "qyv_python_main";
const GLUE: &str = include_str!("glue.py");
/// Finds the modules the program can import, on the host (see its docstring).
const REACH: &str = include_str!("reach.py");

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
        project::MARKERS
    }

    fn find_marker(&self, dir: &Path) -> Option<PathBuf> {
        project::marker(dir)
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
        let project = project::read(dir, request.bin.as_deref().or(request.entry.as_deref()))?;
        let name = tools::dir_name(dir);
        let target = dir.join("target/qyv");
        let wit_dir = wit::write_app_world(&target.join("wit"), project.world, project.wasi_nn)
            .map_err(|e| BuildError::io("cannot write the WASI WIT files", e))?;
        let site = deps::install(dir, &project, progress)?;
        let out = target.join(format!("{name}.py.wasm"));
        let target_name = project.world.wasi_world();
        // componentize-py has no incremental build and takes seconds: skip it when no
        // Python source, dependency or entry changed.
        let salt = format!(
            "{INSTALL} {} {:?} {:?} {GLUE} nn={} {:?}",
            wit::WASI_VERSION,
            project.entry,
            site.as_ref()
                .and_then(|s| std::fs::read_to_string(s.with_extension("digest")).ok()),
            project.wasi_nn,
            project.world
        );
        let digest = tools::sources_digest(dir, &["py"], &salt);
        if tools::up_to_date(&out, &digest) {
            return Ok(CompileOutput::new(out, name, target_name));
        }
        // An empty environment for componentize-py's search of a virtualenv: without one it
        // bundles the host's site-packages, and the app would work here and nowhere else.
        let no_venv = target.join("python-no-venv");
        std::fs::create_dir_all(no_venv.join("lib/site-packages"))
            .map_err(|e| BuildError::io("cannot create target/qyv/python-no-venv", e))?;
        let mut cmd = Command::new(tool);
        cmd.current_dir(dir)
            .env("VIRTUAL_ENV", &no_venv)
            .arg("-d")
            .arg(&wit_dir)
            .args(["-w", wit::APP_WORLD, "componentize"]);
        let glue = (project.entry != Entry::WitWorld)
            .then(|| write_glue(dir, &target, &name, &project, site.as_deref(), progress))
            .transpose()?;
        match &glue {
            None => {
                cmd.arg("app");
            }
            Some(glue) => {
                cmd.arg(GLUE_MODULE)
                    .arg("-p")
                    .arg(glue)
                    .arg("-p")
                    .arg(dir.join(&project.source_root));
            }
        }
        if let Some(site) = &site {
            cmd.arg("-p").arg(site);
        }
        cmd.arg("-o").arg(&out);
        progress.phase("compiling");
        progress.detail("componentize-py");
        errors::run_componentize(cmd, progress)?;
        tools::record_sources(&out, &digest)
            .map_err(|e| BuildError::io("cannot record the sources digest", e))?;
        Ok(CompileOutput::new(out, name, target_name))
    }
}

/// Writes the glue module and what it runs into `target/qyv/python-glue`.
fn write_glue(
    dir: &Path,
    target: &Path,
    name: &str,
    project: &project::Project,
    site: Option<&Path>,
    progress: &dyn Progress,
) -> Result<PathBuf, BuildError> {
    let glue = target.join("python-glue");
    std::fs::create_dir_all(&glue)
        .map_err(|e| BuildError::io("cannot create target/qyv/python-glue", e))?;
    let (kind, entry) = match &project.entry {
        Entry::Script { module } => ("script", module.clone()),
        Entry::Package { package } => ("module", package.clone()),
        Entry::Function { target, .. } => ("function", target.clone()),
        Entry::WitWorld => unreachable!("a wit_world app has no glue"),
    };
    let prefix = match project.source_root.to_string_lossy() {
        r if r.is_empty() => String::new(),
        r => format!("{r}/"),
    };
    let reached = reach(&glue, &dir.join(&project.source_root), site, &prefix)?;
    for note in reached["notes"].as_array().into_iter().flatten() {
        progress.note(&format!("note: {}", note.as_str().unwrap_or_default()));
    }
    let config = serde_json::json!({
        "name": name,
        "kind": kind,
        "target": entry,
        "prefix": prefix,
        "site": site.is_some(),
        "preload": reached["preload"],
    });
    let write = |file: &str, text: &str| {
        std::fs::write(glue.join(file), text)
            .map_err(|e| BuildError::io(format!("cannot write target/qyv/python-glue/{file}"), e))
    };
    write(&format!("{GLUE_MODULE}.py"), GLUE)?;
    write("qyv_entry.json", &config.to_string())?;
    Ok(glue)
}

/// Runs `reach.py` on the host's python3, isolated from its site-packages: the modules the
/// program can import, and notes on those nothing provides.
fn reach(
    glue: &Path,
    root: &Path,
    site: Option<&Path>,
    prefix: &str,
) -> Result<serde_json::Value, BuildError> {
    let script = glue.join("qyv_reach.py");
    std::fs::write(&script, REACH)
        .map_err(|e| BuildError::io("cannot write target/qyv/python-glue/qyv_reach.py", e))?;
    let out = Command::new("python3")
        .args(["-I", "-S"])
        .arg(&script)
        .arg(root)
        .arg(site.map(Path::as_os_str).unwrap_or_default())
        .arg(prefix)
        .output()
        .map_err(|e| BuildError::io("cannot start python3", e))?;
    if !out.status.success() {
        return Err(BuildError::Project(format!(
            "cannot read the Python program's imports:\n{}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        )));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| BuildError::Project(format!("cannot read the Python program's imports: {e}")))
}
