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
}

impl CacheArea {
    /// Every area: what `qyv cache clean` removes.
    pub const ALL: [CacheArea; 8] = [
        CacheArea::Compiled,
        CacheArea::Digests,
        CacheArea::Inspect,
        CacheArea::Bundles,
        CacheArea::Checked,
        CacheArea::Verified,
        CacheArea::Netfs,
        CacheArea::CCompat,
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
