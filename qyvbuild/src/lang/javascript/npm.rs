//! A JavaScript project's npm dependencies, installed as a Node developer would: `npm ci` when
//! there is a lockfile, `npm install` otherwise, without install scripts (a component cannot
//! use what they build). Kept until package.json or the lockfile changes.

use std::path::Path;
use std::process::Command;

use qyvpack::digest::sha256_hex;

use crate::progress::Progress;
use crate::toolchain::BuildError;

/// A package.json or lockfile bigger than this is not one.
const LIMIT: u64 = 16 << 20;

/// The package.json, parsed (`None` when there is none).
pub fn package_json(dir: &Path) -> Result<Option<serde_json::Value>, BuildError> {
    let path = dir.join("package.json");
    if !path.is_file() {
        return Ok(None);
    }
    let text = qyvpack::bounded::read_to_string(&path, LIMIT, "a package.json")
        .map_err(|e| BuildError::Project(e.to_string()))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| BuildError::Project(format!("{}: {e}", path.display())))
}

/// Installs the dependencies of package.json into the project's `node_modules` when they
/// changed since the last install.
pub fn install(
    dir: &Path,
    package: Option<&serde_json::Value>,
    progress: &dyn Progress,
) -> Result<(), BuildError> {
    let has_dependencies = package
        .and_then(|p| p["dependencies"].as_object())
        .is_some_and(|d| !d.is_empty());
    if !has_dependencies {
        return Ok(());
    }
    let lock = dir.join("package-lock.json");
    let read = |p: &Path| -> Result<Vec<u8>, BuildError> {
        if !p.is_file() {
            return Ok(Vec::new());
        }
        qyvpack::bounded::read(p, LIMIT, "a package file")
            .map_err(|e| BuildError::Project(e.to_string()))
    };
    let mut inputs = read(&dir.join("package.json"))?;
    inputs.extend_from_slice(b"\0");
    inputs.extend(read(&lock)?);
    let digest = sha256_hex(&inputs);
    let stamp = dir.join("target/qyv/npm.digest");
    if dir.join("node_modules").is_dir()
        && std::fs::read_to_string(&stamp).is_ok_and(|d| d.trim() == digest)
    {
        return Ok(());
    }
    let ci = lock.is_file();
    progress.phase(if ci { "npm ci" } else { "npm install" });
    let mut cmd = Command::new("npm");
    cmd.current_dir(dir)
        .arg(if ci { "ci" } else { "install" })
        .args(["--ignore-scripts", "--no-audit", "--no-fund", "--omit=dev"]);
    let (status, text) = crate::tools::run_kept(cmd, "npm", progress)?;
    if !status.success() {
        return Err(BuildError::Project(format!(
            "npm could not install the dependencies:\n{}",
            text.trim_end()
        )));
    }
    // Read again: `npm install` writes the lockfile it made.
    let mut inputs = read(&dir.join("package.json"))?;
    inputs.extend_from_slice(b"\0");
    inputs.extend(read(&lock)?);
    std::fs::create_dir_all(dir.join("target/qyv"))
        .and_then(|()| std::fs::write(&stamp, sha256_hex(&inputs)))
        .map_err(|e| BuildError::io("cannot record the npm digest", e))
}
