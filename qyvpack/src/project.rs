//! Where a manifest's relative paths really lead. The entrypoint, a diskfs `fs.source`,
//! models and assets must stay inside the project (the manifest's directory): a symbolic link
//! in a cloned repository (`data -> ~/.ssh`) must not hand the user's files to a guest or a
//! bundle. `validate`, `pack` and `run` all resolve through [`resolve`], so they agree.
//!
//! Links whose target stays inside the project are followed; the project directory itself
//! may be reached through links (it is canonicalized first).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Component, Path, PathBuf};

/// Most links followed in one path, as the kernel's `ELOOP` limit.
const MAX_LINKS: usize = 40;

/// A path that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("`{}` is absolute; it must be relative to the manifest", path.display())]
    Absolute { path: PathBuf },
    #[error("`{}` leaves the project directory {}", path.display(), root.display())]
    Leaves { path: PathBuf, root: PathBuf },
    #[error(
        "`{}` leads outside the project directory {} through the symbolic link `{}` (-> {})",
        path.display(), root.display(), link.display(), target.display()
    )]
    Link {
        path: PathBuf,
        root: PathBuf,
        /// The link that left the project, relative to it when it is inside.
        link: PathBuf,
        /// What the link says.
        target: PathBuf,
    },
    #[error("`{}`: too many levels of symbolic links", path.display())]
    Loop { path: PathBuf },
    #[error(
        "`{}` changed while it was opened: it now leads outside the project directory {}",
        path.display(), root.display()
    )]
    Raced { path: PathBuf, root: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl PathError {
    /// Whether the path leads outside the project (rather than being unreadable).
    pub fn is_escape(&self) -> bool {
        !matches!(self, PathError::Io { .. })
    }
}

/// The canonical form of the project directory `root`.
pub fn canonical_root(root: &Path) -> Result<PathBuf, PathError> {
    root.canonicalize().map_err(|source| PathError::Io {
        path: root.to_path_buf(),
        source,
    })
}

/// Resolves `rel` below `root` as the kernel would (`..` and every symbolic link), and
/// returns the absolute path it leads to, with no links in its existing part. Refuses an
/// absolute `rel` and any path that ends outside `root`, naming the link that left it.
/// Missing components are taken as written (a file not built yet).
pub fn resolve(root: &Path, rel: &Path) -> Result<PathBuf, PathError> {
    let root = canonical_root(root)?;
    resolve_in_canonical(&root, rel)
}

/// [`resolve`] with `root` already canonical.
pub fn resolve_in_canonical(root: &Path, rel: &Path) -> Result<PathBuf, PathError> {
    if rel.has_root() || rel.to_string_lossy().starts_with('~') {
        return Err(PathError::Absolute {
            path: rel.to_path_buf(),
        });
    }
    let mut cur = root.to_path_buf();
    let mut pending: VecDeque<OsString> = VecDeque::new();
    push_front(&mut pending, rel);
    let mut links = 0;
    // The links whose targets are being walked: how many components were pending after the
    // target, the link (relative to `root` when inside) and what it says.
    let mut active: Vec<(usize, PathBuf, PathBuf)> = Vec::new();
    // When the path is outside `root`: the link that took it there (None for `..`).
    let mut escape: Option<Option<(PathBuf, PathBuf)>> = None;
    while let Some(part) = pending.pop_front() {
        while active
            .last()
            .is_some_and(|(until, ..)| pending.len() < *until)
        {
            active.pop();
        }
        if part == ".." {
            cur.pop();
        } else if part == "/" {
            cur = PathBuf::from("/");
        } else {
            let next = cur.join(&part);
            match std::fs::symlink_metadata(&next) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(PathError::Loop {
                            path: rel.to_path_buf(),
                        });
                    }
                    let target = std::fs::read_link(&next).map_err(|source| PathError::Io {
                        path: next.clone(),
                        source,
                    })?;
                    let shown = next.strip_prefix(root).unwrap_or(&next).to_path_buf();
                    active.push((pending.len(), shown, target.clone()));
                    // The target is resolved from the link's own directory, `cur`.
                    push_front(&mut pending, &target);
                    continue;
                }
                // Missing (not built yet) or not a link: taken as written.
                _ => cur = next,
            }
        }
        if cur.starts_with(root) {
            escape = None;
        } else if escape.is_none() {
            escape = Some(
                active
                    .last()
                    .map(|(_, link, target)| (link.clone(), target.clone())),
            );
        }
    }
    match escape {
        None => Ok(cur),
        Some(Some((link, target))) => Err(PathError::Link {
            path: rel.to_path_buf(),
            root: root.to_path_buf(),
            link,
            target,
        }),
        Some(None) => Err(PathError::Leaves {
            path: rel.to_path_buf(),
            root: root.to_path_buf(),
        }),
    }
}

/// Puts the components of `path` before those still pending (an absolute path restarts at
/// `/`).
fn push_front(pending: &mut VecDeque<OsString>, path: &Path) {
    let parts: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::RootDir | Component::Prefix(_) => Some(OsString::from("/")),
            Component::ParentDir => Some(OsString::from("..")),
            Component::Normal(n) => Some(n.to_os_string()),
            Component::CurDir => None,
        })
        .collect();
    for part in parts.into_iter().rev() {
        pending.push_front(part);
    }
}

/// Opens the file `rel` leads to below `root` for reading, after [`resolve`], without
/// following a link in its last component; on Linux, checks again after opening where the
/// open file really is, so a directory swapped for a link in between is caught.
pub fn open(root: &Path, rel: &Path) -> Result<(PathBuf, File), PathError> {
    let root = canonical_root(root)?;
    let path = resolve_in_canonical(&root, rel)?;
    let file = open_no_follow(&path).map_err(|source| PathError::Io {
        path: path.clone(),
        source,
    })?;
    if !opened_inside(&file, &root) {
        return Err(PathError::Raced {
            path: rel.to_path_buf(),
            root,
        });
    }
    Ok((path, file))
}

/// Opens `path` for reading; a symbolic link as its last component is an error (`ELOOP`).
pub fn open_no_follow(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// Whether the open `file` is below `root` (known on Linux through `/proc/self/fd`; assumed
/// elsewhere).
fn opened_inside(file: &File, root: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Ok(real) = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
            return real.starts_with(root);
        }
    }
    let _ = (file, root);
    true
}

/// A path that is relative and, read lexically, never leaves its base directory.
pub fn check_relative_inside(path: &str) -> Result<(), String> {
    if path.trim().is_empty() {
        return Err("is empty".into());
    }
    let p = Path::new(path);
    if p.is_absolute() || path.starts_with('~') {
        return Err(format!(
            "`{path}` is absolute; it must be relative to the manifest"
        ));
    }
    let mut depth: i32 = 0;
    for c in p.components() {
        match c {
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("`{path}` leaves the project directory"));
                }
            }
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "`{path}` is absolute; it must be relative to the manifest"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn relative_paths() {
        assert!(check_relative_inside("hello.wasm").is_ok());
        assert!(check_relative_inside("target/../out/a.wasm").is_ok());
        assert!(check_relative_inside("../a.wasm").is_err());
        assert!(check_relative_inside("a/../../b").is_err());
        assert!(check_relative_inside("/etc/passwd").is_err());
        assert!(check_relative_inside("").is_err());
    }

    fn project() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("proj");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(root.join("data/sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret"), "s").unwrap();
        std::fs::write(root.join("data/a.txt"), "a").unwrap();
        (tmp, root, outside)
    }

    #[test]
    fn links_that_stay_inside_are_followed() {
        let (_tmp, root, _) = project();
        symlink("data", root.join("lnk")).unwrap();
        symlink("../a.txt", root.join("data/sub/up")).unwrap();
        let canon = root.canonicalize().unwrap();
        assert_eq!(
            resolve(&root, Path::new("lnk/a.txt")).unwrap(),
            canon.join("data/a.txt")
        );
        assert_eq!(
            resolve(&root, Path::new("data/sub/up")).unwrap(),
            canon.join("data/a.txt")
        );
        assert_eq!(
            resolve(&root, Path::new("./data/../data/a.txt")).unwrap(),
            canon.join("data/a.txt")
        );
        // Not there yet (not built): taken as written.
        assert_eq!(
            resolve(&root, Path::new("target/app.wasm")).unwrap(),
            canon.join("target/app.wasm")
        );
    }

    #[test]
    fn links_that_leave_are_refused_and_named() {
        let (_tmp, root, outside) = project();
        symlink(&outside, root.join("data/out")).unwrap();
        symlink("/", root.join("slash")).unwrap();
        symlink("../../outside/secret", root.join("data/rel")).unwrap();
        for (path, link) in [
            ("data/out/secret", "data/out"),
            ("data/out", "data/out"),
            ("slash", "slash"),
            ("slash/etc/passwd", "slash"),
            ("data/rel", "data/rel"),
        ] {
            match resolve(&root, Path::new(path)) {
                Err(PathError::Link { link: l, .. }) => assert_eq!(l, Path::new(link), "{path}"),
                other => panic!("{path}: {other:?}"),
            }
        }
        let err = resolve(&root, Path::new("data/out/secret")).unwrap_err();
        assert!(err.to_string().contains("data/out"), "{err}");
    }

    #[test]
    fn dot_dot_and_absolute_paths_are_refused() {
        let (_tmp, root, _) = project();
        assert!(matches!(
            resolve(&root, Path::new("../outside/secret")),
            Err(PathError::Leaves { .. })
        ));
        assert!(resolve(&root, Path::new("data/../../proj/data/a.txt")).is_ok());
        assert!(matches!(
            resolve(&root, Path::new("/etc/passwd")),
            Err(PathError::Absolute { .. })
        ));
    }

    #[test]
    fn a_linked_project_directory_is_fine() {
        let (tmp, root, _) = project();
        let alias = tmp.path().join("alias");
        symlink(&root, &alias).unwrap();
        assert!(resolve(&alias, Path::new("data/a.txt")).is_ok());
        let (_, mut file) = open(&alias, Path::new("data/a.txt")).unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut file, &mut s).unwrap();
        assert_eq!(s, "a");
    }

    #[test]
    fn link_loops_end() {
        let (_tmp, root, _) = project();
        symlink("b", root.join("a")).unwrap();
        symlink("a", root.join("b")).unwrap();
        assert!(matches!(
            resolve(&root, Path::new("a")),
            Err(PathError::Loop { .. })
        ));
    }

    #[test]
    fn open_refuses_what_resolve_refuses() {
        let (_tmp, root, outside) = project();
        symlink(outside.join("secret"), root.join("key")).unwrap();
        assert!(matches!(
            open(&root, Path::new("key")),
            Err(PathError::Link { .. })
        ));
    }
}
