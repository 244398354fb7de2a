//! End-to-end tests of the language toolchains, as a new user meets them: `qyv new --lang X`,
//! `qyv build`, `qyv run -- a b`, which must print the greeting (from a granted host
//! variable) and the arguments. `examples/hello-X` must be exactly what `qyv new` writes.
//! The toolchains are installed by scripts/install-toolchains.sh (part of the test set-up);
//! a missing one fails loudly.

mod common;

use common::{build_ok, inspect_json, names, qyv, root};

/// The files below `dir`, by relative path, with their contents (build outputs left out).
fn tree(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                let name = e.file_name();
                if ![
                    ".zig-cache",
                    "__pycache__",
                    "node_modules",
                    "target",
                    "zig-out",
                ]
                .iter()
                .any(|n| name == *n)
                {
                    stack.push(p);
                }
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                files.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    files
}

/// `qyv new --lang <lang> hello-<lang>`, built and run; returns what `qyv inspect --json`
/// says of the result.
fn build_and_run(lang: &str) -> serde_json::Value {
    let tmp = tempfile::tempdir().unwrap();
    let name = format!("hello-{lang}");
    let dir = tmp.path().join(&name);
    let out = qyv()
        .current_dir(tmp.path())
        .args(["new", "--lang", lang, &name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        tree(&dir) == tree(&root().join("examples").join(&name)),
        "examples/{name} differs from what `qyv new --lang {lang} {name}` writes"
    );
    build_ok(&dir);
    let out = qyv()
        .args(["run", "-q"])
        .arg(&dir)
        .args(["--", "a", "b c"])
        .env("GREETING", "Hola")
        .env("QYV_TEST_UNGRANTED", "x")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("Hola from {name}!\nargs: a b c\n"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
    inspect_json(&dir.join(format!("target/qyv/{name}.wasm")))
}

#[test]
fn go_stays_a_core_module_and_runs() {
    let v = build_and_run("go");
    assert_eq!(v["kind"], "core-module");
    assert_eq!(v["language"]["language"], "Go");
    assert_eq!(v["module"]["wasi"]["shape"], "command");
}

#[test]
fn a_go_reactor_builds_as_c_shared_and_exports_its_functions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("adder");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("go.mod"), "module adder\n\ngo 1.24\n").unwrap();
    std::fs::write(
        dir.join("main.go"),
        "package main\n\n//go:wasmexport add\nfunc add(a, b int32) int32 { return a + b }\n\nfunc main() {}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("adder.qyv"),
        "name: adder\nentrypoint: target/qyv/adder.wasm\nlanguage: go\ntype: reactor\n",
    )
    .unwrap();
    build_ok(&dir);
    let v = inspect_json(&dir.join("target/qyv/adder.wasm"));
    assert_eq!(v["kind"], "core-module");
    assert_eq!(v["module"]["wasi"]["shape"], "reactor");
    let exports = names(&v["module"]["exports"]);
    assert!(
        exports.contains(&"add") && exports.contains(&"_initialize"),
        "{exports:?}"
    );
}

#[test]
fn python_builds_with_componentize_py() {
    let v = build_and_run("python");
    assert_eq!(v["kind"], "component");
    assert_eq!(v["component"]["fits"], "wasi:cli/command");
    assert_eq!(v["language"]["language"], "Python");
}

#[test]
fn c_builds_with_zig_cc_and_is_adapted() {
    let v = build_and_run("c");
    assert_eq!(
        v["language"]["language"], "C",
        "the adapter's Rust is not the app's"
    );
    assert_eq!(v["kind"], "component");
    assert_eq!(v["adapter"], "wasi_snapshot_preview1 command 48.0.8");
}

#[test]
fn zig_builds_and_is_adapted() {
    let v = build_and_run("zig");
    assert_eq!(v["language"]["language"], "Zig");
    assert_eq!(v["kind"], "component");
    assert_eq!(v["adapter"], "wasi_snapshot_preview1 command 48.0.8");
}

#[test]
fn nim_builds_with_clang_and_is_adapted() {
    let v = build_and_run("nim");
    assert_eq!(v["language"]["language"], "Nim");
    assert_eq!(v["kind"], "component");
    assert_eq!(v["adapter"], "wasi_snapshot_preview1 command 48.0.8");
}

#[test]
fn assemblyscript_builds_with_the_wasi_shim_and_stays_a_core_module() {
    let v = build_and_run("assemblyscript");
    assert_eq!(v["language"]["language"], "AssemblyScript");
    assert_eq!(v["kind"], "core-module");
    assert_eq!(v["module"]["wasi"]["shape"], "command");
}

#[test]
fn javascript_builds_with_componentize_js() {
    let v = build_and_run("javascript");
    assert_eq!(v["kind"], "component");
    assert_eq!(v["component"]["fits"], "wasi:cli/command");
    assert_eq!(v["language"]["language"], "JavaScript");
}

#[test]
fn kotlin_builds_with_wasm_gc_and_stays_a_core_module() {
    let v = build_and_run("kotlin");
    assert_eq!(v["language"]["language"], "Kotlin");
    assert_eq!(v["kind"], "core-module");
    assert_eq!(v["module"]["wasi"]["shape"], "command");
    let proposals = v["module"]["proposals"].as_array().unwrap();
    assert!(proposals.iter().any(|p| p == "gc"), "{proposals:?}");
}

#[test]
fn julia_is_detected_and_refused_honestly() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("app.jl"), "println(\"hi\")\n").unwrap();
    let out = qyv().arg("build").arg(tmp.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Julia has no WASI target"), "{err}");
    assert!(!tmp.path().join("target").exists(), "no fake build output");
}

#[test]
fn build_command_runs_with_the_wasm_c_toolchain_and_its_output_is_adapted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("made");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("main.c"),
        "#include <stdio.h>\n#include <stdlib.h>\nint main(int argc, char **argv) {\n  const char *g = getenv(\"GREETING\");\n  printf(\"%s from make! argc=%d\\n\", g ? g : \"Hello\", argc);\n  return 0;\n}\n",
    )
    .unwrap();
    // A Makefile that knows nothing of wasm: CC and the flags come from qyv.
    std::fs::write(
        dir.join("Makefile"),
        "app.wasm: main.c\n\t$(CC) $(CFLAGS) main.c -o app.wasm $(LDFLAGS)\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("made.qyv"),
        "name: made\nentrypoint: target/qyv/made.wasm\npermissions:\n  env: [GREETING]\nbuild:\n  command: make\n  output: app.wasm\n",
    )
    .unwrap();
    build_ok(&dir);
    let out = qyv()
        .args(["run", "-q"])
        .arg(&dir)
        .args(["--", "x"])
        .env("GREETING", "Hola")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hola from make! argc=2\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = inspect_json(&dir.join("target/qyv/made.wasm"));
    assert_eq!(v["adapter"], "wasi_snapshot_preview1 command 48.0.8");

    // A command that writes nothing at build.output is a clear error.
    std::fs::write(
        dir.join("made.qyv"),
        "name: made\nentrypoint: target/qyv/made.wasm\nbuild:\n  command: \"true\"\n  output: nothing.wasm\n",
    )
    .unwrap();
    let out = qyv().arg("build").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("did not write `build.output`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
