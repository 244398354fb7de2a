//! End-to-end tests of `qyv inspect` on real components and core modules built from
//! `tests/fixtures/`, on modules written in WAT for one feature each, and on broken files.

mod common;

use std::path::Path;

use common::{inspect_json, names, qyv, rust_fixture};

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn inspect(args: &[&str], file: &Path) -> Out {
    let out = qyv().arg("inspect").args(args).arg(file).output().unwrap();
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Writes `wat` compiled to wasm into a temp file.
fn wat_file(dir: &Path, name: &str, wat: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, wat::parse_str(wat).unwrap()).unwrap();
    path
}

/// Sizes and percentages change with every toolchain update; the shape must not.
macro_rules! snapshot_redacted {
    ($name:expr, $value:expr) => {
        insta::with_settings!({filters => vec![
            (r" *\d+(\.\d+)? (B|KiB|MiB)", " [SIZE]"),
            (r" *\d+\.\d%", " [PCT]"),
            (r"(?m)^(  (?:processed-by|sdk) +).*$", "$1[TOOLS]"),
            (r"/[^ :]*/(\w[\w.-]*\.wasm)", "[DIR]/$1"),
        ]}, {
            insta::assert_snapshot!($name, $value);
        });
    };
}

#[test]
fn rust_component_shows_its_world_and_fits_command() {
    let wasm = rust_fixture("hello-rust", "wasm32-wasip2");
    let v = inspect_json(&wasm);
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["kind"], "component");
    assert_eq!(v["validation"]["valid"], true);
    assert_eq!(v["language"]["language"], "Rust");
    assert_eq!(v["component"]["fits"], "wasi:cli/command");
    let exports = names(&v["component"]["exports"]);
    assert!(
        exports.iter().any(|e| e.starts_with("wasi:cli/run@0.2")),
        "{exports:?}"
    );
    let imports = v["component"]["imports"].as_array().unwrap();
    let env = imports
        .iter()
        .find(|i| {
            i["name"]
                .as_str()
                .unwrap()
                .starts_with("wasi:cli/environment@")
        })
        .expect("imports wasi:cli/environment");
    assert_eq!(env["package"], "wasi:cli");
    assert!(env["version"].as_str().unwrap().starts_with("0.2."));
    assert!(v["size"].as_u64().unwrap() > 1000);

    let out = inspect(&[], &wasm);
    assert_eq!(out.code, Some(0));
    snapshot_redacted!("rust_component", out.stdout);
}

#[test]
fn wit_flag_prints_the_world_as_wit() {
    let wasm = rust_fixture("hello-rust", "wasm32-wasip2");
    let out = inspect(&["--wit"], &wasm);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("world "), "{}", out.stdout);
    assert!(
        out.stdout.contains("export wasi:cli/run@0.2"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("import wasi:cli/environment@0.2"));
}

#[test]
fn preview1_core_module_shows_imports_and_the_adapter_it_needs() {
    let wasm = rust_fixture("hello-rust", "wasm32-wasip1");
    let v = inspect_json(&wasm);
    assert_eq!(v["kind"], "core-module");
    let m = &v["module"];
    assert_eq!(m["wasi"]["shape"], "command");
    assert_eq!(m["wasi"]["adapter_needed"], "command");
    let fd_write = m["imports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "fd_write")
        .expect("imports fd_write");
    assert_eq!(fd_write["module"], "wasi_snapshot_preview1");
    assert_eq!(fd_write["kind"], "func");
    assert_eq!(fd_write["type"], "(i32, i32, i32, i32) -> i32");
    assert!(names(&m["exports"]).contains(&"_start"));
    assert_eq!(m["memories"][0]["memory64"], false);

    let out = inspect(&["--wit"], &wasm);
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("qyv adapt"), "{}", out.stderr);
}

#[test]
fn adapted_module_records_the_adapter() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = rust_fixture("hello-rust", "wasm32-wasip1");
    let out = tmp.path().join("adapted.wasm");
    let status = qyv()
        .arg("adapt")
        .arg(&wasm)
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let v = inspect_json(&out);
    assert_eq!(v["kind"], "component");
    assert_eq!(v["adapter"], "wasi_snapshot_preview1 command 48.0.8");
    assert_eq!(v["component"]["fits"], "wasi:cli/command");
    let text = inspect(&[], &out).stdout;
    assert!(
        text.contains("adapter      wasi_snapshot_preview1 command 48.0.8"),
        "{text}"
    );
}

#[test]
fn reactor_module_and_proposals_are_recognised() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = wat_file(
        tmp.path(),
        "reactor.wasm",
        r#"(module
            (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
            (type $pt (struct (field i32) (field i32)))
            (tag $oops (param i32))
            (memory (export "memory") 1 16)
            (table 2 funcref)
            (func (export "_initialize"))
            (func (export "point") (result i32)
              (struct.get $pt 0 (struct.new $pt (i32.const 1) (i32.const 2))))
            (func (export "fail") (param i32) (throw $oops (local.get 0)))
            (func (export "splat") (result v128) (i32x4.splat (i32.const 7))))"#,
    );
    let v = inspect_json(&wasm);
    assert_eq!(v["validation"]["valid"], true, "{v}");
    assert_eq!(v["module"]["wasi"]["shape"], "reactor");
    assert_eq!(v["module"]["wasi"]["adapter_needed"], "reactor");
    let proposals: Vec<&str> = v["module"]["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for p in ["gc", "exceptions", "simd"] {
        assert!(proposals.contains(&p), "{p} missing from {proposals:?}");
    }
    assert_eq!(v["module"]["memories"][0]["initial"], 1);
    assert_eq!(v["module"]["memories"][0]["maximum"], 16);
    assert_eq!(v["module"]["tables"][0]["initial"], 2);
    snapshot_redacted!("reactor_module", inspect(&[], &wasm).stdout);
}

#[test]
fn invalid_module_is_reported_not_refused() {
    let tmp = tempfile::tempdir().unwrap();
    // Well-formed structure, but the function returns an i64 where it declares i32.
    let wasm = wat_file(
        tmp.path(),
        "bad-type.wasm",
        r#"(module (func (export "f") (result i32) (i64.const 1)))"#,
    );
    let v = inspect_json(&wasm);
    assert_eq!(v["validation"]["valid"], false);
    assert!(
        v["validation"]["error"]
            .as_str()
            .unwrap()
            .contains("type mismatch")
    );
    let out = inspect(&[], &wasm);
    assert_eq!(out.code, Some(0));
    assert!(
        out.stdout.contains("INVALID: type mismatch"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_remembered_validation_gives_the_same_report_until_the_file_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let run = |file: &Path| {
        let out = qyv()
            .env("QYV_CACHE_DIR", &cache)
            .args(["inspect", "--json"])
            .arg(file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let good = r#"(module (func (export "f") (result i32) (i32.extend8_s (i32.const 1))))"#;
    // The same length, but returning an i64 where an i32 is declared.
    let bad = r#"(module (func (export "f") (result i32) (i64.extend8_s (i64.const 1))))"#;
    let wasm = wat_file(tmp.path(), "m.wasm", good);
    let first = run(&wasm);
    assert_eq!(first["validation"]["valid"], true);
    assert_eq!(
        first["module"]["proposals"],
        serde_json::json!(["sign-extension"])
    );
    assert!(cache.join("inspect").read_dir().unwrap().count() == 1);
    assert_eq!(
        run(&wasm),
        first,
        "a remembered validation reports the same"
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    let bad_bytes = wat::parse_str(bad).unwrap();
    assert_eq!(
        bad_bytes.len(),
        std::fs::metadata(&wasm).unwrap().len() as usize
    );
    std::fs::write(&wasm, bad_bytes).unwrap();
    assert_eq!(
        run(&wasm)["validation"]["valid"],
        false,
        "a changed file is validated again"
    );
}

#[test]
fn broken_files_get_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 4] = [
        ("empty.wasm", b"", "empty file, not WebAssembly"),
        ("text.wasm", b"hello, world\n", "not a WebAssembly file"),
        (
            "truncated.wasm",
            b"\0asm\x01\0\0\0\x01\x05\x01",
            "at byte offset",
        ),
        ("version.wasm", b"\0asm\x02\0\0\0", "unknown binary version"),
    ];
    for (name, bytes, expected) in cases {
        let path = tmp.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = inspect(&[], &path);
        assert_eq!(out.code, Some(1), "{name}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{name}: {}", out.stderr);
        assert!(out.stderr.contains(name), "{name}: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{name}: {}", out.stderr);
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn missing_file_is_a_usage_error() {
    let out = inspect(&[], Path::new("does/not/exist.wasm"));
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains("cannot read does/not/exist.wasm"),
        "{}",
        out.stderr
    );
}

#[test]
fn json_report_of_a_real_core_module_is_stable() {
    let wasm = rust_fixture("hello-rust", "wasm32-wasip1");
    let v = inspect_json(&wasm);
    // Sizes, counts and tool versions move with the toolchain; the shape and the interface
    // must not.
    insta::assert_json_snapshot!("rust_core_module_json", v, {
        ".file" => "[file]",
        ".size" => "[size]",
        ".sections[].size" => "[size]",
        ".custom_sections[].size" => "[size]",
        ".producers" => "[producers]",
        ".module.functions" => "[count]",
        ".module.memories[].initial" => "[pages]",
        ".module.tables[].initial" => "[count]",
        ".module.tables[].maximum" => "[count]",
    });
}
