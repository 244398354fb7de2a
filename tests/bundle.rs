//! End-to-end tests of bundles: keygen, pack --sign, verify, trust, run and inspect of
//! `.qyvbin` files, with the probe guest reading its models and assets.

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::{Sandbox, qyv, rust_fixture};

/// A sandbox (tests/common) with a project in it.
struct Env {
    sandbox: Sandbox,
}

impl Env {
    fn new() -> Env {
        Env {
            sandbox: Sandbox::new(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.sandbox.path(p)
    }

    /// Runs qyv with a private trust store and compile cache.
    fn qyv(&self, args: &[&str]) -> Output {
        self.sandbox.qyv(args)
    }

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
    // The same app re-signed by a key nobody trusts, in the same place: its component is
    // compiled and kept already, and still the bundle is refused before anything runs.
    keygen(&env, "other");
    let o = env.qyv(&[
        "pack",
        "-q",
        "code",
        "--sign",
        "other.key",
        "-o",
        "code.qyvbin",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run();
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    assert!(stderr(&o).contains("not trusted"), "{}", stderr(&o));
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
        .current_dir(env.sandbox.tmp.path())
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
    let leftovers: Vec<_> = std::fs::read_dir(env.sandbox.tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".qyvbin"))
        .collect();
    assert!(leftovers.is_empty());
}

/// A public key file for raw key bytes.
fn public_key_file(env: &Env, name: &str, bytes: &[u8; 32]) -> String {
    let file = format!("{name}.pub");
    let key = qyvpack::keys::PublicKey {
        bytes: *bytes,
        name: name.to_string(),
    };
    std::fs::write(env.path(&file), key.to_line()).unwrap();
    file
}

/// The forgery that plain Ed25519 verification accepts, made from an unsigned bundle without
/// any private key: the all-zero public key (a point of small order), R = the identity point,
/// S = 0, and the index padded with spaces (still valid JSON) until SHA-512(R‖A‖M) mod ℓ is
/// a multiple of 8, M being the signed message of docs/format.md.
fn forge_under_the_zero_key(unsigned: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    use qyvpack::bundle::{FORMAT_VERSION, index_frame, read_index, signed_message};
    use sha2::{Digest, Sha512};
    let signed = read_index(unsigned, Default::default()).unwrap();
    let public_key = [0u8; 32];
    let mut r = [0u8; 32];
    r[0] = 1; // the identity (0, 1)
    let mut index = signed.index_bytes.clone();
    loop {
        let k = Sha512::new()
            .chain_update(r)
            .chain_update(public_key)
            .chain_update(signed_message(FORMAT_VERSION, &index))
            .finalize();
        // Reduced mod ℓ as verifiers do, a little-endian scalar: k mod 8 is in its first byte.
        if curve25519_dalek::Scalar::from_bytes_mod_order_wide(&k.into()).as_bytes()[0]
            .is_multiple_of(8)
        {
            break;
        }
        index.push(b' ');
    }
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&r);
    let b64 = base64::engine::general_purpose::STANDARD;
    let block = serde_json::json!({
        "algorithm": "ed25519",
        "public_key": b64.encode(public_key),
        "signature": b64.encode(signature),
    });
    // The premise: plain Ed25519 verification accepts it.
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key)
        .verify(&signed_message(FORMAT_VERSION, &index), &signature)
        .expect("ring accepts the forgery");
    let mut forged = unsigned[..signed.index.archive_size as usize].to_vec();
    forged.extend(index_frame(&index, block.to_string().as_bytes()));
    forged
}

#[test]
fn a_signature_forged_under_the_zero_key_is_refused_and_never_runs() {
    let env = Env::new();
    env.project();
    assert!(
        pack(&env, "unsigned.qyvbin", &["--unsigned"])
            .status
            .success()
    );
    let forged = forge_under_the_zero_key(&std::fs::read(env.path("unsigned.qyvbin")).unwrap());
    std::fs::write(env.path("forged.qyvbin"), &forged).unwrap();
    let zero = public_key_file(&env, "zero", &[0u8; 32]);

    // Without trust, and with the zero key given: hostile, exit 1, never "intact".
    let o = env.qyv(&["verify", "forged.qyvbin"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("hostile signature"), "{}", stderr(&o));
    let o = env.qyv(&["verify", "--key", &zero, "forged.qyvbin"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("small order"), "{}", stderr(&o));

    // `trust add` refuses the key, so run refuses the bundle...
    let o = env.qyv(&["trust", "add", &zero]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("small order"), "{}", stderr(&o));
    assert!(stdout(&env.qyv(&["trust", "list"])).is_empty());
    // ...and so it does with the key put into the store by hand, or any way out asked for.
    let store = env.path("config/trusted");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::copy(env.path(&zero), store.join("zero.pub")).unwrap();
    for extra in [
        &[][..],
        &["--allow-untrusted", "--allow-unsigned"],
        &["--key", &zero],
    ] {
        let mut args = vec!["run", "-q"];
        args.extend_from_slice(extra);
        args.extend(["forged.qyvbin", "--", "argv"]);
        let o = env.qyv(&args);
        assert_eq!(o.status.code(), Some(125), "{extra:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "the forged bundle ran ({extra:?})");
        assert!(stderr(&o).contains("refused"), "{}", stderr(&o));
    }
}

#[test]
fn the_eight_small_order_points_are_refused_as_keys() {
    let env = Env::new();
    env.project();
    keygen(&env, "ci");
    assert!(
        pack(&env, "signed.qyvbin", &["--sign", "ci.key"])
            .status
            .success()
    );
    for (i, point) in qyvpack::signature::SMALL_ORDER_POINTS.iter().enumerate() {
        let file = public_key_file(&env, &format!("weak{i}"), point);
        let o = env.qyv(&["trust", "add", &file]);
        assert_eq!(o.status.code(), Some(1), "{file}: {}", stderr(&o));
        assert!(stderr(&o).contains("small order"), "{}", stderr(&o));
        let o = env.qyv(&["verify", "--key", &file, "signed.qyvbin"]);
        assert_eq!(o.status.code(), Some(1), "{file}: {}", stderr(&o));
    }
    assert!(stdout(&env.qyv(&["trust", "list"])).is_empty());
}
