//! The `.qyv` manifest: types, parsing with positions, and validation.
//!
//! YAML is read with `saphyr-parser` (the maintained successor line of yaml-rust; serde_yaml
//! is deprecated) into a small tree that keeps every node's line and column, and converted
//! by hand so that every error, unknown key or wrong type or bad value, names its key and
//! points at its text. Budgets on size, depth and alias expansion keep hostile input cheap.

mod check;
mod convert;
mod diagnostic;
pub mod net;
mod types;
pub mod units;
mod yaml;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use check::valid_name;
pub use diagnostic::{Diagnostic, Severity};
pub use net::{Host, NetPattern, NetPatternError};
pub use types::*;
pub use yaml::MAX_SOURCE_BYTES;

/// The file extension of manifests.
pub const EXTENSION: &str = "qyv";

/// Why a manifest could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The manifest has errors (warnings may be among the diagnostics too).
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than a manifest may be (`/dev/zero`, say).
    #[error(transparent)]
    TooLarge(crate::bounded::ReadError),
    /// No manifest, or several, in a directory.
    #[error("{0}")]
    NotFound(String),
}

impl From<crate::bounded::ReadError> for ManifestError {
    fn from(e: crate::bounded::ReadError) -> Self {
        match e {
            crate::bounded::ReadError::Io { path, source } => ManifestError::Io { path, source },
            e => ManifestError::TooLarge(e),
        }
    }
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n\n")
}

impl ManifestError {
    /// The diagnostics, when the manifest was read but is invalid.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ManifestError::Invalid(d) => d,
            _ => &[],
        }
    }
}

/// Parses and checks a manifest's text; `file` names it in diagnostics. Warnings are
/// dropped here; use [`parse_with_warnings`] to keep them.
pub fn parse(src: &str, file: &Path) -> Result<Manifest, ManifestError> {
    parse_with_warnings(src, file).map(|(m, _)| m)
}

/// Parses and checks a manifest's text, returning it with its warnings.
pub fn parse_with_warnings(
    src: &str,
    file: &Path,
) -> Result<(Manifest, Vec<Diagnostic>), ManifestError> {
    let root = yaml::parse(src).map_err(|e| {
        ManifestError::Invalid(vec![Diagnostic::at(
            Severity::Error,
            file,
            src,
            e.pos,
            e.message,
        )])
    })?;
    let mut converter = convert::Converter::new(file, src);
    let manifest = converter.manifest(&root);
    let mut diagnostics = converter.diagnostics;
    if let Some(m) = &manifest {
        diagnostics.extend(check::check(m, &converter.spans, file, src));
    }
    diagnostics.sort_by_key(|d| (d.line, d.column));
    match manifest {
        Some(m) if !diagnostics.iter().any(Diagnostic::is_error) => Ok((m, diagnostics)),
        _ => Err(ManifestError::Invalid(diagnostics)),
    }
}

/// A manifest's bytes as text. Invalid UTF-8 is an error diagnostic that gives the byte
/// offset and line of the first bad byte.
pub fn text_of(bytes: Vec<u8>, file: &Path) -> Result<String, ManifestError> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let offset = e.utf8_error().valid_up_to();
        let valid = String::from_utf8_lossy(&bytes[..offset]);
        let line = valid.matches('\n').count() + 1;
        let column = valid.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        let shown = String::from_utf8_lossy(bytes);
        let pos = yaml::Pos {
            line,
            column,
            len: 1,
        };
        ManifestError::Invalid(vec![
            Diagnostic::at(
                Severity::Error,
                file,
                &shown,
                pos,
                format!(
                    "the manifest is not UTF-8: byte 0x{:02x} at byte offset {offset} (line {line})",
                    bytes[offset]
                ),
            )
            .hint("save the file as UTF-8"),
        ])
    })
}

/// A manifest read from disk.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub manifest: Manifest,
    /// The manifest file.
    pub path: PathBuf,
    /// Its directory: the base of every relative path in it.
    pub dir: PathBuf,
    /// Warnings (invalid manifests are errors instead).
    pub warnings: Vec<Diagnostic>,
}

impl Loaded {
    /// Where the entrypoint leads: absolute, without links, inside the project (what to read
    /// rather than `dir.join(entrypoint)`, whose links could change meanwhile).
    pub fn entrypoint(&self) -> Result<PathBuf, crate::project::PathError> {
        crate::project::resolve(&self.dir, Path::new(&self.manifest.entrypoint))
    }
}

/// Reads, parses and checks a manifest file, including checks against the files beside it:
/// the entrypoint, a diskfs source, `build.output`, models and assets must not lead out of
/// the project through a symbolic link (an error, as for `..`).
pub fn load(path: &Path) -> Result<Loaded, ManifestError> {
    let bytes = crate::bounded::read(path, yaml::MAX_SOURCE_BYTES as u64, "a manifest")?;
    let src = text_of(bytes, path)?;
    let (manifest, mut warnings) = parse_with_warnings(&src, path)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let escapes = escapes(&manifest, &dir);
    if !escapes.is_empty() {
        let mut diagnostics: Vec<Diagnostic> = escapes
            .into_iter()
            .map(|(key, message)| {
                Diagnostic::at(
                    Severity::Error,
                    path,
                    &src,
                    find_key_line(&src, key),
                    message,
                )
                .hint("keep the project's files inside its directory, or copy them in")
            })
            .collect();
        diagnostics.extend(warnings);
        diagnostics.sort_by_key(|d| (d.line, d.column));
        return Err(ManifestError::Invalid(diagnostics));
    }
    let entry = manifest.entrypoint_path(&dir);
    if !entry.is_file() {
        let pos = find_key_line(&src, "entrypoint");
        warnings.push(
            Diagnostic::at(
                Severity::Warning,
                path,
                &src,
                pos,
                format!("the entrypoint {} does not exist yet", entry.display()),
            )
            .hint("run `qyv build` in the project directory"),
        );
    }
    if let Some(FsConfig {
        kind: FsType::Diskfs,
        source: Some(source),
        ..
    }) = &manifest.fs
        && !dir.join(source).is_dir()
    {
        warnings.push(Diagnostic::at(
            Severity::Warning,
            path,
            &src,
            find_key_line(&src, "source"),
            format!(
                "the diskfs source {} is not a directory",
                dir.join(source).display()
            ),
        ));
    }
    warnings.sort_by_key(|d| (d.line, d.column));
    Ok(Loaded {
        manifest,
        path: path.to_path_buf(),
        dir,
        warnings,
    })
}

/// The manifest's paths that lead out of the project `dir`, each with its key and why
/// (through [`crate::project`], as `pack` and `run` resolve them). Models and assets that
/// match nothing are left to `pack` and `run`, which need them.
fn escapes(m: &Manifest, dir: &Path) -> Vec<(&'static str, String)> {
    use crate::files::FilesError;
    let Ok(root) = crate::project::canonical_root(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    // `line` is the key as it starts its line, `key` its full name.
    let mut path = |line: &'static str, key: &str, rel: &str| {
        if let Err(e) = crate::project::resolve_in_canonical(&root, Path::new(rel))
            && e.is_escape()
        {
            out.push((line, format!("`{key}` {e}")));
        }
    };
    path("entrypoint", "entrypoint", &m.entrypoint);
    if let Some(FsConfig {
        kind: FsType::Diskfs,
        source: Some(source),
        ..
    }) = &m.fs
    {
        path("source", "fs.source", source);
    }
    if let Some(output) = m.build.as_ref().and_then(|b| b.output.as_deref()) {
        path("output", "build.output", output);
    }
    for (key, patterns) in [("models", &m.models), ("assets", &m.assets)] {
        for pattern in patterns {
            if let Err(FilesError::Outside(e)) =
                crate::files::expand(dir, std::slice::from_ref(pattern))
            {
                out.push((key, format!("`{key}` entry `{pattern}`: {e}")));
            }
        }
    }
    out
}

/// The position of the first line that starts (after indentation) with `key:`.
fn find_key_line(src: &str, key: &str) -> yaml::Pos {
    src.lines()
        .enumerate()
        .find_map(|(i, l)| {
            let t = l.trim_start();
            t.strip_prefix(key)
                .filter(|rest| rest.starts_with(':'))
                .map(|_| yaml::Pos {
                    line: i + 1,
                    column: l.len() - t.len() + 1,
                    len: key.len(),
                })
        })
        .unwrap_or(yaml::Pos {
            line: 1,
            column: 1,
            len: 1,
        })
}

/// The one `.qyv` file in `dir`.
pub fn find_in_dir(dir: &Path) -> Result<PathBuf, ManifestError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ManifestError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == EXTENSION))
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(ManifestError::NotFound(format!(
            "no .qyv manifest in {}",
            dir.display()
        ))),
        _ => Err(ManifestError::NotFound(format!(
            "several manifests in {}: {}; name the one to use",
            dir.display(),
            found
                .iter()
                .map(|p| p.file_name().unwrap_or_default().to_string_lossy())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The manifest's JSON Schema (what `docs/manifest.schema.json` holds).
pub fn json_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Manifest)).expect("schema");
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("title".into(), "qyv manifest (.qyv)".into());
    }
    schema
}
