//! The compile cache: precompiled artifacts under `$XDG_CACHE_HOME/qyv/compiled/`, keyed by
//! the input's sha256, qyv's and wasmtime's versions and the engine configuration, loaded
//! with mmap. Every entry carries a checksum file; an entry whose checksum does not match is
//! deleted and rebuilt, never handed to wasmtime.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;

/// The cache directory: `$QYV_CACHE_DIR`, else `$XDG_CACHE_HOME/qyv`, else `~/.cache/qyv`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("QYV_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("qyv"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/qyv"))
}

/// The directory of compiled artifacts.
pub fn compiled_dir() -> Option<PathBuf> {
    cache_dir().map(|d| d.join("compiled"))
}

/// sha256 of the input, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache key of `input_sha256` compiled by `engine`.
pub fn key(engine: &Engine, input_sha256: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    env!("CARGO_PKG_VERSION").hash(&mut h);
    format!("{input_sha256}-{:016x}", h.finish())
}

/// A cache entry's paths.
pub struct Entry {
    pub artifact: PathBuf,
    checksum: PathBuf,
}

impl Entry {
    pub fn new(dir: &Path, key: &str) -> Entry {
        Entry {
            artifact: dir.join(format!("{key}.cwasm")),
            checksum: dir.join(format!("{key}.xxh3")),
        }
    }

    /// Whether the entry is present and intact. A damaged entry is removed.
    pub fn is_intact(&self) -> bool {
        let Ok(expected) = std::fs::read_to_string(&self.checksum) else {
            return false;
        };
        let Ok(bytes) = std::fs::read(&self.artifact) else {
            return false;
        };
        if checksum(&bytes) == expected.trim() {
            true
        } else {
            self.remove();
            false
        }
    }

    /// Stores an artifact atomically: artifact first, then its checksum, each written to a
    /// temporary file and renamed, so a reader never sees a half-written entry as intact.
    pub fn store(&self, bytes: &[u8]) -> std::io::Result<()> {
        let dir = self.artifact.parent().expect("entry in a directory");
        std::fs::create_dir_all(dir)?;
        write_atomically(dir, &self.artifact, bytes)?;
        write_atomically(dir, &self.checksum, checksum(bytes).as_bytes())
    }

    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.checksum);
        let _ = std::fs::remove_file(&self.artifact);
    }
}

fn checksum(bytes: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes))
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Removes every cached artifact; returns (files, bytes) removed.
pub fn clean() -> std::io::Result<(u64, u64)> {
    let Some(dir) = compiled_dir() else {
        return Ok((0, 0));
    };
    let mut files = 0;
    let mut bytes = 0;
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry?;
                bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
                std::fs::remove_file(entry.path())?;
                files += 1;
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok((files, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_entries_are_not_intact_and_get_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let entry = Entry::new(tmp.path(), "k");
        assert!(!entry.is_intact());
        entry.store(b"compiled code").unwrap();
        assert!(entry.is_intact());
        std::fs::write(&entry.artifact, b"compiled codf").unwrap();
        assert!(!entry.is_intact());
        assert!(!entry.artifact.exists(), "a damaged entry is removed");
    }
}
