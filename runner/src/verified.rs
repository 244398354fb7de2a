//! Bundles verified before, remembered so that a warm `qyv run app.qyvbin` does not verify
//! and decompress the same, unchanged file again.
//!
//! After a full verification, qyv records against the bundle file's identity (see
//! [`qyvpack::memo`]) the digest of its signed index and its manifest, and keeps the verified
//! component under the cache directory by its content digest, with a checksum. Next time, the
//! header and index frame are read again and the signature checked again; the archive is not
//! read when the file's identity and its index's digest still match the record, the manifest
//! recorded still has the digest the signed index gives it, and the kept component is
//! intact. A changed bundle (any write changes its identity) is verified in full. The cache
//! is trusted as the compile cache is: whoever can write there can already replace compiled
//! code. A bundle's models and assets are kept in the store (see [`crate::store`]), whose
//! files are checked likewise; a bundle that has some is recorded only once they are placed
//! there.

use std::path::{Path, PathBuf};

use qyvpack::bundle::{Bundle, SignedIndex};
use qyvpack::digest::content_digest;
use qyvpack::dirs::CacheArea;
use qyvpack::memo::{Memo, MemoKind};

use crate::cache::Entry;
use crate::wasm::WasmBytes;

/// The records and the kept components.
pub struct Verified {
    memo: Memo,
    blobs: PathBuf,
}

/// What a record gives back.
pub struct Recalled {
    pub manifest: Vec<u8>,
    /// The kept component, mapped: a warm start that finds its compiled code in the cache
    /// does not read it (a miss compiles from a private copy, see [`WasmBytes::stable`]).
    pub component: WasmBytes,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    index_digest: String,
    manifest: String,
}

impl Verified {
    /// Under the cache directory; `None` without one.
    pub fn new() -> Option<Verified> {
        let root = qyvpack::dirs::cache_dir()?;
        Some(Verified::in_dir(&root))
    }

    pub fn in_dir(root: &Path) -> Verified {
        Verified {
            memo: Memo::under(root, MemoKind::Bundle),
            blobs: CacheArea::Verified.under(root),
        }
    }

    /// Records a bundle that was just verified in full (best effort), its models and assets
    /// placed in the store already.
    pub fn remember(&self, path: &Path, index_bytes: &[u8], bundle: &Bundle) {
        let (Some(component), Some(entry), Ok(manifest)) = (
            bundle.files.get(&bundle.index.component),
            bundle.entry(&bundle.index.component),
            std::str::from_utf8(bundle.manifest_text()),
        ) else {
            return;
        };
        if self.store_blob(&entry.blake3, component).is_err() {
            return;
        }
        let record = Record {
            index_digest: content_digest(index_bytes),
            manifest: manifest.to_string(),
        };
        if let Ok(text) = serde_json::to_string(&record) {
            self.memo.remember(path, &text);
        }
    }

    /// The manifest and component of a bundle verified before, if `path` is still that file.
    pub fn recall(&self, path: &Path, file_len: usize, signed: &SignedIndex) -> Option<Recalled> {
        let index = &signed.index;
        let record: Record = serde_json::from_str(&self.memo.recall(path, file_len)?).ok()?;
        if record.index_digest != content_digest(&signed.index_bytes) {
            return None;
        }
        let digest_of = |p: &str| index.files.iter().find(|f| f.path == p).map(|f| &f.blake3);
        if digest_of(&index.manifest)? != &content_digest(record.manifest.as_bytes()) {
            return None;
        }
        let component = self.load_blob(digest_of(&index.component)?)?;
        Some(Recalled {
            manifest: record.manifest.into_bytes(),
            component,
        })
    }

    /// The kept component with this digest (a compile-cache-style entry, with a checksum).
    fn blob(&self, digest: &str) -> Entry {
        Entry::with_extension(&self.blobs, digest, "wasm")
    }

    fn store_blob(&self, digest: &str, bytes: &[u8]) -> std::io::Result<()> {
        let blob = self.blob(digest);
        if blob.is_intact() {
            return Ok(());
        }
        blob.store(bytes)
    }

    /// The kept component, checked as compiled code is: once per identity of its file.
    fn load_blob(&self, digest: &str) -> Option<WasmBytes> {
        let blob = self.blob(digest);
        if !blob.is_intact() {
            return None;
        }
        let file = std::fs::File::open(&blob.artifact).ok()?;
        WasmBytes::open(file, &blob.artifact).ok()
    }
}
