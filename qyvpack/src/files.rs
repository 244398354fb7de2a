//! The files a manifest declares (`models`, `assets`): paths, directories and globs relative
//! to the manifest, expanded to a sorted list of regular files inside the project.

use std::path::{Component, Path, PathBuf};

/// A declared file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("`{pattern}` {reason}")]
    Pattern { pattern: String, reason: String },
    #[error("`{pattern}` matches nothing (in {})", dir.display())]
    NoMatch { pattern: String, dir: PathBuf },
    #[error("`{}` is a symbolic link; only regular files are bundled", path.display())]
    Symlink { path: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A declared file: where it is in the project, and where the app sees it (below `/models`
/// or `/data`, and below `models/` or `assets/` in a bundle).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeclaredFile {
    /// Relative to the manifest's directory.
    pub source: PathBuf,
    /// Relative to the mount point: the path below the pattern's directory part.
    pub dest: PathBuf,
}

/// Expands `patterns` like [`expand`] and gives each file its destination: its path below
/// the pattern's directory part (`models/*.onnx` puts `models/m.onnx` at `m.onnx`; a
/// directory pattern keeps the paths inside it; a plain file keeps its name). Two files with
/// the same destination are an error.
pub fn declared(dir: &Path, patterns: &[String]) -> Result<Vec<DeclaredFile>, FilesError> {
    let mut out: Vec<DeclaredFile> = Vec::new();
    for pattern in patterns {
        let base = pattern_base(dir, pattern);
        for source in expand(dir, std::slice::from_ref(pattern))? {
            let dest = source
                .strip_prefix(&base)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| source.clone());
            let dest = if dest.as_os_str().is_empty() {
                PathBuf::from(source.file_name().unwrap_or_default())
            } else {
                dest
            };
            if let Some(other) = out.iter().find(|f| f.dest == dest && f.source != source) {
                return Err(FilesError::Pattern {
                    pattern: pattern.clone(),
                    reason: format!(
                        "puts {} where {} already is ({})",
                        source.display(),
                        other.source.display(),
                        dest.display()
                    ),
                });
            }
            out.push(DeclaredFile { source, dest });
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The directory part of a pattern: the components before the first glob character; for a
/// plain path, its parent (a file) or itself (a directory).
fn pattern_base(dir: &Path, pattern: &str) -> PathBuf {
    let is_glob = |c: &str| c.contains(['*', '?', '[']);
    let parts: Vec<&str> = pattern
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if let Some(first_glob) = parts.iter().position(|p| is_glob(p)) {
        return parts[..first_glob].iter().collect();
    }
    let path: PathBuf = parts.iter().collect();
    if dir.join(&path).is_dir() {
        path
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

/// Expands `patterns` below `dir`. Returns paths relative to `dir`, sorted, without
/// duplicates. A pattern may be a file, a directory (all files below it) or a glob (`*`,
/// `**`, `?`, `[...]`). Patterns that leave `dir`, and symbolic links, are errors.
pub fn expand(dir: &Path, patterns: &[String]) -> Result<Vec<PathBuf>, FilesError> {
    let mut out = Vec::new();
    for pattern in patterns {
        if let Err(reason) = crate::manifest::check_relative_inside(pattern) {
            return Err(FilesError::Pattern {
                pattern: pattern.clone(),
                reason,
            });
        }
        let full = dir.join(pattern);
        let full = full.to_string_lossy();
        let paths = glob::glob(&full).map_err(|e| FilesError::Pattern {
            pattern: pattern.clone(),
            reason: e.to_string(),
        })?;
        let before = out.len();
        for path in paths {
            let path = path.map_err(|e| FilesError::Io {
                path: e.path().to_path_buf(),
                source: std::io::Error::other(e.to_string()),
            })?;
            collect(dir, &path, &mut out)?;
        }
        if out.len() == before {
            return Err(FilesError::NoMatch {
                pattern: pattern.clone(),
                dir: dir.to_path_buf(),
            });
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn collect(base: &Path, path: &Path, out: &mut Vec<PathBuf>) -> Result<(), FilesError> {
    let meta = std::fs::symlink_metadata(path).map_err(|source| FilesError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.file_type().is_symlink() {
        return Err(FilesError::Symlink {
            path: path.to_path_buf(),
        });
    }
    if meta.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|source| FilesError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| FilesError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            collect(base, &entry.path(), out)?;
        }
    } else if meta.is_file() {
        let rel = path.strip_prefix(base).unwrap_or(path);
        // Normalise `./x` to `x`.
        let rel: PathBuf = rel
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect();
        out.push(rel);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_files_dirs_and_globs_sorted() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("assets/img")).unwrap();
        std::fs::write(d.join("assets/a.txt"), "a").unwrap();
        std::fs::write(d.join("assets/img/b.png"), "b").unwrap();
        std::fs::create_dir_all(d.join("models")).unwrap();
        std::fs::write(d.join("models/m.onnx"), "m").unwrap();
        std::fs::write(d.join("models/notes.md"), "n").unwrap();
        let got = expand(
            d,
            &[
                "assets".into(),
                "models/*.onnx".into(),
                "assets/a.txt".into(),
            ],
        )
        .unwrap();
        let want: Vec<PathBuf> = ["assets/a.txt", "assets/img/b.png", "models/m.onnx"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn destinations_are_below_the_pattern_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("models/sub")).unwrap();
        std::fs::write(d.join("models/m.onnx"), "m").unwrap();
        std::fs::write(d.join("models/sub/n.onnx"), "n").unwrap();
        std::fs::write(d.join("weights.bin"), "w").unwrap();
        let got = declared(d, &["models/*.onnx".into(), "weights.bin".into()]).unwrap();
        let dests: Vec<_> = got.iter().map(|f| f.dest.to_str().unwrap()).collect();
        assert_eq!(dests, ["m.onnx", "weights.bin"]);
        let got = declared(d, &["models".into()]).unwrap();
        let dests: Vec<_> = got.iter().map(|f| f.dest.to_str().unwrap()).collect();
        assert_eq!(dests, ["m.onnx", "sub/n.onnx"]);
        std::fs::write(d.join("m.onnx"), "other").unwrap();
        assert!(declared(d, &["models/*.onnx".into(), "m.onnx".into()]).is_err());
    }

    #[test]
    fn refuses_escapes_and_empty_matches() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(
            expand(tmp.path(), &["../x".into()]),
            Err(FilesError::Pattern { .. })
        ));
        assert!(matches!(
            expand(tmp.path(), &["nothing/*".into()]),
            Err(FilesError::NoMatch { .. })
        ));
    }
}
