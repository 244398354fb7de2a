//! Zig: a project with a `build.zig` (in its directory or up the tree, as `zig build` finds
//! it) is built by `zig build -Dtarget=wasm32-wasi` from there, and its program taken from
//! `zig-out/bin` (`build.output` or `--bin` chooses among several); otherwise
//! `zig build-exe -target wasm32-wasi` on `src/main.zig` or `main.zig`. The zig used is
//! `$ZIG`, else `zig` on `PATH`, else the pinned one from PyPI's ziglang; a `build.zig.zon`
//! whose `minimum_zig_version` it does not meet is refused before building. The preview1 core
//! module is adapted with the command adapter.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::progress::Progress;
use crate::toolchain::{BuildError, BuildRequest, CompileOutput, Driver, ToolStatus, Toolchain};
use crate::tools;
use crate::zig_cc::{require_zig, zig_status};

/// The Zig driver.
pub struct Zig;

/// At most this much of `build.zig.zon` is read.
const MAX_ZON_BYTES: u64 = 1 << 20;

fn root_source(dir: &Path) -> Option<PathBuf> {
    ["src/main.zig", "main.zig"]
        .iter()
        .map(|p| dir.join(p))
        .find(|p| p.is_file())
}

/// The directory of the nearest `build.zig`, the project's own or up the tree.
fn build_root(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join("build.zig").is_file())
        .map(Path::to_path_buf)
}

/// A Zig version, `major.minor.patch` (a `-dev...` suffix ignored).
fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let core = text.trim().split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// `.minimum_zig_version = "..."` of a `build.zig.zon`.
fn minimum_zig_version(zon: &str) -> Option<String> {
    let at = zon.find(".minimum_zig_version")?;
    let rest = &zon[at + ".minimum_zig_version".len()..];
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

/// Refuses a project whose `build.zig.zon` asks for a newer Zig than `zig`.
fn check_zig_version(root: &Path, zig: &Path) -> Result<Option<String>, BuildError> {
    let zon = root.join("build.zig.zon");
    let Ok(text) = qyvpack::bounded::read_to_string(&zon, MAX_ZON_BYTES, "build.zig.zon") else {
        return Ok(None);
    };
    let Some(minimum) = minimum_zig_version(&text) else {
        return Ok(None);
    };
    let have = tools::version_line(zig, &["version"]).unwrap_or_default();
    match (parse_version(&minimum), parse_version(&have)) {
        (Some(want), Some(got)) if got < want => Err(BuildError::Project(format!(
            "{} asks for Zig {minimum} or newer (minimum_zig_version), but the zig qyv found \
             is {have} ({}); put a newer zig on PATH or in ZIG",
            zon.display(),
            zig.display()
        ))),
        (None, _) => Err(BuildError::Project(format!(
            "{}: minimum_zig_version `{minimum}` is not a Zig version",
            zon.display()
        ))),
        _ => Ok(Some(minimum)),
    }
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

    fn chosen(&self) -> Option<String> {
        crate::zig_cc::zig_chosen_line()
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
        let Some(root) = build_root(dir) else {
            return build_exe(request, &name, optimize, progress);
        };
        // Found only now: finding it asks python3 for its site-packages, which is slow.
        let zig = require_zig(Driver::Zig)?;
        let minimum = check_zig_version(&root, &zig)?;
        let mut cmd = Command::new(&zig);
        cmd.current_dir(&root)
            .args(["build", "-Dtarget=wasm32-wasi"])
            .arg(format!("-Doptimize={optimize}"));
        progress.phase("compiling");
        progress.detail("zig build");
        if let Err(failed) = tools::run_tool(cmd, "zig build", progress) {
            // A build.zig written for another Zig's build API fails in ways that do not say so.
            let have = tools::version_line(&zig, &["version"]).unwrap_or_default();
            return match minimum.filter(|m| {
                parse_version(m).map(|v| (v.0, v.1)) != parse_version(&have).map(|v| (v.0, v.1))
            }) {
                Some(minimum) => Err(BuildError::Project(format!(
                    "{failed}; build.zig.zon says the project was written for Zig {minimum} \
                     (minimum_zig_version), and this zig is {have}, whose build API may differ"
                ))),
                None => Err(failed),
            };
        }
        let out = pick_output(&root.join("zig-out/bin"), request)?;
        let name = out
            .file_stem()
            .map(|s| tools::dir_name(Path::new(s)))
            .unwrap_or(name);
        Ok(CompileOutput::new(out, name, "wasm32-wasi (zig build)"))
    }
}

/// `zig build-exe` on the project's main file.
fn build_exe(
    request: &BuildRequest,
    name: &str,
    optimize: &str,
    progress: &dyn Progress,
) -> Result<CompileOutput, BuildError> {
    let dir = &request.dir;
    let root = root_source(dir).ok_or_else(|| {
        BuildError::Project(format!(
            "no build.zig, src/main.zig or main.zig in {}",
            dir.display()
        ))
    })?;
    // zig build-exe takes over a second even when nothing changed: skip it then.
    let digest = tools::sources_digest(
        dir,
        &["zig", "zon"],
        &format!("{} {optimize}", crate::zig_cc::INSTALL),
    );
    let out = dir.join("target/qyv").join(format!("{name}.core.wasm"));
    if tools::up_to_date(&out, &digest) {
        return Ok(CompileOutput::new(
            out,
            name.to_string(),
            "wasm32-wasi (zig)",
        ));
    }
    let zig = require_zig(Driver::Zig)?;
    let mut cmd = Command::new(zig);
    cmd.current_dir(dir)
        .args(["build-exe", "-target", "wasm32-wasi", "-O", optimize])
        .arg(format!("-femit-bin={}", out.display()))
        .arg(root.strip_prefix(dir).unwrap_or(&root));
    progress.phase("compiling");
    progress.detail("zig");
    tools::run_and_record(cmd, "zig", progress, &out, &digest)?;
    Ok(CompileOutput::new(
        out,
        name.to_string(),
        "wasm32-wasi (zig)",
    ))
}

/// The program among `zig-out/bin/*.wasm`: the only one, or the one `build.output` (a path
/// relative to the project, or a name) or `--bin` names.
fn pick_output(bin: &Path, request: &BuildRequest) -> Result<PathBuf, BuildError> {
    let found = tools::files_with_extension(bin, &["wasm"]);
    let wanted = request.bin.as_deref().or(request.output.as_deref());
    if let Some(wanted) = wanted {
        let stem = Path::new(wanted)
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".wasm").to_string())
            .unwrap_or_default();
        return found
            .iter()
            .find(|p| p.file_stem().is_some_and(|s| s.to_string_lossy() == stem))
            .cloned()
            .ok_or_else(|| {
                BuildError::Project(format!(
                    "zig build made no program `{wanted}` in {}; it made: {}",
                    bin.display(),
                    list(&found)
                ))
            });
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(BuildError::Project(format!(
            "zig build produced no .wasm in {}",
            bin.display()
        ))),
        many => Err(BuildError::Project(format!(
            "zig build produced several programs in {}: {}; choose one with `build.output` \
             in the manifest (e.g. `output: zig-out/bin/{}`) or `--bin`",
            bin.display(),
            list(many),
            many[0]
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ))),
    }
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_zig_version_is_read_from_the_zon() {
        let zon = ".{\n    .name = .x,\n    .minimum_zig_version = \"0.15.0-dev.1+abc\",\n}";
        assert_eq!(
            minimum_zig_version(zon).as_deref(),
            Some("0.15.0-dev.1+abc")
        );
        assert_eq!(parse_version("0.15.0-dev.1+abc"), Some((0, 15, 0)));
        assert_eq!(parse_version("0.17.1\n"), Some((0, 17, 1)));
        assert_eq!(parse_version("0.17"), Some((0, 17, 0)));
        assert_eq!(parse_version("soon"), None);
        assert_eq!(minimum_zig_version(".{ .name = .x }"), None);
    }
}
