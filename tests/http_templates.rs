//! End-to-end tests of the HTTP handler templates: `qyv new --lang L --template http`
//! writes `examples/http-L`, `qyv build` makes a component that exports
//! `wasi:http/incoming-handler`, and served by `qyv run` it answers as every template must
//! (tests/common/http.rs). Each project is built once.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::http::{Server, check_template_handler};
use common::{Sandbox, build_ok, inspect_json, names, root};

/// The project's files, without what builds write (`target/`, `node_modules/`, lock files).
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let name = e.file_name();
            if p.is_dir() {
                if name != "target" && name != "node_modules" && name != "__pycache__" {
                    stack.push(p);
                }
            } else if name != "Cargo.lock" && name != "package-lock.json" {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                files.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    files
}

/// `qyv new --lang LANG --template http http-LANG`, checked against the example, built,
/// inspected and served.
fn new_build_serve(lang: &str) {
    let sandbox = Sandbox::new();
    let name = format!("http-{lang}");
    let o = sandbox.qyv(&["new", "--lang", lang, "--template", "http", &name]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = sandbox.path(&name);
    let written = tree(&dir);
    let example = tree(&root().join("examples").join(&name));
    assert_eq!(
        written.keys().collect::<Vec<_>>(),
        example.keys().collect::<Vec<_>>()
    );
    assert!(
        written == example,
        "examples/{name} differs from what `qyv new --lang {lang} --template http {name}` writes"
    );

    build_ok(&dir);
    let wasm = dir.join(format!("target/qyv/{name}.wasm"));
    let report = inspect_json(&wasm);
    assert_eq!(report["kind"], "component", "{report:#}");
    assert_eq!(report["component"]["fits"], "wasi:http/proxy", "{report:#}");
    let exports = names(&report["component"]["exports"]);
    assert!(
        exports
            .iter()
            .any(|e| e.starts_with("wasi:http/incoming-handler@0.2.")),
        "{exports:?}"
    );
    assert!(!exports.iter().any(|e| e.starts_with("wasi:cli/run")));

    let mut serve = sandbox.command();
    serve.arg("run").arg(&dir).args(["--listen", "127.0.0.1:0"]);
    let server = Server::start(serve);
    check_template_handler(&server);
    server.wait_for_line("POST /echo 200");
}

#[test]
fn the_rust_http_template_serves() {
    new_build_serve("rust");
}

#[test]
fn the_python_http_template_serves() {
    new_build_serve("python");
}

#[test]
fn the_javascript_http_template_serves() {
    new_build_serve("javascript");
}
