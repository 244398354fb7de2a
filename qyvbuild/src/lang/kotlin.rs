//! Kotlin: Kotlin/Wasm for WASI with `kotlinc-wasm` (npm `kotlin-compiler`, a JVM program),
//! in two steps as the compiler wants them: the project's `.kt` files (in `src/`, or the
//! root) into a klib, then that klib into a wasm module. The module uses wasm GC, function
//! references and exception handling, which `qyv run`'s engine enables. It stays a preview1
//! core module, like Go's: Kotlin's linear-memory allocator grows memory by itself, and the
//! preview1 adapter would take its state page with `memory.grow` behind its back.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::progress::Progress;
use crate::toolchain::{
    BuildError, BuildRequest, CompileOutput, Driver, Missing, ToolStatus, Toolchain,
};
use crate::tools;

/// The Kotlin driver.
pub struct Kotlin;

const VERSION: &str = "2.4.20";

/// The compiler's home (`bin/kotlinc-wasm`, `lib/kotlin-stdlib-wasm-wasi.klib`).
fn kotlin_home() -> Option<PathBuf> {
    let home = tools::qyv_tools_dir().join("node_modules/kotlin-compiler");
    (home.join("bin/kotlinc-wasm").is_file() && home.join(STDLIB).is_file()).then_some(home)
}

const STDLIB: &str = "lib/kotlin-stdlib-wasm-wasi.klib";

/// The program's `.kt` files: in the root, and anywhere below `src/` except test source sets
/// (a Gradle layout such as `src/wasmWasiMain/kotlin/` works as it is; Gradle is not needed).
fn sources(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        out.extend(tools::files_with_extension(dir, &["kt"]));
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .filter(|p| {
                let name = p.file_name().map(|n| n.to_string_lossy().to_lowercase());
                !name.is_some_and(|n| n.contains("test") || n == "jvmmain" || n == "jsmain")
            })
            .collect();
        dirs.sort();
        for d in dirs {
            walk(&d, out);
        }
    }
    let mut files = tools::files_with_extension(dir, &["kt"]);
    walk(&dir.join("src"), &mut files);
    files
}

fn missing() -> Vec<Missing> {
    let mut missing = Vec::new();
    if tools::on_path("java").is_none() {
        missing.push(Missing {
            what: "java (kotlinc runs on the JVM)".into(),
            install: "apt-get install default-jre-headless".into(),
        });
    }
    if kotlin_home().is_none() {
        missing.push(Missing {
            what: "kotlinc-wasm (npm kotlin-compiler)".into(),
            install: tools::npm_install(&format!("kotlin-compiler@{VERSION}")),
        });
    }
    missing
}

impl Toolchain for Kotlin {
    fn driver(&self) -> Driver {
        Driver::Kotlin
    }

    fn markers(&self) -> &'static [&'static str] {
        &["build.gradle.kts", "src/**/*.kt", "*.kt"]
    }

    fn find_marker(&self, dir: &Path) -> Option<PathBuf> {
        // A project with Kotlin sources: its build.gradle.kts, if any, is the marker.
        let first = sources(dir).into_iter().next()?;
        Some(tools::first_file(dir, &["build.gradle.kts"]).unwrap_or(first))
    }

    fn keeps_core_module(&self) -> Option<&'static str> {
        Some(
            "Kotlin modules stay preview1 core modules: Kotlin's linear-memory allocator and the \
             preview1 adapter's state would share memory unknowingly, and qyv run executes core \
             modules with wasmtime's own preview1",
        )
    }

    fn status(&self) -> ToolStatus {
        let version = kotlin_home().map(|home| {
            let text = std::fs::read_to_string(home.join("build.txt")).ok();
            format!(
                "kotlinc-wasm {}",
                text.map(|t| t.trim().to_string())
                    .unwrap_or_else(|| VERSION.into())
            )
        });
        ToolStatus {
            driver: Driver::Kotlin,
            version,
            missing: missing(),
        }
    }

    fn compile(
        &self,
        request: &BuildRequest,
        progress: &dyn Progress,
    ) -> Result<CompileOutput, BuildError> {
        let lacking = missing();
        let (Some(home), true) = (kotlin_home(), lacking.is_empty()) else {
            return Err(BuildError::ToolchainMissing {
                driver: Driver::Kotlin,
                missing: lacking,
            });
        };
        let dir = &request.dir;
        let files = sources(dir);
        if files.is_empty() {
            return Err(BuildError::Project(format!(
                "no .kt files in {} or its src/",
                dir.display()
            )));
        }
        let name = tools::dir_name(dir);
        let work = dir.join("target/qyv/kotlin");
        std::fs::create_dir_all(&work)
            .map_err(|e| BuildError::io("cannot create target/qyv/kotlin", e))?;
        let out = work.join("out/app.wasm");
        let digest = tools::sources_digest(
            dir,
            &["kt"],
            &format!("kotlin-compiler {VERSION} {:?}", request.profile),
        );
        if tools::up_to_date(&out, &digest) {
            return Ok(output(out, name));
        }
        let kotlinc = home.join("bin/kotlinc-wasm");
        let stdlib = home.join(STDLIB);
        let common = |cmd: &mut Command| {
            cmd.current_dir(dir)
                .arg("-Xwasm-target=wasm-wasi")
                .arg("-libraries")
                .arg(&stdlib)
                .arg("-nowarn");
        };
        // 1: the sources into a klib.
        let _ = std::fs::remove_dir_all(work.join("klib"));
        let mut klib = Command::new(&kotlinc);
        common(&mut klib);
        klib.arg("-ir-output-dir")
            .arg(work.join("klib"))
            .args(["-ir-output-name", "app"])
            .args(files.iter().map(|f| f.strip_prefix(dir).unwrap_or(f)));
        progress.phase("compiling");
        progress.detail("kotlinc-wasm (klib)");
        tools::run_tool(klib, "kotlinc-wasm", progress)?;
        // 2: the klib into a wasm module.
        let mut wasm = Command::new(&kotlinc);
        common(&mut wasm);
        wasm.arg(format!(
            "-Xinclude={}",
            work.join("klib/app.klib").display()
        ))
        .arg("-ir-output-dir")
        .arg(work.join("out"))
        .args(["-ir-output-name", "app", "-Xir-produce-js"]);
        progress.detail("kotlinc-wasm (wasm)");
        tools::run_tool(wasm, "kotlinc-wasm", progress)?;
        if !out.is_file() {
            return Err(BuildError::Project(format!(
                "kotlinc-wasm succeeded but wrote no {}",
                out.display()
            )));
        }
        tools::record_sources(&out, &digest)
            .map_err(|e| BuildError::io("cannot record the sources digest", e))?;
        Ok(output(out, name))
    }
}

fn output(wasm: PathBuf, name: String) -> CompileOutput {
    CompileOutput::new(wasm, name, "wasm-wasi (kotlinc-wasm, wasm GC)")
}
