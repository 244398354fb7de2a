//! `.qyvbin` bundles (format in docs/format.md): a small zstd skippable frame naming the
//! format, a zstd-compressed ustar archive of the manifest, the component, models and assets,
//! then a skippable frame with the index (files with digests, and the digest of everything
//! before it) and an Ed25519 signature over the index. With the index last, a bundle is
//! written and hashed in one pass.

pub mod partial;
mod pipeline;
mod read;
mod write;

use serde::{Deserialize, Serialize};

pub use read::{
    Bundle, LimitError, MAX_UNPACKED_VAR, ReadLimits, SignedIndex, read, read_archive_of,
    read_file, read_index, read_index_from, verify_file,
};
pub use write::{PackFile, PackInput, Packed, pack};

/// The format version this qyv writes and reads.
pub const FORMAT_VERSION: u32 = 3;
/// The header's magic, first in the leading skippable frame.
pub const MAGIC: &[u8; 4] = b"QYVB";
/// The index frame's magic, last in the file.
pub const INDEX_MAGIC: &[u8; 4] = b"QYVI";
/// zstd's first skippable-frame magic number (little-endian on disk): the header frame.
pub const SKIPPABLE_FRAME_MAGIC: u32 = 0x184D_2A50;
/// Another skippable-frame magic: the index frame.
pub const INDEX_FRAME_MAGIC: u32 = 0x184D_2A51;
/// Length of the header frame: frame magic and size, `QYVB`, the version.
pub const HEADER_LEN: usize = 16;
/// Where the component is in the archive.
pub const COMPONENT_PATH: &str = "app.wasm";
/// Where the manifest is in the archive.
pub const MANIFEST_PATH: &str = "manifest.qyv";
/// Directory of models in the archive (mounted at `/models`).
pub const MODELS_DIR: &str = "models/";
/// Directory of assets in the archive (seeding `/data`).
pub const ASSETS_DIR: &str = "assets/";
/// The mode of every file in a bundle.
pub const FILE_MODE: u32 = 0o644;
/// Most files a bundle holds: readers refuse more, and so does `pack`.
pub const MAX_FILES: usize = 10_000;
/// The longest entry of the index's `files` as written: `{"path":"…","mode":…,"size":…,
/// "blake3":"…"},` with a path of 255 bytes each escaped as `\u00XX`, the largest mode and
/// size, and a BLAKE3 in hex.
pub const MAX_INDEX_ENTRY: usize = 9 + 255 * 6 + 9 + 10 + 8 + 20 + 11 + 64 + 3;
/// Largest index frame accepted: [`MAX_FILES`] of the longest entries, with 64 KiB for the
/// rest of the index and the signature block. Derived from the file cap so that every bundle
/// `pack` writes within it can be read (about 16 MiB; the frame is read whole, like the
/// bundle).
pub const MAX_HEADER: usize = MAX_FILES * MAX_INDEX_ENTRY + (64 << 10);

/// The header frame of a bundle of `version`.
pub fn header_frame(version: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&SKIPPABLE_FRAME_MAGIC.to_le_bytes());
    h[4..8].copy_from_slice(&8u32.to_le_bytes());
    h[8..12].copy_from_slice(MAGIC);
    h[12..16].copy_from_slice(&version.to_le_bytes());
    h
}

/// The index frame: the index and the signature block with their lengths, then the payload's
/// length and `QYVI`, so a reader finds the frame from the end of the file.
pub fn index_frame(index: &[u8], signature: &[u8]) -> Vec<u8> {
    let payload_len = 4 + index.len() + 4 + signature.len() + 8;
    let mut f = Vec::with_capacity(8 + payload_len);
    f.extend_from_slice(&INDEX_FRAME_MAGIC.to_le_bytes());
    f.extend_from_slice(&(payload_len as u32).to_le_bytes());
    f.extend_from_slice(&(index.len() as u32).to_le_bytes());
    f.extend_from_slice(index);
    f.extend_from_slice(&(signature.len() as u32).to_le_bytes());
    f.extend_from_slice(signature);
    f.extend_from_slice(&(payload_len as u32).to_le_bytes());
    f.extend_from_slice(INDEX_MAGIC);
    f
}

/// The signed list of a bundle's files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    pub format: u32,
    pub name: String,
    pub component: String,
    pub manifest: String,
    pub files: Vec<FileEntry>,
    /// Size and sha256 of everything before the index frame (the header frame and the
    /// compressed archive): with the signature over the index, every byte of the file is
    /// covered.
    pub archive_size: u64,
    pub archive_sha256: String,
}

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    pub mode: u32,
    pub size: u64,
    /// BLAKE3 of the content, lowercase hex.
    pub blake3: String,
}

/// A bundle's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureBlock {
    pub algorithm: String,
    /// Base64 of the 32-byte Ed25519 public key.
    pub public_key: String,
    /// Base64 of the 64-byte signature.
    pub signature: String,
}

/// Whether `bytes` start like a bundle (the header's skippable frame), whatever the file's
/// name.
pub fn is_bundle(bytes: &[u8]) -> bool {
    bytes.get(..4) == Some(&SKIPPABLE_FRAME_MAGIC.to_le_bytes()[..])
}

/// What the signature covers: a domain tag, the format version and the index bytes.
pub fn signed_message(version: u32, index: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(index.len() + 24);
    m.extend_from_slice(b"qyvbin signature\0");
    m.extend_from_slice(&version.to_le_bytes());
    m.extend_from_slice(index);
    m
}

/// Why a bundle is refused. Each hostile shape has its own message.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("not a qyv bundle: it does not start with a qyv header frame")]
    NotABundle,
    #[error(
        "this bundle is format version {found}; this qyv reads version {FORMAT_VERSION} (update qyv)"
    )]
    UnknownVersion { found: u32 },
    #[error("damaged header: {0}")]
    Header(String),
    #[error("invalid index: {0}")]
    Index(String),
    #[error("the signature does not match the bundle's contents: it was altered after signing")]
    BadSignature,
    #[error("hostile signature, refused: {0}")]
    Forged(crate::signature::StrictError),
    #[error("unsafe path `{path}`: {reason}")]
    UnsafePath { path: String, reason: String },
    #[error("`{path}` appears twice in the archive")]
    Duplicate { path: String },
    #[error("`{path}` is a {kind}, not a regular file; bundles hold only regular files")]
    NotRegular { path: String, kind: String },
    #[error("`{path}` is in the archive but not in the signed index")]
    NotCovered { path: String },
    #[error("`{path}` is in the signed index but missing from the archive")]
    Missing { path: String },
    #[error("`{path}` does not match its digest in the index: it was altered")]
    Digest { path: String },
    #[error("`{path}` has {what} {found} where the index says {expected}")]
    Mismatch {
        path: String,
        what: &'static str,
        found: u64,
        expected: u64,
    },
    #[error(
        "the bundle unpacks to more than {limit} bytes (the limit; set QYV_MAX_UNPACKED to raise it)"
    )]
    TooLarge { limit: u64 },
    #[error("the bundle has more than {limit} files (the limit)")]
    TooManyEntries { limit: usize },
    #[error(
        "the index of {files} files would take {bytes} bytes; a bundle's index frame holds at most {MAX_HEADER}"
    )]
    IndexTooLarge { files: usize, bytes: usize },
    #[error("damaged archive: {0}")]
    Damaged(String),
    #[error("the archive does not match the index's digest: the bundle was altered or truncated")]
    ArchiveDigest,
    #[error("trailing data after the tar archive: nothing may follow its end")]
    Trailing,
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Checks a path inside a bundle: relative, `/`-separated, no `.`/`..`/empty components,
/// no backslashes or NULs, at most 255 bytes.
pub fn check_path(path: &str) -> Result<(), BundleError> {
    let bad = |reason: &str| {
        Err(BundleError::UnsafePath {
            path: path.to_string(),
            reason: reason.to_string(),
        })
    };
    if path.is_empty() {
        return bad("empty");
    }
    if path.len() > 255 {
        return bad("longer than 255 bytes");
    }
    if path.starts_with('/') {
        return bad("absolute paths are refused");
    }
    if path.contains('\\') || path.contains('\0') {
        return bad("backslashes and NULs are refused");
    }
    for part in path.split('/') {
        match part {
            "" => return bad("empty path component"),
            "." => return bad("`.` components are refused"),
            ".." => return bad("`..` would leave the bundle"),
            _ => {}
        }
    }
    Ok(())
}

pub use crate::digest::hex;

#[cfg(test)]
mod tests;
