//! The compile cache: precompiled artifacts under `$XDG_CACHE_HOME/qyv/compiled/`, keyed by
//! the input's content digest (BLAKE3), qyv's and wasmtime's versions and the engine configuration, loaded
//! with mmap. Every entry carries a checksum file; an entry whose checksum does not match is
//! deleted and rebuilt, never handed to wasmtime.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;

use qyvpack::output::{Access, write_atomically};

use qyvpack::dirs::{CacheArea, cache_dir};
use qyvpack::memo::{Memo, MemoKind};

/// The directory of compiled artifacts.
pub fn compiled_dir() -> Option<PathBuf> {
    CacheArea::Compiled.dir()
}

pub use qyvpack::digest::content_digest;

/// The content digest of a file's `bytes`, remembered against the file's identity (see
/// [`qyvpack::memo`]), so a warm run of a large component does not hash it again.
pub fn file_digest(path: &Path, bytes: &[u8]) -> String {
    file_digest_in(Memo::new(MemoKind::Digest), path, bytes)
}

fn file_digest_in(memo: Option<Memo>, path: &Path, bytes: &[u8]) -> String {
    if let Some(digest) = memo.as_ref().and_then(|m| m.recall(path, bytes.len()))
        && qyvpack::digest::is_hex_digest(&digest)
    {
        return digest;
    }
    let digest = content_digest(bytes);
    if let Some(memo) = memo {
        memo.remember(path, &digest);
    }
    digest
}

/// The cache key of `input_digest` compiled by `engine`.
pub fn key(engine: &Engine, input_digest: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    env!("CARGO_PKG_VERSION").hash(&mut h);
    format!("{input_digest}-{:016x}", h.finish())
}

/// An exclusive claim on compiling one cache entry (`KEY.lock`, flock'd): released, and the
/// file removed, when dropped.
pub struct CompileLock {
    path: PathBuf,
    _file: std::fs::File,
}

impl CompileLock {
    /// The claim, or `None` while another process holds it (or the lock cannot be made, when
    /// compiling twice only costs time).
    pub fn try_take(dir: &Path, key: &str) -> Option<CompileLock> {
        use std::os::fd::AsRawFd;
        let path = dir.join(format!("{key}.lock"));
        std::fs::create_dir_all(dir).ok()?;
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ok()?;
        // SAFETY: flock on a descriptor this function owns.
        let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        taken.then_some(CompileLock { path, _file: file })
    }
}

impl Drop for CompileLock {
    fn drop(&mut self) {
        // Removed while still held: a process that opened it before waits for nothing, finds
        // the entry whole and stops.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A cache entry's paths.
pub struct Entry {
    pub artifact: PathBuf,
    checksum: PathBuf,
}

impl Entry {
    /// A compiled artifact (`KEY.cwasm`).
    pub fn new(dir: &Path, key: &str) -> Entry {
        Entry::with_extension(dir, key, "cwasm")
    }

    /// An entry whose file is `KEY.EXTENSION`.
    pub fn with_extension(dir: &Path, key: &str, extension: &str) -> Entry {
        Entry {
            artifact: dir.join(format!("{key}.{extension}")),
            checksum: dir.join(format!("{key}.xxh3")),
        }
    }

    /// Whether the entry is present and intact. A damaged entry is removed. The checksum is
    /// computed once per identity of the artifact file (see [`qyvpack::memo`]): a warm start
    /// does not read the whole compiled file again, and any write to it (which changes its
    /// ctime) or a replacement (another inode) makes the next start check it again.
    pub fn is_intact(&self) -> bool {
        self.is_intact_in(Memo::new(MemoKind::Checked))
    }

    fn is_intact_in(&self, memo: Option<Memo>) -> bool {
        let Ok(expected) = std::fs::read_to_string(&self.checksum) else {
            return false;
        };
        let expected = expected.trim();
        let Ok(file) = std::fs::File::open(&self.artifact) else {
            return false;
        };
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        if let (Some(memo), Ok(size)) = (&memo, usize::try_from(size))
            && memo.recall(&self.artifact, size).as_deref() == Some(expected)
        {
            return true;
        }
        // SAFETY: read-only map of a file in qyv's own cache, dropped before returning.
        let Ok(bytes) = (unsafe { memmap2::Mmap::map(&file) }) else {
            return false;
        };
        if checksum(&bytes) == expected {
            if let Some(memo) = memo {
                memo.remember(&self.artifact, expected);
            }
            true
        } else {
            self.remove();
            false
        }
    }

    /// Stores an artifact atomically: artifact first, then its checksum, each written to a
    /// temporary file and renamed, so a reader never sees a half-written entry as intact.
    pub fn store(&self, bytes: &[u8]) -> std::io::Result<()> {
        write_atomically(&self.artifact, bytes, Access::Private)?;
        write_atomically(&self.checksum, checksum(bytes).as_bytes(), Access::Private)
    }

    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.checksum);
        let _ = std::fs::remove_file(&self.artifact);
    }
}

fn checksum(bytes: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes))
}

/// Removes every area of the cache ([`CacheArea::ALL`], and those older versions kept) with
/// all it holds; returns (files, bytes) removed. Nothing else in the cache directory is
/// touched, and links are removed, never followed.
pub fn clean() -> std::io::Result<(u64, u64)> {
    match cache_dir() {
        Some(root) => clean_in(&root),
        None => Ok((0, 0)),
    }
}

fn clean_in(root: &Path) -> std::io::Result<(u64, u64)> {
    let mut removed = (0, 0);
    let mut seen = std::collections::HashSet::new();
    let areas = CacheArea::ALL.iter().map(|a| a.under(root));
    for dir in areas.chain(CacheArea::RETIRED.iter().map(|d| root.join(d))) {
        match count_files(&dir, &mut removed, &mut seen) {
            Ok(()) => std::fs::remove_dir_all(&dir)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// Adds the files below `dir` and their sizes to `total`, without following links. A file
/// with several names (a stored model and its links in the bundles' views) counts once.
fn count_files(
    dir: &Path,
    total: &mut (u64, u64),
    seen: &mut std::collections::HashSet<(u64, u64)>,
) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.path().symlink_metadata()?;
        if meta.is_dir() {
            count_files(&entry.path(), total, seen)?;
        } else if seen.insert((meta.dev(), meta.ino())) {
            total.0 += 1;
            total.1 += meta.len();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_digests_are_remembered_until_the_file_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = || Some(Memo::in_dir(tmp.path().join("cache/digests")));
        let file = tmp.path().join("a.wasm");
        std::fs::write(&file, b"first").unwrap();
        assert_eq!(
            file_digest_in(cache(), &file, b"first"),
            content_digest(b"first")
        );
        assert_eq!(
            std::fs::read_dir(tmp.path().join("cache/digests"))
                .unwrap()
                .count(),
            1
        );
        assert_eq!(
            file_digest_in(cache(), &file, b"first"),
            content_digest(b"first")
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&file, b"other").unwrap();
        assert_eq!(
            file_digest_in(cache(), &file, b"other"),
            content_digest(b"other")
        );
    }

    #[test]
    fn a_checked_entry_is_checked_again_once_it_is_written_to() {
        let tmp = tempfile::tempdir().unwrap();
        let memo = || Some(Memo::in_dir(tmp.path().join("checked")));
        let entry = Entry::new(tmp.path(), "k");
        entry.store(b"compiled code").unwrap();
        assert!(entry.is_intact_in(memo()));
        assert!(entry.is_intact_in(memo()), "remembered");
        // Same size, and the mtime put back: the ctime still changes, so it is hashed again.
        let mtime = std::fs::metadata(&entry.artifact)
            .unwrap()
            .modified()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&entry.artifact, b"compiled codf").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&entry.artifact)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert!(!entry.is_intact_in(memo()));
        assert!(!entry.artifact.exists(), "a damaged entry is removed");
    }

    #[test]
    fn one_compile_lock_per_entry_at_a_time_and_its_file_goes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let held = CompileLock::try_take(dir.path(), "k").expect("a free lock is taken");
        assert!(CompileLock::try_take(dir.path(), "k").is_none());
        assert!(CompileLock::try_take(dir.path(), "other").is_some());
        drop(held);
        assert!(!dir.path().join("k.lock").exists());
        assert!(CompileLock::try_take(dir.path(), "k").is_some());
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

    #[test]
    fn clean_removes_every_area_and_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("cache");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"not the cache's").unwrap();
        for area in CacheArea::ALL {
            let nested = area.under(&root).join("sub");
            std::fs::create_dir_all(&nested).unwrap();
            std::fs::write(nested.join("f"), b"1234").unwrap();
        }
        std::fs::create_dir_all(root.join("digests")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("digests/link")).unwrap();
        std::fs::write(root.join("not-an-area"), b"x").unwrap();
        // A second name of a file (as the store's views have) is not a second file.
        let store = CacheArea::Store.under(&root).join("sub");
        std::fs::hard_link(store.join("f"), store.join("g")).unwrap();

        let (files, bytes) = clean_in(&root).unwrap();
        // The files of every area, and the link (its own size: the length of its target).
        assert_eq!(files, CacheArea::ALL.len() as u64 + 1);
        assert_eq!(
            bytes,
            4 * CacheArea::ALL.len() as u64 + outside.as_os_str().len() as u64
        );
        let left: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["not-an-area"]);
        assert!(outside.join("keep").is_file(), "a link was followed");
    }
}
