//! C: `zig cc` from PyPI's ziglang (a modern wasi-libc), every `.c` file of the project (in
//! its root and `src/`) into one preview1 core module, with qyv's compat layer (setjmp and
//! longjmp, WASI's emulation libraries, ENOSYS stubs; see `c_compat`). The module is adapted
//! with the command adapter.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::c_compat;
use crate::progress::Progress;
use crate::toolchain::{BuildError, BuildRequest, CompileOutput, Driver, ToolStatus, Toolchain};
use crate::tools;
use crate::zig_cc::{INSTALL, require_zig, zig_status};

/// The C driver.
pub struct C;

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = tools::files_with_extension(dir, &["c"]);
    files.extend(tools::files_with_extension(&dir.join("src"), &["c"]));
    files
}

impl Toolchain for C {
    fn driver(&self) -> Driver {
        Driver::C
    }

    fn markers(&self) -> &'static [&'static str] {
        &["*.c", "src/*.c"]
    }

    fn find_marker(&self, dir: &Path) -> Option<PathBuf> {
        sources(dir).into_iter().next()
    }

    fn status(&self) -> ToolStatus {
        zig_status(Driver::C, "zig cc")
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
        let zig = require_zig(Driver::C)?;
        let debug = request.profile.as_deref() == Some("debug");
        let compat = c_compat::prepare(&zig, progress)?;
        let mut cmd = Command::new(&zig);
        cmd.current_dir(dir)
            .args(["cc", "-target", "wasm32-wasi"])
            .arg(if debug { "-O0" } else { "-O2" });
        // Not `-s`: the function names say which emulations were linked; stripped below.
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
        tools::run_tool(cmd, "zig cc", progress)?;
        let notes = c_compat::report_stubs(&out, progress);
        if !debug {
            let linked = std::fs::read(&out)
                .map_err(|e| BuildError::io("cannot read zig cc's output", e))?;
            std::fs::write(&out, c_compat::strip_names(&linked))
                .map_err(|e| BuildError::io("cannot strip zig cc's output", e))?;
        }
        tools::record_sources(&out, &digest)
            .map_err(|e| BuildError::io("cannot record the sources digest", e))?;
        Ok(CompileOutput::new(out, name, "wasm32-wasi (zig cc)").with_notes(notes))
    }
}
