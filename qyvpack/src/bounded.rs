//! Reading a user-named file within a budget. A path may name `/dev/zero`, a FIFO or a file
//! that grows while it is read; every read of one stops at its limit (a key, a manifest, a
//! component, a bundle each have theirs) instead of allocating until the process dies.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest key file read (a PKCS#8 PEM or a public key line is under 200 bytes).
pub const MAX_KEY_FILE: u64 = 64 << 10;
/// Largest wasm file read: wasmparser refuses modules over 1 GiB
/// (`MAX_WASM_MODULE_SIZE`), so reading more could never help.
pub const MAX_WASM_FILE: u64 = 1 << 30;

/// A file read that failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{} is larger than {}, the limit for {what}", path.display(), show(*limit))]
    TooLarge {
        path: PathBuf,
        limit: u64,
        what: &'static str,
    },
    #[error("{} does not start like {what}", path.display())]
    NotOfKind { path: PathBuf, what: &'static str },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ReadError {
    /// The underlying I/O error, or `InvalidData` for a file over its limit.
    pub fn into_io(self) -> std::io::Error {
        match self {
            ReadError::Io { source, .. } => source,
            e @ (ReadError::TooLarge { .. } | ReadError::NotOfKind { .. }) => {
                std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
            }
        }
    }
}

/// Reads all of `path`, refusing more than `limit` bytes; `what` names the kind of file in
/// the error ("a manifest").
pub fn read(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, ReadError> {
    let file = File::open(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_open(file, path, limit, what)
}

/// [`read`] as UTF-8 text (invalid UTF-8 is an I/O error of kind `InvalidData`).
pub fn read_to_string(path: &Path, limit: u64, what: &'static str) -> Result<String, ReadError> {
    let bytes = read(path, limit, what)?;
    String::from_utf8(bytes).map_err(|e| ReadError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
    })
}

/// [`read`] of a stream (a pipe, a device) refused as soon as its first `head` bytes fail
/// `starts_well`: `/dev/zero` is not a bundle, and need not be read to a bundle's limit to
/// know it. A regular file is read as by [`read`]; its reader judges its content.
pub fn read_expecting(
    path: &Path,
    limit: u64,
    what: &'static str,
    head: usize,
    starts_well: impl Fn(&[u8]) -> bool,
) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.is_file() {
        return read_open(file, path, limit, what);
    }
    let mut first = Vec::with_capacity(head);
    (&file)
        .take(head as u64)
        .read_to_end(&mut first)
        .map_err(io)?;
    if !starts_well(&first) {
        return Err(ReadError::NotOfKind {
            path: path.to_path_buf(),
            what,
        });
    }
    let mut rest = read_open(file, path, limit.saturating_sub(first.len() as u64), what).map_err(
        |e| match e {
            ReadError::TooLarge { path, what, .. } => ReadError::TooLarge { path, limit, what },
            e => e,
        },
    )?;
    first.append(&mut rest);
    Ok(first)
}

/// [`read`] of a file already open; `path` names it in errors.
pub fn read_open(
    file: File,
    path: &Path,
    limit: u64,
    what: &'static str,
) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let too_large = || ReadError::TooLarge {
        path: path.to_path_buf(),
        limit,
        what,
    };
    let meta = file.metadata().map_err(io)?;
    if meta.is_dir() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory",
        )));
    }
    // A regular file's size is known; anything else (a device, a pipe) is read to the limit.
    let expected = if meta.is_file() { meta.len() } else { 0 };
    if expected > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(expected as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// A limit for people: `1 MiB`, `64 KiB`, or bytes.
fn show(limit: u64) -> String {
    for (unit, name) in [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if limit >= unit && limit.is_multiple_of(unit) {
            return format!("{} {name}", limit / unit);
        }
    }
    format!("{limit} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_within_the_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read(&path, 5, "a test file").unwrap(), b"12345");
        let err = read(&path, 4, "a test file").unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { limit: 4, .. }));
        assert!(
            err.to_string()
                .contains("4 bytes, the limit for a test file")
        );
    }

    #[test]
    fn an_endless_device_stops_at_the_limit() {
        let err = read(Path::new("/dev/zero"), 1 << 20, "a manifest").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/dev/zero is larger than 1 MiB, the limit for a manifest"
        );
    }

    #[test]
    fn a_stream_that_starts_wrong_is_refused_at_once() {
        let err = read_expecting(Path::new("/dev/zero"), u64::MAX, "a bundle", 4, |h| {
            h == b"QYVB"
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "/dev/zero does not start like a bundle");
        let err = read_expecting(Path::new("/dev/zero"), 1 << 10, "zeros", 4, |h| h == [0; 4])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/dev/zero is larger than 1 KiB, the limit for zeros"
        );
    }

    #[test]
    fn text_must_be_utf8() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        std::fs::write(&path, b"\xff").unwrap();
        assert!(read_to_string(&path, 10, "text").is_err());
    }
}
