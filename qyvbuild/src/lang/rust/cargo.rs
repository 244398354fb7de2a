//! One `cargo build` for the wasm target, with JSON messages: the artifact it reports, its
//! output shown or kept, and the failure cases the driver reacts to.

use std::io::BufReader;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use cargo_metadata::{Message, TargetKind};

use super::c_deps::CSetup;
use super::link_errors::explain_undefined;
use super::unit::Unit;
use super::{rustup, target_installed, target_missing};
use crate::progress::Progress;
use crate::toolchain::{BuildError, BuildRequest, Driver};
use crate::tools::read_lines;

pub(super) enum CargoResult {
    Built(PathBuf),
    Failed { stderr: String, status: Option<i32> },
}

/// Runs `cargo build` with JSON messages and returns the artifact cargo reports.
pub(super) fn cargo_build(
    request: &BuildRequest,
    unit: &Unit,
    target: &str,
    toolchain: Option<&str>,
    c: &CSetup,
    progress: &dyn Progress,
) -> Result<CargoResult, BuildError> {
    let cargo = rustup::cargo_for(&request.dir, toolchain);
    let mut cmd = Command::new(&cargo.program);
    // `cargo rustc` passes the arguments after `--` to the final crate only: the libraries
    // that complete wasi-libc for C code reach the link without replacing the user's
    // RUSTFLAGS or config rustflags, and without rebuilding dependencies.
    let link_args = c.link_args();
    cmd.current_dir(&request.dir)
        .arg(if link_args.is_empty() {
            "build"
        } else {
            "rustc"
        })
        .args(["--target", target])
        .args(["--message-format", "json-render-diagnostics"])
        .args(["--package", &unit.package]);
    match &unit.bin {
        Some(bin) => cmd.args(["--bin", bin]),
        None => cmd.arg("--lib"),
    };
    match request.profile.as_deref() {
        None | Some("release") => {
            cmd.arg("--release");
        }
        Some("dev") | Some("debug") => {}
        Some(other) => {
            cmd.args(["--profile", other]);
        }
    }
    if !request.features.is_empty() {
        cmd.args(["--features", &request.features.join(",")]);
    }
    if progress.captures_output() {
        cmd.args(["--color", "always"]);
    }
    if !link_args.is_empty() {
        cmd.arg("--").args(link_args);
    }
    cmd.envs(cargo.env());
    cmd.envs(c.env().iter().map(|(k, v)| (k, v)));
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| BuildError::io("cannot start cargo", e))?;

    // stderr: cargo's human output. Passed through as it comes unless captured; kept in every
    // case, so a failure can be shown and examined.
    let stderr = child.stderr.take().expect("piped stderr");
    let pass_through = (!progress.captures_output()).then_some(progress);
    let stdout = child.stdout.take().expect("piped stdout");
    let (artifact, stderr) = std::thread::scope(|scope| {
        let stderr_thread = scope.spawn(|| read_lines(stderr, pass_through));
        let artifact = our_artifact(stdout, unit, progress);
        (artifact, stderr_thread.join().unwrap_or_default())
    });
    let status = child
        .wait()
        .map_err(|e| BuildError::io("waiting for cargo", e))?;
    // The target is checked only when cargo fails: asking rustc on every build costs as much
    // as a no-op cargo build.
    if !status.success() && !target_installed(target, Some(&request.dir)) {
        return Err(BuildError::ToolchainMissing {
            driver: Driver::Rust,
            missing: vec![target_missing(target, toolchain)],
        });
    }
    if !status.success() {
        return Ok(CargoResult::Failed {
            stderr,
            status: status.code(),
        });
    }
    match artifact {
        Some(path) => Ok(CargoResult::Built(path)),
        None => Err(BuildError::Project(format!(
            "cargo succeeded but reported no wasm artifact for {}",
            unit.bin.as_deref().unwrap_or(&unit.package)
        ))),
    }
}

/// The artifact of `unit` among cargo's JSON messages, naming each finished crate meanwhile.
fn our_artifact(
    stdout: impl std::io::Read,
    unit: &Unit,
    progress: &dyn Progress,
) -> Option<PathBuf> {
    let mut artifact = None;
    for message in Message::parse_stream(BufReader::new(stdout)) {
        let Ok(message) = message else { continue };
        if let Message::CompilerArtifact(a) = message {
            progress.detail(&a.target.name);
            let ours = a.package_id.repr.contains(&unit.package)
                && match &unit.bin {
                    Some(bin) => a.target.name == *bin && a.target.kind.contains(&TargetKind::Bin),
                    None => a.target.kind.contains(&TargetKind::CDyLib),
                };
            if ours {
                artifact = a.executable.map(|p| p.into_std_path_buf()).or_else(|| {
                    a.filenames
                        .iter()
                        .find(|f| f.extension() == Some("wasm"))
                        .map(|p| p.clone().into_std_path_buf())
                });
            }
        }
    }
    artifact
}

/// Shows the compiler's output (when a spinner hid it) and makes the error: the crates and
/// functions when C code calls what WASI lacks, how to get a C compiler when there is none.
pub(super) fn compiler_failed(
    stderr: &str,
    status: Option<i32>,
    target: &str,
    c: &CSetup,
    progress: &dyn Progress,
) -> BuildError {
    if progress.captures_output() {
        progress.finish();
        progress.tool_output(stderr);
    }
    if let Some(explained) = explain_undefined(&strip_ansi(stderr), target) {
        return BuildError::Project(explained);
    }
    if matches!(c, CSetup::NoZig) && mentions_c_compiler(stderr) {
        return BuildError::ToolchainMissing {
            driver: Driver::Rust,
            missing: vec![crate::toolchain::Missing {
                what: "zig (the WASI C compiler for dependencies that compile C)".into(),
                install: crate::zig_cc::INSTALL.into(),
            }],
        };
    }
    BuildError::CompilerFailed {
        tool: "cargo build".into(),
        status,
    }
}

/// Old rustix releases (before 0.38.44, common in 2023–24 lockfiles) use the unstable
/// `wasip2` feature on that target, which stable rustc rejects with E0658.
pub(super) fn is_wasip2_rustix_failure(stderr: &str) -> bool {
    let text = strip_ansi(stderr);
    text.contains("E0658") && text.contains("wasip2")
}

/// Whether a failed build's output shows a C compiler failing (cc-rs's messages).
fn mentions_c_compiler(stderr: &str) -> bool {
    [
        "ToolExecError",
        "failed to find tool",
        "fatal error:",
        "error occurred in cc-rs",
    ]
    .iter()
    .any(|s| stderr.contains(s))
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_rustix_wasip2_failure() {
        let stderr = "error[E0658]: use of unstable library feature `wasip2`\n --> rustix-0.38.34/src/lib.rs";
        assert!(is_wasip2_rustix_failure(stderr));
        assert!(!is_wasip2_rustix_failure(
            "error[E0425]: cannot find value `x`"
        ));
        assert!(is_wasip2_rustix_failure(
            "\u{1b}[31merror[E0658]\u{1b}[0m: use of unstable library feature `wasip2`"
        ));
    }
}
