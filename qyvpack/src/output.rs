//! Writing files whole: every file qyv writes (build outputs, adapted components, manifests,
//! cache records, trusted keys) goes through [`write_atomically`], and user-named outputs are
//! checked first. Outputs are written to a temporary file that then takes the output's name,
//! which would swap out whatever had it: `-o /dev/null` would leave a regular file where the
//! device was, and `-o app.wasm` would replace the very input being packed. Both are refused
//! before anything is written.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Who may read a file that [`write_atomically`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A file for the user (a build output, a key to share): the mode a plain create would
    /// give (0666 less the umask), flushed to disk before it takes its name.
    Shared,
    /// qyv's own records in its cache: owner-only (0600). Not flushed: every record is
    /// checked when read, and a torn one is only redone.
    Private,
}

/// Writes `bytes` to `path` through a temporary file in the same directory (created if
/// needed) and a rename, so readers never see a partial file and an interrupted write leaves
/// the old file intact. An existing `path` that is not a regular file (`/dev/null`, a FIFO) is
/// refused, not replaced; a symbolic link there is replaced, its target left alone.
pub fn write_atomically(path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
    check(path, &[]).map_err(|e| match e {
        OutputError::Io { source, .. } => source,
        e => std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()),
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    if access == Access::Shared {
        use std::os::unix::fs::PermissionsExt;
        // Created with this mode, which the kernel restricts by the umask.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    if access == Access::Shared {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// An output that must not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(
        "{} is a {kind}, not a regular file; qyv writes only to a new or a regular file",
        path.display()
    )]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "{} is the input {}; writing it would destroy that input",
        path.display(),
        input.display()
    )]
    IsInput { path: PathBuf, input: PathBuf },
    #[error("cannot check {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Refuses `out` when it exists and is not a regular file (a device, a FIFO, a socket, a
/// directory), or when it is the same file (device and inode, whatever the names) as one of
/// `inputs`. A symbolic link at `out` is fine: the new file replaces the link, not its target.
pub fn check(out: &Path, inputs: &[&Path]) -> Result<(), OutputError> {
    let meta = match std::fs::symlink_metadata(out) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(OutputError::Io {
                path: out.to_path_buf(),
                source,
            });
        }
    };
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Ok(());
    }
    if !kind.is_file() {
        return Err(OutputError::NotRegular {
            path: out.to_path_buf(),
            kind: kind_name(&kind),
        });
    }
    for input in inputs {
        // An input is read through its links: compare with what it leads to.
        if let Ok(theirs) = std::fs::metadata(input)
            && same_file(&meta, &theirs)
        {
            return Err(OutputError::IsInput {
                path: out.to_path_buf(),
                input: input.to_path_buf(),
            });
        }
    }
    Ok(())
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    false
}

fn kind_name(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() {
            return "character device";
        }
        if kind.is_block_device() {
            return "block device";
        }
        if kind.is_fifo() {
            return "FIFO";
        }
        if kind.is_socket() {
            return "socket";
        }
    }
    if kind.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.wasm");
        write_atomically(&path, b"one", Access::Shared).unwrap();
        write_atomically(&path, b"two", Access::Shared).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let entries: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn private_files_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("record");
        write_atomically(&path, b"x", Access::Private).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn refuses_special_files_and_keeps_them() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let err = write_atomically(&fifo, b"x", Access::Shared).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
        assert!(fifo.symlink_metadata().unwrap().file_type().is_fifo());
    }

    #[test]
    fn devices_fifos_and_directories_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = check(&fifo, &[]).unwrap_err();
        assert!(err.to_string().contains("is a FIFO"), "{err}");
        // Only looked at, never written.
        let err = check(Path::new("/dev/null"), &[]).unwrap_err();
        assert!(err.to_string().contains("character device"), "{err}");
        assert!(matches!(
            check(tmp.path(), &[]),
            Err(OutputError::NotRegular {
                kind: "directory",
                ..
            })
        ));
        assert!(check(&tmp.path().join("new"), &[]).is_ok());
    }

    #[test]
    fn an_input_is_refused_by_identity_not_name() {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("app.wasm");
        std::fs::write(&input, b"wasm").unwrap();
        let other = tmp.path().join("other.wasm");
        std::fs::write(&other, b"x").unwrap();
        let hard = tmp.path().join("hard.wasm");
        std::fs::hard_link(&input, &hard).unwrap();
        let dotted = tmp.path().join(".").join("app.wasm");
        for out in [&input, &hard, &dotted] {
            assert!(
                matches!(check(out, &[&input]), Err(OutputError::IsInput { .. })),
                "{}",
                out.display()
            );
        }
        assert!(check(&other, &[&input]).is_ok());
        // A link at the output is replaced, its target untouched.
        let link = tmp.path().join("link.wasm");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        assert!(check(&link, &[&input]).is_ok());
    }
}
