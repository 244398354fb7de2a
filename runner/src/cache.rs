//! The compile cache: precompiled artifacts under `$XDG_CACHE_HOME/qyv/compiled/`, keyed by
//! the input's sha256, qyv's and wasmtime's versions and the engine configuration, loaded
//! with mmap. Every entry carries a checksum file; an entry whose checksum does not match is
//! deleted and rebuilt, never handed to wasmtime.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

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

pub use qyvpack::digest::sha256_hex;

/// The sha256 of a file's `bytes`, remembered under the cache directory against the file's
/// identity (device, inode, size, mtime and ctime; ctime changes with any write and cannot
/// be set back by its owner), so a warm run of a large component does not hash it again.
pub fn file_sha256(path: &Path, bytes: &[u8]) -> String {
    file_sha256_in(cache_dir(), path, bytes)
}

fn file_sha256_in(cache: Option<PathBuf>, path: &Path, bytes: &[u8]) -> String {
    use std::os::unix::fs::MetadataExt;
    let identity = std::fs::metadata(path).ok().map(|m| {
        format!(
            "{} {} {} {}.{} {}.{}",
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        )
    });
    let record = identity.as_ref().and_then(|_| {
        let canonical = path.canonicalize().ok()?;
        let name = sha256_hex(canonical.as_os_str().as_encoded_bytes());
        Some(cache.as_ref()?.join("digests").join(name))
    });
    if let (Some(identity), Some(record)) = (&identity, &record)
        && let Ok(text) = std::fs::read_to_string(record)
        && let Some((id, sha)) = text.rsplit_once(' ')
        && id == identity
        && sha.len() == 64
        && bytes.len() as u64
            == identity
                .split(' ')
                .nth(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or(u64::MAX)
    {
        return sha.to_string();
    }
    let sha = sha256_hex(bytes);
    if let (Some(identity), Some(record)) = (identity, record)
        && let Some(dir) = record.parent()
        && std::fs::create_dir_all(dir).is_ok()
    {
        let _ = write_atomically(dir, &record, format!("{identity} {sha}").as_bytes());
    }
    sha
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
        let Ok(file) = std::fs::File::open(&self.artifact) else {
            return false;
        };
        // SAFETY: read-only map of a file in qyv's own cache, dropped before returning.
        let Ok(bytes) = (unsafe { memmap2::Mmap::map(&file) }) else {
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
    fn file_digests_are_remembered_until_the_file_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Some(tmp.path().join("cache"));
        let file = tmp.path().join("a.wasm");
        std::fs::write(&file, b"first").unwrap();
        assert_eq!(
            file_sha256_in(cache.clone(), &file, b"first"),
            sha256_hex(b"first")
        );
        assert_eq!(
            std::fs::read_dir(tmp.path().join("cache/digests"))
                .unwrap()
                .count(),
            1
        );
        assert_eq!(
            file_sha256_in(cache.clone(), &file, b"first"),
            sha256_hex(b"first")
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&file, b"other").unwrap();
        assert_eq!(file_sha256_in(cache, &file, b"other"), sha256_hex(b"other"));
    }

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
