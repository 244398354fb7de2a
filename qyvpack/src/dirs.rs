//! Where qyv keeps its files: its configuration (trusted keys) and its cache, after the XDG
//! base directories. The cache is divided into areas, listed once here: every user of the
//! cache takes its directory from [`CacheArea`], and `qyv cache clean` removes them all.

use std::path::{Path, PathBuf};

/// `$QYV_CONFIG_DIR`, else `$XDG_CONFIG_HOME/qyv`, else `~/.config/qyv`.
pub fn config_dir() -> Option<PathBuf> {
    dir("QYV_CONFIG_DIR", "XDG_CONFIG_HOME", ".config")
}

/// `$QYV_CACHE_DIR`, else `$XDG_CACHE_HOME/qyv`, else `~/.cache/qyv`.
pub fn cache_dir() -> Option<PathBuf> {
    dir("QYV_CACHE_DIR", "XDG_CACHE_HOME", ".cache")
}

/// `$QYV_STATE_DIR`, else `$XDG_STATE_HOME/qyv`, else `~/.local/state/qyv`: what qyv
/// remembers of its use (the shell's history, recent pushes), which `qyv cache clean` keeps.
pub fn state_dir() -> Option<PathBuf> {
    dir("QYV_STATE_DIR", "XDG_STATE_HOME", ".local/state")
}

/// One file of the state directory, each owned by one user, listed here like the cache areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFile {
    /// The lines typed in `qyv shell`, oldest first.
    ShellHistory,
    /// Registry references pushed recently, newest last (see [`crate::recent`]).
    RecentRefs,
}

impl StateFile {
    /// Its name in the state directory.
    pub fn file_name(self) -> &'static str {
        match self {
            StateFile::ShellHistory => "shell-history",
            StateFile::RecentRefs => "recent-refs",
        }
    }

    /// Its path in [`state_dir`]; `None` when there is no state directory.
    pub fn path(self) -> Option<PathBuf> {
        state_dir().map(|d| d.join(self.file_name()))
    }
}

fn dir(own: &str, xdg: &str, under_home: &str) -> Option<PathBuf> {
    if let Some(d) = std::env::var_os(own) {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os(xdg).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("qyv"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(under_home).join("qyv"))
}

/// One area of the cache: a directory of the cache directory owned by one user. Here because
/// every crate that caches (runner, qyvbuild) reaches qyvpack, and none another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheArea {
    /// Precompiled code (runner's compile cache).
    Compiled,
    /// File content digests remembered against the file's identity.
    Digests,
    /// `qyv inspect`'s validations, remembered likewise.
    Inspect,
    /// Records of bundles verified in full.
    Bundles,
    /// Compiled cache entries whose checksum matched, remembered against their identity.
    Checked,
    /// The components of bundles verified in full.
    Verified,
    /// netfs files kept between runs (`fs.cache: true`).
    Netfs,
    /// The WASI compat layer for C, built once per version.
    CCompat,
    /// Verified models and assets of bundles, by content digest, with each bundle's view of
    /// them (runner's `store` module).
    Store,
    /// Apps `qyv run REF` pulled from registries.
    Pulled,
}

impl CacheArea {
    /// Every area: what `qyv cache clean` removes.
    pub const ALL: [CacheArea; 10] = [
        CacheArea::Compiled,
        CacheArea::Digests,
        CacheArea::Inspect,
        CacheArea::Bundles,
        CacheArea::Checked,
        CacheArea::Verified,
        CacheArea::Netfs,
        CacheArea::CCompat,
        CacheArea::Store,
        CacheArea::Pulled,
    ];

    /// Directories that older versions of qyv kept: removed by `qyv cache clean` too.
    pub const RETIRED: [&str; 1] = ["digests"];

    /// Its directory's name in the cache directory.
    pub fn dir_name(self) -> &'static str {
        match self {
            CacheArea::Compiled => "compiled",
            CacheArea::Digests => "blake3",
            CacheArea::Inspect => "inspect",
            CacheArea::Bundles => "bundles",
            CacheArea::Checked => "checked",
            CacheArea::Verified => "verified",
            CacheArea::Netfs => "netfs",
            CacheArea::CCompat => "c-compat",
            CacheArea::Store => "store",
            CacheArea::Pulled => "pulled",
        }
    }

    /// Its directory in the cache directory `root`.
    pub fn under(self, root: &Path) -> PathBuf {
        root.join(self.dir_name())
    }

    /// Its directory in [`cache_dir`]; `None` when there is no cache directory.
    pub fn dir(self) -> Option<PathBuf> {
        cache_dir().map(|root| self.under(&root))
    }

    /// Its directory in [`cache_dir`], or, with no home, in a directory of the temporary
    /// directory that only this user owns (`qyv-cache-UID`, mode 0700, not a link): programs run
    /// from there (compiler wrappers), so it never is a place another user could fill first.
    pub fn dir_or_private_temp(self) -> std::io::Result<PathBuf> {
        match self.dir() {
            Some(dir) => Ok(dir),
            None => Ok(self.under(&private_temp(&std::env::temp_dir())?)),
        }
    }
}

/// `parent/qyv-cache-UID`, made with mode 0700 if missing, and refused unless it is a real
/// directory owned by this user that nobody else may write or read.
fn private_temp(parent: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    // SAFETY: geteuid cannot fail and touches no memory.
    let uid = unsafe { libc::geteuid() };
    let dir = parent.join(format!("qyv-cache-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(&dir)?;
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a private directory of this user; set XDG_CACHE_HOME or QYV_CACHE_DIR",
                dir.display()
            ),
        ));
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_private_temporary_cache_is_refused_when_another_could_have_made_it() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = private_temp(tmp.path()).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert_eq!(
            private_temp(tmp.path()).unwrap(),
            dir,
            "made once, then reused"
        );
        // Opened up (as a directory someone else planted would be): refused.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(private_temp(tmp.path()).is_err());
        // A link in its place: refused, not followed.
        std::fs::remove_dir(&dir).unwrap();
        std::os::unix::fs::symlink(tmp.path(), &dir).unwrap();
        assert!(private_temp(tmp.path()).is_err());
    }

    #[test]
    fn cache_areas_have_distinct_directories() {
        let mut names: Vec<&str> = CacheArea::ALL.iter().map(|a| a.dir_name()).collect();
        names.extend(CacheArea::RETIRED);
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count);
    }
}
