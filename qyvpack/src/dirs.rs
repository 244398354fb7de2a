//! Where qyv keeps its files: its configuration (trusted keys) and its cache (compiled code,
//! remembered digests and validations, the C compat layer), after the XDG base directories.

use std::path::PathBuf;

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
