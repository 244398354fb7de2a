//! End-to-end tests of hostile input that once crashed or exhausted qyv: endless files
//! (`/dev/zero`) read to their budget and no further, closed output streams, and wasm files
//! that overflowed the stack or panicked the validator.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{qyv, rust_fixture};

/// Runs qyv in `dir` with a private cache and trust store, and checks it ended quickly.
fn run_in(dir: &Path, args: &[&str]) -> Output {
    let started = Instant::now();
    let out = qyv()
        .current_dir(dir)
        .env("QYV_CACHE_DIR", dir.join("cache"))
        .env("QYV_CONFIG_DIR", dir.join("config"))
        .env_remove("QYV_SIGNING_KEY")
        .args(args)
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "qyv {args:?} took {:?}",
        started.elapsed()
    );
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A project with the probe component.
fn project(dir: &Path) {
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::copy(
        rust_fixture("probe", "wasm32-wasip2"),
        dir.join("app/probe.wasm"),
    )
    .unwrap();
    std::fs::write(
        dir.join("app/app.qyv"),
        "name: probe-app\nentrypoint: probe.wasm\n",
    )
    .unwrap();
}

#[test]
fn endless_files_stop_at_their_budget() {
    let tmp = tempfile::tempdir().unwrap();
    project(tmp.path());
    for (args, code, message) in [
        (
            &["validate", "/dev/zero"][..],
            2,
            "/dev/zero is larger than 1 MiB, the limit for a manifest",
        ),
        (
            &["run", "/dev/zero"][..],
            125,
            "/dev/zero is larger than 1 MiB, the limit for a manifest",
        ),
        (
            &["pack", "app", "--sign", "/dev/zero"][..],
            2,
            "/dev/zero is larger than 64 KiB, the limit for a key file",
        ),
        (
            &["trust", "add", "/dev/zero"][..],
            2,
            "/dev/zero is larger than 64 KiB, the limit for a key file",
        ),
        (
            &["verify", "app/probe.wasm", "--key", "/dev/zero"][..],
            2,
            "/dev/zero is larger than 64 KiB, the limit for a key file",
        ),
        (
            &["verify", "/dev/zero"][..],
            2,
            "/dev/zero does not start like a qyv bundle",
        ),
        (
            &["inspect", "/dev/zero"][..],
            2,
            "/dev/zero does not start like a wasm file or a qyv bundle",
        ),
        (
            &["adapt", "/dev/zero", "-o", "out.wasm"][..],
            2,
            "/dev/zero is larger than 1 GiB, the limit for a wasm file",
        ),
    ] {
        // adapt's 1 GiB of zeros takes a moment; the others stop at once.
        let o = run_in(tmp.path(), args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
    }
    assert!(!tmp.path().join("out.wasm").exists());
}

#[test]
fn a_bundle_stream_is_read_only_to_its_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("bundle.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // A writer that sends a bundle's header, then zeros until the reader goes away.
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            let _ = f.write_all(&qyvpack::bundle::header_frame(3));
            let zeros = vec![0u8; 1 << 20];
            while f.write_all(&zeros).is_ok() {}
        })
    };
    let o = qyv()
        .current_dir(tmp.path())
        .env("QYV_MAX_UNPACKED", "1KiB")
        .args(["verify", "bundle.fifo"])
        .output()
        .unwrap();
    writer.join().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("bundle.fifo is larger than")
            && stderr(&o).contains("the limit for a qyv bundle"),
        "{}",
        stderr(&o)
    );
}

/// Runs qyv with its stdout (or stderr) a pipe whose reader is already gone.
fn with_closed(stream: &str, dir: &Path, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = qyv();
    cmd.current_dir(dir)
        .env("QYV_CACHE_DIR", dir.join("cache"))
        .env("QYV_CONFIG_DIR", dir.join("config"))
        .args(args);
    if stream == "stdout" {
        cmd.stdout(writer).stderr(Stdio::piped());
    } else {
        cmd.stderr(writer).stdout(Stdio::piped());
    }
    cmd.output().unwrap()
}

#[test]
fn a_closed_output_ends_quietly_without_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    project(tmp.path());
    let d = tmp.path();
    assert!(run_in(d, &["keygen", "k"]).status.success());
    let o = run_in(d, &["pack", "app", "-o", "app.qyvbin", "--sign", "k.key"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let commands: &[&[&str]] = &[
        &["inspect", "--json", "app/probe.wasm"],
        &["inspect", "app/probe.wasm"],
        &["validate", "app"],
        &["validate", "app/nothing.qyv"],
        &["doctor", "--json"],
        &["cache", "dir"],
        &["run", "app/probe.wasm", "--", "argv"],
        &["verify", "app.qyvbin", "--key", "k.pub"],
        &["verify", "app.qyvbin"],
    ];
    for args in commands {
        for stream in ["stdout", "stderr"] {
            let o = with_closed(stream, d, args);
            let other = if stream == "stdout" {
                &o.stderr
            } else {
                &o.stdout
            };
            let other = String::from_utf8_lossy(other);
            if args[0] == "run" && stream == "stdout" {
                // The guest's own print fails: the guest panics and traps, not qyv.
                assert_eq!(o.status.code(), Some(134), "{other}");
                assert!(other.contains("qyv: the app trapped"), "{other}");
                continue;
            }
            assert!(
                !other.contains("panicked"),
                "{args:?} with a closed {stream}: {other}"
            );
            assert_ne!(
                o.status.code(),
                Some(101),
                "{args:?} with a closed {stream}"
            );
            assert!(
                o.status.code().is_some(),
                "{args:?} with a closed {stream} was killed: {:?}",
                o.status
            );
        }
    }
    // keygen writes its key files, then its fingerprint to the closed stdout.
    let o = with_closed("stdout", d, &["keygen", "other"]);
    assert_eq!(o.status.code(), Some(141), "{}", stderr(&o));
    assert!(stderr(&o).contains("wrote"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

/// A component holding a component, `depth` levels deep.
fn nested_component(depth: usize) -> Vec<u8> {
    let header = b"\0asm\x0d\x00\x01\x00";
    let mut bytes = header.to_vec();
    for _ in 0..depth {
        let mut outer = header.to_vec();
        // A component section (id 4) with the inner component, its size in LEB128.
        outer.push(4);
        let mut size = bytes.len();
        loop {
            let byte = (size & 0x7f) as u8;
            size >>= 7;
            outer.push(if size > 0 { byte | 0x80 } else { byte });
            if size == 0 {
                break;
            }
        }
        outer.extend_from_slice(&bytes);
        bytes = outer;
    }
    bytes
}

#[test]
fn deeply_nested_components_are_refused_not_a_stack_overflow() {
    let tmp = tempfile::tempdir().unwrap();
    // 101 is one past the limit; 7000 would overflow a recursive reader's stack.
    for depth in [101, 7000] {
        std::fs::write(tmp.path().join("deep.wasm"), nested_component(depth)).unwrap();
        for args in [
            &["inspect", "deep.wasm"][..],
            &["inspect", "--json", "deep.wasm"],
            &["inspect", "--wit", "deep.wasm"],
        ] {
            let o = run_in(tmp.path(), args);
            let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
            assert_eq!(o.status.code(), Some(1), "{depth} {args:?}: {all}");
            assert!(all.contains("nested more than 100 deep"), "{args:?}: {all}");
        }
    }
    // A few levels are fine.
    std::fs::write(tmp.path().join("three.wasm"), nested_component(3)).unwrap();
    let o = run_in(tmp.path(), &["inspect", "--json", "three.wasm"]);
    assert_ne!(o.status.code(), Some(101), "{}", stderr(&o));
    assert!(!stderr(&o).contains("nested more than"), "{}", stderr(&o));
}

#[test]
fn a_module_invalid_early_is_reported_not_a_validator_panic() {
    let tmp = tempfile::tempdir().unwrap();
    // A type section the validator refuses, then function, export and code sections.
    let module = "0061736d0100000001040158000003020100070a01065f737461727400000a040102000b";
    let bytes: Vec<u8> = (0..module.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&module[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(bytes.len(), 36);
    std::fs::write(tmp.path().join("m.wasm"), &bytes).unwrap();
    let o = run_in(tmp.path(), &["inspect", "--json", "m.wasm"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("at byte offset 11"),
        "{v}"
    );
}
