//! Rust projects whose dependencies compile C and C++, built by the real `qyv build` with its
//! WASI C toolchain (zig cc + the compat layer), run by `qyv run`, and compared with the same
//! project built natively by `cargo build`:
//! - `tests/fixtures/rust-c-deps`: zstd 0.13 (zstd-sys), flate2 with `zlib` (libz-sys), and a
//!   path dependency that builds C++ with cc-rs `cpp(true)`;
//! - `tests/fixtures/rust-mimalloc`: mimalloc as the global allocator, also with the user's
//!   own `CC_wasm32_wasip2` and for the wasip1 target;
//! - `tests/fixtures/rust-c-compat`: C needing the compat layer (setjmp, tmpfile, signal,
//!   clock) through cc-rs, and a CMake library through cmake-rs;
//! - `tests/fixtures/rust-c-nowasi`: C calling what WASI lacks, for the error.
//!
//! Each test builds its project once (a copy in a temporary directory) and checks everything
//! it can on that build. Crates come from the registry, pinned by each fixture's Cargo.lock.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{copy_dir, qyv, root};

/// A copy of `tests/fixtures/<name>` in a fresh temporary directory.
fn fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    copy_dir(&root().join("tests/fixtures").join(name), &dir);
    (tmp, dir)
}

/// `qyv build -v DIR` with `env`; returns (success, stderr).
fn qyv_build(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = qyv()
        .args(["build", "-v"])
        .args(args)
        .arg(dir)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn build_ok(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let (ok, stderr) = qyv_build(dir, args, env);
    assert!(ok, "qyv build {} failed:\n{stderr}", dir.display());
    stderr
}

/// Runs `cmd` with `stdin`; returns stdout, asserting success.
fn run(cmd: &mut Command, stdin: &[u8]) -> Vec<u8> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The component `qyv build` wrote, run with `qyv run`.
fn run_wasm(dir: &Path, name: &str, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let wasm = dir.join("target/qyv").join(format!("{name}.wasm"));
    run(qyv().arg("run").arg(&wasm).arg("--").args(args), stdin)
}

/// The project built natively (`cargo build --release` for the host) beside the wasm build;
/// returns its binary.
fn native(dir: &Path, name: &str) -> PathBuf {
    let target_dir = dir.join("target/native");
    let out = Command::new(env!("CARGO"))
        .current_dir(dir)
        .args(["build", "--release", "--quiet", "--locked", "--target-dir"])
        .arg(&target_dir)
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "native build of {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    target_dir.join("release").join(name)
}

/// About 200 KB of English-like text, the same every run.
fn text() -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "and", "a", "river",
        "runs", "through", "quiet", "valley", "where", "old", "stones", "keep", "their", "secrets",
        "under", "moss",
    ];
    let mut x: u32 = 12345;
    let mut out = String::new();
    while out.len() < 200_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        out.push_str(WORDS[(x >> 16) as usize % WORDS.len()]);
        out.push(if (x >> 8).is_multiple_of(11) {
            '\n'
        } else {
            ' '
        });
    }
    out.into_bytes()
}

#[test]
fn zstd_zlib_and_cxx_dependencies_match_native_and_rebuild_as_a_no_op() {
    let (_tmp, dir) = fixture("rust-c-deps");
    let first = build_ok(&dir, &[], &[]);
    assert!(
        first.contains("C toolchain for wasm32-wasip2: zig cc with qyv's WASI compat layer"),
        "-v names the C toolchain:\n{first}"
    );

    // Incremental: nothing changed, so cargo compiles nothing (no build script re-run by a
    // changed environment) and qyv keeps its output.
    let second = build_ok(&dir, &[], &[]);
    assert!(
        !second.contains("Compiling"),
        "second build recompiled:\n{second}"
    );
    assert!(second.contains("up to date"), "{second}");

    let input = text();
    let native = native(&dir, "cdeps");

    // zstd: round trip, sizes equal to native.
    let wasm_zstd = run_wasm(&dir, "cdeps", &["zstd"], &input);
    let native_zstd = run(Command::new(&native).arg("zstd"), &input);
    assert_eq!(
        String::from_utf8_lossy(&wasm_zstd),
        String::from_utf8_lossy(&native_zstd)
    );
    assert!(
        String::from_utf8_lossy(&wasm_zstd).starts_with(&format!("zstd {} -> ", input.len())),
        "{}",
        String::from_utf8_lossy(&wasm_zstd)
    );

    // zlib: gzip byte-identical to native, and each side gunzips the other's output.
    let wasm_gz = run_wasm(&dir, "cdeps", &["gzip"], &input);
    let native_gz = run(Command::new(&native).arg("gzip"), &input);
    assert!(wasm_gz.len() < input.len() / 2, "gzip compressed");
    assert!(wasm_gz == native_gz, "gzip output differs from native");
    assert!(run_wasm(&dir, "cdeps", &["gunzip"], &native_gz) == input);
    assert!(run(Command::new(&native).arg("gunzip"), &wasm_gz) == input);

    // C++ (libc++: string, map, sort) in a path dependency built with cc-rs `cpp(true)`.
    let wasm_cxx = run_wasm(&dir, "cdeps", &["cxx"], &input);
    let native_cxx = run(Command::new(&native).arg("cxx"), &input);
    assert_eq!(
        String::from_utf8_lossy(&wasm_cxx),
        String::from_utf8_lossy(&native_cxx)
    );
    assert!(
        String::from_utf8_lossy(&wasm_cxx).starts_with("words 23 "),
        "{}",
        String::from_utf8_lossy(&wasm_cxx)
    );
}

#[test]
fn mimalloc_as_global_allocator_matches_native_on_wasip2_and_wasip1() {
    let (_tmp, dir) = fixture("rust-mimalloc");
    build_ok(&dir, &[], &[]);
    let expected = run(&mut Command::new(native(&dir, "mimalloc-app")), b"");
    assert!(
        String::from_utf8_lossy(&expected).starts_with("distinct "),
        "{}",
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(
        String::from_utf8_lossy(&run_wasm(&dir, "mimalloc-app", &[], b"")),
        String::from_utf8_lossy(&expected)
    );

    // The wasip1 target (the fallback for old lockfiles) gets the same C toolchain.
    let p1 = build_ok(&dir, &["--target", "wasm32-wasip1"], &[]);
    assert!(
        p1.contains("C toolchain for wasm32-wasip1: zig cc with qyv's WASI compat layer"),
        "{p1}"
    );
    assert_eq!(
        String::from_utf8_lossy(&run_wasm(&dir, "mimalloc-app", &[], b"")),
        String::from_utf8_lossy(&expected)
    );
}

#[test]
fn the_users_own_c_compiler_is_used_and_said_with_v() {
    let (tmp, dir) = fixture("rust-mimalloc");
    let zig = qyvbuild::zig_cc::zig().expect("zig (scripts/install-toolchains.sh installs it)");
    let log = tmp.path().join("cc.log");
    let cc = tmp.path().join("my-cc");
    std::fs::write(
        &cc,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nfor a do\n  shift\n  case \"$a\" in --target=*) ;; *) set -- \"$@\" \"$a\" ;; esac\ndone\nexec '{}' cc -target wasm32-wasi \"$@\"\n",
            log.display(),
            zig.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cc = cc.display().to_string();
    let stderr = build_ok(&dir, &[], &[("CC_wasm32_wasip2", &cc)]);
    assert!(
        stderr.contains(&format!(
            "C toolchain for wasm32-wasip2: yours (CC_wasm32_wasip2={cc})"
        )),
        "-v says the user's compiler is used:\n{stderr}"
    );
    let calls = std::fs::read_to_string(&log).expect("the user's compiler was called");
    assert!(calls.contains("mimalloc"), "{calls}");
    assert!(
        String::from_utf8_lossy(&run_wasm(&dir, "mimalloc-app", &[], b"")).starts_with("distinct ")
    );
}

#[test]
fn c_calling_what_wasi_lacks_names_the_crate_and_the_function() {
    let (_tmp, dir) = fixture("rust-c-nowasi");
    let (ok, stderr) = qyv_build(&dir, &[], &[]);
    assert!(!ok, "a program calling socketpair linked:\n{stderr}");
    assert!(
        stderr.contains("crate `procs` calls `socketpair` (sockets through libc)"),
        "{stderr}"
    );

    // On wasip1 the same C links, as imports no WASI host has: the same error, every function.
    let (ok, stderr) = qyv_build(&dir, &["--target", "wasm32-wasip1"], &[]);
    assert!(!ok, "a program calling posix_spawn was accepted:\n{stderr}");
    assert!(
        stderr.contains("crate `procs` calls `socketpair` (sockets through libc)")
            && stderr.contains("crate `procs` calls `posix_spawn` (processes)"),
        "{stderr}"
    );
}

/// The Rust row of `qyv doctor --json`, with `env`.
fn doctor_rust_version(env: &[(&str, &str)]) -> String {
    let out = qyv()
        .args(["doctor", "--json"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let rust = json
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["language"] == "rust")
        .expect("rust row");
    rust["version"].as_str().unwrap().to_string()
}

#[test]
fn doctor_shows_the_c_toolchain_rust_builds_use() {
    let ours = doctor_rust_version(&[]);
    assert!(
        ours.contains("C deps: zig cc 0.17.1 + qyv's WASI compat layer"),
        "{ours}"
    );
    let theirs = doctor_rust_version(&[("CC_wasm32_wasip2", "/opt/wasi-sdk/bin/clang")]);
    assert!(
        theirs.contains("C deps: yours (CC_wasm32_wasip2=/opt/wasi-sdk/bin/clang)"),
        "{theirs}"
    );
}

#[test]
fn c_needing_the_compat_layer_and_a_cmake_library_build_and_run() {
    let (_tmp, dir) = fixture("rust-c-compat");
    let stderr = build_ok(&dir, &[], &[]);
    assert!(
        stderr.contains("linked qyv's stubs for what WASI lacks (tmpfile)"),
        "{stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&run_wasm(&dir, "ccompat", &[], b"")),
        "setjmp 106 tmpfile 0 cmake 42\n"
    );
}
