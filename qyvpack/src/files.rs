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
