//! A Python project's dependencies, installed by pip from PyPI into a site directory under
//! `target/qyv/` that componentize-py bundles. Only pure-Python wheels can run inside the
//! component (its CPython loads no native extensions), so pip is asked for wheels of
//! platform `any` only, for the Python componentize-py embeds; a package that has none is
//! refused by name before componentize-py runs. The install is kept until the dependency
//! list, the requirements file or the Python version changes.

use std::path::{Path, PathBuf};
use std::process::Command;

use qyvpack::digest::sha256_hex;

use super::project::Project;
use crate::progress::Progress;
use crate::toolchain::BuildError;

/// The Python inside componentize-py 0.25.1's components: what dependencies must suit.
pub const PYTHON_VERSION: &str = "3.14";

/// A requirements.txt bigger than this is not one.
const REQUIREMENTS_LIMIT: u64 = 1 << 20;

/// Installs the project's dependencies (when it has any, and when they changed) and returns
/// the site directory holding them.
pub fn install(
    dir: &Path,
    project: &Project,
    progress: &dyn Progress,
) -> Result<Option<PathBuf>, BuildError> {
    let requirements = match &project.requirements {
        Some(path) => Some(
            qyvpack::bounded::read_to_string(path, REQUIREMENTS_LIMIT, "a requirements.txt")
                .map_err(|e| BuildError::Project(e.to_string()))?,
        ),
        None => None,
    };
    let has_requirements = requirements.as_deref().is_some_and(|r| {
        r.lines()
            .any(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
    });
    if project.dependencies.is_empty() && !has_requirements {
        return Ok(None);
    }
    // pip would take such an entry as one of its own options (another index, say).
    if let Some(odd) = project
        .dependencies
        .iter()
        .find(|d| d.trim_start().starts_with('-'))
    {
        return Err(BuildError::Project(format!(
            "the dependency `{odd}` in pyproject.toml is not a requirement (it reads as a pip option)"
        )));
    }
    let target = dir.join("target/qyv");
    let site = target.join("python-site");
    let stamp = target.join("python-site.digest");
    let digest = sha256_hex(
        format!(
            "python {PYTHON_VERSION}\n{}\n--\n{}",
            project.dependencies.join("\n"),
            requirements.as_deref().unwrap_or_default()
        )
        .as_bytes(),
    );
    if site.is_dir() && std::fs::read_to_string(&stamp).is_ok_and(|d| d.trim() == digest) {
        return Ok(Some(site));
    }
    let _ = std::fs::remove_file(&stamp);
    if site.exists() {
        std::fs::remove_dir_all(&site)
            .map_err(|e| BuildError::io("cannot clear target/qyv/python-site", e))?;
    }
    progress.phase("pip install");
    progress.detail(&project.dependencies.join(" "));
    let mut cmd = Command::new("python3");
    cmd.current_dir(dir)
        .args(["-m", "pip", "install", "--target"])
        .arg(&site)
        .args([
            "--only-binary=:all:",
            "--platform",
            "any",
            "--python-version",
            PYTHON_VERSION,
            "--no-compile",
            "--disable-pip-version-check",
            "--no-input",
            "--root-user-action=ignore",
            "--progress-bar",
            "off",
        ])
        .args(&project.dependencies);
    if has_requirements {
        cmd.arg("-r").arg("requirements.txt");
    }
    let (status, text) = crate::tools::run_kept(cmd, "pip (python3 -m pip)", progress)?;
    if !status.success() {
        let _ = std::fs::remove_dir_all(&site);
        return Err(refusal(&text));
    }
    std::fs::write(&stamp, &digest)
        .map_err(|e| BuildError::io("cannot record the dependencies digest", e))?;
    Ok(Some(site))
}

/// pip's failure, said plainly: which package has no pure-Python wheel, or pip's own words.
fn refusal(pip_output: &str) -> BuildError {
    match unsatisfied(pip_output) {
        Some(package) if exists_on_index(&package) => BuildError::Project(format!(
            "the Python dependency `{package}` has no pure-Python wheel for Python \
             {PYTHON_VERSION}: it ships only compiled (native) code, which cannot run inside \
             a WebAssembly component; only pure-Python packages can be bundled"
        )),
        Some(package) => BuildError::Project(format!(
            "the Python dependency `{package}` was not found on the package index"
        )),
        None => BuildError::Project(format!(
            "pip could not install the dependencies:\n{}",
            pip_output.trim_end()
        )),
    }
}

/// The requirement pip could not satisfy, from `No matching distribution found for NAME`.
fn unsatisfied(pip_output: &str) -> Option<String> {
    let rest = pip_output
        .split("No matching distribution found for ")
        .nth(1)?;
    let requirement = rest.lines().next()?.trim();
    let name: String = requirement
        .chars()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Whether the index knows the package at all (any version, any platform).
fn exists_on_index(package: &str) -> bool {
    Command::new("python3")
        .args([
            "-m",
            "pip",
            "index",
            "versions",
            "--disable-pip-version-check",
        ])
        .arg(package)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unsatisfied_requirement_is_read_from_pips_output() {
        let out = "ERROR: Could not find a version that satisfies the requirement \
                   ujson==5.10.0 (from versions: none)\n\
                   ERROR: No matching distribution found for ujson==5.10.0\n";
        assert_eq!(unsatisfied(out).as_deref(), Some("ujson"));
        assert_eq!(unsatisfied("ERROR: something else\n"), None);
    }

    #[test]
    fn a_dependency_that_reads_as_a_pip_option_is_refused_before_pip_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let project = Project {
            entry: super::super::project::Entry::WitWorld,
            source_root: PathBuf::from("."),
            dependencies: vec!["--index-url=http://example.invalid/simple".into()],
            requirements: None,
            wasi_nn: false,
            world: crate::wit::World::Command,
        };
        let err = install(tmp.path(), &project, &crate::progress::Silent).unwrap_err();
        assert!(err.to_string().contains("reads as a pip option"), "{err}");
        assert!(!tmp.path().join("target/qyv/python-site").exists());
    }
}
