//! Writing bundles: deterministic, atomic, optionally signed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair};
use sha2::{Digest, Sha256};

use super::*;

/// Buffer size for the archive's reads and writes: large, so a big bundle costs few system
/// calls.
const IO_BUFFER: usize = 1 << 20;

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
    let mut files: Vec<FileEntry> = Vec::with_capacity(entries.len());
    let mut done = 0u64;
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let w = |e| BundleError::Io {
        context: format!("cannot write {}", out.display()),
        source: e,
    };

    // The archive first, into a temporary file, hashed as it is written: its digest goes
    // into the index, which precedes it.
    let archive = tempfile::tempfile_in(&dir).map_err(io(format!(
        "cannot create a temporary file in {}",
        dir.display()
    )))?;
    let mut archive_sink = HashingWriter {
        inner: std::io::BufWriter::with_capacity(IO_BUFFER, &archive),
        hasher: Sha256::new(),
        written: 0,
    };
    let mut encoder = zstd::stream::Encoder::new(&mut archive_sink, input.level).map_err(w)?;
    let workers = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    // With one worker or more, zstd's output does not depend on their number.
    encoder.multithread(workers.max(1)).map_err(w)?;
    encoder.include_checksum(true).map_err(w)?;
    {
        let mut tar = tar::Builder::new(&mut encoder);
        tar.mode(tar::HeaderMode::Deterministic);
        // One pass per file: its digest is taken as it goes into the archive.
        for (path, file) in &entries {
            let size = file
                .len()
                .map_err(io(format!("cannot read {}", file.describe())))?;
            let mut header = tar::Header::new_ustar();
            header.set_path(path).map_err(w)?;
            header.set_size(size);
            header.set_mode(FILE_MODE);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(input.mtime);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_cksum();
            let reader = file
                .open()
                .map_err(io(format!("cannot read {}", file.describe())))?;
            let mut counted = CountingReader {
                inner: reader.take(size),
                count: 0,
                hasher: Sha256::new(),
                done: &mut done,
                progress,
            };
            tar.append(&header, &mut counted).map_err(w)?;
            let count = counted.count;
            let digest = hex(&counted.hasher.finalize());
            // A file that shrank while being read; one that grew is cut at `size` and
            // caught by comparing its length again.
            if count != size || file.len().ok() != Some(size) {
                return Err(BundleError::Io {
                    context: format!("{} changed while packing", file.describe()),
                    source: std::io::Error::other("content changed"),
                });
            }
            files.push(FileEntry {
                path: path.clone(),
                mode: FILE_MODE,
                size,
                sha256: digest,
            });
        }
        tar.finish().map_err(w)?;
    }
    encoder.finish().map_err(w)?;
    archive_sink.flush().map_err(w)?;
    let archive_sha256 = hex(&archive_sink.hasher.clone().finalize());
    let archive_size = archive_sink.written;
    drop(archive_sink);

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
    let signature = key.map(|k| {
        let sig = k.sign(&signed_message(FORMAT_VERSION, &index_bytes));
        let b64 = base64::engine::general_purpose::STANDARD;
        SignatureBlock {
            algorithm: "ed25519".into(),
            public_key: b64.encode(k.public_key().as_ref()),
            signature: b64.encode(sig.as_ref()),
        }
    });
    let sig_bytes = signature
        .as_ref()
        .map(|s| serde_json::to_vec(s).expect("signature serializes"))
        .unwrap_or_default();

    let tmp = tempfile::Builder::new()
        .prefix(".qyvbin-")
        .tempfile_in(&dir)
        .map_err(io(format!(
            "cannot create a temporary file in {}",
            dir.display()
        )))?;
    let mut sink = HashingWriter {
        inner: std::io::BufWriter::with_capacity(IO_BUFFER, tmp.as_file()),
        hasher: Sha256::new(),
        written: 0,
    };
    // The header, in a skippable frame.
    let mut payload = Vec::with_capacity(16 + index_bytes.len() + sig_bytes.len());
    payload.extend_from_slice(MAGIC);
    payload.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    payload.extend_from_slice(&(index_bytes.len() as u32).to_le_bytes());
    payload.extend_from_slice(&index_bytes);
    payload.extend_from_slice(&(sig_bytes.len() as u32).to_le_bytes());
    payload.extend_from_slice(&sig_bytes);
    sink.write_all(&SKIPPABLE_FRAME_MAGIC.to_le_bytes())
        .map_err(w)?;
    sink.write_all(&(payload.len() as u32).to_le_bytes())
        .map_err(w)?;
    sink.write_all(&payload).map_err(w)?;
    let mut archive = archive;
    std::io::Seek::rewind(&mut archive).map_err(w)?;
    let mut buf = vec![0u8; IO_BUFFER];
    loop {
        let n = archive.read(&mut buf).map_err(w)?;
        if n == 0 {
            break;
        }
        sink.write_all(&buf[..n]).map_err(w)?;
    }
    sink.flush().map_err(w)?;
    let sha256 = hex(&sink.hasher.clone().finalize());
    let size = sink.written;
    drop(sink);
    // Temporary files are private (0600); a bundle is meant to be shared.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(w)?;
    }
    tmp.as_file().sync_all().map_err(w)?;
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

struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct CountingReader<'a, R: Read> {
    inner: R,
    count: u64,
    hasher: Sha256,
    done: &'a mut u64,
    progress: &'a dyn Fn(u64),
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        *self.done += n as u64;
        (self.progress)(*self.done);
        Ok(n)
    }
}
