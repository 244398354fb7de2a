//! End-to-end tests of what qyv reads from a project and writes beside it: a path that a
//! symbolic link takes out of the project is refused alike by `validate`, `pack` and `run`;
//! outputs never replace a device, a FIFO or an input; `**` globs; an interrupted pack
//! leaves no partial bundle.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Sandbox, qyv, rust_fixture};

/// A project `proj/` with the probe component, beside a fake home directory with a secret.
struct Env {
    sandbox: Sandbox,
}

const SECRET: &str = "PRIVATE KEY MATERIAL";

impl Env {
    fn new(manifest_tail: &str) -> Env {
        let env = Env {
            sandbox: Sandbox::new(),
        };
        std::fs::create_dir_all(env.home().join(".ssh")).unwrap();
        std::fs::write(env.home().join(".ssh/id_ed25519"), SECRET).unwrap();
        std::fs::create_dir_all(env.proj()).unwrap();
        std::fs::copy(
            rust_fixture("probe", "wasm32-wasip2"),
            env.proj().join("probe.wasm"),
        )
        .unwrap();
        env.manifest(manifest_tail);
        env
    }

    fn manifest(&self, tail: &str) {
        std::fs::write(
            self.proj().join("app.qyv"),
            format!("name: probe-app\nentrypoint: probe.wasm\n{tail}"),
        )
        .unwrap();
    }

    fn path(&self, p: &str) -> PathBuf {
        self.sandbox.path(p)
    }
    fn proj(&self) -> PathBuf {
        self.path("proj")
    }
    fn home(&self) -> PathBuf {
        self.path("home")
    }

    fn qyv(&self, args: &[&str]) -> Output {
        self.sandbox.qyv(args)
    }

    fn link(&self, target: &Path, at: &str) {
        let at = self.proj().join(at);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, at).unwrap();
    }

    /// `validate`, `pack` and `run` of the project must all refuse it, naming `link`, and
    /// never show the secret.
    fn all_refuse(&self, link: &str, guest: &[&str]) {
        let o = self.qyv(&["validate", "proj"]);
        assert_eq!(o.status.code(), Some(1), "validate: {}", text(&o));
        assert!(
            text(&o).contains(&format!("symbolic link `{link}`")),
            "validate: {}",
            text(&o)
        );
        let o = self.qyv(&["pack", "proj", "-o", "app.qyvbin"]);
        assert_eq!(o.status.code(), Some(1), "pack: {}", text(&o));
        assert!(
            text(&o).contains(&format!("symbolic link `{link}`")),
            "pack: {}",
            text(&o)
        );
        assert!(!self.path("app.qyvbin").exists(), "pack wrote a bundle");
        let mut args = vec!["run", "-q", "proj", "--"];
        args.extend_from_slice(guest);
        let o = self.qyv(&args);
        assert_eq!(o.status.code(), Some(125), "run: {}", text(&o));
        assert!(
            text(&o).contains(&format!("symbolic link `{link}`")),
            "run: {}",
            text(&o)
        );
        assert!(!text(&o).contains(SECRET), "run: {}", text(&o));
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_diskfs_source_linked_outside_is_refused() {
    let env = Env::new("permissions:\n  fs: read-only\nfs:\n  type: diskfs\n  source: data\n");
    env.link(&env.home(), "data");
    env.all_refuse("data", &["read", "/data/.ssh/id_ed25519"]);

    let env = Env::new("permissions:\n  fs: read-only\nfs:\n  type: diskfs\n  source: data\n");
    env.link(Path::new("/"), "data");
    env.all_refuse("data", &["ls", "/data"]);
}

#[test]
fn models_and_assets_through_a_linked_directory_are_refused() {
    let env = Env::new("models: [lnk/.ssh/id_ed25519]\n");
    env.link(&env.home(), "lnk");
    env.all_refuse("lnk", &["ls", "/models"]);

    let env = Env::new("permissions:\n  fs: read-only\nassets: [assets]\n");
    std::fs::create_dir_all(env.proj().join("assets")).unwrap();
    std::fs::write(env.proj().join("assets/ok.txt"), "ok").unwrap();
    env.link(&env.home().join(".ssh"), "assets/ssh");
    env.all_refuse("assets/ssh", &["ls", "/data"]);
}

#[test]
fn a_linked_entrypoint_outside_is_refused() {
    let env = Env::new("");
    std::fs::rename(env.proj().join("probe.wasm"), env.path("probe.wasm")).unwrap();
    env.link(&env.path("probe.wasm"), "probe.wasm");
    env.all_refuse("probe.wasm", &["argv"]);
}

#[test]
fn links_that_stay_inside_the_project_work() {
    let env = Env::new(
        "entrypoint: build/app.wasm\npermissions:\n  fs: read-only\nfs:\n  type: diskfs\n  source: data\nmodels: [weights/*.bin]\n",
    );
    // The entrypoint line above replaces the first one.
    let manifest = std::fs::read_to_string(env.proj().join("app.qyv")).unwrap();
    std::fs::write(
        env.proj().join("app.qyv"),
        manifest.replace("entrypoint: probe.wasm\n", ""),
    )
    .unwrap();
    std::fs::create_dir_all(env.proj().join("files")).unwrap();
    std::fs::write(env.proj().join("files/hello.txt"), "inside").unwrap();
    std::fs::create_dir_all(env.proj().join("models")).unwrap();
    std::fs::write(env.proj().join("models/m.bin"), "model").unwrap();
    env.link(Path::new("files"), "data");
    env.link(Path::new("models"), "weights");
    env.link(Path::new("../probe.wasm"), "build/app.wasm");

    let o = env.qyv(&["validate", "proj"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = env.qyv(&["run", "-q", "proj", "--", "read", "/data/hello.txt"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "ok read inside\n",
        "{}",
        text(&o)
    );
    let o = env.qyv(&["run", "-q", "proj", "--", "ls", "/models"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "ok ls m.bin\n",
        "{}",
        text(&o)
    );
    let o = env.qyv(&["pack", "proj", "-o", "app.qyvbin"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // The project directory itself may be reached through a link.
    std::os::unix::fs::symlink(env.proj(), env.path("alias")).unwrap();
    let o = env.qyv(&["run", "-q", "alias", "--", "read", "/data/hello.txt"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "ok read inside\n",
        "{}",
        text(&o)
    );
}

#[test]
fn double_star_assets_include_the_top_level_files() {
    let env = Env::new("permissions:\n  fs: read-only\nfs:\n  type: memfs\nassets: [assets/**]\n");
    std::fs::create_dir_all(env.proj().join("assets")).unwrap();
    std::fs::write(env.proj().join("assets/a.txt"), "top").unwrap();
    // Only top-level files: once "matches nothing".
    let o = env.qyv(&["pack", "proj", "-o", "top.qyvbin"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let files = bundle_files(&env, "top.qyvbin");
    assert!(files.contains(&"assets/a.txt".to_string()), "{files:?}");

    std::fs::create_dir_all(env.proj().join("assets/img")).unwrap();
    std::fs::write(env.proj().join("assets/img/b.txt"), "deep").unwrap();
    let o = env.qyv(&["pack", "proj", "-o", "both.qyvbin"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let files = bundle_files(&env, "both.qyvbin");
    for f in ["assets/a.txt", "assets/img/b.txt"] {
        assert!(files.contains(&f.to_string()), "{f}: {files:?}");
    }
    let o = env.qyv(&["run", "-q", "proj", "--", "read", "/data/a.txt"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "ok read top\n",
        "{}",
        text(&o)
    );
}

fn bundle_files(env: &Env, bundle: &str) -> Vec<String> {
    let o = env.qyv(&["inspect", "--json", bundle]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["bundle"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

fn is_fifo(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    path.symlink_metadata()
        .is_ok_and(|m| m.file_type().is_fifo())
}

#[test]
fn outputs_never_replace_a_fifo_or_a_device() {
    let env = Env::new("");
    let fifo = env.path("out.fifo");
    mkfifo(&fifo);
    for args in [
        ["pack", "proj", "-o", "out.fifo"],
        ["adapt", "proj/probe.wasm", "-o", "out.fifo"],
    ] {
        let o = env.qyv(&args);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains("is a FIFO, not a regular file"),
            "{}",
            text(&o)
        );
        assert!(is_fifo(&fifo));
    }
    // No partial bundle either.
    let left = partial_files(env.sandbox.tmp.path());
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn outputs_never_replace_an_input() {
    let env = Env::new("models: [models]\n");
    std::fs::create_dir_all(env.proj().join("models")).unwrap();
    std::fs::write(env.proj().join("models/m.bin"), "model").unwrap();
    std::fs::hard_link(env.proj().join("probe.wasm"), env.path("hard.wasm")).unwrap();
    let manifest = std::fs::read(env.proj().join("app.qyv")).unwrap();
    let probe = std::fs::read(env.proj().join("probe.wasm")).unwrap();
    for out in [
        "proj/app.qyv",
        "proj/probe.wasm",
        "proj/./probe.wasm",
        "hard.wasm",
        "proj/models/m.bin",
    ] {
        let o = env.qyv(&["pack", "proj", "-o", out]);
        assert_eq!(o.status.code(), Some(2), "{out}: {}", text(&o));
        assert!(text(&o).contains("is the input"), "{out}: {}", text(&o));
    }
    for out in ["proj/probe.wasm", "hard.wasm"] {
        let o = env.qyv(&["adapt", "proj/probe.wasm", "-o", out]);
        assert_eq!(o.status.code(), Some(2), "{out}: {}", text(&o));
        assert!(text(&o).contains("is the input"), "{out}: {}", text(&o));
    }
    assert_eq!(std::fs::read(env.proj().join("app.qyv")).unwrap(), manifest);
    assert_eq!(std::fs::read(env.proj().join("probe.wasm")).unwrap(), probe);
    assert_eq!(
        std::fs::read(env.proj().join("models/m.bin")).unwrap(),
        b"model"
    );
}

#[test]
fn adapt_output_respects_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new("");
    for (umask, mode) in [("022", 0o644), ("077", 0o600), ("002", 0o664)] {
        let out = env.path(&format!("out-{umask}.wasm"));
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask {umask} && exec \"$0\" adapt proj/probe.wasm -o \"$1\""
            ))
            .arg(env!("CARGO_BIN_EXE_qyv"))
            .arg(&out)
            .current_dir(env.sandbox.tmp.path())
            .output()
            .unwrap();
        assert!(status.status.success(), "{}", text(&status));
        let got = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(got, mode, "umask {umask}: {got:o}");
    }
}

/// Incompressible bytes (xorshift), slow to compress at a high level.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn partial_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".qyvbin-"))
        .collect()
}

#[test]
fn an_interrupted_pack_leaves_no_partial_bundle() {
    let env = Env::new("models: [big.bin]\n");
    std::fs::write(env.proj().join("big.bin"), noise(96 << 20)).unwrap();
    let out = env.path("out");
    std::fs::create_dir_all(&out).unwrap();
    for signal in ["INT", "TERM"] {
        let mut child = qyv()
            .current_dir(env.sandbox.tmp.path())
            .env("QYV_CACHE_DIR", env.path("cache"))
            .args([
                "pack",
                "proj",
                "-q",
                "--level",
                "19",
                "-o",
                "out/app.qyvbin",
            ])
            .spawn()
            .unwrap();
        // Wait until the partial bundle exists, then interrupt.
        let started = std::time::Instant::now();
        while partial_files(&out).is_empty() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "no partial bundle appeared"
            );
            assert!(child.try_wait().unwrap().is_none(), "pack ended too early");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(
            Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string())
                .status()
                .unwrap()
                .success()
        );
        let status = child.wait().unwrap();
        let number = if signal == "INT" { 2 } else { 15 };
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(number),
            "SIG{signal}: dies of the signal after cleaning up ({status:?})"
        );
        assert_eq!(partial_files(&out), Vec::<String>::new(), "SIG{signal}");
        assert!(!out.join("app.qyvbin").exists());
    }
}

#[test]
fn partial_bundles_of_dead_packs_are_swept() {
    let env = Env::new("");
    let out = env.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let dead = {
        let mut c = Command::new("true").spawn().unwrap();
        c.wait().unwrap();
        c.id()
    };
    let mut live = Command::new("sleep").arg("60").spawn().unwrap();
    let stale = format!(".qyvbin-{dead}-AbCdEf");
    let busy = format!(".qyvbin-{}-AbCdEf", live.id());
    std::fs::write(out.join(&stale), vec![0u8; 4096]).unwrap();
    std::fs::write(out.join(&busy), vec![0u8; 4096]).unwrap();
    let o = env.qyv(&["pack", "proj", "-q", "-o", "out/app.qyvbin"]);
    let left = partial_files(&out);
    let _ = live.kill();
    let _ = live.wait();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(left, vec![busy]);
}
