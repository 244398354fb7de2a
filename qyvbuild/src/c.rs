//! C: `zig cc` from PyPI's ziglang (a modern wasi-libc), every `.c` file of the project (in
//! its root and `src/`) into one preview1 core module, with qyv's compat layer (setjmp and
//! longjmp, WASI's emulation libraries, ENOSYS stubs; see `c_compat`). The module is adapted
//! with the command adapter.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::c_compat;
use crate::progress::Progress;
use crate::toolchain::{
    BuildError, BuildRequest, CompileOutput, Language, Missing, ToolStatus, Toolchain,
};
use crate::tools;

/// The C driver.
pub struct C;

pub(crate) const INSTALL: &str = "pip install ziglang==0.17.1";

/// zig from PyPI's ziglang.
pub fn zig() -> Option<PathBuf> {
    tools::in_site_packages("ziglang/zig").or_else(|| tools::on_path("zig"))
}

pub(crate) fn zig_missing() -> Vec<Missing> {
    vec![Missing {
        what: "zig (for zig cc)".into(),
        install: INSTALL.into(),
    }]
}

/// zig, or the error saying how to install it, for a language built with it.
pub(crate) fn require_zig(language: Language) -> Result<PathBuf, BuildError> {
    zig().ok_or_else(|| BuildError::ToolchainMissing {
        language,
        missing: zig_missing(),
    })
}

/// Whether zig is installed, for a language built with it; `label` names how it is used.
pub(crate) fn zig_status(language: Language, label: &str) -> ToolStatus {
    let version = zig().and_then(|z| tools::version_line(&z, &["version"]));
    ToolStatus {
        language,
        missing: if version.is_some() {
            Vec::new()
        } else {
            zig_missing()
        },
        version: version.map(|v| format!("{label} {v}")),
    }
}

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = tools::files_with_extension(dir, &["c"]);
    files.extend(tools::files_with_extension(&dir.join("src"), &["c"]));
    files
}

impl Toolchain for C {
    fn language(&self) -> Language {
        Language::C
    }

    fn markers(&self) -> &'static [&'static str] {
        &["*.c", "src/*.c"]
    }

    fn find_marker(&self, dir: &Path) -> Option<PathBuf> {
        sources(dir).into_iter().next()
    }

    fn status(&self) -> ToolStatus {
        zig_status(Language::C, "zig cc")
    }

    fn compile(
        &self,
        request: &BuildRequest,
        progress: &Progress,
    ) -> Result<CompileOutput, BuildError> {
        let dir = &request.dir;
        let files = sources(dir);
        if files.is_empty() {
            return Err(BuildError::Project(format!(
                "no .c files in {}",
                dir.display()
            )));
        }
        let name = tools::dir_name(dir);
        let out = dir.join("target/qyv").join(format!("{name}.core.wasm"));
        std::fs::create_dir_all(out.parent().unwrap_or(dir))
            .map_err(|e| BuildError::io("cannot create target/qyv", e))?;
        // zig cc recompiles everything each time: skip it when no source changed.
        let digest = tools::sources_digest(
            dir,
            &["c", "h"],
            &format!(
                "{INSTALL} {:?} compat {}",
                request.profile,
                env!("CARGO_PKG_VERSION")
            ),
        );
        if tools::up_to_date(&out, &digest) {
            return Ok(CompileOutput::new(out, name, "wasm32-wasi (zig cc)"));
        }
        // Found only now: finding it asks python3 for its site-packages, which is slow.
        let zig = require_zig(Language::C)?;
        let debug = request.profile.as_deref() == Some("debug");
        let compat = c_compat::prepare(&zig, progress)?;
        let mut cmd = Command::new(&zig);
        cmd.current_dir(dir)
            .args(["cc", "-target", "wasm32-wasi"])
            .arg(if debug { "-O0" } else { "-O2" });
        if !debug {
            cmd.arg("-s");
        }
        for include in ["include", "src"] {
            if dir.join(include).is_dir() {
                cmd.arg(format!("-I{include}"));
            }
        }
        cmd.args(compat.cflags());
        cmd.args(files.iter().map(|f| f.strip_prefix(dir).unwrap_or(f)));
        cmd.args(compat.ldflags());
        cmd.arg("-o").arg(&out);
        progress.phase("compiling");
        progress.detail("zig cc");
        tools::run_and_record(cmd, "zig cc", progress, &out, &digest)?;
        let notes = c_compat::report_stubs(&out, progress);
        Ok(CompileOutput::new(out, name, "wasm32-wasi (zig cc)").with_notes(notes))
    }
}
