//! Writing bundles: deterministic, atomic, optionally signed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair};
use sha2::Digest;

use super::*;

use super::hashing::{BackgroundSha256, IO_BUFFER};

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
            PackFile::Path(p) => Box::new(std::io::BufReader::with_capacity(
                IO_BUFFER,
                std::fs::File::open(p)?,
            )),
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

/// Packs `input` into `out`, written to a temporary file beside it and renamed into place;
/// `progress` receives the number of bytes read so far.
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
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let w = |e| BundleError::Io {
        context: format!("cannot write {}", out.display()),
        source: e,
    };

    let tmp = tempfile::Builder::new()
        .prefix(".qyvbin-")
        .tempfile_in(&dir)
        .map_err(io(format!(
            "cannot create a temporary file in {}",
            dir.display()
        )))?;
    // One pass: the header frame and the archive go through one digest (the index's
    // `archive_sha256`), which then continues over the index frame into the bundle's own.
    let (files, archive_size, mut digest) = {
        let mut archive_sink = HashingWriter {
            inner: std::io::BufWriter::with_capacity(IO_BUFFER, tmp.as_file()),
            hasher: BackgroundSha256::spawn(),
            written: 0,
        };
        archive_sink
            .write_all(&header_frame(FORMAT_VERSION))
            .map_err(w)?;
        let mut encoder = zstd::stream::Encoder::new(&mut archive_sink, input.level).map_err(w)?;
        let workers = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        // With one worker or more, zstd's output does not depend on their number.
        encoder.multithread(workers.max(1)).map_err(w)?;
        encoder.include_checksum(true).map_err(w)?;
        let mut files: Vec<FileEntry> = Vec::with_capacity(entries.len());
        let mut done = 0u64;
        // A ustar stream, written here rather than by `tar::Builder` so each file is read once,
        // in large blocks, hashed and compressed from the same buffer.
        for ((path, file), &size) in entries.iter().zip(&sizes) {
            let mut header = tar::Header::new_ustar();
            header.set_path(path).map_err(w)?;
            header.set_size(size);
            header.set_mode(FILE_MODE);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(input.mtime);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_cksum();
            encoder.write_all(header.as_bytes()).map_err(w)?;
            let mut reader = file
                .open()
                .map_err(io(format!("cannot read {}", file.describe())))?
                .take(size);
            let hasher = BackgroundSha256::spawn();
            let mut count = 0u64;
            while let Some(chunk) = hasher
                .next_chunk(&mut reader)
                .map_err(io(format!("cannot read {}", file.describe())))?
            {
                encoder.write_all(&chunk).map_err(w)?;
                count += chunk.len() as u64;
                done += chunk.len() as u64;
                hasher.update(chunk);
                progress(done);
            }
            // A file that shrank while being read; one that grew is cut at `size` and caught by
            // comparing its length again.
            if count != size || file.len().ok() != Some(size) {
                return Err(BundleError::Io {
                    context: format!("{} changed while packing", file.describe()),
                    source: std::io::Error::other("content changed"),
                });
            }
            let padding = (512 - size % 512) % 512;
            encoder
                .write_all(&[0u8; 512][..padding as usize])
                .map_err(w)?;
            files.push(FileEntry {
                path: path.clone(),
                mode: FILE_MODE,
                size,
                sha256: hasher.finish(),
            });
        }
        // The end of the archive: two zero blocks.
        encoder.write_all(&[0u8; 1024]).map_err(w)?;
        encoder.finish().map_err(w)?;
        archive_sink.flush().map_err(w)?;
        let HashingWriter {
            inner,
            hasher,
            written: archive_size,
        } = archive_sink;
        drop(inner);
        (files, archive_size, hasher.finish_state())
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
    // Renamed into place only when complete: an interrupted pack leaves no partial bundle and
    // never touches an existing one.
    tmp.persist(out).map_err(|e| w(e.error))?;
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

/// Counts and hashes (on another thread) what goes through it.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: BackgroundSha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        let mut chunk = self.hasher.spare.try_recv().unwrap_or_default();
        chunk.clear();
        chunk.extend_from_slice(&buf[..n]);
        self.hasher.update(chunk);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
