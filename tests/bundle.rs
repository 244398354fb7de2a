//! End-to-end tests of bundles: keygen, pack --sign, verify, trust, run and inspect of
//! `.qyvbin` files, with the probe guest reading its models and assets.

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::{qyv, rust_fixture};

struct Env {
    tmp: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    /// Runs qyv with a private trust store and compile cache.
    fn qyv(&self, args: &[&str]) -> Output {
        qyv()
            .current_dir(self.tmp.path())
            .env("QYV_CONFIG_DIR", self.path("config"))
            .env("QYV_CACHE_DIR", self.path("cache"))
            .env_remove("QYV_SIGNING_KEY")
            .args(args)
            .output()
            .unwrap()
    }

    /// A project with the probe as its component, a model and an asset.
    fn project(&self) -> PathBuf {
        let dir = self.path("app");
        std::fs::create_dir_all(dir.join("models")).unwrap();
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::copy(
            rust_fixture("probe", "wasm32-wasip2"),
            dir.join("probe.wasm"),
        )
        .unwrap();
        std::fs::write(dir.join("models/weights.bin"), vec![42u8; 100_000]).unwrap();
        std::fs::write(dir.join("models/notes.txt"), "not a model").unwrap();
        std::fs::write(dir.join("assets/seed.txt"), "seeded from the bundle").unwrap();
        std::fs::write(
            dir.join("app.qyv"),
            "name: bundled\nentrypoint: probe.wasm\npermissions:\n  fs: read-write\nfs:\n  type: memfs\nmodels: [models/*.bin]\nassets: [assets]\n",
        )
        .unwrap();
        dir
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn keygen(env: &Env, name: &str) {
    let o = env.qyv(&["keygen", name]);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn pack(env: &Env, out: &str, extra: &[&str]) -> Output {
    let mut args = vec!["pack", "app", "-o", out];
    args.extend_from_slice(extra);
    env.qyv(&args)
}

#[test]
fn keygen_pack_verify_trust_run() {
    let env = Env::new();
    env.project();
    keygen(&env, "ci");
    let o = pack(&env, "app.qyvbin", &["--sign", "ci.key"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let sha = stdout(&o).trim().to_string();
    let bytes = std::fs::read(env.path("app.qyvbin")).unwrap();
    assert_eq!(
        sha,
        qyvpack::digest::sha256_hex(&bytes),
        "pack prints the bundle's sha256"
    );

    // Packing twice gives identical bytes.
    let o = pack(&env, "again.qyvbin", &["--sign", "ci.key"]);
    assert_eq!(stdout(&o).trim(), sha);
    assert_eq!(
        std::fs::read(env.path("app.qyvbin")).unwrap(),
        std::fs::read(env.path("again.qyvbin")).unwrap()
    );

    // Intact but not trusted yet: verify says so with 3, run refuses and names the way out.
    let o = env.qyv(&["verify", "app.qyvbin"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("not trusted"));
    let o = env.qyv(&["run", "app.qyvbin", "--", "argv"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("--allow-untrusted"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "the guest must not have run");

    let o = env.qyv(&["trust", "add", "ci.pub"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = env.qyv(&["verify", "app.qyvbin"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("signed by SHA256:"), "{}", stdout(&o));

    // Runs with its models read-only at /models and its assets seeding /data.
    let run = |args: &[&str]| {
        let mut all = vec!["run", "-q", "app.qyvbin", "--"];
        all.extend_from_slice(args);
        env.qyv(&all)
    };
    assert_eq!(stdout(&run(&["argv", "x"])), "ok bundled argv x\n");
    assert_eq!(stdout(&run(&["ls", "/models"])), "ok ls weights.bin\n");
    assert_eq!(
        stdout(&run(&["read", "/data/seed.txt"])),
        "ok read seeded from the bundle\n"
    );
    assert!(stdout(&run(&["write", "/models/weights.bin", "x"])).starts_with("denied write"));
    assert_eq!(
        stdout(&run(&["write", "/data/new.txt", "x"])),
        "ok wrote /data/new.txt\n"
    );

    // Inspect shows the bundle, then its component.
    let o = env.qyv(&["inspect", "--json", "app.qyvbin"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["bundle"]["signature"]["trusted"], true);
    assert_eq!(v["bundle"]["files"].as_array().unwrap().len(), 4);
    assert_eq!(v["kind"], "component");
    assert_eq!(v["component"]["fits"], "wasi:cli/command");
    let o = env.qyv(&["inspect", "app.qyvbin"]);
    assert!(stdout(&o).contains("models/weights.bin"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("signature    trusted key SHA256:"),
        "{}",
        stdout(&o)
    );

    // Removing trust makes run refuse again.
    let o = env.qyv(&["trust", "remove", "ci"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(run(&["argv"]).status.code(), Some(125));
}

#[test]
fn altered_bundles_never_run() {
    let env = Env::new();
    env.project();
    keygen(&env, "ci");
    env.qyv(&["trust", "add", "ci.pub"]);
    assert!(
        pack(&env, "app.qyvbin", &["--sign", "ci.key"])
            .status
            .success()
    );
    let good = std::fs::read(env.path("app.qyvbin")).unwrap();
    // Every byte is flipped in qyvpack's unit tests; here, a spread of positions through
    // the real commands (header, index, signature, archive start, middle and end).
    let n = good.len();
    let mut positions: Vec<usize> = (0..200).collect();
    positions.extend((1..40).map(|i| i * n / 40));
    positions.extend(n - 50..n);
    for pos in positions {
        let mut bad = good.clone();
        bad[pos] ^= 0x20;
        std::fs::write(env.path("bad.qyvbin"), &bad).unwrap();
        let o = env.qyv(&["verify", "bad.qyvbin"]);
        assert_eq!(
            o.status.code(),
            Some(1),
            "verify accepted a flip at {pos}: {}",
            stderr(&o)
        );
        let o = env.qyv(&["run", "-q", "bad.qyvbin", "--", "argv"]);
        assert_eq!(o.status.code(), Some(125), "run accepted a flip at {pos}");
        assert!(
            stdout(&o).is_empty(),
            "the guest ran despite a flip at {pos}"
        );
    }
}

#[test]
fn a_bundle_verified_before_starts_from_the_cache_until_it_changes() {
    let env = Env::new();
    let dir = env.path("code");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        rust_fixture("probe", "wasm32-wasip2"),
        dir.join("probe.wasm"),
    )
    .unwrap();
    std::fs::write(dir.join("code.qyv"), "name: code\nentrypoint: probe.wasm\n").unwrap();
    keygen(&env, "ci");
    env.qyv(&["trust", "add", "ci.pub"]);
    let o = env.qyv(&[
        "pack",
        "-q",
        "code",
        "--sign",
        "ci.key",
        "-o",
        "code.qyvbin",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let run = || env.qyv(&["run", "-q", "code.qyvbin", "--", "argv"]);
    let count = |d: &str| {
        std::fs::read_dir(env.path(d))
            .map(|r| r.count())
            .unwrap_or(0)
    };
    let o = run();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(count("cache/bundles"), 1, "the verified bundle is recorded");
    assert_eq!(
        count("cache/verified"),
        2,
        "its component is kept, with a checksum"
    );
    let first = stdout(&o);
    assert!(first.contains("argv"), "{first}");
    // Again: from the record, the same output.
    let o = run();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), first);
    // Changed in place (same size): verified in full again, and refused.
    let good = std::fs::read(env.path("code.qyvbin")).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x20;
    std::fs::write(env.path("code.qyvbin"), &bad).unwrap();
    let o = run();
    assert_eq!(o.status.code(), Some(125), "an altered bundle ran");
    assert!(stdout(&o).is_empty());
    assert!(stderr(&o).contains("refused"), "{}", stderr(&o));
    // Restored, with the kept component damaged: the damage is noticed, the bundle is
    // verified in full and runs.
    std::fs::write(env.path("code.qyvbin"), &good).unwrap();
    for entry in std::fs::read_dir(env.path("cache/verified"))
        .unwrap()
        .flatten()
    {
        if entry.path().extension().is_some_and(|e| e == "wasm") {
            let mut blob = std::fs::read(entry.path()).unwrap();
            let last = blob.len() - 1;
            blob[last] ^= 1;
            std::fs::write(entry.path(), blob).unwrap();
        }
    }
    let o = run();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), first);
    let o = run();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), first);
}

#[test]
fn unsigned_and_wrong_key_bundles_are_refused_unless_asked() {
    let env = Env::new();
    env.project();
    keygen(&env, "ci");
    keygen(&env, "other");
    assert!(
        pack(&env, "unsigned.qyvbin", &["--unsigned"])
            .status
            .success()
    );
    let o = env.qyv(&["verify", "unsigned.qyvbin"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("UNSIGNED"));
    let o = env.qyv(&["run", "-q", "unsigned.qyvbin", "--", "argv"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("--allow-unsigned"), "{}", stderr(&o));
    let o = env.qyv(&[
        "run",
        "-q",
        "--allow-unsigned",
        "unsigned.qyvbin",
        "--",
        "argv",
    ]);
    assert_eq!(stdout(&o), "ok bundled argv\n", "{}", stderr(&o));

    assert!(
        pack(&env, "signed.qyvbin", &["--sign", "ci.key"])
            .status
            .success()
    );
    let o = env.qyv(&["verify", "--key", "other.pub", "signed.qyvbin"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("not by the given key"),
        "{}",
        stderr(&o)
    );
    let o = env.qyv(&["verify", "--key", "ci.pub", "signed.qyvbin"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = env.qyv(&[
        "run",
        "-q",
        "--key",
        "other.pub",
        "signed.qyvbin",
        "--",
        "argv",
    ]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stdout(&o).is_empty());
}

#[test]
fn ci_signs_with_a_key_from_the_environment_without_printing_it() {
    let env = Env::new();
    env.project();
    keygen(&env, "ci");
    let pem = std::fs::read_to_string(env.path("ci.key")).unwrap();
    use base64::Engine as _;
    let secret = base64::engine::general_purpose::STANDARD.encode(pem.as_bytes());
    let o = qyv()
        .current_dir(env.tmp.path())
        .env("QYV_SIGNING_KEY", &secret)
        .args(["pack", "app", "-o", "ci.qyvbin"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains("$QYV_SIGNING_KEY"), "{all}");
    assert!(
        !all.contains(&secret[..40]) && !all.contains("PRIVATE KEY"),
        "{all}"
    );
    let o = env.qyv(&["verify", "--key", "ci.pub", "ci.qyvbin"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn keygen_never_overwrites_and_keeps_the_key_private() {
    let env = Env::new();
    keygen(&env, "ci");
    let before = std::fs::read(env.path("ci.key")).unwrap();
    let o = env.qyv(&["keygen", "ci"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("never overwrites"), "{}", stderr(&o));
    assert_eq!(std::fs::read(env.path("ci.key")).unwrap(), before);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.path("ci.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn an_interrupted_pack_never_damages_an_existing_bundle() {
    let env = Env::new();
    let dir = env.project();
    assert!(pack(&env, "app.qyvbin", &["--unsigned"]).status.success());
    let before = std::fs::read(env.path("app.qyvbin")).unwrap();
    // A model that vanishes mid-way makes the pack fail; the old bundle must stay intact
    // and no temporary file may be left behind.
    std::fs::remove_file(dir.join("probe.wasm")).unwrap();
    std::fs::create_dir(dir.join("probe.wasm")).unwrap();
    let o = pack(&env, "app.qyvbin", &["--unsigned"]);
    assert!(!o.status.success());
    assert_eq!(std::fs::read(env.path("app.qyvbin")).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(env.tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".qyvbin"))
        .collect();
    assert!(leftovers.is_empty());
}
