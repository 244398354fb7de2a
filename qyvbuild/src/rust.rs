//! Rust: cargo projects built for `wasm32-wasip2` (a component) or `wasm32-wasip1` (a core
//! module that the adapter step turns into one).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cargo_metadata::{Message, Metadata, MetadataCommand, Package, Target, TargetKind};

use crate::progress::Progress;
use crate::toolchain::{
    BuildError, BuildRequest, CompileOutput, Language, Missing, ToolStatus, Toolchain,
};
use crate::tools;

/// The default target: rustc emits a P2 component directly.
pub const WASIP2: &str = "wasm32-wasip2";
/// The fallback target: a preview1 core module, adapted afterwards.
pub const WASIP1: &str = "wasm32-wasip1";

/// The Rust toolchain driver (cargo + rustup).
pub struct Rust;

impl Toolchain for Rust {
    fn language(&self) -> Language {
        Language::Rust
    }

    fn markers(&self) -> &'static [&'static str] {
        &["Cargo.toml"]
    }

    fn find_marker(&self, dir: &Path) -> Option<PathBuf> {
        tools::first_file(dir, &["Cargo.toml"])
    }

    fn status(&self) -> ToolStatus {
        let version = tool_version("cargo", &["--version"]);
        let mut missing = Vec::new();
        if version.is_none() {
            missing.push(Missing {
                what: "cargo".into(),
                install: "install Rust with rustup (https://rustup.rs)".into(),
            });
        } else {
            for target in [WASIP2, WASIP1] {
                if !target_installed(target, None) {
                    missing.push(target_missing(target, None));
                }
            }
        }
        ToolStatus {
            language: Language::Rust,
            version,
            missing,
        }
    }

    fn compile(
        &self,
        request: &BuildRequest,
        progress: &Progress,
    ) -> Result<CompileOutput, BuildError> {
        let mut notes = Vec::new();
        let toolchain = toolchain_override(&request.dir, &mut notes);
        progress.phase("resolving");
        let unit = match UnitCache::load(&request.dir, request, toolchain.as_deref()) {
            Some(unit) => unit,
            None => {
                let metadata = metadata(&request.dir, toolchain.as_deref())?;
                let unit = select_unit(&metadata, &request.dir, request)?;
                UnitCache::store(
                    &request.dir,
                    request,
                    toolchain.as_deref(),
                    &metadata,
                    &unit,
                );
                unit
            }
        };

        let target = request.target.clone().unwrap_or_else(|| WASIP2.to_string());
        progress.phase("compiling");
        let first = cargo_build(request, &unit, &target, toolchain.as_deref(), progress)?;
        let wasm = match first {
            CargoResult::Built(wasm) => wasm,
            CargoResult::Failed { stderr, status }
                if target == WASIP2
                    && !request.target_forced
                    && is_wasip2_rustix_failure(&stderr) =>
            {
                let _ = status;
                let note = format!(
                    "a dependency does not build for {WASIP2} with this rustc (an old rustix \
                     pin asks for the unstable `wasip2` feature); building for {WASIP1} and \
                     adapting instead (use --target to force one)"
                );
                progress.note(&format!("note: {note}"));
                notes.push(note);
                match cargo_build(request, &unit, WASIP1, toolchain.as_deref(), progress)? {
                    CargoResult::Built(wasm) => {
                        return Ok(CompileOutput {
                            wasm,
                            name: unit.name,
                            target: WASIP1.into(),
                            notes,
                        });
                    }
                    CargoResult::Failed { stderr, status } => {
                        return Err(compiler_failed(&stderr, status, progress));
                    }
                }
            }
            CargoResult::Failed { stderr, status } => {
                return Err(compiler_failed(&stderr, status, progress));
            }
        };
        Ok(CompileOutput {
            wasm,
            name: unit.name,
            target,
            notes,
        })
    }
}

/// The unit chosen for a request, remembered in `target/qyv/rust-unit.json` with the size
/// and mtime of every workspace manifest: while none changed, `cargo metadata` (as slow as a
/// no-op build) is not run again.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct UnitCache {
    key: String,
    manifests: Vec<(PathBuf, u64, u128)>,
    package: String,
    bin: Option<String>,
    name: String,
}

impl UnitCache {
    fn path(dir: &Path) -> PathBuf {
        dir.join("target/qyv/rust-unit.json")
    }

    fn key(request: &BuildRequest, toolchain: Option<&str>) -> String {
        format!(
            "{:?} {:?} {:?} {}",
            request.package, request.bin, toolchain, request.reactor
        )
    }

    fn stamp(path: &Path) -> Option<(u64, u128)> {
        let meta = std::fs::metadata(path).ok()?;
        let mtime = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos();
        Some((meta.len(), mtime))
    }

    fn load(dir: &Path, request: &BuildRequest, toolchain: Option<&str>) -> Option<Unit> {
        let text = std::fs::read_to_string(Self::path(dir)).ok()?;
        let cache: UnitCache = serde_json::from_str(&text).ok()?;
        if cache.key != Self::key(request, toolchain) || cache.manifests.is_empty() {
            return None;
        }
        for (path, len, mtime) in &cache.manifests {
            if Self::stamp(path)? != (*len, *mtime) {
                return None;
            }
        }
        Some(Unit {
            package: cache.package,
            bin: cache.bin,
            name: cache.name,
        })
    }

    fn store(
        dir: &Path,
        request: &BuildRequest,
        toolchain: Option<&str>,
        metadata: &Metadata,
        unit: &Unit,
    ) {
        let mut manifests: Vec<PathBuf> = metadata
            .workspace_packages()
            .iter()
            .map(|p| p.manifest_path.clone().into_std_path_buf())
            .collect();
        manifests.push(
            metadata
                .workspace_root
                .join("Cargo.toml")
                .into_std_path_buf(),
        );
        manifests.push(dir.join("Cargo.toml"));
        manifests.sort();
        manifests.dedup();
        let Some(manifests) = manifests
            .into_iter()
            .map(|p| Self::stamp(&p).map(|(len, mtime)| (p, len, mtime)))
            .collect::<Option<Vec<_>>>()
        else {
            return;
        };
        let cache = UnitCache {
            key: Self::key(request, toolchain),
            manifests,
            package: unit.package.clone(),
            bin: unit.bin.clone(),
            name: unit.name.clone(),
        };
        let path = Self::path(dir);
        if let (Some(parent), Ok(text)) = (path.parent(), serde_json::to_string(&cache)) {
            // A cache that cannot be written only costs time.
            let _ = std::fs::create_dir_all(parent);
            let _ = crate::output::write_atomically(&path, text.as_bytes());
        }
    }
}

/// What cargo is asked to build.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Unit {
    package: String,
    /// `Some(bin)` for a binary, `None` for the library (a `cdylib`: a reactor).
    bin: Option<String>,
    /// The app's name.
    name: String,
}

/// Reads the workspace with `cargo metadata --no-deps` (no network, no dependency resolution).
fn metadata(dir: &Path, toolchain: Option<&str>) -> Result<Metadata, BuildError> {
    let cargo = crate::rustup::cargo_for(dir, toolchain);
    let mut cmd = MetadataCommand::new();
    cmd.cargo_path(&cargo.program)
        .manifest_path(dir.join("Cargo.toml"))
        .no_deps();
    for (k, v) in cargo.env() {
        cmd.env(k, v);
    }
    cmd.exec().map_err(|e| match e {
        cargo_metadata::Error::CargoMetadata { stderr } => BuildError::Project(format!(
            "cargo cannot read {}:\n{}",
            dir.join("Cargo.toml").display(),
            stderr.trim_end()
        )),
        other => BuildError::Project(format!("cargo metadata failed: {other}")),
    })
}

/// Picks the package and binary to build, like cargo's `-p` and `--bin`.
fn select_unit(
    metadata: &Metadata,
    dir: &Path,
    request: &BuildRequest,
) -> Result<Unit, BuildError> {
    let members: Vec<&Package> = metadata.workspace_packages();
    let manifest = dir.join("Cargo.toml");
    let candidates: Vec<&Package> = match &request.package {
        Some(name) => {
            let found: Vec<&Package> = members
                .iter()
                .copied()
                .filter(|p| p.name.as_str() == name)
                .collect();
            if found.is_empty() {
                return Err(BuildError::Project(format!(
                    "package `{name}` is not in the workspace; its packages are: {}",
                    members
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            found
        }
        None => {
            let here: Vec<&Package> = members
                .iter()
                .copied()
                .filter(|p| same_file(p.manifest_path.as_std_path(), &manifest))
                .collect();
            if here.is_empty() {
                members.clone()
            } else {
                here
            }
        }
    };

    let is_bin = |t: &Target| t.kind.contains(&TargetKind::Bin);
    let bins: Vec<(&Package, &Target)> = candidates
        .iter()
        .flat_map(|p| p.targets.iter().filter(|t| is_bin(t)).map(move |t| (*p, t)))
        .collect();

    if let Some(wanted) = &request.bin {
        return bins
            .iter()
            .find(|(_, t)| &t.name == wanted)
            .map(|(p, t)| Unit {
                package: p.name.to_string(),
                bin: Some(t.name.clone()),
                name: app_name(&t.name),
            })
            .ok_or_else(|| {
                BuildError::Project(format!(
                    "no binary named `{wanted}`; binaries: {}",
                    list_bins(&bins)
                ))
            });
    }
    match bins.as_slice() {
        [(p, t)] => Ok(Unit {
            package: p.name.to_string(),
            bin: Some(t.name.clone()),
            name: app_name(&t.name),
        }),
        [] => {
            let cdylib = candidates.iter().find(|p| {
                p.targets
                    .iter()
                    .any(|t| t.kind.contains(&TargetKind::CDyLib))
            });
            match cdylib {
                Some(p) => Ok(Unit {
                    package: p.name.to_string(),
                    bin: None,
                    name: app_name(&p.name),
                }),
                None => Err(BuildError::Project(format!(
                    "{} has no binary target and no cdylib library: nothing to build into a \
                     wasm app",
                    manifest.display()
                ))),
            }
        }
        _ => Err(BuildError::Project(format!(
            "several binaries could be built; choose one with --bin (or -p): {}",
            list_bins(&bins)
        ))),
    }
}

fn list_bins(bins: &[(&Package, &Target)]) -> String {
    bins.iter()
        .map(|(p, t)| format!("{} (package {})", t.name, p.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A manifest name: lowercase, `_` → `-`.
fn app_name(name: &str) -> String {
    name.to_lowercase().replace('_', "-")
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

enum CargoResult {
    Built(PathBuf),
    Failed { stderr: String, status: Option<i32> },
}

/// Runs `cargo build` with JSON messages and returns the artifact cargo reports.
fn cargo_build(
    request: &BuildRequest,
    unit: &Unit,
    target: &str,
    toolchain: Option<&str>,
    progress: &Progress,
) -> Result<CargoResult, BuildError> {
    let cargo = crate::rustup::cargo_for(&request.dir, toolchain);
    let mut cmd = Command::new(&cargo.program);
    cmd.current_dir(&request.dir)
        .arg("build")
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
    if progress.is_interactive() {
        cmd.args(["--color", "always"]);
    }
    cmd.envs(cargo.env());
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| BuildError::io("cannot start cargo", e))?;

    // stderr: cargo's human output. Passed through as it comes when there is no spinner;
    // kept in every case, so a failure can be shown and examined.
    let stderr = child.stderr.take().expect("piped stderr");
    let interactive = progress.is_interactive();
    let stderr_thread = std::thread::spawn(move || {
        let mut all = String::new();
        let mut last_status = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !interactive {
                let _ = writeln!(std::io::stderr(), "{line}");
            } else if let Some(rest) = strip_ansi(&line).trim_start().strip_prefix("Compiling ") {
                last_status.push(rest.to_string());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });

    let stdout = child.stdout.take().expect("piped stdout");
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
    let status = child
        .wait()
        .map_err(|e| BuildError::io("waiting for cargo", e))?;
    let stderr = stderr_thread.join().unwrap_or_default();
    // The target is checked only when cargo fails: asking rustc on every build costs as much
    // as a no-op cargo build.
    if !status.success() && !target_installed(target, Some(&request.dir)) {
        return Err(BuildError::ToolchainMissing {
            language: Language::Rust,
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

/// Shows the compiler's output (when a spinner hid it) and makes the error.
fn compiler_failed(stderr: &str, status: Option<i32>, progress: &Progress) -> BuildError {
    if progress.is_interactive() {
        progress.finish();
        eprint!("{stderr}");
    }
    BuildError::CompilerFailed {
        tool: "cargo build".into(),
        status,
    }
}

/// Old rustix releases (before 0.38.44, common in 2023–24 lockfiles) use the unstable
/// `wasip2` feature on that target, which stable rustc rejects with E0658.
fn is_wasip2_rustix_failure(stderr: &str) -> bool {
    let text = strip_ansi(stderr);
    text.contains("E0658") && text.contains("wasip2")
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

/// The first line a tool prints for `args`, if it runs.
fn tool_version(tool: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(tool).args(args).output().ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string()
    })
}

/// Whether the standard library for `target` is installed for the rustc that builds in `dir`.
fn target_installed(target: &str, dir: Option<&Path>) -> bool {
    let mut cmd = Command::new("rustc");
    cmd.args(["--print", "sysroot"]);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let Ok(out) = cmd.output() else { return false };
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    sysroot
        .join("lib/rustlib")
        .join(target)
        .join("lib")
        .is_dir()
}

fn target_missing(target: &str, toolchain: Option<&str>) -> Missing {
    Missing {
        what: format!("the Rust target {target}"),
        install: match toolchain {
            Some(tc) => format!("rustup target add {target} --toolchain {tc}"),
            None => format!("rustup target add {target}"),
        },
    }
}

/// A `rust-toolchain.toml` asking for a toolchain, components or targets that are not
/// installed would make rustup try to download them, which fails without network. In that
/// case the build uses an installed toolchain instead (through `RUSTUP_TOOLCHAIN`, which
/// takes precedence over the file) and says so.
fn toolchain_override(dir: &Path, notes: &mut Vec<String>) -> Option<String> {
    if std::env::var_os("RUSTUP_TOOLCHAIN").is_some() {
        return None;
    }
    let file = dir.ancestors().find_map(|d| {
        ["rust-toolchain.toml", "rust-toolchain"]
            .iter()
            .map(|n| d.join(n))
            .find(|p| p.is_file())
    })?;
    let text = std::fs::read_to_string(&file).ok()?;
    let wanted = ToolchainFile::parse(&text)?;
    let installed = installed_toolchains()?;
    let channel_match = installed
        .iter()
        .find(|t| t.name == wanted.channel || t.name.starts_with(&format!("{}-", wanted.channel)));
    let problem = match channel_match {
        None => Some(format!("toolchain `{}` is not installed", wanted.channel)),
        Some(tc) => {
            let have = installed_components(&tc.name);
            let lacking: Vec<String> = wanted
                .components
                .iter()
                .filter(|c| {
                    !have
                        .iter()
                        .any(|h| h == *c || h.starts_with(&format!("{c}-")))
                })
                .cloned()
                .chain(
                    wanted
                        .targets
                        .iter()
                        .filter(|t| !have.iter().any(|h| h == &format!("rust-std-{t}")))
                        .cloned(),
                )
                .collect();
            (!lacking.is_empty()).then(|| {
                format!(
                    "toolchain `{}` lacks {} (not installed)",
                    tc.name,
                    lacking.join(", ")
                )
            })
        }
    }?;
    let fallback = channel_match
        .map(|t| t.name.clone())
        .or_else(|| installed.iter().find(|t| t.default).map(|t| t.name.clone()))?;
    let note = format!(
        "{} asks for more than is installed ({problem}); rustup would try to download it, so \
         building with the installed toolchain `{fallback}` instead",
        file.display()
    );
    notes.push(note.clone());
    eprintln!("note: {note}");
    Some(fallback)
}

/// The parts of a rust-toolchain file that decide what rustup would install.
#[derive(Debug, PartialEq, Eq)]
struct ToolchainFile {
    channel: String,
    components: Vec<String>,
    targets: Vec<String>,
}

impl ToolchainFile {
    fn parse(text: &str) -> Option<Self> {
        let trimmed = text.trim();
        // The legacy file holds just the channel name.
        if !trimmed.contains('[') && !trimmed.contains('=') {
            return Some(ToolchainFile {
                channel: trimmed.to_string(),
                components: Vec::new(),
                targets: Vec::new(),
            });
        }
        let value: toml::Table = trimmed.parse().ok()?;
        let tc = value.get("toolchain")?.as_table()?;
        let list = |key: &str| -> Vec<String> {
            tc.get(key)
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        Some(ToolchainFile {
            channel: tc
                .get("channel")
                .and_then(|v| v.as_str())
                .unwrap_or("stable")
                .to_string(),
            components: list("components"),
            targets: list("targets"),
        })
    }
}

struct InstalledToolchain {
    name: String,
    default: bool,
}

fn installed_toolchains() -> Option<Vec<InstalledToolchain>> {
    let out = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let name = l.split_whitespace().next()?.to_string();
                Some(InstalledToolchain {
                    default: l.contains("(default") || l.contains("default)"),
                    name,
                })
            })
            .collect(),
    )
}

fn installed_components(toolchain: &str) -> Vec<String> {
    Command::new("rustup")
        .args(["component", "list", "--installed", "--toolchain", toolchain])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| l.trim().to_string())
                .collect()
        })
        .unwrap_or_default()
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

    #[test]
    fn parses_toolchain_files() {
        let f = ToolchainFile::parse(
            "[toolchain]\nchannel = \"1.80.0\"\ncomponents = [\"rustfmt\", \"clippy\"]\ntargets = [\"wasm32-wasip1\"]\n",
        )
        .unwrap();
        assert_eq!(f.channel, "1.80.0");
        assert_eq!(f.components, ["rustfmt", "clippy"]);
        assert_eq!(f.targets, ["wasm32-wasip1"]);
        assert_eq!(
            ToolchainFile::parse("nightly\n").unwrap().channel,
            "nightly"
        );
        assert!(ToolchainFile::parse("[toolchain\n").is_none());
    }

    #[test]
    fn app_names_are_manifest_names() {
        assert_eq!(app_name("Hello_World"), "hello-world");
    }
}
