//! Nim: `nim c` with Debian's clang and wasi-libc for wasm32-wasi (ARC memory management,
//! libc malloc, no threads), on a nimble project's program (`<srcDir>/<bin>.nim`), else
//! `src/<name>.nim`, `src/main.nim` or `main.nim`. Nim itself reads the project's `nim.cfg` and
//! `config.nims` (local `--path`s work); a `requires` that neither nimble's installed packages
//! nor those paths provide is named in an error before compiling, since nimble would have to
//! fetch it. Nim's own C `main(argc, argv, env)` does not match what wasi-libc
//! calls, so qyv compiles with `--noMain` and links a small C `main` that hands argv and the
//! environment to Nim. The preview1 core module is adapted with the command adapter.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::progress::Progress;
use crate::toolchain::{
    BuildError, BuildRequest, CompileOutput, Driver, Missing, ToolStatus, Toolchain,
};
use crate::tools;

mod nimble;

use nimble::Nimble;

/// The Nim driver.
pub struct Nim;

const INSTALL: &str = "apt-get install nim clang lld wasi-libc libclang-rt-14-dev-wasm32";

/// wasi-libc as Debian's `wasi-libc` package installs it (clang finds it by itself).
const WASI_LIBC: &str = "/usr/lib/wasm32-wasi/libc.a";

/// The C `main` linked into every Nim program: wasi-libc calls `main(argc, argv)`, Nim's
/// generated one takes three arguments and traps on the mismatch. The 2022 wasi-libc also
/// lacks `flockfile`/`funlockfile`, which Nim's I/O calls.
const MAIN_SHIM: &str = r#"/* Written by qyv: the C entry point of a Nim program on WASI. */
extern int cmdCount;
extern char **cmdLine;
extern char **gEnv;
extern char **environ;
extern int nim_program_result;
void NimMain(void);
int flockfile(void *f) { (void)f; return 0; }
int funlockfile(void *f) { (void)f; return 0; }
int main(int argc, char **argv) {
  cmdCount = argc;
  cmdLine = argv;
  gEnv = environ;
  NimMain();
  return nim_program_result;
}
"#;

/// The program's main file: for a nimble project, `<srcDir>/<bin>.nim` (the one `wanted`
/// names when it lists several); otherwise `src/<name>.nim`, `src/main.nim`, `main.nim` or a
/// directory's single `.nim` file.
fn main_file(dir: &Path, wanted: Option<&str>) -> Result<Option<PathBuf>, BuildError> {
    let name = tools::dir_name(dir);
    let nimble = Nimble::in_dir(dir);
    let src = nimble
        .as_ref()
        .and_then(|n| n.src_dir.clone())
        .unwrap_or_else(|| "src".into());
    if let Some(n) = nimble.as_ref().filter(|n| !n.bin.is_empty()) {
        let stem = |w: &str| {
            Path::new(w)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let bin = match (wanted.map(stem), n.bin.as_slice()) {
            (Some(w), bins) if bins.iter().any(|b| stem(b) == w) => w,
            (Some(w), bins) => {
                return Err(BuildError::Project(format!(
                    "{}.nimble has no program `{w}` in `bin`; it lists: {}",
                    n.name,
                    bins.join(", ")
                )));
            }
            (None, [one]) => one.clone(),
            (None, bins) => {
                return Err(BuildError::Project(format!(
                    "{}.nimble lists several programs in `bin` ({}): choose one with \
                     `build.output` in the manifest or `--bin`",
                    n.name,
                    bins.join(", ")
                )));
            }
        };
        let main = dir.join(&src).join(format!("{bin}.nim"));
        if !main.is_file() {
            return Err(BuildError::Project(format!(
                "{}.nimble names the program `{bin}`, but {} is missing",
                n.name,
                main.display()
            )));
        }
        return Ok(Some(main));
    }
    let mut candidates = Vec::new();
    if let Some(n) = &nimble {
        candidates.push(format!("{src}/{}.nim", n.name));
        candidates.push(format!("{}.nim", n.name));
    }
    candidates.push(format!("{src}/{name}.nim"));
    candidates.extend([format!("{src}/main.nim"), "main.nim".into()]);
    Ok(candidates
        .iter()
        .map(|p| dir.join(p))
        .find(|p| p.is_file())
        .or_else(|| {
            // A directory with one .nim file is that program.
            match tools::files_with_extension(dir, &["nim"]).as_slice() {
                [one] => Some(one.clone()),
                _ => None,
            }
        }))
}

/// Refuses a nimble project whose `requires` names packages nimble would have to fetch.
fn check_requirements(dir: &Path, main: &Path) -> Result<(), BuildError> {
    let Some(nimble) = Nimble::in_dir(dir) else {
        return Ok(());
    };
    // Nim reads nim.cfg and config.nims from the main file's directory and those above it.
    let dirs: Vec<PathBuf> = main
        .parent()
        .into_iter()
        .flat_map(Path::ancestors)
        .take_while(|d| d.starts_with(dir))
        .map(Path::to_path_buf)
        .collect();
    let mut paths = nimble::config_paths(&dirs);
    if let Some(src) = &nimble.src_dir {
        paths.push(dir.join(src));
    }
    let unmet = nimble::unmet(&nimble.requires, &paths);
    if unmet.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = unmet
        .iter()
        .filter_map(|r| nimble::package_name(r))
        .collect();
    Err(BuildError::Project(format!(
        "{}.nimble requires Nim packages that are not installed: {}. nimble would fetch them \
         from the network, which qyv does not do: install them with `nimble install {}` \
         where there is network, or put their sources in the project and add their \
         directories with `--path:\"...\"` in nim.cfg (or `switch(\"path\", \"...\")` in \
         config.nims)",
        nimble.name,
        unmet.join(", "),
        names.join(" ")
    )))
}

fn missing() -> Vec<Missing> {
    let mut missing = Vec::new();
    if tools::on_path("nim").is_none() {
        missing.push(Missing {
            what: "nim".into(),
            install: INSTALL.into(),
        });
    }
    if tools::on_path("clang").is_none() {
        missing.push(Missing {
            what: "clang".into(),
            install: INSTALL.into(),
        });
    }
    if !Path::new(WASI_LIBC).is_file() {
        missing.push(Missing {
            what: format!("wasi-libc ({WASI_LIBC})"),
            install: INSTALL.into(),
        });
    }
    if !clang_wasm_builtins() {
        missing.push(Missing {
            what: "clang's wasm32 builtins (libclang_rt.builtins-wasm32.a)".into(),
            install: INSTALL.into(),
        });
    }
    missing
}

/// Whether some installed clang has its wasm32-wasi builtins library.
fn clang_wasm_builtins() -> bool {
    let Ok(llvms) = std::fs::read_dir("/usr/lib") else {
        return false;
    };
    llvms
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("llvm-"))
        .any(|llvm| {
            let clang = llvm.path().join("lib/clang");
            std::fs::read_dir(clang)
                .into_iter()
                .flatten()
                .flatten()
                .any(|v| {
                    v.path()
                        .join("lib/wasi/libclang_rt.builtins-wasm32.a")
                        .is_file()
                })
        })
}

impl Toolchain for Nim {
    fn driver(&self) -> Driver {
        Driver::Nim
    }

    fn markers(&self) -> &'static [&'static str] {
        &["*.nimble", "src/main.nim", "main.nim", "*.nim"]
    }

    fn find_marker(&self, dir: &Path) -> Option<PathBuf> {
        let nimble = tools::files_with_extension(dir, &["nimble"])
            .into_iter()
            .next();
        nimble.or_else(|| main_file(dir, None).ok().flatten())
    }

    fn chosen(&self) -> Option<String> {
        let nim = tools::on_path("nim")?;
        Some(format!(
            "{}: `nim` on PATH (with clang and wasi-libc from `{INSTALL}`)",
            nim.display()
        ))
    }

    fn status(&self) -> ToolStatus {
        let version = tools::on_path("nim").and_then(|n| tools::version_line(&n, &["--version"]));
        ToolStatus {
            driver: Driver::Nim,
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
        if !lacking.is_empty() {
            return Err(BuildError::ToolchainMissing {
                driver: Driver::Nim,
                missing: lacking,
            });
        }
        let dir = &request.dir;
        let wanted = request.bin.as_deref().or(request.output.as_deref());
        let main = main_file(dir, wanted)?.ok_or_else(|| {
            BuildError::Project(format!(
                "no Nim main file in {}: looked for a .nimble's bin, src/<name>.nim, \
                 src/main.nim, main.nim, or a single .nim file",
                dir.display()
            ))
        })?;
        check_requirements(dir, &main)?;
        let name = match Nimble::in_dir(dir) {
            Some(n) if !n.bin.is_empty() => main
                .file_stem()
                .map(|s| tools::dir_name(Path::new(s)))
                .unwrap_or_else(|| tools::dir_name(dir)),
            _ => tools::dir_name(dir),
        };
        let target_dir = dir.join("target/qyv");
        std::fs::create_dir_all(&target_dir)
            .map_err(|e| BuildError::io("cannot create target/qyv", e))?;
        let out = target_dir.join(format!("{name}.core.wasm"));
        let debug = request.profile.as_deref() == Some("debug");
        let digest = tools::sources_digest(
            dir,
            &["nim", "nims", "nimble", "cfg"],
            &format!("{INSTALL} {:?} {MAIN_SHIM}", request.profile),
        );
        if tools::up_to_date(&out, &digest) {
            return Ok(output(out, name));
        }
        let shim = target_dir.join("nim_main_shim.c");
        std::fs::write(&shim, MAIN_SHIM)
            .map_err(|e| BuildError::io("cannot write the C main shim", e))?;
        let mut cmd = Command::new("nim");
        cmd.current_dir(dir).args([
            "c",
            "--cpu:wasm32",
            "--os:linux",
            "--cc:clang",
            "--clang.exe:clang",
            "--clang.linkerexe:clang",
            "--mm:arc",
            "--threads:off",
            "-d:useMalloc",
            "--noMain",
            "--hints:off",
            "--passC:--target=wasm32-wasi",
            "--passL:--target=wasm32-wasi",
            "--passC:-D_WASI_EMULATED_SIGNAL",
            "--passL:-lwasi-emulated-signal",
        ]);
        if debug {
            cmd.arg("--debugger:native");
        } else {
            cmd.args(["-d:release", "--opt:size", "--passL:-Wl,--strip-all"]);
        }
        cmd.arg(format!(
            "--nimcache:{}",
            target_dir.join("nimcache").display()
        ))
        .arg(format!("--passL:{}", shim.display()))
        .arg(format!("-o:{}", out.display()))
        .arg(main.strip_prefix(dir).unwrap_or(&main));
        progress.phase("compiling");
        progress.detail("nim");
        tools::run_and_record(cmd, "nim", progress, &out, &digest)?;
        Ok(output(out, name))
    }
}

fn output(wasm: PathBuf, name: String) -> CompileOutput {
    CompileOutput::new(wasm, name, "wasm32-wasi (nim + clang)")
}
