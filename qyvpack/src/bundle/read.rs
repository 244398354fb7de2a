//! Reading bundles: every rule of docs/format.md, checked before anything is used.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::*;
use crate::digest::is_hex_digest;
use crate::signature::StrictError;

/// Caps on what a bundle may unpack to.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// Total bytes of the files.
    pub max_unpacked: u64,
    /// Number of files.
    pub max_entries: usize,
}

impl Default for ReadLimits {
    /// 4 GiB and [`MAX_FILES`] files.
    fn default() -> Self {
        ReadLimits {
            max_unpacked: 4 << 30,
            max_entries: MAX_FILES,
        }
    }
}

impl ReadLimits {
    /// The largest bundle file worth reading under these limits: the files' bytes, what the
    /// archive adds to them (a header and up to 511 bytes of padding per file, the end
    /// blocks), zstd's growth on incompressible data (well under 1/64, with frame headers),
    /// the header and index frames.
    pub fn max_file_size(&self) -> u64 {
        let archive = (self.max_entries as u64 + 2).saturating_mul(1024);
        self.max_unpacked
            .saturating_add(self.max_unpacked / 64)
            .saturating_add(archive)
            .saturating_add((1 << 20) + MAX_HEADER as u64 + HEADER_LEN as u64)
    }
}

/// Reads a bundle file from disk within `limits` (a stream that does not start like a bundle
/// is refused after its first bytes).
pub fn read_file(
    path: &std::path::Path,
    limits: &ReadLimits,
) -> Result<Vec<u8>, crate::bounded::ReadError> {
    crate::bounded::read_expecting(path, limits.max_file_size(), "a qyv bundle", 4, is_bundle)
}

/// The variable that raises (or lowers) [`ReadLimits::max_unpacked`].
pub const MAX_UNPACKED_VAR: &str = "QYV_MAX_UNPACKED";

impl ReadLimits {
    /// The defaults, with `max_unpacked` from `QYV_MAX_UNPACKED` when it is set (bytes or a
    /// size like `8GiB`; empty means unset). A value that is not a size is an error, not
    /// silently the default: whoever set it meant a different limit.
    pub fn from_env() -> Result<ReadLimits, LimitError> {
        ReadLimits::with_max_unpacked(std::env::var_os(MAX_UNPACKED_VAR).as_deref())
    }

    /// The defaults, with `max_unpacked` from a value of `QYV_MAX_UNPACKED` ([`Self::from_env`]).
    pub fn with_max_unpacked(value: Option<&std::ffi::OsStr>) -> Result<ReadLimits, LimitError> {
        let mut limits = ReadLimits::default();
        let Some(value) = value else {
            return Ok(limits);
        };
        let text = value.to_string_lossy();
        let refuse = |reason: String| LimitError {
            value: text.to_string(),
            reason,
        };
        let Some(v) = value.to_str() else {
            return Err(refuse("not UTF-8".into()));
        };
        if !v.trim().is_empty() {
            limits.max_unpacked = match crate::manifest::units::parse_size(v) {
                Ok(0) => return Err(refuse("the limit must be more than 0".into())),
                Ok(n) => n,
                Err(reason) => return Err(refuse(reason)),
            };
        }
        Ok(limits)
    }
}

/// An invalid `QYV_MAX_UNPACKED`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{MAX_UNPACKED_VAR}=`{value}`: {reason}")]
pub struct LimitError {
    pub value: String,
    pub reason: String,
}

/// A bundle that passed every check.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub version: u32,
    pub index: Index,
    /// The signer's public key, when signed (the signature is valid: an invalid one is an
    /// error). Whether the key is trusted is the caller's decision.
    pub signer: Option<[u8; 32]>,
    /// File contents by path.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Size of the bundle file.
    pub compressed_size: u64,
}

impl Bundle {
    /// A bundle whose archive was verified in full before, under this very signed index, as
    /// the caller's record of that verification says (runner's verified-bundle cache): only
    /// its manifest and component are at hand, taken from that record. The signature over the
    /// index was checked again by [`read_index`].
    pub fn recalled(
        signed: SignedIndex,
        manifest: Vec<u8>,
        component: Vec<u8>,
        compressed_size: u64,
    ) -> Bundle {
        Bundle {
            files: [
                (signed.index.manifest.clone(), manifest),
                (signed.index.component.clone(), component),
            ]
            .into(),
            version: signed.version,
            signer: signed.signer,
            compressed_size,
            index: signed.index,
        }
    }

    pub fn manifest_text(&self) -> &[u8] {
        &self.files[&self.index.manifest]
    }
    pub fn component(&self) -> &[u8] {
        &self.files[&self.index.component]
    }
    pub fn entry(&self, path: &str) -> Option<&FileEntry> {
        self.index.files.iter().find(|f| f.path == path)
    }
    /// Total size of the files.
    pub fn unpacked_size(&self) -> u64 {
        self.index.files.iter().map(|f| f.size).sum()
    }
    /// Files below a directory of the archive (`models/`, `assets/`), by their path below it.
    pub fn files_below(&self, dir: &str) -> Vec<(String, &[u8])> {
        self.files
            .iter()
            .filter_map(|(p, b)| p.strip_prefix(dir).map(|rest| (rest.to_string(), &b[..])))
            .collect()
    }
}

/// A bundle's index, its signature checked, its archive not yet read.
#[derive(Debug, Clone)]
pub struct SignedIndex {
    pub version: u32,
    pub index: Index,
    /// The index exactly as stored (what the signature covers).
    pub index_bytes: Vec<u8>,
    /// The signer's public key, when signed (the signature is valid).
    pub signer: Option<[u8; 32]>,
}

/// Reads a bundle's header and index frame and checks the signature, without touching the
/// archive: enough to decide whether to trust it, not to use it.
pub fn read_index(bytes: &[u8], limits: ReadLimits) -> Result<SignedIndex, BundleError> {
    let parts = split_header(bytes)?;
    parse_index(&parts, limits)
}

fn parse_index(parts: &Parts<'_>, limits: ReadLimits) -> Result<SignedIndex, BundleError> {
    let version = parts.version;
    let index: Index = serde_json::from_slice(parts.index)
        .map_err(|e| BundleError::Index(format!("not valid index JSON: {e}")))?;
    if index.format != version {
        return Err(BundleError::Index(format!(
            "the index says format {} but the header says {version}",
            index.format
        )));
    }
    check_index(&index, limits)?;
    let signer = if parts.signature.is_empty() {
        None
    } else {
        Some(verify_signature(version, parts.index, parts.signature)?)
    };
    Ok(SignedIndex {
        version,
        index,
        index_bytes: parts.index.to_vec(),
        signer,
    })
}

/// Reads the header and index frame of the bundle file `file` (of `len` bytes) and checks
/// the signature, reading nothing of the archive between them: a warm start of a large
/// bundle never holds its bytes. The two frames are read within their own bounds (the header
/// is [`HEADER_LEN`] bytes, the index frame at most [`MAX_HEADER`] and the 16 bytes that
/// frame it), then checked exactly as [`read_index`] checks them.
pub fn read_index_from(
    file: &std::fs::File,
    len: u64,
    limits: ReadLimits,
) -> Result<SignedIndex, BundleError> {
    use std::os::unix::fs::FileExt;
    if len > limits.max_file_size() {
        return Err(BundleError::TooLarge {
            limit: limits.max_unpacked,
        });
    }
    let io = |source| BundleError::Io {
        context: "cannot read the bundle's header and index".into(),
        source,
    };
    let mut header = [0u8; HEADER_LEN];
    if len < (HEADER_LEN + 16) as u64 {
        // Too short to hold both frames: refused by the same checks as in memory.
        let mut all = vec![0u8; len as usize];
        file.read_exact_at(&mut all, 0).map_err(io)?;
        return read_index(&all, limits);
    }
    file.read_exact_at(&mut header, 0).map_err(io)?;
    let mut tail = [0u8; 8];
    file.read_exact_at(&mut tail, len - 8).map_err(io)?;
    let payload_len = u64::from(u32::from_le_bytes(tail[..4].try_into().expect("4 bytes")));
    // The whole frame (its 8-byte zstd header, the payload) when it fits in the file after
    // the header; otherwise just the tail, which the checks below refuse.
    let frame_len = (payload_len + 8).min(len - HEADER_LEN as u64);
    if frame_len > (MAX_HEADER + 8) as u64 {
        return Err(BundleError::Header(format!(
            "the index frame claims {payload_len} bytes; at most {MAX_HEADER} are accepted"
        )));
    }
    // The header followed directly by the index frame: what the in-memory checks see in a
    // bundle whose archive is empty, with the same frame at the end.
    let mut frames = vec![0u8; HEADER_LEN + frame_len as usize];
    frames[..HEADER_LEN].copy_from_slice(&header);
    file.read_exact_at(&mut frames[HEADER_LEN..], len - frame_len)
        .map_err(io)?;
    let parts = split_header(&frames)?;
    parse_index(&parts, limits)
}

/// Reads and verifies a bundle held in memory.
pub fn read(bytes: &[u8], limits: ReadLimits) -> Result<Bundle, BundleError> {
    read_archive_of(bytes, read_index(bytes, limits)?, limits)
}

/// Finishes reading a bundle whose index [`read_index`] read from the same `bytes`: the
/// archive's digest, every entry and every file's digest.
pub fn read_archive_of(
    bytes: &[u8],
    signed: SignedIndex,
    limits: ReadLimits,
) -> Result<Bundle, BundleError> {
    let SignedIndex {
        version,
        index,
        signer,
        index_bytes,
    } = signed;
    let Parts {
        covered,
        archive,
        index: stored,
        ..
    } = split_header(bytes)?;
    // The same bundle the index came from (a cheap check: the signature was checked on it).
    if stored != index_bytes.as_slice() {
        return Err(BundleError::Index(
            "the index read before is not this bundle's".into(),
        ));
    }

    if covered.len() as u64 != index.archive_size {
        return Err(BundleError::ArchiveDigest);
    }
    // The archive's digest is computed beside the decompression; nothing read is used
    // before both agree, and a digest mismatch is the error reported first.
    let (intact, files) = std::thread::scope(|scope| {
        let digest = scope.spawn(|| hex(&Sha256::digest(covered)) == index.archive_sha256);
        let files = read_archive(archive, &index, limits);
        (digest.join().unwrap_or(false), files)
    });
    if !intact {
        return Err(BundleError::ArchiveDigest);
    }
    let files = files?;
    Ok(Bundle {
        version,
        index,
        signer,
        files,
        compressed_size: bytes.len() as u64,
    })
}

/// A bundle file split at its header.
struct Parts<'a> {
    version: u32,
    index: &'a [u8],
    signature: &'a [u8],
    /// Everything before the index frame: what `archive_sha256` covers.
    covered: &'a [u8],
    /// The compressed archive.
    archive: &'a [u8],
}

/// Splits a bundle into its header, archive and index frame.
fn split_header(bytes: &[u8]) -> Result<Parts<'_>, BundleError> {
    let u32_at = |b: &[u8], at: usize| -> Option<u32> {
        b.get(at..at.checked_add(4)?)
            .map(|s| u32::from_le_bytes(s.try_into().expect("4 bytes")))
    };
    if !is_bundle(bytes) {
        return Err(BundleError::NotABundle);
    }
    if bytes.get(8..12) != Some(&MAGIC[..]) || u32_at(bytes, 4) != Some(8) {
        return Err(BundleError::NotABundle);
    }
    let version = u32_at(bytes, 12).ok_or_else(|| BundleError::Header("truncated".into()))?;
    if version != FORMAT_VERSION {
        return Err(BundleError::UnknownVersion { found: version });
    }
    // The index frame, found from the end: its payload ends with its own length and `QYVI`.
    let missing = || {
        BundleError::Header("no index frame at the end: the bundle was altered or truncated".into())
    };
    let end = bytes.len();
    if end < HEADER_LEN + 16 || bytes.get(end - 4..) != Some(&INDEX_MAGIC[..]) {
        return Err(missing());
    }
    let payload_len = u32_at(bytes, end - 8).ok_or_else(missing)? as usize;
    if payload_len > MAX_HEADER {
        return Err(BundleError::Header(format!(
            "the index frame claims {payload_len} bytes; at most {MAX_HEADER} are accepted"
        )));
    }
    let start = end
        .checked_sub(payload_len + 8)
        .filter(|&s| s >= HEADER_LEN)
        .ok_or_else(missing)?;
    if u32_at(bytes, start) != Some(INDEX_FRAME_MAGIC)
        || u32_at(bytes, start + 4) != Some(payload_len as u32)
    {
        return Err(missing());
    }
    let payload = &bytes[start + 8..end - 8];
    let index_len = u32_at(payload, 0).ok_or_else(missing)? as usize;
    let index = payload
        .get(4..4 + index_len)
        .ok_or_else(|| BundleError::Header("the index runs past its frame".into()))?;
    let at = 4 + index_len;
    let sig_len = u32_at(payload, at).ok_or_else(missing)? as usize;
    let sig = payload
        .get(at + 4..at + 4 + sig_len)
        .ok_or_else(|| BundleError::Header("the signature runs past its frame".into()))?;
    if at + 4 + sig_len != payload.len() {
        return Err(BundleError::Header(
            "unexpected bytes after the signature".into(),
        ));
    }
    Ok(Parts {
        version,
        index,
        signature: sig,
        covered: &bytes[..start],
        archive: &bytes[HEADER_LEN..start],
    })
}

fn check_index(index: &Index, limits: ReadLimits) -> Result<(), BundleError> {
    if index.files.len() > limits.max_entries {
        return Err(BundleError::TooManyEntries {
            limit: limits.max_entries,
        });
    }
    let mut total = 0u64;
    for (i, f) in index.files.iter().enumerate() {
        check_path(&f.path)?;
        if i > 0 && index.files[i - 1].path.as_bytes() >= f.path.as_bytes() {
            return Err(if index.files[i - 1].path == f.path {
                BundleError::Duplicate {
                    path: f.path.clone(),
                }
            } else {
                BundleError::Index("files are not sorted by path".into())
            });
        }
        if !is_hex_digest(&f.blake3) {
            return Err(BundleError::Index(format!(
                "`{}` has no valid blake3 digest",
                f.path
            )));
        }
        total = total.saturating_add(f.size);
        if total > limits.max_unpacked {
            return Err(BundleError::TooLarge {
                limit: limits.max_unpacked,
            });
        }
    }
    if !is_hex_digest(&index.archive_sha256) {
        return Err(BundleError::Index("the archive has no valid sha256".into()));
    }
    for (what, path) in [
        ("component", &index.component),
        ("manifest", &index.manifest),
    ] {
        if !index.files.iter().any(|f| &f.path == path) {
            return Err(BundleError::Index(format!(
                "the {what} `{path}` is not among the files"
            )));
        }
    }
    Ok(())
}

fn verify_signature(version: u32, index: &[u8], sig_bytes: &[u8]) -> Result<[u8; 32], BundleError> {
    let block: SignatureBlock = serde_json::from_slice(sig_bytes)
        .map_err(|e| BundleError::Header(format!("damaged signature block: {e}")))?;
    if block.algorithm != "ed25519" {
        return Err(BundleError::Header(format!(
            "unknown signature algorithm `{}`",
            block.algorithm
        )));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let pk: [u8; 32] = b64
        .decode(&block.public_key)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| {
            BundleError::Header("the signature's public key is not 32 bytes of base64".into())
        })?;
    let sig = b64
        .decode(&block.signature)
        .map_err(|_| BundleError::Header("the signature is not base64".into()))?;
    // Strictly: a weak key or a small-order R is a forgery, not a damaged signature.
    match crate::signature::verify_strict(&pk, &signed_message(version, index), &sig) {
        Ok(()) => Ok(pk),
        Err(StrictError::Mismatch) => Err(BundleError::BadSignature),
        Err(e) => Err(BundleError::Forged(e)),
    }
}

/// Reads at most `left` bytes, then fails: a decompression bomb stops here.
struct Capped<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One byte more means over the cap.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::other(CapExceeded(self.limit))),
            };
        }
        let max = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[derive(Debug)]
struct CapExceeded(u64);

impl std::fmt::Display for CapExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "over the cap of {} bytes", self.0)
    }
}

impl std::error::Error for CapExceeded {}

/// A read error of the archive. Over the cap means more bytes than the index accounts for
/// (the index's sizes were checked against `max_unpacked` already): a tar stream longer than
/// its entries, not a bundle too large.
fn damaged(e: std::io::Error) -> BundleError {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<CapExceeded>())
    {
        Some(CapExceeded(cap)) => BundleError::Damaged(format!(
            "the archive unpacks to more than the {cap} bytes its index accounts for"
        )),
        None => BundleError::Damaged(e.to_string()),
    }
}

fn read_archive(
    archive: &[u8],
    index: &Index,
    limits: ReadLimits,
) -> Result<BTreeMap<String, Vec<u8>>, BundleError> {
    read_archive_from(archive, index, limits, &|_| true)
}

/// Reads and checks the compressed archive from `archive`, keeping in memory the files
/// `keep` names and hashing the others as they stream past.
fn read_archive_from<R: std::io::BufRead>(
    archive: R,
    index: &Index,
    limits: ReadLimits,
    keep: &dyn Fn(&str) -> bool,
) -> Result<BTreeMap<String, Vec<u8>>, BundleError> {
    // The exact length of the tar stream follows from the index; allow the zero padding a
    // tar writer may add to complete a record.
    let expected: u64 = index
        .files
        .iter()
        .map(|f| 512 + f.size.div_ceil(512) * 512)
        .sum::<u64>()
        + 1024;
    let cap = expected + 10240;
    let decoder = zstd::stream::Decoder::with_buffer(archive)
        .map_err(|e| BundleError::Damaged(e.to_string()))?;
    let mut capped = Capped {
        inner: decoder,
        left: cap,
        limit: cap,
    };
    let by_path: BTreeMap<&str, &FileEntry> =
        index.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut files = BTreeMap::new();
    let mut count = 0usize;
    {
        let mut tar = tar::Archive::new(&mut capped);
        let entries = tar.entries().map_err(damaged)?;
        for entry in entries {
            let mut entry = entry.map_err(damaged)?;
            let raw = entry.path_bytes().into_owned();
            let path = String::from_utf8(raw).map_err(|_| BundleError::UnsafePath {
                path: "(not UTF-8)".into(),
                reason: "paths must be UTF-8".into(),
            })?;
            check_path(&path)?;
            let kind = entry.header().entry_type();
            if !kind.is_file() {
                let kind = match kind {
                    tar::EntryType::Symlink => "symbolic link",
                    tar::EntryType::Link => "hard link",
                    tar::EntryType::Char => "character device",
                    tar::EntryType::Block => "block device",
                    tar::EntryType::Fifo => "FIFO",
                    tar::EntryType::Directory => "directory",
                    _ => "special entry",
                };
                return Err(BundleError::NotRegular {
                    path,
                    kind: kind.into(),
                });
            }
            if !seen.insert(path.clone()) {
                return Err(BundleError::Duplicate { path });
            }
            let Some(expected) = by_path.get(path.as_str()) else {
                return Err(BundleError::NotCovered { path });
            };
            count += 1;
            if count > limits.max_entries {
                return Err(BundleError::TooManyEntries {
                    limit: limits.max_entries,
                });
            }
            let mode = entry.header().mode().map_err(damaged)?;
            if mode != expected.mode {
                return Err(BundleError::Mismatch {
                    path,
                    what: "mode",
                    found: mode as u64,
                    expected: expected.mode as u64,
                });
            }
            let size = entry.size();
            if size != expected.size {
                return Err(BundleError::Mismatch {
                    path,
                    what: "size",
                    found: size,
                    expected: expected.size,
                });
            }
            if !keep(&path) {
                // Hashed as it streams past, never held whole.
                let mut hasher = blake3::Hasher::new();
                let n =
                    std::io::copy(&mut (&mut entry).take(size), &mut hasher).map_err(damaged)?;
                if n != size {
                    return Err(BundleError::Damaged(format!("`{path}` is truncated")));
                }
                if hasher.finalize().to_hex().as_str() != expected.blake3 {
                    return Err(BundleError::Digest { path });
                }
                continue;
            }
            // The size is the index's, checked against the caps above.
            let mut content = Vec::with_capacity(size as usize);
            (&mut entry)
                .take(size)
                .read_to_end(&mut content)
                .map_err(damaged)?;
            if content.len() as u64 != size {
                return Err(BundleError::Damaged(format!("`{path}` is truncated")));
            }
            if crate::digest::content_digest(&content) != expected.blake3 {
                return Err(BundleError::Digest { path });
            }
            files.insert(path, content);
        }
    }
    // After the archive: only zero padding, and the zstd stream must end cleanly.
    // Past the cap there is more than the padding a tar writer adds: trailing data too.
    let mut rest = Vec::new();
    match capped.read_to_end(&mut rest) {
        Err(e) if e.get_ref().is_some_and(|inner| inner.is::<CapExceeded>()) => {
            return Err(BundleError::Trailing);
        }
        r => r.map_err(damaged)?,
    };
    if rest.iter().any(|&b| b != 0) {
        return Err(BundleError::Trailing);
    }
    for f in &index.files {
        if !seen.contains(&f.path) {
            return Err(BundleError::Missing {
                path: f.path.clone(),
            });
        }
    }
    Ok(files)
}

/// Verifies a bundle file as a stream, in bounded memory whatever its size: the header and
/// index frame (read from the end) and the signature first, then the archive's sha256 and
/// every file's BLAKE3 while it decompresses. Only the manifest and the component are kept;
/// the other files (models, assets) are checked and dropped. For tools that move bundles
/// (`qyv push`, `qyv pull`) rather than run them.
pub fn verify_file(path: &std::path::Path, limits: ReadLimits) -> Result<Bundle, BundleError> {
    use std::io::{Seek, SeekFrom};
    let io = |e: std::io::Error| BundleError::Damaged(format!("{}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len > limits.max_file_size() {
        return Err(BundleError::TooLarge {
            limit: limits.max_file_size(),
        });
    }
    let missing = || {
        BundleError::Header("no index frame at the end: the bundle was altered or truncated".into())
    };
    if len < (HEADER_LEN + 16) as u64 {
        return Err(BundleError::NotABundle);
    }
    let mut header = [0u8; HEADER_LEN];
    file.read_exact(&mut header).map_err(io)?;
    let mut tail = [0u8; 8];
    file.seek(SeekFrom::End(-8)).map_err(io)?;
    file.read_exact(&mut tail).map_err(io)?;
    let payload_len = u32::from_le_bytes(tail[..4].try_into().expect("4 bytes")) as u64;
    if payload_len > MAX_HEADER as u64 {
        return Err(BundleError::Header(format!(
            "the index frame claims {payload_len} bytes; at most {MAX_HEADER} are accepted"
        )));
    }
    let frame_len = payload_len + 8;
    let covered_len = len
        .checked_sub(frame_len)
        .filter(|&c| c >= HEADER_LEN as u64)
        .ok_or_else(missing)?;
    // The header and the index frame side by side read as a bundle with an empty archive:
    // the same parser splits them.
    let mut head_and_frame = header.to_vec();
    file.seek(SeekFrom::Start(covered_len)).map_err(io)?;
    (&mut file)
        .take(frame_len)
        .read_to_end(&mut head_and_frame)
        .map_err(io)?;
    let signed = parse_index(&split_header(&head_and_frame)?, limits)?;
    if covered_len != signed.index.archive_size {
        return Err(BundleError::ArchiveDigest);
    }
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut hashed = HashingRead {
        inner: (&mut file).take(covered_len),
        hasher: Sha256::new(),
    };
    let mut skip = [0u8; HEADER_LEN];
    hashed.read_exact(&mut skip).map_err(io)?;
    let index = &signed.index;
    let keep = |p: &str| p == index.component || p == index.manifest;
    let mut buffered = std::io::BufReader::with_capacity(1 << 20, &mut hashed);
    let files = read_archive_from(&mut buffered, index, limits, &keep)?;
    // Bytes the buffer holds but the decoder did not take: hashed already, read out below.
    std::io::copy(&mut buffered, &mut std::io::sink()).map_err(io)?;
    // What the decoder did not need (nothing, in a bundle pack wrote) is covered too.
    std::io::copy(&mut hashed, &mut std::io::sink()).map_err(io)?;
    if hex(&hashed.hasher.finalize()) != index.archive_sha256 {
        return Err(BundleError::ArchiveDigest);
    }
    Ok(Bundle {
        version: signed.version,
        index: signed.index,
        signer: signed.signer,
        files,
        compressed_size: len,
    })
}

/// A reader that hashes (SHA-256) what passes through it.
struct HashingRead<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
