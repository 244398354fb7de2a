//! Facts about a file remembered against its identity: device, inode, size, mtime and ctime.
//! Any write changes ctime, and its owner cannot set ctime back, so a record whose identity
//! still matches describes the same bytes. `qyv run` remembers a large component's content
//! digest this way, `qyv inspect` its validation, so a warm start does not redo either.

use std::path::{Path, PathBuf};

use crate::dirs::{CacheArea, cache_dir};
use crate::output::{Access, write_atomically};

/// What is remembered: each kind has its own area of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoKind {
    /// A file's content digest (BLAKE3).
    Digest,
    /// `qyv inspect`'s validation of a file.
    Inspect,
    /// A bundle verified in full (runner's `verified` module).
    Bundle,
    /// A compiled cache entry whose checksum matched (runner's `cache` module).
    Checked,
}

impl MemoKind {
    /// Its area of the cache (all of which `qyv cache clean` removes).
    pub fn area(self) -> CacheArea {
        match self {
            MemoKind::Digest => CacheArea::Digests,
            MemoKind::Inspect => CacheArea::Inspect,
            MemoKind::Bundle => CacheArea::Bundles,
            MemoKind::Checked => CacheArea::Checked,
        }
    }
}

/// Records of one kind under a cache directory.
pub struct Memo {
    dir: PathBuf,
}

impl Memo {
    /// The records of `kind` under the cache directory; `None` when there is no home.
    pub fn new(kind: MemoKind) -> Option<Memo> {
        cache_dir().map(|d| Memo::under(&d, kind))
    }

    /// The records of `kind` under the cache directory `root`.
    pub fn under(root: &Path, kind: MemoKind) -> Memo {
        Memo::in_dir(kind.area().under(root))
    }

    pub fn in_dir(dir: PathBuf) -> Memo {
        Memo { dir }
    }

    /// The value remembered for `path`, if the file is still the one it was recorded for and
    /// `bytes_len` is its size.
    pub fn recall(&self, path: &Path, bytes_len: usize) -> Option<String> {
        let (identity, size) = identity(path)?;
        if size != bytes_len as u64 {
            return None;
        }
        let text = std::fs::read_to_string(self.record(path)?).ok()?;
        let (id, value) = text.split_once('\n')?;
        (id == identity).then(|| value.to_string())
    }

    /// Remembers `value` for `path` (best effort: a cache that cannot be written is skipped).
    pub fn remember(&self, path: &Path, value: &str) {
        let (Some((identity, _)), Some(record)) = (identity(path), self.record(path)) else {
            return;
        };
        if std::fs::create_dir_all(&self.dir).is_ok() {
            let _ = write_atomically(
                &record,
                format!("{identity}\n{value}").as_bytes(),
                Access::Private,
            );
        }
    }

    fn record(&self, path: &Path) -> Option<PathBuf> {
        let canonical = path.canonicalize().ok()?;
        let name = crate::digest::sha256_hex(canonical.as_os_str().as_encoded_bytes());
        Some(self.dir.join(name))
    }
}

/// A file's identity line and its size.
fn identity(path: &Path) -> Option<(String, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    let line = format!(
        "{} {} {} {}.{} {}.{}",
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    );
    Some((line, m.size()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_hold_until_the_file_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let memo = Memo::in_dir(tmp.path().join("memo"));
        let file = tmp.path().join("a.wasm");
        std::fs::write(&file, b"first").unwrap();
        assert_eq!(memo.recall(&file, 5), None);
        memo.remember(&file, "fact\nwith lines");
        assert_eq!(memo.recall(&file, 5).as_deref(), Some("fact\nwith lines"));
        assert_eq!(memo.recall(&file, 4), None, "another size is another file");
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&file, b"other").unwrap();
        assert_eq!(memo.recall(&file, 5), None, "a write changes the identity");
    }
}
