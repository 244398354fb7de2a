//! The WASI C toolchain for the C and C++ inside Rust dependencies (`zstd-sys`, `libz-sys`,
//! `libmimalloc-sys`, ...): what cc-rs, cmake-rs, bindgen and hand-written build scripts read
//! when cargo builds for a wasm target.
//!
//! **The choice: zig cc (qyv's pinned zig, clang 22) with zig's wasi-libc headers, its
//! objects linked by rustc against Rust's own self-contained wasi-libc.** rustc links every
//! wasm32-wasip1/p2 program with the `libc.a` in its target's `self-contained/` directory
//! (wasi-sdk 30's wasi-libc for rustc 1.95), so C objects must be compiled against headers of
//! the same ABI. That directory holds only `libc.a` and the crt objects, no headers; Debian's
//! clang 14 and its 2022 wasi-libc are older than it (no `setjmp.h`, different
//! declarations). zig 0.17.1 ships a recent wasi-libc with the same headers, including the
//! `__wasilibc_use_wasip2` parts (sockets) that Rust's wasip2 `libc.a` implements, and its
//! clang is the same LLVM major as rustc's, so its objects link without feature or
//! relocation mismatches. The zstd, zlib and mimalloc C code built this way gives output
//! identical to native (`tests/rust_c_deps.rs`).
//!
//! What Rust's `libc.a` lacks is supplied beside it, in a directory qyv owns:
//! - wasi-libc's emulation libraries (signal, mman, getpid, process clocks) and the
//!   setjmp/longjmp runtime, compiled from zig's copy of the wasi-libc sources (zig folds
//!   them into its own libc, which Rust does not link), plus a `clock()` of our own: zig's
//!   uses preview1 calls that the wasip2 `libc.a` does not have;
//! - qyv's compat layer (`c_compat`): the force-included header and the ENOSYS stubs;
//! - libc++ and libc++abi (built by zig for wasm32-wasi, without exceptions), made the first
//!   time a build script compiles C++; cc-rs links them from `WASI_SYSROOT`.
//!
//! The variables are target-scoped (`CC_wasm32_wasip2`, ...) so that C built for the host
//! (build scripts' own build-dependencies) still uses the host compiler. `CMAKE_TOOLCHAIN_FILE`
//! is set in its target-scoped spelling for the same reason (cmake-rs reads it first). Every
//! path and value is stable (the directory is keyed by qyv's version and zig's), so cargo sees
//! the same environment each time and does not re-run build scripts.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::c_compat::{self, Compat};
use crate::progress::Progress;
use crate::toolchain::BuildError;
use crate::tools;
use crate::zig_cc;

/// Packages whose presence in `Cargo.lock` means some dependency compiles C.
const C_BUILDERS: &[&str] = &["cc", "cmake", "bindgen", "bindgen-cli", "autotools"];

/// Variables by which the user chooses the C compiler for `target` themselves.
fn user_compiler_vars(target: &str) -> Vec<String> {
    vec![
        format!("CC_{target}"),
        format!("CC_{}", underscored(target)),
        "TARGET_CC".into(),
        "WASI_SDK_PATH".into(),
        "WASI_SYSROOT".into(),
    ]
}

fn underscored(target: &str) -> String {
    target.replace('-', "_")
}

/// The C toolchain a Rust build for one target uses.
#[derive(Debug)]
pub(super) enum CSetup {
    /// No dependency compiles C (per `Cargo.lock`): nothing is set.
    NotNeeded,
    /// The user chose the compiler (`var=value`): qyv sets nothing.
    Users(String),
    /// zig is not installed: C dependencies cannot build.
    NoZig,
    /// qyv's toolchain.
    Ours(CToolchain),
}

impl CSetup {
    /// The environment for cargo.
    pub(super) fn env(&self) -> &[(String, String)] {
        match self {
            CSetup::Ours(t) => &t.env,
            _ => &[],
        }
    }

    /// Arguments for the final rustc invocation (`cargo rustc -- ...`): the libraries that
    /// complete Rust's wasi-libc for C code.
    pub(super) fn link_args(&self) -> &[String] {
        match self {
            CSetup::Ours(t) => &t.link_args,
            _ => &[],
        }
    }

    /// A line for `-v` saying which C compiler the build uses.
    pub(super) fn describe(&self, target: &str) -> String {
        match self {
            CSetup::NotNeeded => {
                format!("C toolchain for {target}: not set up (no dependency compiles C)")
            }
            CSetup::Users(var) => {
                format!("C toolchain for {target}: yours ({var}); qyv sets no C variables")
            }
            CSetup::NoZig => format!(
                "C toolchain for {target}: none (zig is missing: `{}`)",
                zig_cc::INSTALL
            ),
            CSetup::Ours(t) => format!(
                "C toolchain for {target}: zig cc with qyv's WASI compat layer (CC_{} = {})",
                underscored(target),
                t.cc.display()
            ),
        }
    }
}

/// qyv's C toolchain for one target.
#[derive(Debug)]
pub(super) struct CToolchain {
    cc: PathBuf,
    env: Vec<(String, String)>,
    link_args: Vec<String>,
}

/// Sets up the C toolchain for building the Rust project in `dir` for `target`.
pub(super) fn setup(
    dir: &Path,
    target: &str,
    toolchain: Option<&str>,
    progress: &dyn Progress,
) -> Result<CSetup, BuildError> {
    if let Some(var) = user_choice(target, |k| std::env::var(k).ok()) {
        return Ok(CSetup::Users(var));
    }
    if !compiles_c(dir, toolchain) {
        return Ok(CSetup::NotNeeded);
    }
    let Some(zig) = zig_cc::zig() else {
        return Ok(CSetup::NoZig);
    };
    let compat = c_compat::prepare(&zig, progress)?;
    let root = prepare_dir(&zig, &compat, target, progress)?;
    Ok(CSetup::Ours(c_toolchain(&root, &zig, &compat, target)))
}

/// The user's own compiler variable for `target`, as `var=value`, if they set one.
fn user_choice(target: &str, get: impl Fn(&str) -> Option<String>) -> Option<String> {
    user_compiler_vars(target)
        .into_iter()
        .find_map(|var| get(&var).map(|value| format!("{var}={value}")))
}

/// Whether a dependency compiles C: `Cargo.lock` (of the project or a workspace above it)
/// names a C build helper. Without a lockfile, cargo makes it first (as the build would):
/// deciding otherwise on the first build than on the second would relink the program.
fn compiles_c(dir: &Path, toolchain: Option<&str>) -> bool {
    let find = || {
        dir.ancestors()
            .map(|d| d.join("Cargo.lock"))
            .find(|p| p.is_file())
    };
    let lock = find().or_else(|| {
        let cargo = super::rustup::cargo_for(dir, toolchain);
        let status = Command::new(&cargo.program)
            .current_dir(dir)
            .args(["generate-lockfile", "--quiet"])
            .envs(cargo.env())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        status.ok().filter(|s| s.success()).and_then(|_| find())
    });
    let Some(lock) = lock else {
        return true;
    };
    match qyvpack::bounded::read_to_string(&lock, 64 << 20, "Cargo.lock") {
        Ok(text) => lock_names_c_builder(&text),
        Err(_) => true,
    }
}

fn lock_names_c_builder(lock: &str) -> bool {
    lock.lines().any(|line| {
        line.strip_prefix("name = \"")
            .and_then(|rest| rest.strip_suffix('"'))
            .is_some_and(|name| C_BUILDERS.contains(&name))
    })
}

/// What the directory's contents depend on: a new qyv or zig gets a new directory, so the
/// paths cargo sees change only then.
fn dir_key(zig: &Path, compat: &Compat) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION"));
    h.update(zig_cc::INSTALL);
    h.update(zig.as_os_str().as_encoded_bytes());
    h.update(compat.cflags().join(" "));
    h.update(EMULATION_SOURCES.join(" "));
    h.update(CLOCK_SOURCE);
    // The files' text, with placeholder paths: a change to them is a new directory too.
    for target in [super::WASIP1, super::WASIP2] {
        for (name, text) in wrappers(zig, target, Path::new("LIB")) {
            h.update(name);
            h.update(text);
        }
    }
    h.update(cmake_toolchain(Path::new("BIN")));
    format!("{:x}", h.finalize())[..16].to_string()
}

/// zig's wasi-libc sources for what Rust's `libc.a` lacks (relative to `lib/libc/wasi`).
const EMULATION_SOURCES: &[&str] = &[
    "libc-bottom-half/signal/signal.c",
    "libc-bottom-half/mman/mman.c",
    "libc-bottom-half/getpid/getpid.c",
    "libc-top-half/musl/src/setjmp/wasm32/rt.c",
];

/// `clock()` for `_WASI_EMULATED_PROCESS_CLOCKS`, on the monotonic clock like wasi-libc's,
/// through `clock_gettime`, which both wasip1 and wasip2 `libc.a` have.
const CLOCK_SOURCE: &str = "/* Written by qyv: clock() as wasi-libc's process-clocks emulation defines it. */\n#include <time.h>\nstatic struct timespec qyv_clock_start;\n__attribute__((constructor(10))) static void qyv_clock_init(void) { clock_gettime(CLOCK_MONOTONIC, &qyv_clock_start); }\nclock_t clock(void) {\n  struct timespec now;\n  clock_gettime(CLOCK_MONOTONIC, &now);\n  return (clock_t)((now.tv_sec - qyv_clock_start.tv_sec) * 1000000000LL + (now.tv_nsec - qyv_clock_start.tv_nsec));\n}\n";

/// The directory with the wrappers, the CMake toolchain file and the libraries for `target`,
/// made once and then only read.
fn prepare_dir(
    zig: &Path,
    compat: &Compat,
    target: &str,
    progress: &dyn Progress,
) -> Result<PathBuf, BuildError> {
    let area = qyvpack::dirs::CacheArea::CCompat;
    let cache = area
        .dir_or_private_temp()
        .map_err(|e| BuildError::io("cannot find a private cache directory", e))?;
    let root = cache.join(format!("rust-{}", dir_key(zig, compat)));
    let ready = root.join(target).join(".ready");
    if ready.is_file() {
        return Ok(root);
    }
    progress.detail("the WASI C toolchain for Rust dependencies (once)");
    let io = |e| BuildError::io("cannot write the C toolchain for Rust", e);
    let bin = root.join(target).join("bin");
    let lib = root.join("sysroot/lib").join(target);
    std::fs::create_dir_all(&bin).map_err(io)?;
    std::fs::create_dir_all(&lib).map_err(io)?;
    for (name, text) in wrappers(zig, target, &lib) {
        write_script(&bin.join(name), &text).map_err(io)?;
    }
    let cmake = root.join(target).join("toolchain.cmake");
    std::fs::write(&cmake, cmake_toolchain(&bin)).map_err(io)?;
    build_emulation(zig, &lib, progress)?;
    std::fs::write(&ready, "").map_err(io)?;
    Ok(root)
}

fn write_script(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

/// Quotes `path` for sh.
fn sh_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// `cc`, `c++`, `ar`, `ranlib`: build scripts want one program path, not `zig cc`. The
/// compilers drop the `--target`/`--sysroot` that cc-rs adds (zig spells the target
/// `wasm32-wasi` and brings its own headers) and, for wasip2, turn on the wasi-libc
/// declarations that only the wasip2 `libc.a` implements.
fn wrappers(zig: &Path, target: &str, lib: &Path) -> Vec<(&'static str, String)> {
    let zig = sh_quote(zig);
    let p2 = if target == super::WASIP2 {
        " -D__wasilibc_use_wasip2"
    } else {
        ""
    };
    let filter = "for a do\n  shift\n  case \"$a\" in\n    --target=*|--sysroot=*) ;;\n    *) set -- \"$@\" \"$a\" ;;\n  esac\ndone\n";
    let head = format!(
        "#!/bin/sh\n# Written by qyv: the WASI C toolchain for Rust's {target} (zig cc).\n"
    );
    let cc = format!("{head}{filter}exec {zig} cc -target wasm32-wasi{p2} \"$@\"\n");
    let libcxx = libcxx_script(&zig, lib);
    let cxx = format!("{head}{libcxx}{filter}exec {zig} c++ -target wasm32-wasi{p2} \"$@\"\n");
    vec![
        ("cc", cc),
        ("c++", cxx),
        ("ar", format!("{head}exec {zig} ar \"$@\"\n")),
        ("ranlib", format!("{head}exec {zig} ranlib \"$@\"\n")),
    ]
}

/// Makes libc++ and libc++abi for wasm32-wasi the first time C++ is compiled (zig builds
/// them from its sources: minutes, once), copied to where cc-rs links them from
/// (`$WASI_SYSROOT/lib/<target>`). libc++abi is moved in last: its presence means both are.
fn libcxx_script(zig: &str, lib: &Path) -> String {
    let lib = sh_quote(lib);
    format!(
        r#"lib={lib}
if [ ! -f "$lib/libc++abi.a" ]; then
  work=$(mktemp -d "$lib/.libcxx.XXXXXX") || exit 1
  printf '#include <string>\nint main(int c, char **v) {{ std::string s(v[0]); return (int)s.size() - c; }}\n' > "$work/probe.cpp"
  if {zig} c++ -target wasm32-wasi -fno-exceptions "$work/probe.cpp" -o "$work/probe.wasm" -v > "$work/log" 2>&1; then
    for a in $(grep '^wasm-ld ' "$work/log"); do
      case "$a" in */libc++.a|*/libc++abi.a) cp "$a" "$work/" ;; esac
    done
  fi
  if [ -f "$work/libc++.a" ] && [ -f "$work/libc++abi.a" ]; then
    mv -f "$work/libc++.a" "$lib/libc++.a" && mv -f "$work/libc++abi.a" "$lib/libc++abi.a" && rm -rf "$work"
  else
    echo "qyv: no C++ standard library for WASI: zig could not build libc++ for wasm32-wasi (its output: $work/log)" >&2
    exit 1
  fi
fi
"#
    )
}

/// A CMake toolchain file for cmake-rs: the wrappers, and a generic wasm32 system.
fn cmake_toolchain(bin: &Path) -> String {
    let path = |name: &str| bin.join(name).display().to_string();
    format!(
        "# Written by qyv: the WASI C toolchain for Rust dependencies built with cmake-rs.\n\
         set(CMAKE_SYSTEM_NAME Generic)\n\
         set(CMAKE_SYSTEM_PROCESSOR wasm32)\n\
         set(CMAKE_C_COMPILER \"{}\")\n\
         set(CMAKE_CXX_COMPILER \"{}\")\n\
         set(CMAKE_AR \"{}\" CACHE FILEPATH \"\")\n\
         set(CMAKE_RANLIB \"{}\" CACHE FILEPATH \"\")\n\
         set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)\n\
         set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)\n\
         set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)\n\
         set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)\n",
        path("cc"),
        path("c++"),
        path("ar"),
        path("ranlib")
    )
}

/// Compiles the emulation libraries, the setjmp runtime and `clock()` into `libqyvwasi.a`.
fn build_emulation(zig: &Path, lib: &Path, progress: &dyn Progress) -> Result<(), BuildError> {
    let Some(wasi) = zig.parent().map(|d| d.join("lib/libc/wasi")) else {
        return Err(BuildError::Project("zig's directory is unknown".into()));
    };
    let work = tempfile::tempdir_in(lib)
        .map_err(|e| BuildError::io("cannot create a temporary directory", e))?;
    std::fs::write(work.path().join("qyv_clock.c"), CLOCK_SOURCE)
        .map_err(|e| BuildError::io("cannot write qyv_clock.c", e))?;
    let mut sources: Vec<PathBuf> = EMULATION_SOURCES.iter().map(|s| wasi.join(s)).collect();
    sources.push(work.path().join("qyv_clock.c"));
    let mut objects = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let object = work.path().join(format!("qyvwasi{i}.o"));
        let mut cmd = Command::new(zig);
        cmd.args(["cc", "-target", "wasm32-wasi", "-O2", "-c"])
            .args(c_compat::SJLJ_FLAGS)
            .arg(source)
            .arg("-o")
            .arg(&object);
        tools::run_tool(cmd, "zig cc (wasi-libc emulation)", progress)?;
        objects.push(object);
    }
    let mut ar = Command::new(zig);
    ar.args(["ar", "rcs"])
        .arg(work.path().join("libqyvwasi.a"))
        .args(&objects);
    tools::run_tool(ar, "zig ar (wasi-libc emulation)", progress)?;
    std::fs::rename(work.path().join("libqyvwasi.a"), lib.join("libqyvwasi.a"))
        .map_err(|e| BuildError::io("cannot write libqyvwasi.a", e))
}

/// The variables and link arguments for `target`, from the prepared directory `root`.
fn c_toolchain(root: &Path, zig: &Path, compat: &Compat, target: &str) -> CToolchain {
    let t = underscored(target);
    let bin = root.join(target).join("bin");
    let sysroot = root.join("sysroot");
    let lib = sysroot.join("lib").join(target);
    let cflags = compat.cflags().join(" ");
    let user = |var: &str| std::env::var(var).ok().filter(|v| !v.trim().is_empty());
    // The user's own flags come after ours, so theirs win where they conflict.
    let flags = |var: String, ours: String| {
        let value = match user(&var) {
            Some(theirs) => format!("{ours} {theirs}"),
            None => ours,
        };
        (var, value)
    };
    let includes = zig
        .parent()
        .map(|d| d.join("lib/libc/include"))
        .map(|inc| {
            format!(
                "-isystem {} -isystem {}",
                inc.join("wasm-wasi-musl").display(),
                inc.join("generic-musl").display()
            )
        })
        .unwrap_or_default();
    let p2 = if target == super::WASIP2 {
        " -D__wasilibc_use_wasip2"
    } else {
        ""
    };
    let defines: Vec<&str> = c_compat::EMULATION.iter().map(|(d, _)| *d).collect();
    let cc = bin.join("cc");
    let mut env = vec![
        (format!("CC_{t}"), cc.display().to_string()),
        (format!("CXX_{t}"), bin.join("c++").display().to_string()),
        (format!("AR_{t}"), bin.join("ar").display().to_string()),
        (
            format!("RANLIB_{t}"),
            bin.join("ranlib").display().to_string(),
        ),
        flags(format!("CFLAGS_{t}"), cflags.clone()),
        flags(format!("CXXFLAGS_{t}"), format!("{cflags} -fno-exceptions")),
        flags(
            format!("BINDGEN_EXTRA_CLANG_ARGS_{t}"),
            // Default visibility: for wasm, clang hides declarations by default, and bindgen
            // leaves hidden functions out.
            format!(
                "--target=wasm32-wasi{p2} -fvisibility=default {includes} {}",
                defines.join(" ")
            ),
        ),
        (format!("CXXSTDLIB_{t}"), "c++".into()),
        (
            format!("CMAKE_TOOLCHAIN_FILE_{t}"),
            root.join(target)
                .join("toolchain.cmake")
                .display()
                .to_string(),
        ),
        ("WASI_SYSROOT".into(), sysroot.display().to_string()),
    ];
    // A variable the user set themselves is theirs (flags above are combined instead).
    let is_flags = |k: &str| {
        ["CFLAGS_", "CXXFLAGS_", "BINDGEN_"]
            .iter()
            .any(|p| k.starts_with(p))
    };
    env.retain(|(k, _)| is_flags(k) || user(k).is_none());
    let mut link_args = vec![
        "-L".to_string(),
        format!("native={}", lib.display()),
        "-L".to_string(),
    ];
    // The compat layer's directory is the `-L` of its `-lqyvcompat`.
    link_args.extend(
        compat
            .ldflags()
            .iter()
            .filter_map(|f| f.strip_prefix("-L"))
            .map(|d| format!("native={d}")),
    );
    for l in ["-lqyvwasi", "-lqyvcompat"] {
        link_args.push("-C".into());
        link_args.push(format!("link-arg={l}"));
    }
    CToolchain { cc, env, link_args }
}

/// What `qyv doctor` says about the C toolchain Rust builds use (for wasm32-wasip2).
pub(crate) fn doctor_line() -> String {
    let target = super::WASIP2;
    if let Some(var) = user_choice(target, |k| std::env::var(k).ok()) {
        return format!("C deps: yours ({var})");
    }
    match zig_cc::zig().and_then(|z| tools::version_line(&z, &["version"])) {
        Some(v) => format!("C deps: zig cc {v} + qyv's WASI compat layer"),
        None => format!("C deps: none (install zig: `{}`)", zig_cc::INSTALL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lockfile_with_cc_means_c() {
        assert!(lock_names_c_builder(
            "[[package]]\nname = \"cc\"\nversion = \"1.2.0\"\n"
        ));
        assert!(!lock_names_c_builder(
            "[[package]]\nname = \"ccc\"\nversion = \"1\"\n[[package]]\nname = \"serde\"\n"
        ));
    }

    #[test]
    fn the_users_compiler_wins() {
        let get = |k: &str| (k == "CC_wasm32_wasip2").then(|| "/opt/wasi-sdk/bin/clang".into());
        assert_eq!(
            user_choice("wasm32-wasip2", get).as_deref(),
            Some("CC_wasm32_wasip2=/opt/wasi-sdk/bin/clang")
        );
        assert_eq!(user_choice("wasm32-wasip1", |_| None), None);
        let sdk = |k: &str| (k == "WASI_SDK_PATH").then(|| "/opt/wasi-sdk".into());
        assert_eq!(
            user_choice("wasm32-wasip1", sdk).as_deref(),
            Some("WASI_SDK_PATH=/opt/wasi-sdk")
        );
    }
}
