//! End-to-end tests of `qyv run`: a probe guest (tests/fixtures/probe) tries what the
//! sandbox should allow or refuse, under manifests written by each test.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{qyv, root, rust_fixture, wait_for_compiled};

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    /// Asserts that stderr holds `text`.
    #[track_caller]
    fn says(&self, text: &str) {
        assert!(self.stderr.contains(text), "{}", self.stderr);
    }

    /// Asserts the exit code, and that stderr holds `text`.
    #[track_caller]
    fn ends(&self, code: i32, text: &str) {
        assert_eq!(self.code, Some(code), "{}", self.stderr);
        self.says(text);
    }
}

fn run_qyv(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Out {
    let mut cmd = qyv();
    cmd.current_dir(cwd).arg("run").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A project directory with the probe component and `manifest` (YAML after the name and
/// entrypoint lines).
fn app(manifest: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(probe("wasm32-wasip2"), dir.path().join("probe.wasm")).unwrap();
    std::fs::write(
        dir.path().join("app.qyv"),
        format!("name: probe-app\nentrypoint: probe.wasm\n{manifest}"),
    )
    .unwrap();
    dir
}

fn probe(target: &str) -> PathBuf {
    rust_fixture("probe", target)
}

/// Runs the probe in `dir` (its app.qyv) with probe arguments.
fn probe_in(dir: &Path, args: &[&str]) -> Out {
    let mut all = vec!["-q", "app.qyv", "--"];
    all.extend_from_slice(args);
    run_qyv(&all, dir, &[])
}

#[test]
fn argv0_is_the_app_name_and_arguments_follow() {
    let dir = app("");
    let out = probe_in(dir.path(), &["argv", "a", "b c"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "ok probe-app argv a b c\n");
}

#[test]
fn fs_none_opens_no_file() {
    let dir = app("permissions:\n  fs: none\nfs:\n  type: memfs\n");
    for args in [
        ["read", "/data/x"],
        ["ls", "/data"],
        ["read", "/etc/passwd"],
    ] {
        let out = probe_in(dir.path(), &args);
        assert!(out.stdout.starts_with("denied"), "{args:?}: {}", out.stdout);
    }
    let out = probe_in(dir.path(), &["ls", "."]);
    assert!(out.stdout.starts_with("denied"), "{}", out.stdout);
}

#[test]
fn read_only_reads_but_writes_fail_inside_the_guest() {
    let dir = app("permissions:\n  fs: read-only\nfs:\n  type: diskfs\n  source: data\n");
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/in.txt"), "hello disk").unwrap();
    let out = probe_in(dir.path(), &["read", "/data/in.txt"]);
    assert_eq!(out.stdout, "ok read hello disk\n", "{}", out.stderr);
    let out = probe_in(dir.path(), &["write", "/data/out.txt", "x"]);
    assert_eq!(out.code, Some(0));
    assert!(out.stdout.starts_with("denied write"), "{}", out.stdout);
    assert!(!dir.path().join("data/out.txt").exists());
    let out = probe_in(dir.path(), &["write", "/data/in.txt", "changed"]);
    assert!(out.stdout.starts_with("denied write"), "{}", out.stdout);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("data/in.txt")).unwrap(),
        "hello disk"
    );
}

#[test]
fn read_write_writes_only_into_the_mounted_dir() {
    let dir = app("permissions:\n  fs: read-write\nfs:\n  type: diskfs\n  source: data\n");
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("secret.txt"), "outside").unwrap();
    let out = probe_in(dir.path(), &["write", "/data/new.txt", "written"]);
    assert_eq!(out.stdout, "ok wrote /data/new.txt\n", "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("data/new.txt")).unwrap(),
        "written"
    );
    for args in [
        ["read", "/data/../secret.txt"].as_slice(),
        &["write", "/data/../escaped.txt", "x"],
        &["write", "/escaped.txt", "x"],
        &["read", "/data/../../etc/passwd"],
    ] {
        let out = probe_in(dir.path(), args);
        assert!(out.stdout.starts_with("denied"), "{args:?}: {}", out.stdout);
    }
    assert!(!dir.path().join("escaped.txt").exists());
}

#[test]
fn memfs_is_scratch_space_removed_after_the_run() {
    let dir = app("permissions:\n  fs: read-write\nfs:\n  type: memfs\nassets: [assets]\n");
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/seed.txt"), "seeded").unwrap();
    let out = probe_in(dir.path(), &["read", "/data/seed.txt"]);
    assert_eq!(out.stdout, "ok read seeded\n", "{}", out.stderr);
    let out = probe_in(dir.path(), &["write", "/data/tmp.txt", "x"]);
    assert_eq!(out.stdout, "ok wrote /data/tmp.txt\n");
    // A new run starts from the assets again.
    let out = probe_in(dir.path(), &["ls", "/data"]);
    assert_eq!(out.stdout, "ok ls seed.txt\n");
}

/// A loopback server answering "pong" to each connection, on a free port.
fn pong_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 3];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"pong");
        }
    });
    port
}

#[test]
fn net_false_cannot_connect_to_loopback() {
    let port = pong_server();
    let dir = app("permissions:\n  net: false\n");
    let out = probe_in(dir.path(), &["connect", &format!("127.0.0.1:{port}")]);
    assert!(out.stdout.starts_with("denied connect"), "{}", out.stdout);
    // The same server is reachable when the command line widens the grant.
    let out = run_qyv(
        &[
            "-q",
            "--grant",
            "net",
            "app.qyv",
            "--",
            "connect",
            &format!("127.0.0.1:{port}"),
        ],
        dir.path(),
        &[],
    );
    assert_eq!(out.stdout, "ok connected pong\n", "{}", out.stderr);
}

#[test]
fn net_allowlist_admits_only_the_listed_port() {
    let allowed = pong_server();
    let other = pong_server();
    let dir = app(&format!("permissions:\n  net: [\"127.0.0.1:{allowed}\"]\n"));
    let out = probe_in(dir.path(), &["connect", &format!("127.0.0.1:{allowed}")]);
    assert_eq!(out.stdout, "ok connected pong\n", "{}", out.stderr);
    let out = probe_in(dir.path(), &["connect", &format!("127.0.0.1:{other}")]);
    assert!(out.stdout.starts_with("denied connect"), "{}", out.stdout);
    // --no-net narrows the manifest's grant.
    let out = run_qyv(
        &[
            "-q",
            "--no-net",
            "app.qyv",
            "--",
            "connect",
            &format!("127.0.0.1:{allowed}"),
        ],
        dir.path(),
        &[],
    );
    assert!(out.stdout.starts_with("denied connect"), "{}", out.stdout);
}

/// `validate` and `run` read `permissions.net` with one parser: what one refuses the other
/// refuses with the same message, and what one accepts the other runs.
#[test]
fn validate_and_run_agree_on_net_patterns() {
    let validate = |dir: &Path| {
        let o = qyv()
            .current_dir(dir)
            .args(["validate", "app.qyv"])
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let refusal = "a wildcard domain cannot be a socket grant";
    let dir = app("permissions:\n  net: [\"*.example.com:443\"]\n");
    let (code, stderr) = validate(dir.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(refusal), "{stderr}");
    let out = probe_in(dir.path(), &["argv"]);
    assert_eq!(out.code, Some(125), "{}", out.stderr);
    assert!(out.stderr.contains(refusal), "{}", out.stderr);
    assert!(out.stdout.is_empty());

    let dir = app("permissions:\n  net: [\"localhost:443\", \"[::1]:*\", \"*:53\"]\n");
    let (code, stderr) = validate(dir.path());
    assert_eq!(code, Some(0), "{stderr}");
    let out = probe_in(dir.path(), &["argv"]);
    assert_eq!(out.stdout, "ok probe-app argv\n", "{}", out.stderr);
}

#[test]
fn env_shows_only_granted_variables() {
    let dir = app("permissions:\n  env: [QYV_TEST_GRANTED]\nenv:\n  FIXED: one\n");
    let out = run_qyv(
        &["-q", "app.qyv", "--", "env"],
        dir.path(),
        &[("QYV_TEST_GRANTED", "yes"), ("QYV_TEST_SECRET", "no")],
    );
    assert_eq!(
        out.stdout, "ok env FIXED=one QYV_TEST_GRANTED=yes\n",
        "{}",
        out.stderr
    );
    let out = run_qyv(
        &["-q", "--no-env", "app.qyv", "--", "env"],
        dir.path(),
        &[("QYV_TEST_GRANTED", "yes")],
    );
    assert_eq!(out.stdout, "ok env FIXED=one\n");
}

#[test]
fn banner_shows_grants_and_widening() {
    let dir = app("permissions:\n  net: false\n");
    let out = run_qyv(
        &["--grant", "net", "app.qyv", "--", "argv"],
        dir.path(),
        &[],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("qyv ▸ probe-app ("), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("grants: fs none; net any; env none [WIDENED by --grant]"),
        "{}",
        out.stderr
    );
}

#[test]
fn timeout_stops_an_infinite_loop_with_124() {
    let dir = app("limits:\n  timeout: 2s\n");
    let start = Instant::now();
    let out = probe_in(dir.path(), &["spin"]);
    let elapsed = start.elapsed();
    assert_eq!(out.code, Some(124), "{}", out.stderr);
    assert!(out.stderr.contains("timed out after 2s"), "{}", out.stderr);
    assert!(
        elapsed < Duration::from_secs(4),
        "took {elapsed:?}: more than twice the limit"
    );
}

#[test]
fn memory_limit_stops_a_memory_bomb() {
    let dir = app("limits:\n  memory: 32MiB\n");
    let out = probe_in(dir.path(), &["alloc"]);
    out.ends(134, "limits.memory (32.0 MiB)");
}

#[test]
fn preview1_exit_code_is_qyvs_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_qyv(
        &[
            "-q",
            probe("wasm32-wasip1").to_str().unwrap(),
            "--",
            "exit",
            "3",
        ],
        tmp.path(),
        &[],
    );
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    // A component's exit(non-zero) is 1 (WASI's exit carries only ok/err).
    let out = run_qyv(
        &[
            "-q",
            probe("wasm32-wasip2").to_str().unwrap(),
            "--",
            "exit",
            "3",
        ],
        tmp.path(),
        &[],
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
}

#[test]
fn a_trap_prints_its_message_and_backtrace() {
    let dir = app("");
    let out = probe_in(dir.path(), &["trap"]);
    assert_eq!(out.code, Some(134));
    assert!(
        out.stderr
            .contains("qyv: the app trapped: wasm trap: wasm `unreachable`"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("probe::main"), "{}", out.stderr);
}

#[test]
fn exec_and_gfx_grants_are_refused_with_the_reason() {
    let dir = app("permissions:\n  exec: true\n");
    let out = probe_in(dir.path(), &["argv"]);
    assert_eq!(out.code, Some(125));
    out.says("WASI has no process spawning");
    assert!(out.stdout.is_empty());
    let seed = root().join("tests/manifests/seed/editor-texto.qyv");
    let out = run_qyv(&[seed.to_str().unwrap()], dir.path(), &[]);
    assert_eq!(out.code, Some(125));
    assert!(out.stderr.contains("no graphics host"), "{}", out.stderr);
}

#[test]
fn missing_host_interfaces_are_named_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("http.wasm");
    std::fs::write(
        &wasm,
        wat::parse_str(
            r#"(component (import "wasi:http/types@0.2.3" (instance (export "f" (func)))))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let out = run_qyv(&["-q", wasm.to_str().unwrap()], dir.path(), &[]);
    assert_eq!(out.code, Some(125));
    out.says("`wasi:http/types@0.2.3`; this qyv provides wasi:http");
    assert!(
        !out.stderr.contains("matching implementation"),
        "{}",
        out.stderr
    );
}

#[test]
fn compile_cache_is_reused_and_a_damaged_entry_is_rebuilt() {
    let cache = tempfile::tempdir().unwrap();
    let dir = app("");
    let env = [("QYV_CACHE_DIR", cache.path().to_str().unwrap())];
    let first = run_qyv(&["-v", "app.qyv", "--", "argv"], dir.path(), &env);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert!(!first.stderr.contains("from the cache"), "{}", first.stderr);
    let second = run_qyv(&["-v", "app.qyv", "--", "argv"], dir.path(), &env);
    assert!(
        second.stderr.contains("from the cache"),
        "{}",
        second.stderr
    );
    // Damage the artifact: the next run must not trust it.
    let compiled = cache.path().join("compiled");
    for entry in std::fs::read_dir(&compiled).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cwasm") {
            let mut bytes = std::fs::read(&path).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xff;
            std::fs::write(&path, bytes).unwrap();
        }
    }
    let third = run_qyv(&["-v", "app.qyv", "--", "argv"], dir.path(), &env);
    assert_eq!(third.code, Some(0), "{}", third.stderr);
    assert_eq!(third.stdout, "ok probe-app argv\n");
    assert!(!third.stderr.contains("from the cache"), "{}", third.stderr);
    let clean = qyv()
        .arg("cache")
        .arg("clean")
        .env("QYV_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    assert!(clean.status.success());
    assert!(!compiled.exists());
    // The remembered digest of app.wasm goes too.
    assert!(!cache.path().join("blake3").exists());
}

#[test]
fn cache_clean_removes_every_area_and_cache_dir_prints_the_root() {
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("cache");
    let env = [("QYV_CACHE_DIR", cache.to_str().unwrap())];
    let qyv_in = |dir: &Path, args: &[&str]| {
        let o = qyv()
            .current_dir(dir)
            .env("QYV_CACHE_DIR", &cache)
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    // compiled, blake3 and netfs: a run with a cached netfs file.
    let base = http_server(b"kept", "data.txt");
    let dir = app(&format!(
        "permissions:\n  fs: read\nfs:\n  type: netfs\n  source: {base}\n  cache: true\n  files:\n    - path: data.txt\n"
    ));
    let out = run_qyv(
        &["-q", "app.qyv", "--", "read", "/data/data.txt"],
        dir.path(),
        &env,
    );
    assert_eq!(out.stdout, "ok read kept\n", "{}", out.stderr);
    // inspect: a remembered validation.
    qyv_in(dir.path(), &["inspect", "probe.wasm"]);
    // bundles and verified: a bundle of code only, run once.
    let code = app("");
    qyv_in(
        code.path(),
        &["pack", ".", "-o", "app.qyvbin", "--unsigned"],
    );
    qyv_in(
        code.path(),
        &["run", "-q", "--allow-unsigned", "app.qyvbin", "--", "argv"],
    );
    // c-compat: building it needs the WASI SDK; a built layer as qyvbuild leaves it (a
    // directory per version) stands for it. And the `digests` of older versions.
    std::fs::create_dir_all(cache.join("c-compat/0123456789abcdef")).unwrap();
    std::fs::write(
        cache.join("c-compat/0123456789abcdef/libqyvcompat.a"),
        b"!<arch>",
    )
    .unwrap();
    std::fs::create_dir_all(cache.join("digests")).unwrap();
    std::fs::write(cache.join("digests/old"), b"x").unwrap();
    let mut used: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    used.sort();
    assert_eq!(
        used,
        [
            "blake3", "bundles", "c-compat", "checked", "compiled", "digests", "inspect", "netfs",
            "verified"
        ]
    );

    qyv_in(root.path(), &["cache", "clean"]);
    let left: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
    assert!(left.is_empty(), "cache clean left {left:?}");

    let o = qyv()
        .env("QYV_CACHE_DIR", &cache)
        .args(["cache", "dir"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("{}\n", cache.display())
    );
}

#[test]
fn the_seed_hello_example_runs() {
    let out = run_qyv(&["examples/hello/hello.qyv", "--", "x"], &root(), &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "¡Hola desde Qyvol! Hello from hello-qyvol.\nargs: x\n"
    );
    assert!(out.stderr.contains("qyv ▸ hello-qyvol"), "{}", out.stderr);
}

#[test]
fn new_build_run_prints_the_greeting_and_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let status = qyv()
        .current_dir(tmp.path())
        .args(["new", "--lang", "rust", "demo"])
        .status()
        .unwrap();
    assert!(status.success());
    // The build compiles the component into the cache in the background: the first run
    // is a warm start.
    let cache = tmp.path().join("cache");
    let status = qyv()
        .current_dir(tmp.path())
        .env_remove("QYV_PRECOMPILE")
        .env("QYV_CACHE_DIR", &cache)
        .args(["build", "demo"])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for_compiled(&cache);
    let cache_env = cache.to_str().unwrap();
    let out = run_qyv(
        &["-v", "demo", "--", "a", "b"],
        tmp.path(),
        &[("QYV_CACHE_DIR", cache_env)],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "Hello from demo!\nargs: a b\n");
    out.says("(compiled code from the cache)");
    // Edit the source: `qyv run DIR` rebuilds the stale output first, like `cargo run`.
    let main = tmp.path().join("demo/src/main.rs");
    let src = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, src.replace("from", "again from")).unwrap();
    let out = run_qyv(&["-q", "demo"], tmp.path(), &[]);
    assert!(
        out.stdout.starts_with("Hello again from demo!"),
        "{}{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn two_concurrent_first_runs_both_succeed_and_leave_one_whole_entry() {
    let cache = tempfile::tempdir().unwrap();
    let dir = app("");
    let start = || {
        qyv()
            .current_dir(dir.path())
            .env("QYV_CACHE_DIR", cache.path())
            .args(["run", "-q", "app.qyv", "--", "argv", "x"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "ok probe-app argv x\n"
        );
    }
    let mut files: Vec<String> = std::fs::read_dir(cache.path().join("compiled"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        2,
        "one artifact and its checksum, no leftovers: {files:?}"
    );
    assert!(
        files[0].ends_with(".cwasm") && files[1].ends_with(".xxh3"),
        "{files:?}"
    );
    let env = [("QYV_CACHE_DIR", cache.path().to_str().unwrap())];
    let out = run_qyv(&["-v", "app.qyv", "--", "argv"], dir.path(), &env);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    out.says("(compiled code from the cache)");
}

#[test]
fn a_wasm_rewritten_with_the_same_size_and_mtime_is_hashed_again() {
    let cache = tempfile::tempdir().unwrap();
    let dir = app("");
    let env = [("QYV_CACHE_DIR", cache.path().to_str().unwrap())];
    let wasm = dir.path().join("probe.wasm");
    let run = || run_qyv(&["-v", "probe.wasm", "--", "argv"], dir.path(), &env);
    assert_eq!(run().code, Some(0));
    let out = run();
    out.says("(compiled code from the cache)");
    // Rename the producers custom section (same size, still valid, other bytes) and put the
    // mtime back: only the ctime tells, and the digest must be computed again, which gives
    // another cache key.
    let mtime = std::fs::metadata(&wasm).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&wasm).unwrap();
    let at = bytes
        .windows(9)
        .position(|w| w == b"producers")
        .expect("a producers section");
    bytes[at + 8] = b'z';
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&wasm, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&wasm)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let out = run();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        !out.stderr.contains("from the cache"),
        "the old digest was used: {}",
        out.stderr
    );
}

#[test]
fn the_first_run_after_pack_is_warm() {
    // A timeout in the manifest: the background compile must pick the engine settings (epoch
    // checks) that the run will look up.
    let dir = app("limits:\n  timeout: 30s\n");
    let cache = dir.path().join("cache");
    let out = qyv()
        .current_dir(dir.path())
        .env_remove("QYV_PRECOMPILE")
        .env("QYV_CACHE_DIR", &cache)
        .args(["pack", "-q", "--unsigned", "-o", "app.qyvbin"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for_compiled(&cache);
    let cache_env = cache.to_str().unwrap();
    let out = run_qyv(
        &["-v", "--allow-unsigned", "app.qyvbin", "--", "argv", "x"],
        dir.path(),
        &[("QYV_CACHE_DIR", cache_env)],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    out.says("(compiled code from the cache)");
    // Without it, the first run compiles.
    let cold = dir.path().join("cold");
    let out = run_qyv(
        &["-v", "--allow-unsigned", "app.qyvbin", "--", "argv"],
        dir.path(),
        &[("QYV_CACHE_DIR", cold.to_str().unwrap())],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stderr.contains("from the cache"), "{}", out.stderr);
}

#[test]
fn a_cold_bundle_runs_on_baseline_code_and_leaves_optimized_code_for_the_next_run() {
    // Packed with no background compile: the bundle arrives cold, as on a new machine.
    let dir = app("");
    let out = qyv()
        .current_dir(dir.path())
        .args(["pack", "-q", "--unsigned", "-o", "app.qyvbin"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cache = dir.path().join("cache");
    let env = [
        ("QYV_CACHE_DIR", cache.to_str().unwrap()),
        ("QYV_PRECOMPILE", "1"),
    ];
    // A --timeout the manifest does not set: the background compile must be for the engine
    // settings of this run (epoch checks), or the next run would miss.
    let args = [
        "-v",
        "--allow-unsigned",
        "--timeout",
        "30s",
        "app.qyvbin",
        "--",
        "argv",
        "x",
    ];
    let out = run_qyv(&args, dir.path(), &env);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "ok probe-app argv x\n");
    out.says("(baseline code for a cold start");
    wait_for_compiled(&cache);
    let out = run_qyv(&args, dir.path(), &env);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stdout, "ok probe-app argv x\n");
    out.says("(compiled code from the cache)");
    // With QYV_PRECOMPILE=0 nothing would compile for the next run, so a cold run compiles
    // optimized code itself, into the cache.
    let other = dir.path().join("other-cache");
    let env = [("QYV_CACHE_DIR", other.to_str().unwrap())];
    let out = run_qyv(&args, dir.path(), &env);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    out.says("(compiled now)");
    let out = run_qyv(&args, dir.path(), &env);
    out.says("(compiled code from the cache)");
}

#[test]
fn a_module_the_baseline_compiler_cannot_compile_runs_on_optimized_code() {
    // Tail calls: Cranelift compiles them, Winch does not.
    let dir = tempfile::tempdir().unwrap();
    let wasm = wat::parse_str(
        r#"(module
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") 1)
          (func $count (param i32) (result i32)
            local.get 0
            i32.eqz
            if (result i32) (i32.const 7) else
              local.get 0 i32.const 1 i32.sub return_call $count end)
          (func (export "_start") (call $exit (call $count (i32.const 100000)))))"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("tail.wasm"), wasm).unwrap();
    let cache = dir.path().join("cache");
    let env = [
        ("QYV_CACHE_DIR", cache.to_str().unwrap()),
        ("QYV_PRECOMPILE", "1"),
    ];
    let out = run_qyv(&["-v", "tail.wasm"], dir.path(), &env);
    assert_eq!(out.code, Some(7), "{}", out.stderr);
    out.says("(compiled now)");
}

/// A loopback HTTP server answering every GET with `body` (404 for paths not ending in
/// `ok_suffix`); returns its base URL.
fn http_server(body: &'static [u8], ok_suffix: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
            let (status, body): (&str, &[u8]) = if path.ends_with(ok_suffix) {
                ("200 OK", body)
            } else {
                ("404 Not Found", b"no")
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(body);
        }
    });
    format!("http://127.0.0.1:{port}/files/")
}

#[test]
fn netfs_fetches_pinned_files_read_only_before_the_start() {
    use sha2::Digest;
    const BODY: &[u8] = b"fetched over http";
    let base = http_server(BODY, "data.txt");
    let sha: String = sha2::Sha256::digest(BODY)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let netfs = |sha: &str, path: &str| {
        format!(
            "permissions:\n  fs: read\nfs:\n  type: netfs\n  source: {base}\n  files:\n    - path: {path}\n      sha256: {sha}\n"
        )
    };
    let dir = app(&netfs(&sha, "data.txt"));
    let out = probe_in(dir.path(), &["read", "/data/data.txt"]);
    assert_eq!(out.stdout, "ok read fetched over http\n", "{}", out.stderr);
    let out = probe_in(dir.path(), &["write", "/data/data.txt", "x"]);
    assert!(out.stdout.starts_with("denied write"), "{}", out.stdout);

    // A wrong digest, and a file the server does not have: clear errors, no start.
    let dir = app(&netfs(&"0".repeat(64), "data.txt"));
    let out = probe_in(dir.path(), &["argv"]);
    assert_eq!(out.code, Some(125));
    out.says("does not match its sha256");
    assert!(out.stdout.is_empty());
    let dir = app(&netfs(&sha, "missing.txt"));
    let out = probe_in(dir.path(), &["argv"]);
    assert_eq!(out.code, Some(125));
    assert!(out.stderr.contains("cannot fetch"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
}

/// How scratch data is kept: a private tmpfs (the default where namespaces work, as on
/// this machine and CI) or the fallback directories in /dev/shm.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scratch {
    Tmpfs,
    Fallback,
}

const BOTH: [Scratch; 2] = [Scratch::Tmpfs, Scratch::Fallback];

/// A memfs app whose assets hold a file with a unique name (to find leftovers by) and a
/// nested one; returns the directory and the marker's name.
fn scratch_app(extra: &str) -> (tempfile::TempDir, String) {
    let dir = app(&format!(
        "permissions:\n  fs: read-write\nfs:\n  type: memfs\nassets: [assets]\n{extra}"
    ));
    let marker = format!(
        "marker-{}-{}.txt",
        std::process::id(),
        dir.path().file_name().unwrap().to_string_lossy()
    );
    std::fs::create_dir_all(dir.path().join("assets/sub")).unwrap();
    std::fs::write(dir.path().join("assets").join(&marker), "secret").unwrap();
    std::fs::write(dir.path().join("assets/sub/nested.txt"), "nested").unwrap();
    (dir, marker)
}

/// A running `qyv run`, killed if a test fails before it ends.
struct Running(std::process::Child);

impl std::ops::Deref for Running {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `qyv run` of the app in `dir` with probe arguments, stdin and stdout piped.
fn spawn_probe(dir: &Path, args: &[&str], scratch: Scratch) -> Running {
    let mut cmd = qyv();
    cmd.current_dir(dir)
        .args(["run", "-q", "app.qyv", "--"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if scratch == Scratch::Fallback {
        cmd.env("QYV_NO_PRIVATE_TMPFS", "1");
    }
    Running(cmd.spawn().unwrap())
}

/// Reads the child's stdout up to the first line (the probe says it is about to block).
fn first_line(child: &mut std::process::Child) -> String {
    let mut line = Vec::new();
    let out = child.stdout.as_mut().unwrap();
    let mut byte = [0u8; 1];
    while out.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// Waits for the child, at most `limit` (then kills it and fails).
fn wait_within(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("qyv run did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Scratch directories visible on the host (`qyv-*` in /dev/shm and the temp dir) that
/// hold a file named `marker`.
fn leftovers(marker: &str) -> Vec<PathBuf> {
    fn find(dir: &Path, marker: &str, depth: usize, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_name() == marker {
                found.push(path);
            } else if depth > 0 && entry.file_type().is_ok_and(|t| t.is_dir()) {
                find(&path, marker, depth - 1, found);
            }
        }
    }
    let mut found = Vec::new();
    for parent in [PathBuf::from("/dev/shm"), std::env::temp_dir()] {
        for entry in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with("qyv-") {
                find(&entry.path(), marker, 3, &mut found);
            }
        }
    }
    found
}

/// The processes `pid` started (the scratch holder of a run).
fn children_of(pid: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        kids.extend(
            list.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    kids
}

/// Whether a process is still running (not gone and not a zombie).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(|r| r.trim_start().to_string()))
        .is_some_and(|state| !state.starts_with('Z') && !state.starts_with('X'))
}

/// Waits up to two seconds for a process to end.
fn ends_soon(pid: u32) -> bool {
    let start = Instant::now();
    while running(pid) {
        if start.elapsed() > Duration::from_secs(2) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// The scratch space of a running `qyv run`, seen from the host: the holder's tmpfs, or
/// the fallback directory.
fn live_scratch(qyv_pid: u32, scratch: Scratch, marker: &str) -> PathBuf {
    match scratch {
        Scratch::Tmpfs => {
            let kids = children_of(qyv_pid);
            assert_eq!(kids.len(), 1, "one holder process: {kids:?}");
            PathBuf::from(format!("/proc/{}/root/tmp", kids[0]))
        }
        Scratch::Fallback => {
            let found = leftovers(marker);
            assert_eq!(found.len(), 1, "{found:?}");
            // <root>/memfs/<marker>
            found[0].parent().unwrap().parent().unwrap().to_path_buf()
        }
    }
}

#[test]
fn a_timeout_stops_a_guest_blocked_in_a_host_call_and_removes_its_scratch() {
    for scratch in BOTH {
        for args in [&["sleep", "60"][..], &["stdin"][..]] {
            let (dir, marker) = scratch_app("limits:\n  timeout: 1s\n");
            let start = Instant::now();
            // stdin stays open and silent: the probe blocks reading it.
            let mut child = spawn_probe(dir.path(), args, scratch);
            let status = wait_within(&mut child, Duration::from_secs(10));
            let elapsed = start.elapsed();
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            assert_eq!(status.code(), Some(124), "{scratch:?} {args:?}: {stderr}");
            assert!(stderr.contains("timed out after 1s"), "{stderr}");
            assert!(
                elapsed < Duration::from_secs(3),
                "{scratch:?} {args:?}: {elapsed:?}"
            );
            assert_eq!(
                leftovers(&marker),
                Vec::<PathBuf>::new(),
                "{scratch:?} {args:?}"
            );
        }
    }
}

#[test]
fn sigterm_and_sigint_leave_no_scratch() {
    for scratch in BOTH {
        for signal in [libc::SIGTERM, libc::SIGINT] {
            let (dir, marker) = scratch_app("");
            let mut child = spawn_probe(dir.path(), &["sleep", "60"], scratch);
            assert_eq!(first_line(&mut child), "sleeping");
            let holder = children_of(child.id());
            // SAFETY: signals our own child.
            unsafe { libc::kill(child.id() as libc::pid_t, signal) };
            let status = wait_within(&mut child, Duration::from_secs(5));
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                status.signal(),
                Some(signal),
                "{scratch:?}: dies of the signal"
            );
            assert_eq!(
                leftovers(&marker),
                Vec::<PathBuf>::new(),
                "{scratch:?} {signal}"
            );
            for pid in holder {
                assert!(ends_soon(pid), "{scratch:?}: holder {pid} outlived qyv");
            }
        }
    }
}

#[test]
fn after_kill_9_nothing_is_left_once_the_next_run_started() {
    // A private tmpfs: the holder dies with qyv and the tmpfs with it, at once.
    let (dir, marker) = scratch_app("");
    let mut child = spawn_probe(dir.path(), &["sleep", "60"], Scratch::Tmpfs);
    assert_eq!(first_line(&mut child), "sleeping");
    let holder = children_of(child.id());
    assert_eq!(holder.len(), 1, "{holder:?}");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ends_soon(holder[0]), "the holder outlived qyv");
    assert_eq!(leftovers(&marker), Vec::<PathBuf>::new());

    // The fallback: the directory stays until the next run that needs scratch.
    let (dir, marker) = scratch_app("");
    let mut child = spawn_probe(dir.path(), &["sleep", "60"], Scratch::Fallback);
    assert_eq!(first_line(&mut child), "sleeping");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(leftovers(&marker).len(), 1, "SIGKILL cannot be caught");
    let mut next = spawn_probe(dir.path(), &["argv"], Scratch::Fallback);
    assert_eq!(
        wait_within(&mut next, Duration::from_secs(10)).code(),
        Some(0)
    );
    assert_eq!(leftovers(&marker), Vec::<PathBuf>::new());
}

#[test]
fn scratch_data_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    for scratch in BOTH {
        let (dir, marker) = scratch_app("");
        std::fs::create_dir(dir.path().join("models")).unwrap();
        std::fs::write(dir.path().join("models/m.bin"), "weights").unwrap();
        let manifest = dir.path().join("app.qyv");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, format!("{text}models: [models/m.bin]\n")).unwrap();
        let mut child = spawn_probe(dir.path(), &["sleep", "60"], scratch);
        assert_eq!(first_line(&mut child), "sleeping");
        let root = live_scratch(child.id(), scratch, &marker);
        let mode = |p: PathBuf| {
            let m = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, m.permissions().mode() & 0o777)
        };
        let dirs = [
            root.clone(),
            root.join("memfs"),
            root.join("memfs/sub"),
            root.join("models"),
        ];
        let files = [
            root.join("memfs").join(&marker),
            root.join("memfs/sub/nested.txt"),
            root.join("models/m.bin"),
        ];
        for d in dirs {
            let (p, m) = mode(d);
            assert_eq!(m, 0o700, "{scratch:?} {}: {m:o}", p.display());
        }
        for f in files {
            let (p, m) = mode(f);
            assert_eq!(m, 0o600, "{scratch:?} {}: {m:o}", p.display());
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

#[test]
fn writes_past_limits_disk_fail_in_the_guest_with_enospc() {
    // A preview1 module gets ENOSPC from fd_write. A component's write goes through a
    // wasi:io stream: the host gives the error code (insufficient-space) to a guest that
    // asks for it, but Rust's wasip2 std reports any stream error as a plain I/O error.
    for (target, error) in [
        ("wasm32-wasip1", "No space left on device"),
        ("wasm32-wasip2", "I/O error"),
    ] {
        let (dir, _) = scratch_app("limits:\n  disk: 8MiB\n  memory: 64MiB\n");
        std::fs::copy(probe(target), dir.path().join("probe.wasm")).unwrap();
        let out = probe_in(dir.path(), &["fill", "/data/big"]);
        assert_eq!(out.code, Some(0), "the host is fine: {}", out.stderr);
        assert!(
            out.stdout.starts_with("denied fill after") && out.stdout.contains(error),
            "{target}: {}",
            out.stdout
        );
        let mib: usize = out
            .stdout
            .split_whitespace()
            .nth(3)
            .unwrap()
            .parse()
            .unwrap();
        assert!(mib <= 8, "{}", out.stdout);
    }

    // Assets that do not fit are refused before the start, with or without a tmpfs.
    for scratch in BOTH {
        let (dir, _) = scratch_app("limits:\n  disk: 4KiB\n");
        std::fs::write(dir.path().join("assets/big.bin"), vec![0u8; 8192]).unwrap();
        let mut child = spawn_probe(dir.path(), &["argv"], scratch);
        let status = wait_within(&mut child, Duration::from_secs(10));
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(status.code(), Some(125), "{scratch:?}: {stderr}");
        assert!(stderr.contains("more than limits.disk"), "{stderr}");
    }
}

#[test]
fn a_zero_timeout_is_refused_on_the_command_line_as_in_the_manifest() {
    let dir = app("");
    let out = run_qyv(
        &["-q", "--timeout", "0", "app.qyv", "--", "argv"],
        dir.path(),
        &[],
    );
    // A bad flag value is a usage error, as for every flag, named by clap.
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("'--timeout <DURATION>': must be more than 0"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
    let dir = app("limits:\n  timeout: 0s\n");
    let out = probe_in(dir.path(), &["argv"]);
    out.ends(125, "`limits.timeout`: must be more than 0");
}

#[test]
fn a_netfs_server_that_never_answers_is_given_up_at_limits_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    let dir = app(&format!(
        "permissions:\n  fs: read\nfs:\n  type: netfs\n  source: http://127.0.0.1:{port}/files/\n  files:\n    - path: a.txt\nlimits:\n  timeout: 1s\n"
    ));
    let start = Instant::now();
    let mut child = spawn_probe(dir.path(), &["argv"], Scratch::Tmpfs);
    let status = wait_within(&mut child, Duration::from_secs(10));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(125), "{stderr}");
    assert!(
        stderr.contains("took longer than the deadline for all netfs files (1s)"),
        "{stderr}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
}
