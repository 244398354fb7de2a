//! Makefile and CMake projects without a `build.command`, driven like emscripten's emmake and
//! emcmake do: the wasm C toolchain (zig cc) and qyv's compat layer go on make's command line
//! (so they win over the Makefile's own `CC = gcc`), or into CMake's cache. The program is the
//! one wasm command module the build wrote; several are an error that names them (pick one
//! with `build.output`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use crate::c_compat;
use crate::lang::command::toolchain_env;
use crate::progress::Progress;
use crate::toolchain::{
    BuildError, BuildRequest, CompileOutput, Driver, Missing, ToolStatus, Toolchain,
};
use crate::tools;
use crate::zig_cc::{zig, zig_missing, zig_status};

const MAKEFILES: &[&str] = &["GNUmakefile", "makefile", "Makefile"];

/// A Makefile project.
pub struct Make;

/// A CMake project.
pub struct CMake;

fn tool_missing(tool: &str, package: &str) -> Option<Missing> {
    tools::on_path(tool).is_none().then(|| Missing {
        what: tool.into(),
        install: format!("apt-get install {package}"),
    })
}

pub(crate) fn status(driver: Driver, tool: &str, package: &str) -> ToolStatus {
    let mut status = zig_status(driver, "zig cc");
    if let Some(m) = tool_missing(tool, package) {
        status.missing.push(m);
    } else if let Some(v) =
        tools::on_path(tool).and_then(|t| tools::version_line(&t, &["--version"]))
    {
        status.version = Some(match status.version {
            Some(zig) => format!("{v}, {zig}"),
            None => v,
        });
    }
    status
}

impl Toolchain for Make {
    fn driver(&self) -> Driver {
        Driver::Make
    }

    fn markers(&self) -> &'static [&'static str] {
        MAKEFILES
    }

    fn find_marker(&self, dir: &Path) -> Option<PathBuf> {
        tools::first_file(dir, MAKEFILES)
    }

    fn status(&self) -> ToolStatus {
        status(Driver::Make, "make", "make")
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
        let zig = ready(Driver::Make, "make", "make")?;
        let compat = c_compat::prepare(&zig, progress)?;
        let before = snapshot(dir);
        let mut cmd = Command::new("make");
        cmd.current_dir(dir);
        // On the command line: a Makefile's own `CC = gcc` does not override these.
        for (k, v) in toolchain_env(&zig, &compat) {
            cmd.arg(format!("{k}={v}"));
        }
        progress.phase("compiling");
        progress.detail("make");
        tools::run_tool(cmd, "make", progress)?;
        output(dir, &before, "make", progress)
    }
}

impl Toolchain for CMake {
    fn driver(&self) -> Driver {
        Driver::CMake
    }

    fn markers(&self) -> &'static [&'static str] {
        &["CMakeLists.txt"]
    }

    fn find_marker(&self, dir: &Path) -> Option<PathBuf> {
        tools::first_file(dir, &["CMakeLists.txt"])
    }

    fn status(&self) -> ToolStatus {
        status(Driver::CMake, "cmake", "cmake")
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
        let zig = ready(Driver::CMake, "cmake", "cmake")?;
        let compat = c_compat::prepare(&zig, progress)?;
        let build = dir.join("target/qyv/cmake");
        std::fs::create_dir_all(&build)
            .map_err(|e| BuildError::io("cannot create target/qyv/cmake", e))?;
        // CMake wants a compiler path, not a command with arguments: small wrappers.
        let wrap = |name: &str, args: &str| -> Result<PathBuf, BuildError> {
            let path = build.join(name);
            let script = format!("#!/bin/sh\nexec '{}' {args} \"$@\"\n", zig.display());
            std::fs::write(&path, script)
                .map_err(|e| BuildError::io("cannot write a compiler wrapper", e))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| BuildError::io("cannot write a compiler wrapper", e))?;
            Ok(path)
        };
        let cc = wrap("qyv-cc", "cc -target wasm32-wasi")?;
        let cxx = wrap("qyv-c++", "c++ -target wasm32-wasi")?;
        let ar = wrap("qyv-ar", "ar")?;
        let ranlib = wrap("qyv-ranlib", "ranlib")?;
        let build_type = match request.profile.as_deref() {
            Some("debug") => "Debug",
            _ => "Release",
        };
        let before = snapshot(dir);
        let mut configure = Command::new("cmake");
        configure
            .current_dir(dir)
            .arg("-S")
            .arg(dir)
            .arg("-B")
            .arg(&build)
            .arg("-DCMAKE_SYSTEM_NAME=Generic")
            .arg("-DCMAKE_SYSTEM_PROCESSOR=wasm32")
            .arg(format!("-DCMAKE_C_COMPILER={}", cc.display()))
            .arg(format!("-DCMAKE_CXX_COMPILER={}", cxx.display()))
            .arg(format!("-DCMAKE_AR={}", ar.display()))
            .arg(format!("-DCMAKE_RANLIB={}", ranlib.display()))
            .arg(format!("-DCMAKE_C_FLAGS={}", compat.cflags().join(" ")))
            .arg(format!(
                "-DCMAKE_EXE_LINKER_FLAGS={}",
                compat.ldflags().join(" ")
            ))
            .arg(format!("-DCMAKE_BUILD_TYPE={build_type}"));
        progress.phase("compiling");
        progress.detail("cmake (configure)");
        tools::run_tool(configure, "cmake", progress)?;
        let mut make = Command::new("cmake");
        make.current_dir(dir).arg("--build").arg(&build);
        progress.detail("cmake --build");
        tools::run_tool(make, "cmake --build", progress)?;
        output(dir, &before, "cmake", progress)
    }
}

pub(crate) fn ready(driver: Driver, tool: &str, package: &str) -> Result<PathBuf, BuildError> {
    let zig = zig();
    let mut missing = if zig.is_none() {
        zig_missing()
    } else {
        Vec::new()
    };
    missing.extend(tool_missing(tool, package));
    match zig {
        Some(z) if missing.is_empty() => Ok(z),
        _ => Err(BuildError::ToolchainMissing { driver, missing }),
    }
}

/// Every file below `dir` with its modification time (qyv's own outputs left out).
pub(crate) fn snapshot(dir: &Path) -> HashMap<PathBuf, SystemTime> {
    fn walk(dir: &Path, out: &mut HashMap<PathBuf, SystemTime>, depth: usize) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                if depth < 8 && e.file_name() != ".git" {
                    walk(&p, out, depth + 1);
                }
            } else if let Ok(m) = meta.modified() {
                out.insert(p, m);
            }
        }
    }
    let mut out = HashMap::new();
    walk(dir, &mut out, 0);
    out
}

/// The wasm command (or reactor) module the build wrote or rewrote.
pub(crate) fn output(
    dir: &Path,
    before: &HashMap<PathBuf, SystemTime>,
    tool: &str,
    progress: &dyn Progress,
) -> Result<CompileOutput, BuildError> {
    let qyv_dir = dir.join("target/qyv");
    let mut programs: Vec<PathBuf> = snapshot(dir)
        .into_iter()
        .filter(|(p, m)| before.get(p) != Some(m))
        .map(|(p, _)| p)
        .filter(|p| {
            // qyv's own outputs and CMake's probes are not the program.
            !(p.starts_with(&qyv_dir)
                && (p.parent() == Some(qyv_dir.as_path())
                    || p.components().any(|c| c.as_os_str() == "CMakeFiles")))
        })
        .filter(|p| is_program(p))
        .collect();
    programs.sort();
    // Nothing rebuilt (make found everything up to date): the program found last time.
    let remembered = qyv_dir.join(format!("{tool}-output.txt"));
    if programs.is_empty()
        && let Ok(text) = std::fs::read_to_string(&remembered)
        && is_program(Path::new(text.trim()))
    {
        programs.push(PathBuf::from(text.trim()));
    }
    if let [one] = programs.as_slice() {
        let _ = std::fs::create_dir_all(&qyv_dir);
        let _ = std::fs::write(&remembered, one.display().to_string());
    }
    match programs.as_slice() {
        [one] => {
            let notes = c_compat::report_stubs(one, progress);
            let name = one
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| tools::dir_name(dir));
            let target = format!("wasm32-wasi ({tool} with zig cc)");
            Ok(CompileOutput::new(one.clone(), name, target).with_notes(notes))
        }
        [] => Err(BuildError::Project(format!(
            "{tool} succeeded but wrote no wasm program (a module exporting `_start` or \
             `_initialize`) in {}",
            dir.display()
        ))),
        many => Err(BuildError::Project(format!(
            "{tool} wrote several wasm programs: {}; name the one to use with `build.output` \
             (and `build.command` for its target)",
            many.iter()
                .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A linked wasm module with a program's entry (not an object file or archive).
fn is_program(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 8];
    let ok = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok();
    if !ok || head != *b"\0asm\x01\0\0\0" {
        return false;
    }
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let mut entry = false;
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        match payload {
            // Relocatable objects carry a `linking` section.
            Ok(wasmparser::Payload::CustomSection(c)) if c.name() == "linking" => return false,
            Ok(wasmparser::Payload::ExportSection(exports)) => {
                entry = exports.into_iter().flatten().any(|e| {
                    e.kind == wasmparser::ExternalKind::Func
                        && matches!(e.name, "_start" | "_initialize")
                });
            }
            Ok(wasmparser::Payload::CodeSectionStart { .. }) => {}
            Err(_) => return false,
            _ => {}
        }
    }
    entry
}
