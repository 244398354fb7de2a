//! Tests of the whole pipeline: text in, manifest or diagnostics out.

use std::path::Path;
use std::time::Duration;

use super::*;

fn ok(src: &str) -> Manifest {
    match parse(src, Path::new("t.qyv")) {
        Ok(m) => m,
        Err(e) => panic!("expected a valid manifest:\n{e}"),
    }
}

fn errors(src: &str) -> Vec<Diagnostic> {
    match parse(src, Path::new("t.qyv")) {
        Ok(m) => panic!("expected errors, got {m:?}"),
        Err(e) => e.diagnostics().to_vec(),
    }
}

#[test]
fn seed_manifests_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/manifests/seed");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let src = std::fs::read_to_string(&path).unwrap();
        parse(&src, &path).unwrap_or_else(|e| panic!("{}:\n{e}", path.display()));
        count += 1;
    }
    assert_eq!(count, 2);
}

#[test]
fn the_seed_hello_reads_as_written() {
    let m = ok(include_str!("../../../tests/manifests/seed/hello.qyv"));
    assert_eq!(m.name, "hello-qyvol");
    assert_eq!(m.entrypoint, "hello.component.wasm");
    assert_eq!(m.language.as_deref(), Some("rust"));
    assert_eq!(m.permissions.fs, FsAccess::None);
    assert_eq!(m.permissions.net, NetPolicy::Deny);
    assert!(!m.permissions.exec);
    assert_eq!(m.fs.as_ref().unwrap().kind, FsType::Memfs);
    assert_eq!(m.app_type, AppType::Cli);
}

#[test]
fn the_seed_gui_example_warns_about_gfx() {
    let src = include_str!("../../../tests/manifests/seed/editor-texto.qyv");
    let (m, warnings) = parse_with_warnings(src, Path::new("e.qyv")).unwrap();
    assert_eq!(m.app_type, AppType::Gui);
    assert_eq!(m.permissions.fs, FsAccess::Write);
    assert!(m.permissions.gfx);
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].message.contains("graphics"), "{}", warnings[0]);
    assert_eq!(m.unsupported_grants().len(), 1);
}

#[test]
fn every_key() {
    let m = ok(r#"
name: full-app
version: 1.0
description: "all the keys"
entrypoint: target/qyv/full-app.wasm
runtime: wasi
language: Rust
type: reactor
permissions:
  fs: read-only
  net: ["api.example.com:443", "127.0.0.1:*"]
  exec: false
  gfx: false
  env: [HOME, LANG]
fs:
  type: netfs
  source: https://example.com/data/
  cache: true
  files:
    - path: model.bin
      sha256: 9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08
    - notes.txt
args: [--verbose]
env:
  MODE: fast
  EMPTY:
models: ["models/*.onnx"]
assets: [assets/]
limits:
  memory: 256MiB
  disk: 64MiB
  timeout: 30s
  fuel: 1000000
build:
  target: wasm32-wasip1
  profile: release
  features: [simd]
  command: make wasm
  output: out/app.wasm
"#);
    assert_eq!(m.version.as_deref(), Some("1.0"));
    assert_eq!(m.language.as_deref(), Some("rust"));
    assert_eq!(m.app_type, AppType::Reactor);
    assert_eq!(m.permissions.fs, FsAccess::Read);
    assert_eq!(
        m.permissions.net,
        NetPolicy::List(vec![
            "api.example.com:443".parse().unwrap(),
            "127.0.0.1:*".parse().unwrap()
        ])
    );
    let fs = m.fs.as_ref().unwrap();
    assert_eq!(fs.files.len(), 2);
    assert_eq!(
        fs.files[0].sha256.as_deref(),
        Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
    );
    assert_eq!(m.env["EMPTY"], "");
    assert_eq!(m.limits.memory, Some(256 << 20));
    assert_eq!(m.limits.disk, Some(64 << 20));
    assert_eq!(m.limits.timeout, Some(Duration::from_secs(30)));
    assert_eq!(m.limits.fuel, Some(1_000_000));
    assert_eq!(
        m.build.as_ref().unwrap().output.as_deref(),
        Some("out/app.wasm")
    );
    // The serialized form is a manifest again (JSON is YAML), and reads back the same.
    let json = serde_json::to_string(&m).unwrap();
    assert_eq!(ok(&json), m);
}

#[test]
fn misspelt_key_points_at_it_with_a_hint() {
    let d = errors(include_str!(
        "../../../tests/manifests/bad/misspelt-key.qyv"
    ));
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].line, d[0].column), (3, 1));
    assert_eq!(d[0].message, "unknown key `permisions`");
    assert_eq!(d[0].hint.as_deref(), Some("did you mean `permissions`?"));
}

#[test]
fn nested_misspelt_key_names_its_path() {
    let d = errors("name: a\nentrypoint: a.wasm\npermissions:\n  nett: true\n");
    assert_eq!(d[0].message, "unknown key `permissions.nett`");
    assert_eq!(
        d[0].hint.as_deref(),
        Some("did you mean `permissions.net`?")
    );
    assert_eq!((d[0].line, d[0].column), (4, 3));
}

#[test]
fn wrong_type_names_the_key() {
    let d = errors(include_str!("../../../tests/manifests/bad/wrong-type.qyv"));
    assert_eq!(d.len(), 1);
    assert_eq!(
        d[0].message,
        "`permissions.exec` must be true or false, found a string"
    );
    assert_eq!((d[0].line, d[0].column), (5, 9));
}

#[test]
fn bad_fs_value_suggests_the_right_one() {
    let d = errors(include_str!(
        "../../../tests/manifests/bad/bad-fs-value.qyv"
    ));
    assert_eq!(d.len(), 1);
    assert_eq!(
        d[0].message,
        "`read-wrte` is not a valid value for `permissions.fs`"
    );
    assert!(
        d[0].hint
            .as_deref()
            .unwrap()
            .starts_with("did you mean `read-write`?")
    );
    assert_eq!((d[0].line, d[0].column), (4, 7));
}

#[test]
fn several_errors_are_reported_together() {
    let d = errors("name: Bad_Name\nentrypoint: ../escape.wasm\nrunitme: wasi\n");
    let messages: Vec<&str> = d.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(d.len(), 3, "{messages:?}");
    assert!(messages[0].contains("not a valid app name"));
    assert!(messages[1].contains("leaves the project"));
    assert!(messages[2].contains("unknown key `runitme`"));
}

#[test]
fn semantic_rules() {
    let d = errors("name: a\nentrypoint: a.wasm\nfs:\n  type: diskfs\n  source: data\n");
    assert!(d[0].message.contains("permissions.fs` is none"), "{}", d[0]);
    assert_eq!(d[0].line, 4);
    let d = errors("name: a\nentrypoint: /abs.wasm\n");
    assert!(d[0].message.contains("absolute"));
    let d = errors("name: a\nentrypoint: a.wasm\npermissions:\n  fs: read\nfs:\n  type: diskfs\n");
    assert!(d[0].message.contains("needs `fs.source`"));
    let d = errors("name: a\nentrypoint: a.wasm\nfs:\n  type: netfs\n  source: ftp://x\n");
    assert!(d[0].message.contains("not an http"));
    let d = errors("name: a\nentrypoint: a.wasm\npermissions:\n  net: [example.com]\n");
    assert!(d[0].message.contains("host:port"));
    let d = errors("name: a\nentrypoint: a.wasm\npermissions:\n  env: [OK, 1BAD]\n");
    assert!(d[0].message.contains("1BAD"));
    assert_eq!(d[0].column, 13);
    let d = errors("name: a\nentrypoint: a.wasm\nlimits:\n  memory: 1KiB\n");
    assert!(d[0].message.contains("one wasm page"));
    let d = errors("name: a\nentrypoint: a.wasm\nlimits:\n  timeout: soon\n");
    assert!(d[0].message.contains("limits.timeout"));
    // Zero is refused, as by `qyv run --timeout 0`: leaving the limit out means none.
    let d = errors("name: a\nentrypoint: a.wasm\nlimits:\n  timeout: 0\n");
    assert!(
        d[0].message
            .contains("`limits.timeout`: must be more than 0")
    );
    let d = errors("name: a\nentrypoint: a.wasm\nlimits:\n  disk: 0\n");
    assert!(d[0].message.contains("`limits.disk` must be more than 0"));
    let d = errors("name: a\nentrypoint: a.wasm\nlimits:\n  disk: lots\n");
    assert!(d[0].message.contains("limits.disk"));
    let d = errors("name: a\nentrypoint: a.wasm\nlanguage: rsut\n");
    assert!(d[0].hint.as_deref().unwrap().contains("`rust`"));
}

#[test]
fn missing_and_empty() {
    let d = errors("");
    assert!(d[0].message.contains("empty"));
    let d = errors("name: a\n");
    assert!(d[0].message.contains("missing required key `entrypoint`"));
    let d = errors("- a\n- b\n");
    assert!(d[0].message.contains("must be a mapping"));
    let d = errors("name: a\nentrypoint: a.wasm\nname: b\n");
    assert!(d[0].message.contains("given twice"));
}

#[test]
fn yaml_syntax_errors_have_positions() {
    let d = errors("name: a\nentrypoint: [a.wasm\n");
    assert!(d[0].message.starts_with("invalid YAML"));
    assert!(d[0].line >= 2);
}

#[test]
fn net_true_and_fs_false() {
    let m = ok("name: a\nentrypoint: a.wasm\npermissions:\n  net: true\n  fs: false\n");
    assert_eq!(m.permissions.net, NetPolicy::Allow);
    assert_eq!(m.permissions.fs, FsAccess::None);
}

#[test]
fn load_warns_about_a_missing_entrypoint_and_finds_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.qyv");
    std::fs::write(&path, "name: app\nentrypoint: app.wasm\n").unwrap();
    let loaded = load(&path).unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    assert!(loaded.warnings[0].message.contains("does not exist yet"));
    assert_eq!(loaded.warnings[0].line, 2);
    assert_eq!(find_in_dir(dir.path()).unwrap(), path);
    std::fs::write(dir.path().join("other.qyv"), "").unwrap();
    let err = find_in_dir(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("app.qyv") && err.contains("other.qyv"),
        "{err}"
    );
    assert!(matches!(
        load(&dir.path().join("missing.qyv")),
        Err(ManifestError::Io { .. })
    ));
}

#[test]
fn committed_json_schema_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/manifest.schema.json");
    let fresh = serde_json::to_string_pretty(&json_schema()).unwrap() + "\n";
    if std::env::var_os("QYV_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "docs/manifest.schema.json is out of date with the manifest types; regenerate it with \
         `QYV_BLESS=1 cargo test -p qyvpack committed_json_schema_is_current`"
    );
}

#[test]
fn never_panics_on_odd_input() {
    for src in [
        "\u{0}",
        ":",
        "name: [",
        "{a: {b: {c: }}}",
        "*x",
        "&a [*a]",
        "name: !!binary aGk=\nentrypoint: x",
        "? [a]\n: b",
        "name: a\nentrypoint: a.wasm\npermissions: [fs]\n",
        "name: a\nentrypoint: a.wasm\nenv: [A]\n",
        "name: a\nentrypoint: a.wasm\nlimits:\n  memory: 99999999999999999999999GiB\n",
        "---\na: 1\n---\nb: 2\n",
    ] {
        let _ = parse(src, Path::new("t.qyv"));
    }
}

#[test]
fn errors_at_the_end_of_input_point_inside_it() {
    // Found by the manifest fuzz target: the parser placed this error on a line past the end.
    let src = "name: hello\nentrypoint: hello.wasm\npermissions:\n  fs: none\n  uxec:$ sometimeso";
    let err = parse(src, Path::new("x.qyv")).unwrap_err();
    let lines = src.split('\n').count();
    for d in err.diagnostics() {
        assert!(d.line >= 1 && d.line <= lines, "{d}");
    }
}

#[test]
fn invalid_utf8_is_a_diagnostic_at_the_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.qyv");
    std::fs::write(&path, b"name: app\n\xff\xfeentrypoint: a.wasm\n").unwrap();
    let Err(ManifestError::Invalid(d)) = load(&path) else {
        panic!("invalid UTF-8 was not a diagnostic");
    };
    assert_eq!((d[0].line, d[0].column), (2, 1));
    assert!(
        d[0].message
            .contains("byte 0xff at byte offset 10 (line 2)"),
        "{}",
        d[0].message
    );
}

#[test]
fn yaml_1_1_booleans_are_refused_wherever_a_boolean_is_expected() {
    let keys = [
        ("permissions:\n  net: ", "permissions.net"),
        ("permissions:\n  fs: ", "permissions.fs"),
        ("permissions:\n  exec: ", "permissions.exec"),
        ("permissions:\n  gfx: ", "permissions.gfx"),
        (
            "fs:\n  type: netfs\n  source: https://x.org/\n  cache: ",
            "fs.cache",
        ),
    ];
    for (prefix, key) in keys {
        for (word, meant) in [
            ("yes", "true"),
            ("Yes", "true"),
            ("ON", "true"),
            ("y", "true"),
            ("no", "false"),
            ("Off", "false"),
            ("N", "false"),
        ] {
            let d = errors(&format!("name: a\nentrypoint: a.wasm\n{prefix}{word}\n"));
            let m = d
                .iter()
                .find(|d| d.message.contains("is not a boolean"))
                .unwrap_or_else(|| panic!("{key}: {word}: {d:?}"));
            assert!(
                m.message.starts_with(&format!("`{key}`: `{word}`")),
                "{}",
                m.message
            );
            assert_eq!(m.hint.as_deref(), Some(format!("write `{meant}`").as_str()));
        }
    }
    // Quoted, `yes` is a string, and so reported as one.
    let d = errors("name: a\nentrypoint: a.wasm\npermissions:\n  net: \"yes\"\n");
    assert!(d[0].message.contains("found a string"), "{}", d[0].message);
}

#[test]
fn build_go_keys_are_read_and_checked() {
    let m = ok(
        "name: a\nentrypoint: a.wasm\nbuild:\n  go:\n    package: ./cmd/tool\n    tags: [loud, netgo]\n    ldflags: -X main.version=1.2\n",
    );
    let go = m.build.unwrap().go.unwrap();
    assert_eq!(go.package.as_deref(), Some("./cmd/tool"));
    assert_eq!(go.tags, ["loud", "netgo"]);
    assert_eq!(go.ldflags.as_deref(), Some("-X main.version=1.2"));
    let d = errors("name: a\nentrypoint: a.wasm\nbuild:\n  go:\n    package: ../elsewhere\n");
    assert!(d[0].message.contains("build.go.package"), "{}", d[0]);
    assert_eq!(d[0].line, 5);
    let d = errors("name: a\nentrypoint: a.wasm\nbuild:\n  go:\n    tags: [\"a b\"]\n");
    assert!(d[0].message.contains("not a Go build tag"), "{}", d[0]);
    let d = errors("name: a\nentrypoint: a.wasm\nbuild:\n  go:\n    tag: [x]\n");
    assert!(
        d[0].message.contains("unknown key `build.go.tag`"),
        "{}",
        d[0]
    );
    assert!(d[0].hint.as_deref().unwrap().contains("build.go.tags"));
}

#[test]
fn an_http_app_reads_its_listen_address_and_services() {
    let m = ok(
        "name: web\nentrypoint: w.wasm\ntype: http\nhttp:\n  listen: 0.0.0.0:9000\nservices: [back, ./api.qyvbin]\n",
    );
    assert_eq!(
        m.http.and_then(|h| h.listen),
        Some("0.0.0.0:9000".parse().unwrap())
    );
    assert_eq!(m.services, ["back", "./api.qyvbin"]);
    let e = errors("name: web\nentrypoint: w.wasm\ntype: http\nhttp:\n  listen: localhost\n");
    assert!(
        e[0].message
            .contains("`http.listen`: `localhost` is not an IP:PORT address")
    );
    let e = errors("name: web\nentrypoint: w.wasm\ntype: http\nservices: [../back]\n");
    assert!(
        e[0].message.starts_with("`services[0]`"),
        "{}",
        e[0].message
    );
}

#[test]
fn wildcard_domains_are_grants_of_http_apps_only() {
    let http = ok(
        "name: web\nentrypoint: w.wasm\ntype: http\npermissions:\n  net: [\"*.example.com:443\", \"service://back/80\"]\n",
    );
    let NetPolicy::List(list) = &http.permissions.net else {
        panic!("{:?}", http.permissions.net)
    };
    assert_eq!(list[1].to_string(), "back.service:80");
    let e = errors("name: cli\nentrypoint: c.wasm\npermissions:\n  net: [\"*.example.com:443\"]\n");
    assert!(
        e[0].message.contains("cannot be a socket grant"),
        "{}",
        e[0].message
    );
}
