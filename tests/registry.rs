//! End-to-end tests of `qyv push` and `qyv pull` against a real registry (Debian's
//! docker-registry, started per test on a free loopback port): the wasm artifact layout, the
//! signed bundle as a referrer through the fallback tag, tampering, and credentials.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::registry::{self, Registry};
use common::{Sandbox, copy_dir, inspect_json, names, root, rust_fixture};
use qyvoci::artifact::{self, Descriptor, IMAGE_INDEX, IMAGE_MANIFEST, Index};
use qyvoci::client::{Access, Client, Options};
use qyvoci::{Digest, Reference};

/// A sandbox with a signing key that its trust store trusts.
fn trusted_sandbox() -> Sandbox {
    let sb = Sandbox::new();
    ok(&qyv(&sb, &["keygen", "dev"], &[]));
    ok(&qyv(&sb, &["trust", "add", "dev.pub"], &[]));
    sb
}

/// qyv in the sandbox, with its own HOME (so no docker config of the machine's is read) and
/// `env` added.
fn qyv(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = common::qyv();
    cmd.current_dir(sb.tmp.path())
        .env("QYV_CONFIG_DIR", sb.path("config"))
        .env("QYV_CACHE_DIR", sb.path("cache"))
        .env("HOME", sb.path("home"))
        .env_remove("QYV_SIGNING_KEY")
        .env_remove("DOCKER_CONFIG")
        .env_remove("QYV_REGISTRY_USERNAME")
        .env_remove("QYV_REGISTRY_PASSWORD")
        .env("QYV_STATE_DIR", sb.path("state"))
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn fails(out: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
}

/// A project `name` in the sandbox around `wasm`, packed and signed with the sandbox's key.
fn signed_app(sb: &Sandbox, name: &str, wasm: &Path) -> PathBuf {
    let dir = sb.path(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(wasm, dir.join("app.wasm")).unwrap();
    std::fs::write(
        dir.join(format!("{name}.qyv")),
        format!("name: {name}\nversion: 1.2.3\nentrypoint: app.wasm\n"),
    )
    .unwrap();
    let bundle = dir.join(format!("{name}.qyvbin"));
    ok(&qyv(
        sb,
        &[
            "pack",
            "-q",
            "--sign",
            "dev.key",
            "-o",
            bundle.to_str().unwrap(),
            name,
        ],
        &[],
    ));
    bundle
}

/// A client of the test's own for one repository (anonymous).
fn client(reg: &Registry, repo: &str) -> Client {
    let r = Reference::parse(&reg.reference(repo)).unwrap();
    Client::new(&r, Access::Push, &Options::default()).unwrap()
}

#[test]
fn hello_rust_round_trips_in_the_wasm_layout_with_one_digest() {
    let reg = Registry::start();
    let sb = trusted_sandbox();
    let hello = sb.path("hello");
    copy_dir(&root().join("examples/hello-rust"), &hello);
    common::build_ok(&hello);
    ok(&qyv(
        &sb,
        &["pack", "-q", "--sign", "dev.key", "hello"],
        &[],
    ));
    // Kept aside: pushing the project below packs it again, over the default output.
    let bundle = sb.path("signed.qyvbin");
    std::fs::copy(hello.join("target/qyv/hello-rust.qyvbin"), &bundle).unwrap();
    let component = hello.join("target/qyv/hello-rust.wasm");
    let r = reg.reference("apps/hello:v1");

    let digest = ok(&qyv(&sb, &["push", &r, bundle.to_str().unwrap()], &[]));
    assert_eq!(
        ok(&qyv(&sb, &["push", &r, bundle.to_str().unwrap()], &[])),
        digest,
        "the same bundle pushed twice has one digest"
    );
    // A project is packed first (unsigned here): the same component, the same artifact.
    assert_eq!(ok(&qyv(&sb, &["push", "-q", &r, "hello"], &[])), digest);

    // The layout, as another client reads it.
    let c = client(&reg, "apps/hello");
    let m = c.get_manifest("v1", &[IMAGE_MANIFEST]).unwrap();
    assert_eq!(m.digest.to_string(), digest);
    let manifest = artifact::parse_manifest(&m.bytes, "m").unwrap();
    assert_eq!(manifest.media_type.as_deref(), Some(IMAGE_MANIFEST));
    assert_eq!(manifest.artifact_type, None);
    assert_eq!(manifest.config.media_type, artifact::WASM_CONFIG);
    let layer = artifact::wasm_layer(&manifest, "m").unwrap();
    let wasm = std::fs::read(&component).unwrap();
    assert_eq!(layer.digest, Digest::of(&wasm));
    assert_eq!(layer.annotations[artifact::TITLE], "hello-rust.wasm");
    // hello-rust's manifest has no version or description: no annotation claims one.
    assert!(
        manifest.annotations.is_empty(),
        "{:?}",
        manifest.annotations
    );
    let config: serde_json::Value = serde_json::from_slice(
        &c.pull_blob_bytes(&manifest.config.digest, manifest.config.size, 1 << 20)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(config["created"], "1970-01-01T00:00:00Z");
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");
    assert_eq!(config["layerDigests"][0], digest_of(&wasm));
    let inspected = inspect_json(&component);
    for side in ["exports", "imports"] {
        let pushed: Vec<&str> = config["component"][side]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(pushed, names(&inspected["component"][side]), "{side}");
    }
    assert!(
        config["component"]["exports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().starts_with("wasi:cli/run@0.2"))
    );
    // Both bundles (signed, then the project's unsigned one) are listed once each.
    let referrers = c.referrers(&m.digest).unwrap();
    assert_eq!(referrers.len(), 2, "{referrers:?}");

    // The shell offers recently pushed references.
    let recent = std::fs::read_to_string(sb.path("state/recent-refs")).unwrap();
    assert!(recent.lines().any(|l| l == r), "{recent}");

    // Pull: the signed bundle, byte for byte, and it runs.
    let out = ok(&qyv(&sb, &["pull", &r, "-o", "out"], &[]));
    assert_eq!(PathBuf::from(&out), PathBuf::from("out/hello.qyvbin"));
    assert!(
        std::fs::read(sb.path("out/hello.qyvbin")).unwrap() == std::fs::read(&bundle).unwrap(),
        "the pulled bundle is the pushed one"
    );
    let run = ok(&qyv(&sb, &["run", "-q", "out/hello.qyvbin"], &[]));
    assert!(run.contains("from hello-rust!"), "{run}");
    // The pull compiles the bundle's component in the background, as build and pack do: the
    // first run after it is warm.
    let warm = sb.path("warm-cache");
    let env = [
        ("QYV_PRECOMPILE", "1"),
        ("QYV_CACHE_DIR", warm.to_str().unwrap()),
    ];
    ok(&qyv(&sb, &["pull", "-q", &r, "-o", "warm"], &env));
    common::wait_for_compiled(&warm);
    let out = qyv(&sb, &["run", "-v", "warm/hello.qyvbin"], &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("(compiled code from the cache)"),
        "{stderr}"
    );
    let pinned = format!("{}@{digest}", reg.reference("apps/hello"));
    ok(&qyv(&sb, &["pull", "-q", &pinned, "-o", "pinned"], &[]));

    // qyv run REF: pulled into the cache, verified, run.
    let run = ok(&qyv(&sb, &["run", "-q", &pinned, "--", "a", "b"], &[]));
    assert!(run.contains("from hello-rust!\nargs: a b"), "{run}");
    let pulled: Vec<_> = std::fs::read_dir(sb.path("cache/pulled"))
        .unwrap()
        .collect();
    assert_eq!(pulled.len(), 1, "one directory per reference");
}

fn digest_of(bytes: &[u8]) -> String {
    Digest::of(bytes).to_string()
}

#[test]
fn tampering_is_refused() {
    let reg = Registry::start();
    let sb = trusted_sandbox();
    let alpha = signed_app(&sb, "alpha", &rust_fixture("hello-rust", "wasm32-wasip2"));
    let beta = signed_app(&sb, "beta", &rust_fixture("hello-rust", "wasm32-wasip1"));
    let ra = reg.reference("apps/alpha:1");
    let rb = reg.reference("apps/beta:1");
    let da = Digest::parse(&ok(&qyv(
        &sb,
        &["push", "-q", &ra, alpha.to_str().unwrap()],
        &[],
    )))
    .unwrap();
    ok(&qyv(&sb, &["push", "-q", &rb, beta.to_str().unwrap()], &[]));

    // A validly signed bundle of another app, attached in place of alpha's own.
    let c = client(&reg, "apps/alpha");
    let beta_bytes = std::fs::read(&beta).unwrap();
    let beta_digest = c.push_blob_bytes(&beta_bytes).unwrap();
    c.push_blob_bytes(artifact::EMPTY_JSON).unwrap();
    let subject_bytes = c.get_manifest("1", &[IMAGE_MANIFEST]).unwrap().bytes;
    let alpha_manifest = artifact::parse_manifest(&subject_bytes, "alpha").unwrap();
    assert_eq!(
        alpha_manifest.annotations["org.opencontainers.image.version"],
        "1.2.3"
    );
    let subject = Descriptor::new(IMAGE_MANIFEST, da.clone(), subject_bytes.len() as u64);
    let evil = artifact::bundle_manifest(
        subject,
        beta_digest,
        beta_bytes.len() as u64,
        "alpha.qyvbin",
        "1970-01-01T00:00:00Z",
    );
    let evil_digest = Digest::of(&evil);
    c.put_manifest(&evil_digest.to_string(), IMAGE_MANIFEST, &evil)
        .unwrap();
    let mut index = Index::empty();
    let mut d = Descriptor::new(IMAGE_MANIFEST, evil_digest, evil.len() as u64);
    d.artifact_type = Some(artifact::bundle_artifact_type());
    index.add(d);
    c.put_manifest(
        &da.fallback_tag(),
        IMAGE_INDEX,
        &serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    fails(
        &qyv(&sb, &["pull", &ra, "-o", "out"], &[]),
        1,
        "not the layer",
    );
    assert!(!sb.path("out/alpha.qyvbin").exists());

    // A flipped byte in the registry's storage.
    let beta_blob = reg.blob_path(Digest::of(&beta_bytes).hex());
    let mut stored = std::fs::read(&beta_blob).unwrap();
    stored[100] ^= 1;
    std::fs::write(&beta_blob, stored).unwrap();
    fails(
        &qyv(&sb, &["pull", &rb, "-o", "out"], &[]),
        1,
        &format!("not {}", Digest::of(&beta_bytes)),
    );
    assert!(!sb.path("out/beta.qyvbin").exists());

    // A digest the registry does not have.
    let wrong = format!("{}@sha256:{}", reg.reference("apps/alpha"), "0".repeat(64));
    fails(&qyv(&sb, &["pull", &wrong], &[]), 1, "MANIFEST_UNKNOWN");
}

#[test]
fn an_artifact_without_a_bundle_is_refused_unless_allowed() {
    let reg = Registry::start();
    let sb = Sandbox::new();
    let wasm = std::fs::read(rust_fixture("hello-rust", "wasm32-wasip2")).unwrap();
    // The wasm artifact alone, as wkg or oras push it.
    let c = client(&reg, "apps/bare");
    let layer = c.push_blob_bytes(&wasm).unwrap();
    let a = artifact::wasm_artifact(
        layer,
        wasm.len() as u64,
        "bare.wasm",
        "2024-01-01T00:00:00Z",
        None,
        Default::default(),
    );
    c.push_blob_bytes(&a.config_bytes).unwrap();
    c.put_manifest("1", IMAGE_MANIFEST, &a.manifest_bytes)
        .unwrap();
    let r = reg.reference("apps/bare:1");
    fails(&qyv(&sb, &["pull", &r], &[]), 3, "no signed qyv bundle");
    let out = ok(&qyv(&sb, &["pull", "--allow-unsigned", &r], &[]));
    assert_eq!(out, "./bare.wasm");
    assert!(std::fs::read(sb.path("bare.wasm")).unwrap() == wasm);
    let run = ok(&qyv(&sb, &["run", "-q", "bare.wasm"], &[]));
    assert!(run.contains("hello from qyv"), "{run}");
    fails(&qyv(&sb, &["run", &r], &[]), 125, "no signed qyv bundle");
    let run = ok(&qyv(&sb, &["run", "-q", "--allow-unsigned", &r], &[]));
    assert!(run.contains("hello from qyv"), "{run}");
}

#[test]
fn credentials_come_from_the_environment_docker_config_and_helpers() {
    let reg = Registry::with_auth();
    let sb = trusted_sandbox();
    let app = signed_app(&sb, "locked", &rust_fixture("hello-rust", "wasm32-wasip2"));
    let app = app.to_str().unwrap();
    let r = reg.reference("private/app:1");
    fails(&qyv(&sb, &["push", &r, app], &[]), 1, "needs credentials");
    let env = [
        ("QYV_REGISTRY_USERNAME", registry::USER),
        ("QYV_REGISTRY_PASSWORD", registry::PASSWORD),
    ];
    ok(&qyv(&sb, &["push", "-q", &r, app], &env));
    fails(
        &qyv(
            &sb,
            &["pull", &r],
            &[
                ("QYV_REGISTRY_USERNAME", registry::USER),
                ("QYV_REGISTRY_PASSWORD", "wrong"),
            ],
        ),
        1,
        "credentials from QYV_REGISTRY_USERNAME",
    );

    // docker login's auths, under the home's .docker/config.json.
    let docker = sb.path("home/.docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = |user: &str, pass: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    };
    let config = docker.join("config.json");
    let write_auths = |pass: &str| {
        std::fs::write(
            &config,
            format!(
                r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
                reg.addr,
                auth(registry::USER, pass)
            ),
        )
        .unwrap()
    };
    write_auths(registry::PASSWORD);
    ok(&qyv(&sb, &["pull", "-q", &r, "-o", "a"], &[]));
    write_auths("stale");
    fails(
        &qyv(&sb, &["pull", &r, "-o", "b"], &[]),
        1,
        &config.display().to_string(),
    );

    // A credential helper, named for this registry.
    let bin = sb.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-qyvtest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread host\n[ \"$host\" = \"{}\" ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\necho '{{\"ServerURL\":\"'$host'\",\"Username\":\"{}\",\"Secret\":\"{}\"}}'\n",
            reg.addr,
            registry::USER,
            registry::PASSWORD
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        &config,
        format!(r#"{{"credHelpers":{{"{}":"qyvtest"}}}}"#, reg.addr),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    ok(&qyv(
        &sb,
        &["pull", "-q", &r, "-o", "c"],
        &[("PATH", &path)],
    ));
    assert!(std::fs::read(sb.path("c/app.qyvbin")).unwrap() == std::fs::read(app).unwrap());
}

/// Runs a Python script (with PyPI's oras, installed by scripts/install-toolchains.sh) in
/// `dir`; it must succeed.
fn python(dir: &Path, script: &str) {
    let out = std::process::Command::new("python3")
        .current_dir(dir)
        .args(["-c", script])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python failed (is oras installed? run scripts/install-toolchains.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn oras_and_skopeo_read_what_qyv_pushes_and_qyv_runs_what_oras_pushes() {
    let reg = Registry::start();
    let sb = trusted_sandbox();
    let wasm_path = rust_fixture("hello-rust", "wasm32-wasip2");
    let wasm = std::fs::read(&wasm_path).unwrap();
    let app = signed_app(&sb, "interop", &wasm_path);
    let r = reg.reference("apps/interop:1");
    let digest = ok(&qyv(&sb, &["push", "-q", &r, app.to_str().unwrap()], &[]));

    // oras pulls the layer, byte for byte, under its title.
    python(
        sb.tmp.path(),
        &format!(
            "from oras.client import OrasClient\nOrasClient(insecure=True).pull(target='{r}', outdir='oras-out')"
        ),
    );
    assert!(std::fs::read(sb.path("oras-out/interop.wasm")).unwrap() == wasm);

    // skopeo copies it to an OCI layout with the same blobs.
    let out = std::process::Command::new("skopeo")
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(format!("docker://{r}"))
        .arg(format!("oci:{}:1", sb.path("layout").display()))
        .output()
        .expect("skopeo is not installed: run scripts/install-toolchains.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let blobs = sb.path("layout/blobs/sha256");
    let hex = digest.trim_start_matches("sha256:");
    assert!(blobs.join(hex).is_file(), "the manifest keeps its digest");
    assert!(std::fs::read(blobs.join(Digest::of(&wasm).hex())).unwrap() == wasm);

    // oras pushes the wasm layout with no bundle: refused, then pulled and run when allowed.
    std::fs::create_dir_all(sb.path("by-oras")).unwrap();
    std::fs::copy(&wasm_path, sb.path("by-oras/app.wasm")).unwrap();
    let theirs = reg.reference("apps/by-oras:1");
    python(
        &sb.path("by-oras"),
        &format!(
            "import json\nfrom oras.client import OrasClient\njson.dump({{'created':'2024-01-01T00:00:00Z','architecture':'wasm','os':'wasip2','layerDigests':['{}']}}, open('config.json','w'))\nOrasClient(insecure=True).push(target='{theirs}', files=['app.wasm:application/wasm'], manifest_config='config.json:application/vnd.wasm.config.v0+json', quiet=True)",
            Digest::of(&wasm)
        ),
    );
    fails(
        &qyv(&sb, &["pull", &theirs], &[]),
        3,
        "by-oras:1 has no signed qyv bundle",
    );
    ok(&qyv(
        &sb,
        &["pull", "-q", "--allow-unsigned", &theirs, "-o", "o"],
        &[],
    ));
    assert!(std::fs::read(sb.path("o/by-oras.wasm")).unwrap() == wasm);
    let run = ok(&qyv(&sb, &["run", "-q", "o/by-oras.wasm"], &[]));
    assert!(run.contains("hello from qyv"), "{run}");
}

/// kubernetes-validate --strict (PyPI, installed by scripts/install-toolchains.sh) on `yaml`.
fn validate_k8s(sb: &Sandbox, yaml: &str) {
    let file = sb.path("deploy.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = std::process::Command::new("kubernetes-validate")
        .arg("--strict")
        .arg(&file)
        .output()
        .expect("kubernetes-validate is not installed: run scripts/install-toolchains.sh");
    assert!(
        out.status.success(),
        "{yaml}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A signed app with `manifest_rest` after its name and entrypoint, pushed; its reference.
fn pushed_app(reg: &Registry, sb: &Sandbox, name: &str, manifest_rest: &str) -> String {
    let dir = sb.path(name);
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("assets/a.txt"), "a").unwrap();
    std::fs::copy(
        rust_fixture("hello-rust", "wasm32-wasip2"),
        dir.join("app.wasm"),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("{name}.qyv")),
        format!("name: {name}\nentrypoint: app.wasm\n{manifest_rest}"),
    )
    .unwrap();
    let bundle = dir.join("b.qyvbin");
    ok(&qyv(
        sb,
        &[
            "pack",
            "-q",
            "--sign",
            "dev.key",
            "-o",
            bundle.to_str().unwrap(),
            name,
        ],
        &[],
    ));
    let r = reg.reference(&format!("apps/{name}:1"));
    ok(&qyv(sb, &["push", "-q", &r, bundle.to_str().unwrap()], &[]));
    r
}

#[test]
fn deploy_emits_valid_kubernetes_yaml_for_runwasi_and_refuses_what_it_cannot_honour() {
    let reg = Registry::start();
    let sb = trusted_sandbox();
    let job = pushed_app(
        &reg,
        &sb,
        "job",
        "args: [--greet, world]\nenv:\n  MODE: \"fast: yes\"\nlimits:\n  memory: 64MiB\n  timeout: 90s\n",
    );
    let out = qyv(&sb, &["deploy", &job, "--runtime-class"], &[]);
    let yaml = ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not enforce qyv's network and file grants"),
        "{stderr}"
    );
    for expected in [
        "kind: RuntimeClass",
        "kind: Job",
        "runtimeClassName: \"wasmtime\"",
        "activeDeadlineSeconds: 90",
        "command: [\"/job.wasm\"]",
        "args: [\"--greet\", \"world\"]",
        "value: \"fast: yes\"",
        "memory: \"67108864\"",
    ] {
        assert!(yaml.contains(expected), "{expected} not in:\n{yaml}");
    }
    let digest = ok(&qyv(&sb, &["push", "-q", &job, "job/b.qyvbin"], &[]));
    assert!(
        yaml.contains(&format!("/apps/job@{digest}\"")),
        "pinned by digest:\n{yaml}"
    );
    validate_k8s(&sb, &yaml);

    let http = pushed_app(&reg, &sb, "web", "type: http\n");
    let yaml = ok(&qyv(
        &sb,
        &[
            "deploy",
            "-q",
            &http,
            "--runtime-class-name",
            "wasmtime-v48",
        ],
        &[],
    ));
    for expected in [
        "kind: Deployment",
        "kind: Service",
        "runtimeClassName: \"wasmtime-v48\"",
    ] {
        assert!(yaml.contains(expected), "{expected} not in:\n{yaml}");
    }
    assert!(!yaml.contains("kind: RuntimeClass"));
    validate_k8s(&sb, &yaml);

    let assets = pushed_app(&reg, &sb, "files", "assets: [assets/*]\n");
    fails(
        &qyv(&sb, &["deploy", &assets], &[]),
        1,
        "assets: an artifact's root file system is empty",
    );
}

/// Peak RSS in KiB of `qyv ARGS` in the sandbox, from `/usr/bin/time -v`; it must succeed.
fn peak_rss_kib(sb: &Sandbox, args: &[&str]) -> u64 {
    let out = std::process::Command::new("/usr/bin/time")
        .arg("-v")
        .arg(env!("CARGO_BIN_EXE_qyv"))
        .args(args)
        .current_dir(sb.tmp.path())
        .env("QYV_CONFIG_DIR", sb.path("config"))
        .env("QYV_CACHE_DIR", sb.path("cache"))
        .env("HOME", sb.path("home"))
        .env("QYV_PRECOMPILE", "0")
        .output()
        .expect("/usr/bin/time runs (Debian's time package)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in: {stderr}"))
}

#[test]
fn a_200_mib_bundle_pushes_and_pulls_in_bounded_memory() {
    const SIZE: usize = 200 << 20;
    let reg = Registry::start();
    let sb = trusted_sandbox();
    let dir = sb.path("big");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        rust_fixture("hello-rust", "wasm32-wasip2"),
        dir.join("app.wasm"),
    )
    .unwrap();
    // Incompressible, so the bundle is as large as the asset.
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("big.bin")).unwrap());
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut block = vec![0u8; 1 << 20];
        for _ in 0..SIZE / block.len() {
            for chunk in block.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes());
            }
            f.write_all(&block).unwrap();
        }
    }
    std::fs::write(
        dir.join("big.qyv"),
        "name: big\nentrypoint: app.wasm\nassets: [big.bin]\nfs:\n  type: memfs\n",
    )
    .unwrap();
    ok(&qyv(
        &sb,
        &["pack", "-q", "--sign", "dev.key", "-o", "big.qyvbin", "big"],
        &[],
    ));
    std::fs::remove_file(dir.join("big.bin")).unwrap();
    let size = std::fs::metadata(sb.path("big.qyvbin")).unwrap().len();
    assert!(size > SIZE as u64, "{size}");

    let r = reg.reference("apps/big:1");
    let push = peak_rss_kib(&sb, &["push", "-q", &r, "big.qyvbin"]);
    let pull = peak_rss_kib(&sb, &["pull", "-q", &r, "-o", "out"]);
    eprintln!("peak RSS: push {push} KiB, pull {pull} KiB");
    assert!(push < 64 << 10, "push peaked at {push} KiB");
    assert!(pull < 64 << 10, "pull peaked at {pull} KiB");
    let pulled = std::fs::metadata(sb.path("out/big.qyvbin")).unwrap().len();
    assert_eq!(pulled, size);
}
