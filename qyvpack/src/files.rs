//! The files a manifest declares (`models`, `assets`): paths, directories and globs relative
//! to the manifest, expanded to a sorted list of regular files inside the project. Each match
//! is resolved with [`crate::project`]: a symbolic link anywhere in its path that leads out of
//! the project is an error.

use std::path::{Component, Path, PathBuf};

use crate::project::{self, PathError};

/// A declared file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("`{pattern}` {reason}")]
    Pattern { pattern: String, reason: String },
    #[error("`{pattern}` matches nothing (in {})", dir.display())]
    NoMatch { pattern: String, dir: PathBuf },
    #[error(
        "`{}` is a symbolic link to a directory inside a declared directory; name its target instead",
        path.display()
    )]
    Symlink { path: PathBuf },
    #[error(transparent)]
    Outside(#[from] PathError),
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
    /// Where `source` leads, absolute and with no symbolic links: what is read.
    pub resolved: PathBuf,
}

/// Expands `patterns` like [`expand`] and gives each file its destination: its path below
/// the pattern's directory part (`models/*.onnx` puts `models/m.onnx` at `m.onnx`; a
/// directory pattern keeps the paths inside it; a plain file keeps its name). Two files with
/// the same destination are an error.
pub fn declared(dir: &Path, patterns: &[String]) -> Result<Vec<DeclaredFile>, FilesError> {
    let mut out: Vec<DeclaredFile> = Vec::new();
    for pattern in patterns {
        let base = pattern_base(dir, pattern);
        for (source, resolved) in expand_resolved(dir, std::slice::from_ref(pattern))? {
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
            out.push(DeclaredFile {
                source,
                dest,
                resolved,
            });
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
    if let Some(dir_part) = whole_directory(pattern) {
        return dir_part.into();
    }
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
/// `**`, `?`, `[...]`; `**` matches zero or more directories). Patterns that leave `dir`,
/// directly or through a symbolic link, are errors.
pub fn expand(dir: &Path, patterns: &[String]) -> Result<Vec<PathBuf>, FilesError> {
    Ok(expand_resolved(dir, patterns)?
        .into_iter()
        .map(|(rel, _)| rel)
        .collect())
}

/// [`expand`], with where each path leads (absolute, without links).
fn expand_resolved(dir: &Path, patterns: &[String]) -> Result<Vec<(PathBuf, PathBuf)>, FilesError> {
    let root = project::canonical_root(dir)?;
    let mut out = Vec::new();
    for pattern in patterns {
        if let Err(reason) = project::check_relative_inside(pattern) {
            return Err(FilesError::Pattern {
                pattern: pattern.clone(),
                reason,
            });
        }
        // `d/**` is all of `d`, its own files too (the glob crate's `**` as the last
        // component matches only directories, each then walked, so `d/a.txt` was lost).
        let glob_pattern = whole_directory(pattern).unwrap_or(pattern);
        let full = dir.join(glob_pattern);
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
            let rel = relative(dir, &path);
            let resolved = project::resolve_in_canonical(&root, &rel)?;
            collect(&root, rel, resolved, true, &mut out)?;
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

/// For a pattern `d/**` (or `d/**/`): `d`.
fn whole_directory(pattern: &str) -> Option<&str> {
    let trimmed = pattern.trim_end_matches('/');
    let dir = trimmed.strip_suffix("**")?;
    let dir = dir.trim_end_matches('/');
    if !(dir.is_empty() || trimmed.ends_with("/**")) {
        return None;
    }
    Some(if dir.is_empty() { "." } else { dir })
}

/// `path` (a match below `base`) relative to `base`, without `./`.
fn relative(base: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(base)
        .unwrap_or(path)
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// Adds the regular files at `rel` (which leads to `resolved`): the file itself, or every
/// file below a directory. Inside a walked directory, a link to a file inside the project is
/// followed and a link to a directory refused (it could loop).
fn collect(
    root: &Path,
    rel: PathBuf,
    resolved: PathBuf,
    named: bool,
    out: &mut Vec<(PathBuf, PathBuf)>,
) -> Result<(), FilesError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FilesError::Io { path, source }
    };
    let link = std::fs::symlink_metadata(root.join(&rel))
        .map_err(io(&rel))?
        .file_type()
        .is_symlink();
    let meta = std::fs::metadata(&resolved).map_err(io(&rel))?;
    if meta.is_dir() {
        if link && !named {
            return Err(FilesError::Symlink { path: rel });
        }
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&resolved).map_err(io(&rel))? {
            entries.push(entry.map_err(io(&rel))?.file_name());
        }
        for name in entries {
            let rel = rel.join(&name);
            let resolved = project::resolve_in_canonical(root, &rel)?;
            collect(root, rel, resolved, false, out)?;
        }
    } else if meta.is_file() {
        out.push((rel, resolved));
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

    #[test]
    fn double_star_matches_zero_or_more_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("assets/img/deep")).unwrap();
        std::fs::write(d.join("assets/a.txt"), "a").unwrap();
        std::fs::write(d.join("assets/img/b.png"), "b").unwrap();
        std::fs::write(d.join("assets/img/deep/c.txt"), "c").unwrap();
        let dests = |patterns: &[&str]| -> Vec<String> {
            let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
            declared(d, &patterns)
                .unwrap()
                .iter()
                .map(|f| f.dest.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            dests(&["assets/**"]),
            ["a.txt", "img/b.png", "img/deep/c.txt"]
        );
        assert_eq!(dests(&["assets/**/*.txt"]), ["a.txt", "img/deep/c.txt"]);

        // Only top-level files: `**` still finds them.
        let top = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(top.path().join("assets")).unwrap();
        std::fs::write(top.path().join("assets/a.txt"), "a").unwrap();
        let got = declared(top.path(), &["assets/**".into()]).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].dest, Path::new("a.txt"));
    }

    #[test]
    fn links_that_leave_the_project_are_refused() {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("proj");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::write(home.join(".ssh/id_ed25519"), "secret").unwrap();
        std::fs::create_dir_all(d.join("models")).unwrap();
        std::fs::write(d.join("models/m.onnx"), "m").unwrap();
        symlink(&home, d.join("lnk")).unwrap();
        symlink(&home, d.join("models/home")).unwrap();
        symlink(home.join(".ssh/id_ed25519"), d.join("key")).unwrap();
        for pattern in ["lnk/.ssh/id_ed25519", "lnk/.ssh/*", "lnk", "key", "models"] {
            match expand(&d, &[pattern.into()]) {
                Err(FilesError::Outside(PathError::Link { .. })) => {}
                other => panic!("{pattern}: {other:?}"),
            }
        }
        let err = expand(&d, &["lnk/.ssh/id_ed25519".into()]).unwrap_err();
        assert!(err.to_string().contains("symbolic link `lnk`"), "{err}");
    }

    #[test]
    fn links_that_stay_inside_work() {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("models")).unwrap();
        std::fs::write(d.join("models/m.onnx"), "m").unwrap();
        symlink("models", d.join("weights")).unwrap();
        symlink("m.onnx", d.join("models/latest.onnx")).unwrap();
        let got = declared(d, &["weights".into()]).unwrap();
        let dests: Vec<_> = got.iter().map(|f| f.dest.to_str().unwrap()).collect();
        assert_eq!(dests, ["latest.onnx", "m.onnx"]);
        let canon = d.canonicalize().unwrap();
        assert!(
            got.iter()
                .all(|f| f.resolved == canon.join("models/m.onnx"))
        );
        // A link to a directory inside a walked directory could loop: refused.
        symlink("..", d.join("models/up")).unwrap();
        assert!(matches!(
            expand(d, &["models".into()]),
            Err(FilesError::Symlink { .. })
        ));
    }
}
