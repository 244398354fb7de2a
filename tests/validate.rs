//! End-to-end tests of `qyv validate` on the seed's manifests and on broken ones.

mod common;

use common::{qyv, root};

fn validate(args: &[&str]) -> (Option<i32>, String, String) {
    let out = qyv()
        .current_dir(root())
        .arg("validate")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_seed_manifest_is_accepted() {
    let dir = root().join("tests/manifests/seed");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let (code, stdout, stderr) = validate(&[path.to_str().unwrap()]);
        assert_eq!(code, Some(0), "{}:\n{stderr}", path.display());
        assert!(stdout.starts_with("OK "), "{stdout}");
    }
}

#[test]
fn misspelt_key_is_rejected_with_position_and_hint() {
    let (code, _, stderr) = validate(&["tests/manifests/bad/misspelt-key.qyv"]);
    assert_eq!(code, Some(1));
    insta::assert_snapshot!(stderr);
}

#[test]
fn wrong_type_is_rejected_with_position() {
    let (code, _, stderr) = validate(&["tests/manifests/bad/wrong-type.qyv"]);
    assert_eq!(code, Some(1));
    insta::assert_snapshot!(stderr);
}

#[test]
fn bad_fs_value_is_rejected_with_position_and_hint() {
    let (code, _, stderr) = validate(&["tests/manifests/bad/bad-fs-value.qyv"]);
    assert_eq!(code, Some(1));
    insta::assert_snapshot!(stderr);
}

#[test]
fn warnings_keep_a_manifest_valid() {
    let (code, stdout, stderr) = validate(&["tests/manifests/seed/editor-texto.qyv"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        "OK tests/manifests/seed/editor-texto.qyv (2 warnings)\n"
    );
    insta::assert_snapshot!(stderr);
}

#[test]
fn json_output_parses_for_valid_and_invalid() {
    let (code, stdout, _) = validate(&["--json", "tests/manifests/bad/bad-fs-value.qyv"]);
    assert_eq!(code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["diagnostics"][0]["line"], 4);
    assert_eq!(v["diagnostics"][0]["column"], 7);
    assert_eq!(v["diagnostics"][0]["severity"], "error");
    assert!(
        v["diagnostics"][0]["hint"]
            .as_str()
            .unwrap()
            .contains("read-write")
    );

    let (code, stdout, _) = validate(&["--json", "tests/manifests/seed/hello.qyv"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["manifest"]["name"], "hello-qyvol");
    assert_eq!(v["manifest"]["permissions"]["net"], false);
}

#[test]
fn a_directory_is_searched_for_its_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("app.qyv"),
        "name: app\nentrypoint: app.wasm\n",
    )
    .unwrap();
    std::fs::write(tmp.path().join("app.wasm"), b"\0asm").unwrap();
    let out = qyv()
        .current_dir(tmp.path())
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OK ./app.qyv\n");
}

#[test]
fn missing_file_is_an_io_error() {
    let (code, _, stderr) = validate(&["no/such/file.qyv"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("cannot read no/such/file.qyv"), "{stderr}");
    let empty = tempfile::tempdir().unwrap();
    let (code, _, stderr) = validate(&[empty.path().to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no .qyv manifest"), "{stderr}");
}

#[test]
fn invalid_utf8_is_invalid_with_its_byte_offset_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.qyv");
    std::fs::write(
        &file,
        b"name: app\nentrypoint: a.wasm\ndescription: caf\xe9\n",
    )
    .unwrap();
    let (code, _, stderr) = validate(&[file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("not UTF-8: byte 0xe9 at byte offset 45 (line 3)"),
        "{stderr}"
    );
    assert!(stderr.contains("app.qyv:3:17"), "{stderr}");
}

#[test]
fn net_yes_is_refused_with_a_hint_not_read_as_true() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.qyv");
    std::fs::write(
        &file,
        "name: app\nentrypoint: a.wasm\npermissions:\n  net: yes\n",
    )
    .unwrap();
    let (code, _, stderr) = validate(&[file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("`yes` is not a boolean"), "{stderr}");
    assert!(stderr.contains("write `true`"), "{stderr}");
}
