//! The store of verified files: a bundle's models and assets, kept by their BLAKE3 digest in
//! the cache (`store/blobs/DIGEST`, read-only and owner-only, written atomically), so that a
//! warm start of a bundle with a 50 MB model costs what its code costs.
//!
//! Each bundle verified in full gets a view of its files: `store/views/KEY/` (KEY the digest of
//! its signed index) with `models/` and `assets/` laid out as in the archive, every file a hard
//! link to its blob, so two bundles sharing a model share one copy. `/models` is that
//! `models/` directory, preopened read-only: nothing is copied. A view is made once, on the
//! full verification, and later runs only read it: making a link changes the ctime of the
//! file, which would make every start hash the file again.
//!
//! Each file of a view is checked at every start against its identity (device, inode, size,
//! mtime, ctime; see [`qyvpack::memo`]) and hashed again when that changed, as the compile
//! cache checks its entries: a file changed behind qyv's back is never mounted; the bundle is
//! verified in full again and the file placed anew.
//!
//! A run holds a shared lock on its view's `lock` file, and touches it (its mtime is the last
//! use). Eviction under `QYV_CACHE_MAX` ([`Store::evict`]) removes the least recently used
//! views whose lock it can take exclusively, never one a running app holds, then the blobs no
//! view links any more (a blob's link count says how many views hold it).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use qyvpack::bundle::{ASSETS_DIR, FileEntry, Index, MODELS_DIR};
use qyvpack::dirs::CacheArea;
use qyvpack::memo::Memo;

/// The variable that caps the store's size (bytes or a size like `20GiB`).
pub const CACHE_MAX_VAR: &str = "QYV_CACHE_MAX";
/// The cap without `QYV_CACHE_MAX`: room for a few large models.
pub const DEFAULT_CACHE_MAX: u64 = 10 << 30;

/// Each view's lock file, beside its `models/` and `assets/` (the guest sees neither it nor
/// the view's root).
const LOCK: &str = "lock";
/// Prefixes of views being made, and of views set aside to be removed.
const NEW: &str = ".new-";
const OLD: &str = ".old-";
/// How long a blob may take to be written before eviction takes it for a leftover.
const STALE: std::time::Duration = std::time::Duration::from_secs(3600);

/// The store under a cache directory.
pub struct Store {
    blobs: PathBuf,
    views: PathBuf,
    /// Identities of view files whose digest was checked.
    checked: Memo,
}

/// A bundle's view of its stored files, locked (shared) for as long as it is held.
#[derive(Debug)]
pub struct View {
    dir: PathBuf,
    _lock: File,
}

impl View {
    /// The host file that holds the archive's `path` (`models/x.onnx`, `assets/a.txt`).
    pub fn file(&self, path: &str) -> PathBuf {
        self.dir.join(path)
    }

    /// The directory mounted at `/models`.
    pub fn models_dir(&self) -> PathBuf {
        self.dir.join(MODELS_DIR.trim_end_matches('/'))
    }
}

/// An invalid `QYV_CACHE_MAX`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{CACHE_MAX_VAR}=`{value}`: {reason}")]
pub struct CacheMaxError {
    pub value: String,
    pub reason: String,
}

/// The store's cap: `QYV_CACHE_MAX` (empty means unset), else [`DEFAULT_CACHE_MAX`]. A value
/// that is not a size is an error, not silently the default.
pub fn cache_max() -> Result<u64, CacheMaxError> {
    cache_max_of(std::env::var_os(CACHE_MAX_VAR).as_deref())
}

fn cache_max_of(value: Option<&std::ffi::OsStr>) -> Result<u64, CacheMaxError> {
    let Some(value) = value else {
        return Ok(DEFAULT_CACHE_MAX);
    };
    let refuse = |reason: &str| CacheMaxError {
        value: value.to_string_lossy().into_owned(),
        reason: reason.into(),
    };
    let text = value.to_str().ok_or_else(|| refuse("not UTF-8"))?;
    if text.trim().is_empty() {
        return Ok(DEFAULT_CACHE_MAX);
    }
    qyvpack::manifest::units::parse_size(text).map_err(|reason| refuse(&reason))
}

/// The files of a bundle that the store keeps: its models and assets.
pub fn stored_entries(index: &Index) -> impl Iterator<Item = &FileEntry> {
    index
        .files
        .iter()
        .filter(|f| f.path.starts_with(MODELS_DIR) || f.path.starts_with(ASSETS_DIR))
}

/// What an eviction removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Evicted {
    pub files: u64,
    pub bytes: u64,
}

impl Store {
    /// Under the cache directory; `None` without one.
    pub fn new() -> Option<Store> {
        CacheArea::Store.dir().map(|d| Store::in_dir(&d))
    }

    /// The store whose directory is `dir`.
    pub fn in_dir(dir: &Path) -> Store {
        Store {
            blobs: dir.join("blobs"),
            views: dir.join("views"),
            checked: Memo::in_dir(dir.join("checked")),
        }
    }

    /// The view of the bundle whose signed index has digest `key`, locked, if every file of
    /// `index` it should hold is there and intact. `None` sends the caller to a full
    /// verification, which places the files again.
    pub fn open(&self, key: &str, index: &Index) -> Option<View> {
        let dir = self.views.join(key);
        let lock = File::options()
            .read(true)
            .write(true)
            .open(dir.join(LOCK))
            .ok()?;
        lock.lock_shared().ok()?;
        // Eviction sets a view aside before removing it: the lock must still be this view's.
        let (held, here) = (
            lock.metadata().ok()?,
            std::fs::metadata(dir.join(LOCK)).ok()?,
        );
        if !same_inode(&held, &here) {
            return None;
        }
        for entry in stored_entries(index) {
            if !self.intact(&dir.join(&entry.path), entry) {
                return None;
            }
        }
        // The last use, for eviction; the lock file is no file of the view's.
        let _ = lock.set_modified(SystemTime::now());
        Some(View { dir, _lock: lock })
    }

    /// Whether the view file at `path` holds `entry`'s bytes: known from its identity, or
    /// hashed again (and remembered) when that changed.
    fn intact(&self, path: &Path, entry: &FileEntry) -> bool {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return false;
        };
        if !meta.is_file() || meta.len() != entry.size {
            return false;
        }
        let Ok(size) = usize::try_from(entry.size) else {
            return false;
        };
        if self.checked.recall(path, size).as_deref() == Some(entry.blake3.as_str()) {
            return true;
        }
        if digest_of_file(path).is_ok_and(|d| d == entry.blake3) {
            self.checked.remember(path, &entry.blake3);
            true
        } else {
            false
        }
    }

    /// Places the models and assets of a bundle just verified in full (`files`, by archive
    /// path) and makes its view, replacing any earlier view of the same bundle. A blob already
    /// stored (another bundle's model) is linked when its bytes check out, and replaced when
    /// they do not.
    pub fn place(
        &self,
        key: &str,
        index: &Index,
        files: &std::collections::BTreeMap<String, Vec<u8>>,
    ) -> io::Result<View> {
        for dir in [&self.blobs, &self.views] {
            crate::scratch::private_dir(dir)?;
        }
        let new = tempfile::Builder::new()
            .prefix(NEW)
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in(&self.views)?
            .keep();
        let made = self.fill(&new, index, files);
        let lock = match made {
            Ok(lock) => lock,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&new);
                return Err(e);
            }
        };
        let dir = self.views.join(key);
        // An earlier view of this bundle (damaged, or made by another run at the same time)
        // is set aside first: a directory cannot be renamed over one that has files.
        let old = self.views.join(format!("{OLD}{}", unique()));
        let set_aside = std::fs::rename(&dir, &old).is_ok();
        if let Err(e) = std::fs::rename(&new, &dir) {
            let _ = std::fs::remove_dir_all(&new);
            return Err(e);
        }
        if set_aside {
            remove_unless_held(&old);
        }
        for entry in stored_entries(index) {
            self.checked.remember(&dir.join(&entry.path), &entry.blake3);
        }
        Ok(View { dir, _lock: lock })
    }

    /// Fills a new view: its lock (held shared from the start, so that no eviction removes
    /// it), then a link to each file's blob.
    fn fill(
        &self,
        view: &Path,
        index: &Index,
        files: &std::collections::BTreeMap<String, Vec<u8>>,
    ) -> io::Result<File> {
        let lock = private_file(&view.join(LOCK))?;
        lock.lock_shared()?;
        for entry in stored_entries(index) {
            let bytes = files.get(&entry.path).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{} was not read", entry.path),
                )
            })?;
            let link = view.join(&entry.path);
            if let Some(parent) = link.parent() {
                crate::scratch::private_dir(parent)?;
            }
            let blob = self.blob(&entry.blake3, bytes)?;
            match std::fs::hard_link(&blob, &link) {
                // Evicted in between: placed once more.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    std::fs::hard_link(self.blob(&entry.blake3, bytes)?, &link)?
                }
                r => r?,
            }
        }
        Ok(lock)
    }

    /// The blob of `digest`, holding `bytes`: kept when already there and intact, written
    /// otherwise (read-only, owner-only, through a temporary file and a rename).
    fn blob(&self, digest: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        let path = self.blobs.join(digest);
        let stored = std::fs::symlink_metadata(&path)
            .is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64);
        if stored && digest_of_file(&path).is_ok_and(|d| d == digest) {
            return Ok(path);
        }
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let mut tmp = tempfile::Builder::new()
            .prefix(NEW)
            .permissions(std::fs::Permissions::from_mode(0o600))
            .tempfile_in(&self.blobs)?;
        tmp.write_all(bytes)?;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o400))?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(path)
    }

    /// Bytes held by the blobs.
    pub fn size(&self) -> u64 {
        self.blobs_by_age().iter().map(|b| b.size).sum()
    }

    /// Brings the store under `cap` bytes: first the blobs no view links, then the least
    /// recently used views that no run holds, each followed by the blobs it alone linked.
    /// Views set aside or left half-made by a process that is gone are removed too. A view a
    /// running app holds is never touched, even if the store stays over the cap.
    pub fn evict(&self, cap: u64) -> Evicted {
        let mut evicted = Evicted::default();
        let Ok(entries) = std::fs::read_dir(&self.views) else {
            return evicted;
        };
        let mut views = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(NEW) || name.starts_with(OLD) {
                remove_unless_held(&entry.path());
            } else if let Ok(m) = std::fs::metadata(entry.path().join(LOCK)) {
                views.push((m.modified().unwrap_or(SystemTime::UNIX_EPOCH), entry.path()));
            }
        }
        views.sort();
        let mut views = views.into_iter();
        loop {
            let blobs = self.blobs_by_age();
            let mut total: u64 = blobs.iter().map(|b| b.size).sum();
            for blob in blobs.iter().filter(|b| b.links == 1) {
                if total <= cap {
                    return evicted;
                }
                if std::fs::remove_file(&blob.path).is_ok() {
                    total -= blob.size;
                    evicted.files += 1;
                    evicted.bytes += blob.size;
                }
            }
            if total <= cap {
                return evicted;
            }
            // The next view nobody holds, or nothing more to do.
            let Some(view) = views
                .by_ref()
                .find_map(|(_, dir)| take_aside(&self.views, &dir))
            else {
                return evicted;
            };
            let _ = std::fs::remove_dir_all(view);
        }
    }

    /// Every blob with its size, link count and last change, oldest first.
    fn blobs_by_age(&self) -> Vec<Blob> {
        use std::os::unix::fs::MetadataExt;
        let Ok(entries) = std::fs::read_dir(&self.blobs) else {
            return Vec::new();
        };
        let mut blobs: Vec<Blob> = entries
            .flatten()
            .filter_map(|e| {
                let m = e.path().symlink_metadata().ok()?;
                // A blob being written: another run's, unless left by one long gone.
                let writing = e.file_name().to_string_lossy().starts_with(NEW)
                    && m.modified().ok()?.elapsed().ok()? < STALE;
                if writing {
                    return None;
                }
                Some(Blob {
                    changed: m.ctime(),
                    path: e.path(),
                    size: m.len(),
                    links: m.nlink(),
                })
            })
            .collect();
        blobs.sort_by_key(|b| b.changed);
        blobs
    }
}

struct Blob {
    changed: i64,
    path: PathBuf,
    size: u64,
    links: u64,
}

/// Takes a view's lock exclusively without waiting and sets the view aside (renamed, so no
/// later run opens it); the path it now has, or `None` when a run holds it.
fn take_aside(views: &Path, dir: &Path) -> Option<PathBuf> {
    let lock = File::open(dir.join(LOCK)).ok()?;
    lock.try_lock().ok()?;
    let aside = views.join(format!("{OLD}{}", unique()));
    std::fs::rename(dir, &aside).ok()?;
    Some(aside)
}

/// Removes a view set aside or left half-made, unless a run still holds its lock.
fn remove_unless_held(dir: &Path) {
    match File::open(dir.join(LOCK)) {
        Ok(lock) if lock.try_lock().is_err() => {}
        _ => {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A name no other process or call of this one uses at the same time.
fn unique() -> String {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{nanos}-{n}", std::process::id())
}

fn private_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

fn same_inode(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// The BLAKE3 of a file, mapped rather than read into memory.
fn digest_of_file(path: &Path) -> io::Result<String> {
    let file = File::open(path)?;
    if file.metadata()?.len() == 0 {
        return Ok(qyvpack::digest::content_digest(&[]));
    }
    // SAFETY: a read-only map of a file in qyv's own cache (0400, in a 0700 directory),
    // dropped before returning; a change to it while mapped shows as a wrong digest.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(qyvpack::digest::content_digest(&map))
}

#[cfg(test)]
mod tests;
