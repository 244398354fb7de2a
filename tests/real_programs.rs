//! Real programs no one here wrote, and C projects built their own way, through the real
//! `qyv build` and `qyv run`:
//! - bzip2 1.0.8 (C), from the `bzip2-sys` crate's sources on crates.io, built by its own
//!   Makefile through `build.command`: it must decompress the reference samples it ships;
//! - `tomljson` from go-toml v2 (Go), as Debian packages it
//!   (`golang-github-pelletier-go-toml.v2-dev`), built in GOPATH mode: TOML in, JSON out;
//! - a Makefile project and a CMake project without `build.command`, using setjmp/longjmp and
//!   `system()` (qyv's compat layer).
//!
//! scripts/install-toolchains.sh installs what they need; a missing piece fails loudly.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{copy_dir, qyv, root};

struct Out {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

fn run(cmd: &mut Command, stdin: &[u8]) -> Out {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn build(dir: &Path, env: &[(&str, &str)]) -> String {
    let out = run(qyv().arg("build").arg(dir).envs(env.iter().copied()), b"");
    assert_eq!(
        out.code,
        Some(0),
        "qyv build {}:\n{}",
        dir.display(),
        out.stderr
    );
    out.stderr
}

/// bzip2 1.0.8's sources from crates.io (the `bzip2-sys` crate vendors them), fetched by cargo.
fn bzip2_sources() -> PathBuf {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("Cargo.toml"),
        "[package]\nname = \"fetch-bzip2\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[dependencies]\nbzip2-sys = \"=0.1.11\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(tmp.path().join("src")).unwrap();
    std::fs::write(tmp.path().join("src/lib.rs"), "").unwrap();
    let status = Command::new("cargo")
        .arg("fetch")
        .arg("--manifest-path")
        .arg(tmp.path().join("Cargo.toml"))
        .status()
        .unwrap();
    assert!(status.success(), "cargo fetch bzip2-sys failed");
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    std::fs::read_dir(cargo_home.join("registry/src"))
        .unwrap()
        .flatten()
        .map(|index| index.path().join("bzip2-sys-0.1.11+1.0.8/bzip2-1.0.8"))
        .find(|p| p.join("bzip2.c").is_file())
        .expect("bzip2-sys sources in cargo's registry cache")
}

#[test]
fn bzip2_from_crates_io_builds_with_its_makefile_and_decompresses_its_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bzip2");
    copy_dir(&bzip2_sources(), &dir);
    std::fs::write(
        dir.join("bzip2.qyv"),
        "name: bzip2\nentrypoint: target/qyv/bzip2.wasm\nlanguage: c\npermissions:\n  fs: none\n\
         build:\n  command: make bzip2 CC=\"$CC\" AR=\"$AR\" RANLIB=\"$RANLIB\" CFLAGS=\"$CFLAGS\" LDFLAGS=\"$LDFLAGS\"\n  output: bzip2\n",
    )
    .unwrap();
    let log = build(&dir, &[]);
    assert!(
        log.contains("linked qyv's stubs for what WASI lacks (fchown)"),
        "{log}"
    );
    for sample in ["sample1", "sample2", "sample3"] {
        let compressed = std::fs::read(dir.join(format!("{sample}.bz2"))).unwrap();
        let out = run(
            qyv().args(["run", "-q"]).arg(&dir).args(["--", "-dc"]),
            &compressed,
        );
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert!(
            out.stdout == std::fs::read(dir.join(format!("{sample}.ref"))).unwrap(),
            "bzip2 -dc {sample}.bz2 differs from {sample}.ref"
        );
    }
    // And back: what it compresses, it decompresses.
    let text = std::fs::read(dir.join("sample2.ref")).unwrap();
    let packed = run(
        qyv().args(["run", "-q"]).arg(&dir).args(["--", "-c"]),
        &text,
    );
    assert_eq!(packed.code, Some(0), "{}", packed.stderr);
    assert!(packed.stdout.starts_with(b"BZh"));
    let unpacked = run(
        qyv().args(["run", "-q"]).arg(&dir).args(["--", "-dc"]),
        &packed.stdout,
    );
    assert!(unpacked.stdout == text);
    // A damaged stream is refused with bzip2's own message and a failing status.
    let mut damaged = packed.stdout.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0xff;
    let out = run(
        qyv().args(["run", "-q"]).arg(&dir).args(["--", "-dc"]),
        &damaged,
    );
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("Data integrity error"),
        "{}",
        out.stderr
    );
}

#[test]
fn tomljson_from_debian_go_toml_converts_toml_to_json() {
    let source = Path::new("/usr/share/gocode/src/github.com/pelletier/go-toml/v2");
    assert!(
        source.join("cmd/tomljson/main.go").is_file(),
        "go-toml v2 sources missing: apt-get install golang-github-pelletier-go-toml.v2-dev \
         (scripts/install-toolchains.sh does)"
    );
    // GOPATH mode, as Debian builds its Go packages: the module's test-only requirements
    // would need the Go module proxy, which is not reachable.
    let tmp = tempfile::tempdir().unwrap();
    let gopath = tmp.path().join("gopath");
    let module = gopath.join("src/github.com/pelletier/go-toml/v2");
    copy_dir(source, &module);
    let dir = module.join("cmd/tomljson");
    let gopath_str = gopath.display().to_string();
    let env = [("GO111MODULE", "off"), ("GOPATH", gopath_str.as_str())];
    build(&dir, &env);
    let toml = b"title = \"qyv\"\n[owner]\nname = \"Tom\"\nports = [8000, 8001]\n";
    let out = run(
        qyv()
            .args(["run", "-q"])
            .arg(&dir)
            .envs(env.iter().copied()),
        toml,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"title": "qyv", "owner": {"name": "Tom", "ports": [8000, 8001]}})
    );
    let out = run(
        qyv()
            .args(["run", "-q"])
            .arg(&dir)
            .envs(env.iter().copied()),
        b"[owner\n",
    );
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("expected character ]"),
        "{}",
        out.stderr
    );
}

fn check_setjmp_program(dir: &Path, log: &str) {
    assert!(
        log.contains("linked qyv's stubs for what WASI lacks (system)"),
        "{log}"
    );
    let out = run(
        qyv().args(["run", "-q"]).arg(dir).args(["--", "1", "5"]),
        b"",
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "guarded(1) = 10\nguarded(5) = -5\nsystem -> -1 (Function not implemented)\n"
    );
}

#[test]
fn a_makefile_project_builds_without_build_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("prog");
    copy_dir(&root().join("tests/fixtures/c-setjmp"), &dir);
    let log = build(&dir, &[]);
    assert!(log.contains("built prog (make)"), "{log}");
    check_setjmp_program(&dir, &log);
}

#[test]
fn a_cmake_project_builds_without_build_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cmdemo");
    copy_dir(&root().join("tests/fixtures/c-setjmp"), &dir);
    std::fs::remove_file(dir.join("Makefile")).unwrap();
    std::fs::write(
        dir.join("CMakeLists.txt"),
        "cmake_minimum_required(VERSION 3.10)\nproject(cmdemo C)\nadd_executable(cmdemo main.c util.c)\n",
    )
    .unwrap();
    let log = build(&dir, &[]);
    assert!(log.contains("built cmdemo (cmake)"), "{log}");
    check_setjmp_program(&dir, &log);
}
