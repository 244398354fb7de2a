//! Autotools projects (a `configure` script), driven like emscripten's `emconfigure`:
//! `./configure --host=wasm32-wasi` runs with `CC`, `CFLAGS`, `LDFLAGS`, `LIBS`, `AR` and
//! `RANLIB` set for the wasm C toolchain (zig cc) and qyv's compat layer, then `make`. The
//! program is found as for Makefile projects.
//!
//! Cross-compiling, configure cannot run its test programs, so qyv seeds its cache with what
//! WASI answers (`config.cache` under `target/qyv`): the host type (so an old `config.sub`
//! that does not know wasm32 is not asked), and the run-time checks whose cross-compiling
//! guesses are wrong for wasi-libc. Functions that exist only as qyv's ENOSYS stubs are
//! answered "no", so the program takes its own fallback rather than calling a stub.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::c_compat::{self, Compat};
use crate::lang::make::{output, ready, snapshot};
use crate::progress::Progress;
use crate::toolchain::{BuildError, BuildRequest, CompileOutput, Driver, ToolStatus, Toolchain};
use crate::tools;

/// An Autotools project.
pub struct Autotools;

/// The host triple configure is given.
const HOST: &str = "wasm32-wasi";

/// configure's answers on WASI (wasi-libc, with qyv's compat layer), seeded into its cache.
const WASI_CACHE: &[(&str, &str)] = &[
    // The canonical host: configure takes it from the cache instead of running config.sub.
    ("ac_cv_host", "wasm32-unknown-wasi"),
    // wasi-libc's malloc(0) and realloc(p, 0) return usable pointers.
    ("ac_cv_func_malloc_0_nonnull", "yes"),
    ("ac_cv_func_realloc_0_nonnull", "yes"),
    ("gl_cv_func_malloc_0_nonnull", "yes"),
    // No processes: only qyv's ENOSYS stubs.
    ("ac_cv_func_fork", "no"),
    ("ac_cv_func_vfork", "no"),
    ("ac_cv_func_fork_works", "no"),
    ("ac_cv_func_vfork_works", "no"),
    ("ac_cv_func_popen", "no"),
    ("ac_cv_func_pipe", "no"),
    ("ac_cv_func_getppid", "no"),
    ("ac_cv_func_chown", "no"),
    ("ac_cv_func_fchown", "no"),
    ("ac_cv_func_lchown", "no"),
    ("ac_cv_func_chroot", "no"),
    ("ac_cv_func_getlogin", "no"),
    ("ac_cv_func_ttyname", "no"),
    ("ac_cv_func_mkfifo", "no"),
    ("ac_cv_func_tmpnam", "no"),
    ("ac_cv_func_tempnam", "no"),
    // The emulated mmap copies; fixed mappings do not work.
    ("ac_cv_func_mmap_fixed_mapped", "no"),
    // musl behaviour the run tests would have found.
    ("ac_cv_func_setvbuf_reversed", "no"),
    ("ac_cv_func_getpgrp_void", "yes"),
    ("ac_cv_func_strerror_r_char_p", "no"),
    ("ac_cv_func_closedir_void", "no"),
    ("ac_cv_func_stat_empty_string_bug", "no"),
    ("ac_cv_func_lstat_empty_string_bug", "no"),
    ("ac_cv_func_lstat_dereferences_slashed_symlink", "yes"),
    ("ac_cv_func_memcmp_working", "yes"),
    ("ac_cv_func_strnlen_working", "yes"),
    ("ac_cv_func_working_mktime", "yes"),
    ("ac_cv_sys_restartable_syscalls", "yes"),
    // getgroups takes gid_t (a run test otherwise guesses int, and the declarations clash).
    ("ac_cv_type_getgroups", "gid_t"),
];

/// The seeded cache, in configure's own format.
fn cache_text() -> String {
    let mut text = String::from("# Written by qyv: configure's answers on WASI.\n");
    for (key, value) in WASI_CACHE {
        text.push_str(&format!("{key}=${{{key}={value}}}\n"));
    }
    text
}

/// The variables configure is given, as emconfigure sets them.
fn configure_vars(zig: &Path, compat: &Compat, debug: bool) -> Vec<(&'static str, String)> {
    let zig = zig.display();
    let mut cflags = vec![if debug { "-O0 -g" } else { "-O2" }.to_string()];
    cflags.extend(compat.cflags());
    let ldflags = compat.ldflags();
    // The libraries go in LIBS, after the objects; the search path in LDFLAGS.
    let (libs, paths): (Vec<String>, Vec<String>) =
        ldflags.into_iter().partition(|f| f.starts_with("-l"));
    vec![
        ("CC", format!("{zig} cc -target wasm32-wasi")),
        ("CXX", format!("{zig} c++ -target wasm32-wasi")),
        ("AR", format!("{zig} ar")),
        ("RANLIB", format!("{zig} ranlib")),
        ("CFLAGS", cflags.join(" ")),
        ("CXXFLAGS", cflags.join(" ")),
        ("LDFLAGS", paths.join(" ")),
        ("LIBS", libs.join(" ")),
    ]
}

/// Whether configure must run: never run for this toolchain and flags, or the script changed.
fn needs_configure(dir: &Path, stamp: &Path, key: &str) -> bool {
    let makefile = dir.join("Makefile");
    let newer = |a: &Path, b: &Path| match (a.metadata(), b.metadata()) {
        (Ok(a), Ok(b)) => match (a.modified(), b.modified()) {
            (Ok(a), Ok(b)) => a > b,
            _ => true,
        },
        _ => true,
    };
    !makefile.is_file()
        || std::fs::read_to_string(stamp).map_or(true, |s| s != key)
        || newer(&dir.join("configure"), stamp)
}

impl Toolchain for Autotools {
    fn driver(&self) -> Driver {
        Driver::Autotools
    }

    fn markers(&self) -> &'static [&'static str] {
        &["configure"]
    }

    fn find_marker(&self, dir: &Path) -> Option<PathBuf> {
        tools::first_file(dir, &["configure"])
    }

    fn status(&self) -> ToolStatus {
        crate::lang::make::status(Driver::Autotools, "make", "make")
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
        let zig = ready(Driver::Autotools, "make", "make")?;
        let compat = c_compat::prepare(&zig, progress)?;
        let debug = request.profile.as_deref() == Some("debug");
        let vars = configure_vars(&zig, &compat, debug);
        let qyv_dir = dir.join("target/qyv");
        std::fs::create_dir_all(&qyv_dir)
            .map_err(|e| BuildError::io("cannot create target/qyv", e))?;
        let stamp = qyv_dir.join("configured");
        let key = format!("{HOST} {vars:?} {}", cache_text());
        progress.phase("compiling");
        if needs_configure(dir, &stamp, &key) {
            let cache = qyv_dir.join("config.cache");
            std::fs::write(&cache, cache_text())
                .map_err(|e| BuildError::io("cannot write configure's cache", e))?;
            let mut configure = Command::new("sh");
            configure
                .current_dir(dir)
                .arg("./configure")
                .arg(format!("--host={HOST}"))
                .arg(format!("--cache-file={}", cache.display()));
            for (key, value) in &vars {
                configure.arg(format!("{key}={value}"));
            }
            progress.detail("./configure");
            tools::run_tool(configure, "configure", progress)?;
            std::fs::write(&stamp, &key)
                .map_err(|e| BuildError::io("cannot record the configuration", e))?;
        }
        let before = snapshot(dir);
        let mut make = Command::new("make");
        make.current_dir(dir);
        progress.detail("make");
        tools::run_tool(make, "make", progress)?;
        output(dir, &before, "autotools", progress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_in_configures_format_and_skips_config_sub() {
        let text = cache_text();
        assert!(text.contains("ac_cv_host=${ac_cv_host=wasm32-unknown-wasi}\n"));
        assert!(text.contains("ac_cv_func_fork=${ac_cv_func_fork=no}\n"));
    }
}
