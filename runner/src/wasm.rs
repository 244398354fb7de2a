//! The bytes of the wasm to run. A bundle's component is already in memory; a project's
//! entrypoint or a bare `.wasm` is mapped read-only instead of read, so that a warm start
//! touches only what it looks at (the header, the banner's import list) and never reads an
//! 18 MB component whose compiled code is in the cache. A mapping shows later writes to the
//! file, so the bytes that are compiled (and hashed for the cache key) are always a private
//! copy taken by [`WasmBytes::stable`].

use std::borrow::Cow;
use std::fs::File;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use qyvpack::bounded::{self, ReadError};

/// The wasm's bytes: owned, or a read-only map of a regular file.
pub enum WasmBytes {
    Owned(Vec<u8>),
    Mapped {
        map: memmap2::Mmap,
        /// The mapped file, for [`WasmBytes::stable`]: the same inode, whatever its path now
        /// names.
        file: File,
        path: PathBuf,
    },
}

impl WasmBytes {
    /// Maps `file` (opened from `path`) when it is a regular file within the wasm budget;
    /// reads it otherwise (a pipe, a device, a file that cannot be mapped), within the budget.
    pub fn open(file: File, path: &Path) -> Result<WasmBytes, ReadError> {
        let io = |source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = file.metadata().map_err(io)?;
        if meta.is_file() && meta.len() > 0 {
            if meta.len() > bounded::MAX_WASM_FILE {
                return Err(ReadError::TooLarge {
                    path: path.to_path_buf(),
                    limit: bounded::MAX_WASM_FILE,
                    what: WHAT,
                });
            }
            // SAFETY: a read-only, private map. A file truncated while mapped would fault on
            // access; qyv touches the map only before the guest starts (header, imports), and
            // compiles from a copy.
            if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
                return Ok(WasmBytes::Mapped {
                    map,
                    file,
                    path: path.to_path_buf(),
                });
            }
        }
        bounded::read_open(file, path, bounded::MAX_WASM_FILE, WHAT).map(WasmBytes::Owned)
    }

    /// Whether these are a map of a file (whose bytes may still change).
    pub fn is_mapped(&self) -> bool {
        matches!(self, WasmBytes::Mapped { .. })
    }

    /// Bytes that cannot change while they are compiled: the owned bytes, or a copy of the
    /// mapped file read through the same open file, within the budget.
    pub fn stable(&self) -> Result<Cow<'_, [u8]>, ReadError> {
        match self {
            WasmBytes::Owned(bytes) => Ok(Cow::Borrowed(bytes)),
            WasmBytes::Mapped { file, path, .. } => {
                let io = |source| ReadError::Io {
                    path: path.clone(),
                    source,
                };
                let mut copy = file.try_clone().map_err(io)?;
                // The map never moved the file offset, but the clone shares it: start at 0.
                std::io::Seek::rewind(&mut copy).map_err(io)?;
                bounded::read_open(copy, path, bounded::MAX_WASM_FILE, WHAT).map(Cow::Owned)
            }
        }
    }
}

const WHAT: &str = "a wasm file";

impl Deref for WasmBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            WasmBytes::Owned(bytes) => bytes,
            WasmBytes::Mapped { map, .. } => map,
        }
    }
}

impl From<Vec<u8>> for WasmBytes {
    fn from(bytes: Vec<u8>) -> WasmBytes {
        WasmBytes::Owned(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_mapped_and_its_stable_copy_is_taken_from_the_same_inode() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a.wasm");
        std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
        let bytes = WasmBytes::open(File::open(&path).unwrap(), &path).unwrap();
        assert!(bytes.is_mapped());
        assert_eq!(&*bytes, b"\0asm\x01\0\0\0");
        // Replaced by a rename (what atomic writers do): the open file is still the old one.
        let other = tmp.path().join("b.wasm");
        std::fs::write(&other, b"replaced").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert_eq!(&*bytes.stable().unwrap(), b"\0asm\x01\0\0\0");
        assert_eq!(
            &*bytes.stable().unwrap(),
            b"\0asm\x01\0\0\0",
            "read again from 0"
        );
    }

    #[test]
    fn empty_files_and_streams_are_read_not_mapped() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("empty.wasm");
        std::fs::write(&path, b"").unwrap();
        let bytes = WasmBytes::open(File::open(&path).unwrap(), &path).unwrap();
        assert!(!bytes.is_mapped());
        assert!(bytes.is_empty());
        let null = Path::new("/dev/null");
        let bytes = WasmBytes::open(File::open(null).unwrap(), null).unwrap();
        assert!(!bytes.is_mapped());
    }
}
