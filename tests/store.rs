//! The store of verified files: a bundle's models and assets kept by digest in the cache,
//! `/models` mounted from a view of them, checked at every start, evicted under
//! `QYV_CACHE_MAX` but never while a run uses them. The probe guest hashes `/models`.

mod common;

use std::io::{BufRead, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{Output, Stdio};

use common::{Sandbox, rust_fixture};

/// A sandbox whose trust store trusts the key `ci`, which signs the bundles made here.
struct Env {
    sandbox: Sandbox,
}

/// A model: its name under `models/` and its bytes.
type File<'a> = (&'a str, &'a [u8]);

impl Env {
    fn new() -> Env {
        let env = Env {
            sandbox: Sandbox::new(),
        };
        ok(&env.qyv(&["keygen", "ci"]));
        ok(&env.qyv(&["trust", "add", "ci.pub"]));
        env
    }

    fn qyv(&self, args: &[&str]) -> Output {
        self.sandbox.qyv(args)
    }

    /// Packs `NAME.qyvbin`, signed, with the probe, `models` and one asset.
    fn bundle(&self, name: &str, models: &[File]) -> String {
        let dir = self.sandbox.path(name);
        std::fs::create_dir_all(dir.join("models")).unwrap();
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::copy(
            rust_fixture("probe", "wasm32-wasip2"),
            dir.join("probe.wasm"),
        )
        .unwrap();
        for (file, bytes) in models {
            std::fs::write(dir.join("models").join(file), bytes).unwrap();
        }
        std::fs::write(dir.join("assets/seed.txt"), format!("seed of {name}")).unwrap();
        std::fs::write(
            dir.join(format!("{name}.qyv")),
            format!(
                "name: {name}\nentrypoint: probe.wasm\npermissions:\n  fs: read-write\nfs:\n  type: memfs\nmodels: [models/*.bin]\nassets: [assets]\n"
            ),
        )
        .unwrap();
        let out = format!("{name}.qyvbin");
        ok(&self.qyv(&["pack", "-q", name, "--sign", "ci.key", "-o", &out]));
        out
    }

    /// `qyv run -q BUNDLE -- ARGS`, which must succeed; its stdout.
    fn run(&self, bundle: &str, args: &[&str]) -> String {
        let mut all = vec!["run", "-q", bundle, "--"];
        all.extend_from_slice(args);
        let o = self.qyv(&all);
        ok(&o);
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn store(&self, sub: &str) -> PathBuf {
        self.sandbox.path("cache/store").join(sub)
    }

    /// The stored file of `bytes`.
    fn blob(&self, bytes: &[u8]) -> PathBuf {
        self.store("blobs")
            .join(qyvpack::digest::content_digest(bytes))
    }

    fn blob_count(&self) -> usize {
        std::fs::read_dir(self.store("blobs"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "{:?}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Bytes that no compressor shrinks and no two seeds share.
fn model(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// What the probe's `hash` prints for these files (FNV-1a 64, computed here).
fn hashes(files: &[File]) -> String {
    let mut files = files.to_vec();
    files.sort();
    files
        .iter()
        .map(|(name, bytes)| {
            let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            format!("{name} {} {h:016x}\n", bytes.len())
        })
        .collect()
}

#[test]
fn a_warm_run_reads_the_same_model_bytes_as_a_cold_run() {
    let env = Env::new();
    let (big, small) = (model(1, 300_000), model(2, 1000));
    let models: &[File] = &[("big.bin", &big), ("small.bin", &small)];
    let app = env.bundle("app", models);
    let cold = env.run(&app, &["hash", "/models"]);
    assert_eq!(cold, hashes(models));
    assert_eq!(env.blob_count(), 3, "two models and the asset are stored");
    let inode = std::fs::metadata(env.blob(&big)).unwrap().ino();
    let warm = env.run(&app, &["hash", "/models"]);
    assert_eq!(warm, cold);
    assert_eq!(
        std::fs::metadata(env.blob(&big)).unwrap().ino(),
        inode,
        "the warm run took the stored file, it did not place it again"
    );
    // The memfs is seeded from the stored asset, and stays the guest's to write.
    assert_eq!(
        env.run(&app, &["read", "/data/seed.txt"]),
        "ok read seed of app\n"
    );
    assert_eq!(
        env.run(&app, &["write", "/data/seed.txt", "changed"]),
        "ok wrote /data/seed.txt\n"
    );
    assert_eq!(
        env.run(&app, &["read", "/data/seed.txt"]),
        "ok read seed of app\n",
        "a write to the memfs never reaches the store"
    );
    // Without the cache, the models are copied from the bundle as before: the same bytes.
    let o = env.qyv(&["run", "-q", "--no-cache", &app, "--", "hash", "/models"]);
    ok(&o);
    assert_eq!(String::from_utf8_lossy(&o.stdout), cold);
}

#[test]
fn a_flipped_byte_in_a_store_file_is_detected_and_the_file_placed_again() {
    let env = Env::new();
    let weights = model(3, 200_000);
    let models: &[File] = &[("weights.bin", &weights)];
    let app = env.bundle("app", models);
    assert_eq!(env.run(&app, &["hash", "/models"]), hashes(models));
    let blob = env.blob(&weights);
    let mtime = std::fs::metadata(&blob).unwrap().modified().unwrap();
    // Damaged behind qyv's back, same size, its mtime and mode put back.
    std::fs::set_permissions(&blob, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[100_000] ^= 1;
    let mut f = std::fs::File::options().write(true).open(&blob).unwrap();
    f.write_all(&bytes).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    std::fs::set_permissions(&blob, std::fs::Permissions::from_mode(0o400)).unwrap();
    assert_eq!(
        env.run(&app, &["hash", "/models"]),
        hashes(models),
        "the damaged file was mounted"
    );
    assert_eq!(std::fs::read(&blob).unwrap(), weights, "placed again");
    assert_eq!(env.run(&app, &["hash", "/models"]), hashes(models));
}

#[test]
fn models_stay_read_only_and_the_store_private() {
    let env = Env::new();
    let weights = model(4, 10_000);
    let app = env.bundle("app", &[("weights.bin", &weights)]);
    for _cold_then_warm in 0..2 {
        assert!(
            env.run(&app, &["write", "/models/weights.bin", "x"])
                .starts_with("denied write"),
        );
        assert!(
            env.run(&app, &["write", "/models/new.bin", "x"])
                .starts_with("denied write"),
        );
    }
    assert_eq!(std::fs::read(env.blob(&weights)).unwrap(), weights);
    let mode = |p: PathBuf| std::fs::metadata(p).unwrap().mode() & 0o777;
    assert_eq!(mode(env.blob(&weights)), 0o400, "read-only, owner only");
    assert_eq!(
        mode(env.store("")),
        0o700,
        "nobody else may enter the store"
    );
}

#[test]
fn two_bundles_sharing_a_model_store_it_once() {
    let env = Env::new();
    let shared = model(5, 100_000);
    let (own1, own2) = (model(6, 1000), model(7, 1000));
    let one: &[File] = &[("shared.bin", &shared), ("own.bin", &own1)];
    let two: &[File] = &[("shared.bin", &shared), ("own.bin", &own2)];
    let (b1, b2) = (env.bundle("one", one), env.bundle("two", two));
    assert_eq!(env.run(&b1, &["hash", "/models"]), hashes(one));
    assert_eq!(env.run(&b2, &["hash", "/models"]), hashes(two));
    // The shared model, two own models, two assets.
    assert_eq!(env.blob_count(), 5);
    assert_eq!(
        std::fs::metadata(env.blob(&shared)).unwrap().nlink(),
        3,
        "one file: the blob and a link in each bundle's view"
    );
}

#[test]
fn cache_clean_removes_the_store() {
    let env = Env::new();
    let weights = model(8, 10_000);
    let app = env.bundle("app", &[("weights.bin", &weights)]);
    env.run(&app, &["hash", "/models"]);
    assert!(env.blob(&weights).is_file());
    ok(&env.qyv(&["cache", "clean"]));
    assert!(!env.store("").exists());
    assert_eq!(
        env.run(&app, &["hash", "/models"]),
        hashes(&[("weights.bin", &weights)])
    );
    assert!(env.blob(&weights).is_file(), "placed again");
}

#[test]
fn eviction_under_the_cap_keeps_a_file_a_running_app_uses() {
    let env = Env::new();
    let (a, b, c) = (model(9, 200_000), model(10, 200_000), model(11, 200_000));
    let apps = [
        env.bundle("a", &[("a.bin", &a)]),
        env.bundle("b", &[("b.bin", &b)]),
        env.bundle("c", &[("c.bin", &c)]),
    ];
    // Room for one model and the small assets, not two models.
    let capped = |app: &str, args: &[&str]| {
        let mut cmd = env.sandbox.command();
        cmd.env("QYV_CACHE_MAX", "300000")
            .args(["run", "-q", app, "--"])
            .args(args);
        cmd
    };
    let mut running = capped(&apps[0], &["hash", "/models", "--after-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(running.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "waiting\n", "a started and holds its models");
    let o = capped(&apps[1], &["hash", "/models"]).output().unwrap();
    ok(&o);
    assert!(env.blob(&a).is_file(), "a file in use was evicted");
    assert!(env.blob(&b).is_file());
    drop(running.stdin.take());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(running.wait().unwrap().success());
    assert_eq!(rest, hashes(&[("a.bin", &a)]), "a read its model whole");
    // Nobody holds a or b now: c's placement evicts them, least recently used first.
    ok(&capped(&apps[2], &["hash", "/models"]).output().unwrap());
    assert!(!env.blob(&a).exists() && !env.blob(&b).exists());
    assert!(env.blob(&c).is_file());
    assert_eq!(
        env.run(&apps[0], &["hash", "/models"]),
        hashes(&[("a.bin", &a)]),
        "an evicted bundle is verified and placed again"
    );
}
