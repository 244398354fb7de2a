//! Which package and binary of a cargo workspace to build, like cargo's `-p` and `--bin`,
//! remembered between builds so that a warm build does not pay for `cargo metadata`.

use std::path::{Path, PathBuf};

use cargo_metadata::{Metadata, MetadataCommand, Package, Target, TargetKind};

use super::rustup;
use crate::toolchain::{BuildError, BuildRequest};

/// The unit chosen for a request, remembered in `target/qyv/rust-unit.json` with the size
/// and mtime of every workspace manifest: while none changed, `cargo metadata` (as slow as a
/// no-op build) is not run again.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct UnitCache {
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

    pub(super) fn load(
        dir: &Path,
        request: &BuildRequest,
        toolchain: Option<&str>,
    ) -> Option<Unit> {
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

    pub(super) fn store(
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
            let _ = qyvpack::output::write_atomically(
                &path,
                text.as_bytes(),
                qyvpack::output::Access::Shared,
            );
        }
    }
}

/// What cargo is asked to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unit {
    pub(super) package: String,
    /// `Some(bin)` for a binary, `None` for the library (a `cdylib`: a reactor).
    pub(super) bin: Option<String>,
    /// The app's name.
    pub(super) name: String,
}

/// Reads the workspace with `cargo metadata --no-deps` (no network, no dependency resolution).
pub(super) fn metadata(dir: &Path, toolchain: Option<&str>) -> Result<Metadata, BuildError> {
    let cargo = rustup::cargo_for(dir, toolchain);
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
pub(super) fn select_unit(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names_are_manifest_names() {
        assert_eq!(app_name("Hello_World"), "hello-world");
    }
}
