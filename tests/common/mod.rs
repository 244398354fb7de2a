//! Shared support for the end-to-end tests: the `qyv` binary and real wasm fixtures
//! compiled from source under `tests/fixtures/`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod http;
pub mod registry;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `Command` for the `qyv` binary under test.
pub fn qyv() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_qyv"));
    // No background compiles after build and pack: tests that want one ask for it, the others
    // would only spend CI's two cores on it.
    cmd.env("NO_COLOR", "1").env("QYV_PRECOMPILE", "0");
    cmd
}

/// `qyv run -q DIR -- ARGS` with `input` on its stdin; stdout captured, stderr passed through.
pub fn run_with_stdin(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = qyv()
        .args(["run", "-q"])
        .arg(dir)
        .arg("--")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// A private directory to run qyv in, with its own trust store and cache (`config/` and
/// `cache/` inside it) and no signing key from the environment.
pub struct Sandbox {
    pub tmp: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    /// A path inside the sandbox.
    pub fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    /// Runs qyv in the sandbox with its private trust store and cache.
    pub fn qyv(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// A `qyv` command in the sandbox with its private trust store and cache, for a caller
    /// that sets more (the environment, stdin) before running it.
    pub fn command(&self) -> Command {
        let mut cmd = qyv();
        cmd.current_dir(self.tmp.path())
            .env("QYV_CONFIG_DIR", self.path("config"))
            .env("QYV_CACHE_DIR", self.path("cache"))
            .env_remove("QYV_SIGNING_KEY");
        cmd
    }
}

/// Builds the Rust fixture crate `tests/fixtures/<name>` for `target` (e.g. `wasm32-wasip2`)
/// in release mode and returns the path of the `.wasm` it produced. Cargo's own locking makes
/// concurrent calls from several test binaries safe, and a second call is a no-op build.
///
/// Fails loudly (panics with cargo's output) when the target is not installed: the test
/// set-up (`scripts/test.sh`) installs it.
pub fn rust_fixture(name: &str, target: &str) -> PathBuf {
    let dir = root().join("tests/fixtures").join(name);
    let target_dir = fixture_target_dir();
    let out = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "--target", target])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .expect("running cargo to build a wasm fixture");
    assert!(
        out.status.success(),
        "building fixture {name} for {target} failed (is the target installed? run scripts/test.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wasm = target_dir
        .join(target)
        .join("release")
        .join(format!("{name}.wasm"));
    assert!(wasm.is_file(), "fixture output {} missing", wasm.display());
    wasm
}

/// Where fixtures are built: beside the workspace's own target directory.
pub fn fixture_target_dir() -> PathBuf {
    // CARGO_BIN_EXE_qyv is <target-dir>/<profile>/qyv.
    let exe = Path::new(env!("CARGO_BIN_EXE_qyv"));
    exe.parent()
        .and_then(Path::parent)
        .map(|t| t.join("fixtures"))
        .unwrap_or_else(|| root().join("target/fixtures"))
}

/// Copies the source of a crate pinned in `tests/fixtures/registry-crates` (downloaded from
/// the crate registry by `cargo metadata`) into `dest`, and returns the copy's directory.
pub fn registry_crate(name: &str, dest: &Path) -> PathBuf {
    let manifest = root().join("tests/fixtures/registry-crates/Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .expect("running cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let src = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["manifest_path"].as_str())
        .map(|p| Path::new(p).parent().unwrap().to_path_buf())
        .unwrap_or_else(|| panic!("{name} is not pinned in {}", manifest.display()));
    let copy = dest.join(name);
    copy_dir(&src, &copy);
    copy
}

/// Copies a project directory, leaving out build outputs (`target`, Zig's caches).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            let name = entry.file_name();
            if name != "target" && name != "zig-out" && name != ".zig-cache" {
                copy_dir(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `qyv build DIR`, which must succeed; returns what it printed on stderr.
pub fn build_ok(dir: &Path) -> String {
    let out = qyv().arg("build").arg(dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "qyv build {} failed (toolchains come from scripts/install-toolchains.sh):\n{stderr}",
        dir.display()
    );
    stderr
}

/// `qyv inspect --json FILE`, which must succeed, parsed.
pub fn inspect_json(file: &Path) -> serde_json::Value {
    let out = qyv()
        .args(["inspect", "--json"])
        .arg(file)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("inspect --json prints JSON")
}

/// The `name`s of a list in inspect's JSON (imports, exports).
pub fn names(list: &serde_json::Value) -> Vec<&str> {
    list.as_array()
        .expect("a JSON list")
        .iter()
        .map(|e| e["name"].as_str().expect("a name"))
        .collect()
}

/// Waits (up to five minutes: the background compile runs at low priority, and CI's two
/// cores are busy with other tests) until the compile cache under `cache` holds a whole entry.
pub fn wait_for_compiled(cache: &Path) {
    let compiled = cache.join("compiled");
    for _ in 0..3000 {
        let whole = std::fs::read_dir(&compiled).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "xxh3"))
        });
        if whole {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("nothing was compiled into {}", compiled.display());
}
