//! `qyv build`: detect the project, compile it, adapt the result to a P2 component and put it
//! where the manifest says (writing a manifest with safe defaults when there is none).

use std::path::{Path, PathBuf};

use qyvpack::digest::sha256_hex;
use qyvpack::manifest;

use crate::componentize::{self, AdapterKind};
use crate::progress::Progress;
use crate::toolchain::{BuildError, BuildRequest, Driver, Toolchain};
use crate::{toolchains, toolchains_for};

/// What the user asked on the command line, on top of the manifest's `build:` section.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub target: Option<String>,
    pub profile: Option<String>,
    pub package: Option<String>,
    pub bin: Option<String>,
    pub features: Vec<String>,
}

/// The result of a build.
#[derive(Debug, Clone)]
pub struct Built {
    pub name: String,
    pub driver: Driver,
    /// The manifest used or written.
    pub manifest: PathBuf,
    /// A manifest with safe defaults was written because the project had none.
    pub wrote_manifest: bool,
    /// The component.
    pub output: PathBuf,
    /// The target the compiler used.
    pub target: String,
    /// The adapter applied (None: the compiler already produced a component, the language
    /// keeps its core module, see `core_module`, or the module needed no adapter).
    pub adapter: Option<AdapterKind>,
    /// The output is a preview1 core module on purpose (with the reason).
    pub core_module: Option<&'static str>,
    /// Componentization was skipped: the compiler's output had not changed.
    pub up_to_date: bool,
    pub notes: Vec<String>,
}

/// Finds the toolchain for `dir`: the manifest's `language` when given, else detection.
pub fn detect(dir: &Path, language: Option<&str>) -> Result<Box<dyn Toolchain>, BuildError> {
    // Among the manifest language's drivers, the one that recognises the directory (a C
    // project with its own Makefile is built by it), else the language's own.
    if let Some(lang) = language {
        let mut candidates = toolchains_for(lang);
        let pick = candidates
            .iter()
            .position(|t| t.detect(dir).is_some())
            .or_else(|| {
                candidates
                    .iter()
                    .position(|t| t.driver().id() == lang.to_ascii_lowercase())
            });
        if let Some(i) = pick {
            return Ok(candidates.swap_remove(i));
        }
    }
    if let Some(tc) = toolchains().into_iter().find(|t| t.detect(dir).is_some()) {
        return Ok(tc);
    }
    let looked_for = toolchains()
        .iter()
        .map(|t| format!("{} ({})", t.markers().join(", "), t.driver()))
        .collect::<Vec<_>>()
        .join("; ");
    Err(BuildError::NoProject {
        dir: dir.to_path_buf(),
        looked_for,
    })
}

/// Builds the project in `dir`.
pub fn build(
    dir: &Path,
    options: &BuildOptions,
    progress: &dyn Progress,
) -> Result<Built, BuildError> {
    let dir = dir.canonicalize().map_err(|e| {
        BuildError::io(
            format!("cannot open project directory {}", dir.display()),
            e,
        )
    })?;
    let loaded = match manifest::find_in_dir(&dir) {
        Ok(path) => Some(manifest::load(&path).map_err(|e| BuildError::Project(e.to_string()))?),
        Err(_) => None,
    };
    let m = loaded.as_ref().map(|l| &l.manifest);
    let build_cfg = m.and_then(|m| m.build.as_ref());
    let toolchain: Box<dyn Toolchain> = match build_cfg.and_then(|b| b.command.clone()) {
        Some(command) => Box::new(crate::lang::command::BuildCommand {
            command,
            output: build_cfg.and_then(|b| b.output.clone()),
        }),
        None => detect(&dir, m.and_then(|m| m.language.as_deref()))?,
    };
    let request = BuildRequest {
        dir: dir.clone(),
        target: options
            .target
            .clone()
            .or_else(|| build_cfg.and_then(|b| b.target.clone())),
        target_forced: options.target.is_some(),
        profile: options
            .profile
            .clone()
            .or_else(|| build_cfg.and_then(|b| b.profile.clone())),
        features: if options.features.is_empty() {
            build_cfg.map(|b| b.features.clone()).unwrap_or_default()
        } else {
            options.features.clone()
        },
        package: options.package.clone(),
        bin: options.bin.clone(),
        entry: build_cfg.and_then(|b| b.entry.clone()),
        reactor: m.is_some_and(|m| m.app_type == manifest::AppType::Reactor),
        go: build_cfg.and_then(|b| b.go.clone()).unwrap_or_default(),
        output: build_cfg.and_then(|b| b.output.clone()),
    };
    let compiled = toolchain.compile(&request, progress)?;

    let name = m.map(|m| m.name.clone()).unwrap_or(compiled.name.clone());
    let (manifest_path, output, wrote_manifest) = match &loaded {
        Some(l) => (l.path.clone(), l.manifest.entrypoint_path(&l.dir), false),
        None => {
            let entry = format!("target/qyv/{name}.wasm");
            let path = dir.join(format!("{name}.qyv"));
            let text = default_manifest(&name, &entry, toolchain.driver());
            qyvpack::output::write_atomically(
                &path,
                text.as_bytes(),
                qyvpack::output::Access::Shared,
            )
            .map_err(|e| BuildError::io(format!("cannot write {}", path.display()), e))?;
            progress.note(&format!(
                "wrote {} with safe defaults (fs: none, net: false); edit it to grant more",
                path.display()
            ));
            (path, dir.join(entry), true)
        }
    };

    progress.phase("adapting");
    let core = std::fs::read(&compiled.wasm)
        .map_err(|e| BuildError::io(format!("cannot read {}", compiled.wasm.display()), e))?;
    let stamp = Stamp::path_for(&dir, &name);
    let input_digest = sha256_hex(&core);
    let (adapter, up_to_date) = match Stamp::read(&stamp) {
        Some(s)
            if s.input == input_digest && file_digest(&output).as_deref() == Some(&s.output) =>
        {
            (s.adapter.as_deref().and_then(adapter_from_name), true)
        }
        _ => {
            let adapted = if componentize::is_component(&core)? {
                // A component passes through unchanged.
                componentize::Componentized {
                    bytes: core,
                    adapter: None,
                    unchanged: true,
                }
            } else {
                let core = match toolchain.driver().producers_name() {
                    Some(lang) => componentize::record_language(&core, lang)?,
                    None => core,
                };
                match toolchain.keeps_core_module() {
                    Some(_) => componentize::Componentized {
                        bytes: core,
                        adapter: None,
                        unchanged: true,
                    },
                    None => componentize::componentize(&core)?,
                }
            };
            qyvpack::output::write_atomically(
                &output,
                &adapted.bytes,
                qyvpack::output::Access::Shared,
            )
            .map_err(|e| BuildError::io(format!("cannot write {}", output.display()), e))?;
            Stamp {
                input: input_digest,
                output: sha256_hex(&adapted.bytes),
                adapter: adapted.adapter.map(|a| a.name().to_string()),
            }
            .write(&stamp)
            .map_err(|e| BuildError::io(format!("cannot write {}", stamp.display()), e))?;
            (adapted.adapter, false)
        }
    };
    let mut notes = compiled.notes;
    if m.is_some_and(|m| m.app_type == manifest::AppType::Http)
        && let Some(note) = handler_missing(&output)
    {
        progress.note(&format!("warning: {note}"));
        notes.push(note);
    }
    progress.finish();
    Ok(Built {
        name,
        driver: toolchain.driver(),
        manifest: manifest_path,
        wrote_manifest,
        output,
        target: compiled.target,
        adapter,
        core_module: toolchain.keeps_core_module(),
        up_to_date,
        notes,
    })
}

/// Why a `type: http` app's component cannot be served, if it cannot: `qyv run` serves only
/// a component that exports `wasi:http/incoming-handler`, and says so only when it runs.
fn handler_missing(output: &Path) -> Option<String> {
    let bytes = std::fs::read(output).ok()?;
    let exports = match qyvinspect::component_world(&bytes) {
        Ok(Some((_, _, exports))) => exports,
        Ok(None) => {
            return Some(format!(
                "the manifest says type: http, but {} is a core module; an HTTP app is a component exporting wasi:http/incoming-handler",
                output.display()
            ));
        }
        Err(_) => return None,
    };
    if exports
        .iter()
        .any(|e| e.name.starts_with("wasi:http/incoming-handler@"))
    {
        return None;
    }
    Some(format!(
        "the manifest says type: http, but {} does not export wasi:http/incoming-handler, so qyv run cannot serve it (build it against the wasi:http/proxy world, or say type: cli)",
        output.display()
    ))
}

/// The manifest written for a project that has none: nothing granted.
pub fn default_manifest(name: &str, entrypoint: &str, driver: Driver) -> String {
    let language = driver.language();
    format!(
        "# Written by `qyv build`. Grant only what the app needs: see docs/manifest.md.\n\
         name: {name}\n\
         entrypoint: {entrypoint}\n\
         runtime: wasi\n\
         language: {language}\n\
         type: cli\n\
         permissions:\n  fs: none\n  net: false\n  exec: false\n"
    )
}

fn adapter_from_name(name: &str) -> Option<AdapterKind> {
    match name {
        "command" => Some(AdapterKind::Command),
        "reactor" => Some(AdapterKind::Reactor),
        _ => None,
    }
}

fn file_digest(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|b| sha256_hex(&b))
}

/// What the last adaptation consumed and produced, so an unchanged build re-adapts nothing.
#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Stamp {
    /// sha256 of the compiler's output.
    input: String,
    /// sha256 of the component written.
    output: String,
    adapter: Option<String>,
}

impl Stamp {
    fn path_for(dir: &Path, name: &str) -> PathBuf {
        dir.join("target/qyv").join(format!("{name}.stamp.json"))
    }

    fn read(path: &Path) -> Option<Stamp> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    fn write(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        qyvpack::output::write_atomically(path, &json, qyvpack::output::Access::Shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_manifest_grants_nothing_and_parses() {
        let text = default_manifest("demo", "target/qyv/demo.wasm", Driver::Rust);
        let m = manifest::parse(&text, Path::new("demo.qyv")).expect("valid manifest");
        assert_eq!(m.name, "demo");
        assert_eq!(m.entrypoint, "target/qyv/demo.wasm");
        assert_eq!(m.permissions.fs, manifest::FsAccess::None);
        assert_eq!(m.permissions.net, manifest::NetPolicy::Deny);
    }

    #[test]
    fn an_empty_directory_lists_what_was_looked_for() {
        let dir = tempfile::tempdir().unwrap();
        let err = detect(dir.path(), None).err().expect("no project");
        let text = err.to_string();
        assert!(text.contains("Cargo.toml"), "{text}");
    }
}
