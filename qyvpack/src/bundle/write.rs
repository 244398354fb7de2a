//! Writing bundles: deterministic, atomic, optionally signed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair};
use sha2::Digest;

use super::*;

use super::pipeline::{self, Stop, TarStream};

/// Where a file's bytes come from.
#[derive(Debug, Clone)]
pub enum PackFile {
    Bytes(Vec<u8>),
    /// Streamed from disk (large models are never held in memory).
    Path(PathBuf),
}

impl PackFile {
    fn open(&self) -> std::io::Result<Box<dyn Read + '_>> {
        Ok(match self {
            PackFile::Bytes(b) => Box::new(&b[..]),
            // Read in large chunks by the pipeline: no buffering needed. Callers give
            // resolved paths (crate::project): a link here would have been swapped in.
            PackFile::Path(p) => Box::new(crate::project::open_no_follow(p)?),
        })
    }

    fn len(&self) -> std::io::Result<u64> {
        Ok(match self {
            PackFile::Bytes(b) => b.len() as u64,
            PackFile::Path(p) => std::fs::metadata(p)?.len(),
        })
    }

    fn describe(&self) -> String {
        match self {
            PackFile::Bytes(_) => "in-memory file".into(),
            PackFile::Path(p) => p.display().to_string(),
        }
    }
}

/// Everything a bundle holds.
pub struct PackInput {
    pub name: String,
    pub manifest: Vec<u8>,
    pub component: PackFile,
    /// Models by their path below `/models`.
    pub models: Vec<(String, PackFile)>,
    /// Assets by their path below `/data`.
    pub assets: Vec<(String, PackFile)>,
    /// zstd level (1..=22).
    pub level: i32,
    /// The mtime of every entry (SOURCE_DATE_EPOCH, else 0).
    pub mtime: u64,
}

/// The result of [`pack`].
#[derive(Debug, Clone)]
pub struct Packed {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    /// Total size of the files inside.
    pub unpacked: u64,
    pub files: usize,
    /// The signer's public key.
    pub signer: Option<[u8; 32]>,
}

/// Packs `input` into `out`, written to a temporary file beside it that then takes its place;
/// `progress` receives the number of bytes of file content compressed so far.
pub fn pack(
    input: &PackInput,
    key: Option<&Ed25519KeyPair>,
    out: &Path,
    progress: &dyn Fn(u64),
) -> Result<Packed, BundleError> {
    let io = |context: String| move |source| BundleError::Io { context, source };
    let manifest = PackFile::Bytes(input.manifest.clone());
    let mut entries: Vec<(String, &PackFile)> = vec![
        (COMPONENT_PATH.to_string(), &input.component),
        (MANIFEST_PATH.to_string(), &manifest),
    ];
    for (p, f) in &input.models {
        entries.push((format!("{MODELS_DIR}{p}"), f));
    }
    for (p, f) in &input.assets {
        entries.push((format!("{ASSETS_DIR}{p}"), f));
    }
    if entries.len() > MAX_FILES {
        return Err(BundleError::TooManyEntries { limit: MAX_FILES });
    }
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for w in entries.windows(2) {
        if w[0].0 == w[1].0 {
            return Err(BundleError::Duplicate {
                path: w[0].0.clone(),
            });
        }
    }

    for (path, _) in &entries {
        check_path(path)?;
    }
    let mut sizes = Vec::with_capacity(entries.len());
    for (_, file) in &entries {
        sizes.push(
            file.len()
                .map_err(io(format!("cannot read {}", file.describe())))?,
        );
    }
    let inputs: Vec<&Path> = entries
        .iter()
        .filter_map(|(_, f)| match f {
            PackFile::Path(p) => Some(p.as_path()),
            PackFile::Bytes(_) => None,
        })
        .collect();
    crate::output::check(out, &inputs)?;
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
    super::partial::sweep(&dir);
    let w = |e| BundleError::Io {
        context: format!("cannot write {}", out.display()),
        source: e,
    };

    let super::partial::Partial {
        file: tmp,
        registered,
    } = super::partial::Partial::create_in(&dir).map_err(io(format!(
        "cannot create a temporary file in {}",
        dir.display()
    )))?;
    // One pass: the header frame and the archive go through one digest (the index's
    // `archive_sha256`), which then continues over the index frame into the bundle's own.
    let workers = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
        // With one worker or more, zstd's output does not depend on their number.
        .max(1);
    let (stream, files, written) = std::thread::scope(|scope| {
        let (to_compress, chunks) = pipeline::link();
        let (out, to_write) = pipeline::link();
        let mtime = input.mtime;
        let entries = &entries;
        let sizes = &sizes;
        let tar =
            scope.spawn(move || tar_stream(entries, sizes, mtime, TarStream::new(to_compress)));
        let file = tmp.as_file();
        let writer = scope
            .spawn(move || pipeline::write_out(file, &header_frame(FORMAT_VERSION), to_write, w));
        let stream = pipeline::compress(input.level, workers, chunks, out, progress, w);
        // The stages return their errors; a panic in one is a bug, not to pass quietly.
        let tar = tar.join().expect("pack's tar stage panicked");
        let writer = writer.join().expect("pack's writing stage panicked");
        (stream, tar, writer)
    });
    let (files, (mut digest, archive_size)) = match (files, written, stream) {
        (Ok(files), Ok(written), Ok(())) => (files, written),
        // Reading problems first: the other stages stop because of them.
        (files, written, stream) => {
            let stops = [files.err(), written.err(), stream.err()];
            return Err(pipeline::first_failure(stops.into_iter().flatten()));
        }
    };
    let archive_sha256 = hex(&digest.clone().finalize());

    let index = Index {
        format: FORMAT_VERSION,
        name: input.name.clone(),
        component: COMPONENT_PATH.into(),
        manifest: MANIFEST_PATH.into(),
        files,
        archive_size,
        archive_sha256,
    };
    let index_bytes = serde_json::to_vec(&index).expect("index serializes");
    let sig_bytes = key
        .map(|k| {
            let sig = k.sign(&signed_message(FORMAT_VERSION, &index_bytes));
            signature_json(k.public_key().as_ref(), sig.as_ref())
        })
        .unwrap_or_default();
    let frame = index_frame(&index_bytes, &sig_bytes);
    if frame.len() - 8 > MAX_HEADER {
        return Err(BundleError::IndexTooLarge {
            files: index.files.len(),
            bytes: frame.len() - 8,
        });
    }
    (&mut tmp.as_file()).write_all(&frame).map_err(w)?;
    digest.update(&frame);
    let sha256 = hex(&digest.finalize());
    let size = archive_size + frame.len() as u64;
    // Temporary files are private (0600); a bundle is meant to be shared.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(w)?;
    }
    // Put in place only when complete: an interrupted pack leaves no partial bundle and never
    // touches an existing one.
    replace_atomically(tmp, out).map_err(w)?;
    drop(registered);
    Ok(Packed {
        path: out.to_path_buf(),
        sha256,
        size,
        unpacked: index.files.iter().map(|f| f.size).sum(),
        files: index.files.len(),
        signer: key.map(|k| {
            let mut pk = [0u8; 32];
            pk.copy_from_slice(k.public_key().as_ref());
            pk
        }),
    })
}

/// Puts the finished `tmp` at `out` atomically: `out` is at every moment either the old file
/// or the new one.
///
/// Over an existing file, Linux swaps the two (`renameat2` with `RENAME_EXCHANGE`) and the old
/// one is then deleted with the temporary name. A plain rename over an existing file would be
/// as atomic, but ext4 takes it as the replace-without-fsync pattern and allocates and starts
/// writing back the whole new file before the rename returns: 40-100 ms for a 50 MB bundle,
/// longer than packing's last stage. The kernel's writeback does the same work afterwards.
fn replace_atomically(tmp: tempfile::NamedTempFile, out: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    if out.symlink_metadata().is_ok_and(|m| m.is_file()) {
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes());
        let (from, to) = (c(tmp.path())?, c(out)?);
        // SAFETY: two NUL-terminated paths that outlive the call.
        let swapped = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        } == 0;
        if swapped {
            // The temporary name now holds the old bundle; closing removes it. The new one is
            // in place whatever happens to the old one.
            let _ = tmp.close();
            return Ok(());
        }
        // Not supported here (another file system, an older kernel): a plain rename.
    }
    tmp.persist(out).map(drop).map_err(|e| e.error)
}

/// Stage 1 of the pipeline: the ustar archive of `entries`, each file read once and hashed;
/// returns their index entries. Written here rather than by `tar::Builder` so that the bytes
/// go from each file straight into the compressor's chunks.
fn tar_stream(
    entries: &[(String, &PackFile)],
    sizes: &[u64],
    mtime: u64,
    mut stream: TarStream,
) -> Result<Vec<FileEntry>, Stop> {
    let mut files = Vec::with_capacity(entries.len());
    for ((path, file), &size) in entries.iter().zip(sizes) {
        let name = file.describe();
        let mut header = tar::Header::new_ustar();
        let bad_header = |source| BundleError::Io {
            context: format!("cannot store {path} in a tar header"),
            source,
        };
        header.set_path(path).map_err(bad_header)?;
        header.set_size(size);
        header.set_mode(FILE_MODE);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        stream.put(header.as_bytes())?;
        let mut reader = file.open().map_err(|source| BundleError::Io {
            context: format!("cannot read {name}"),
            source,
        })?;
        let (count, digest) = stream.copy(&mut reader, size, &name)?;
        // A file that shrank while being read; one that grew is cut at `size` and caught by
        // comparing its length again.
        if count != size || file.len().ok() != Some(size) {
            return Err(Stop::Failed(BundleError::Io {
                context: format!("{name} changed while packing"),
                source: std::io::Error::other("content changed"),
            }));
        }
        let padding = (512 - size % 512) % 512;
        stream.put(&[0u8; 512][..padding as usize])?;
        files.push(FileEntry {
            path: path.clone(),
            mode: FILE_MODE,
            size,
            blake3: digest.to_hex().to_string(),
        });
    }
    // The end of the archive: two zero blocks.
    stream.put(&[0u8; 1024])?;
    stream.finish()?;
    Ok(files)
}

/// The signature block's JSON: its length depends only on the key and signature lengths.
fn signature_json(public_key: &[u8], signature: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    serde_json::to_vec(&SignatureBlock {
        algorithm: "ed25519".into(),
        public_key: b64.encode(public_key),
        signature: b64.encode(signature),
    })
    .expect("signature serializes")
}
