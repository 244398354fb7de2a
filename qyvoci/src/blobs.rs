//! Blobs: skipped when the registry has them (`HEAD`), mounted from another repository when
//! it can, otherwise uploaded streamed from the source (in one request up to [`CHUNK`], in
//! chunks above); downloaded as a stream that
//! is hashed and counted on the way, so memory stays bounded whatever the size.

use std::io::{self, Read, Write};

use crate::client::{Body, Client};
use crate::digest::{Digest, HashingWriter};
use crate::error::OciError;

/// Bytes per upload request: a blob up to this size goes in one request, a larger one in
/// chunks of this size; never held in memory (each streams from the source).
pub const CHUNK: u64 = 32 << 20;

/// What pushing a blob did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// The registry had it already.
    Present,
    /// Mounted from another repository of the same registry.
    Mounted,
    Uploaded,
}

impl Client {
    /// Whether the repository has the blob.
    pub fn has_blob(&self, digest: &Digest) -> Result<bool, OciError> {
        let url = self.url(&format!("blobs/{digest}"));
        let response = self.send("HEAD", &url, &[], Body::Empty)?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.status_error("HEAD", &url, response)),
        }
    }

    /// Pushes `size` bytes from `source`, which must have `digest` (checked as they stream:
    /// a source that changed since it was hashed fails before the upload is committed).
    /// `mount_from` names a repository of the same registry that may have the blob.
    pub fn push_blob(
        &self,
        digest: &Digest,
        size: u64,
        source: &mut dyn Read,
        mount_from: Option<&str>,
        progress: &dyn Fn(u64),
    ) -> Result<Pushed, OciError> {
        if self.has_blob(digest)? {
            progress(size);
            return Ok(Pushed::Present);
        }
        let mut url = self.url("blobs/uploads/");
        if let Some(from) = mount_from {
            url.push_str(&format!("?mount={digest}&from={from}"));
        }
        let response = self.send("POST", &url, &[], Body::Empty)?;
        match response.status().as_u16() {
            201 if mount_from.is_some() => {
                progress(size);
                return Ok(Pushed::Mounted);
            }
            202 => {}
            _ => return Err(self.status_error("POST", &url, response)),
        }
        let mut location = self.location(&response)?;
        let mut hashing = HashingReader::new(source);
        if size <= CHUNK {
            // One request: the whole blob streams with the closing PUT (a registry answers
            // each request after writing it, so fewer requests is most of a small push).
            let sep = if location.contains('?') { '&' } else { '?' };
            let url = format!("{location}{sep}digest={digest}");
            let mut body = (&mut hashing).take(size);
            let response = self.send(
                "PUT",
                &url,
                &[("content-type", "application/octet-stream")],
                Body::Stream(&mut body, size),
            )?;
            if body.limit() != 0 {
                return Err(OciError::SizeMismatch {
                    what: format!("the blob {digest}"),
                    expected: size,
                    actual: size - body.limit(),
                });
            }
            let actual = hashing.digest();
            if &actual != digest {
                return Err(OciError::DigestMismatch {
                    what: "the blob's source (it changed while it was pushed)".into(),
                    expected: digest.to_string(),
                    actual: actual.to_string(),
                });
            }
            if response.status().as_u16() != 201 {
                return Err(self.status_error("PUT", &url, response));
            }
            progress(size);
            return Ok(Pushed::Uploaded);
        }
        let mut sent = 0u64;
        while sent < size {
            let n = CHUNK.min(size - sent);
            let range = format!("{sent}-{}", sent + n - 1);
            let mut chunk = (&mut hashing).take(n);
            let response = self.send(
                "PATCH",
                &location,
                &[
                    ("content-type", "application/octet-stream"),
                    ("content-range", &range),
                ],
                Body::Stream(&mut chunk, n),
            )?;
            if chunk.limit() != 0 {
                return Err(OciError::SizeMismatch {
                    what: format!("the blob {digest}"),
                    expected: size,
                    actual: sent + n - chunk.limit(),
                });
            }
            if response.status().as_u16() != 202 {
                return Err(self.status_error("PATCH", &location, response));
            }
            location = self.location(&response)?;
            sent += n;
            progress(sent);
        }
        let actual = hashing.digest();
        if &actual != digest {
            return Err(OciError::DigestMismatch {
                what: "the blob's source (it changed while it was pushed)".into(),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={digest}");
        let response = self.send("PUT", &url, &[], Body::Empty)?;
        if response.status().as_u16() != 201 {
            return Err(self.status_error("PUT", &url, response));
        }
        Ok(Pushed::Uploaded)
    }

    /// Pushes a small blob held in memory; returns its digest.
    pub fn push_blob_bytes(&self, bytes: &[u8]) -> Result<Digest, OciError> {
        let digest = Digest::of(bytes);
        self.push_blob(&digest, bytes.len() as u64, &mut &bytes[..], None, &|_| {})?;
        Ok(digest)
    }

    /// Streams the blob into `out`, checking that it is exactly `size` bytes with `digest`.
    /// On an error, what was written to `out` must be thrown away.
    pub fn pull_blob(
        &self,
        digest: &Digest,
        size: u64,
        out: &mut dyn Write,
        progress: &dyn Fn(u64),
    ) -> Result<(), OciError> {
        let url = self.url(&format!("blobs/{digest}"));
        let response = self.send("GET", &url, &[], Body::Empty)?;
        if response.status().as_u16() != 200 {
            return Err(self.status_error("GET", &url, response));
        }
        let what = format!("the blob {digest}");
        // One byte more than the descriptor says, so that a longer body is seen as such.
        let mut body = response
            .into_body()
            .into_with_config()
            .limit(size.saturating_add(1))
            .reader();
        let mut w = HashingWriter::new(out);
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ureq reports its limit as an I/O error: the body is longer than said.
                    if w.written() >= size {
                        return Err(OciError::SizeMismatch {
                            what,
                            expected: size,
                            actual: w.written() + 1,
                        });
                    }
                    return Err(OciError::io(what, e));
                }
            };
            w.write_all(&buf[..n])
                .map_err(|e| OciError::io(format!("writing {what}"), e))?;
            if w.written() > size {
                return Err(OciError::SizeMismatch {
                    what,
                    expected: size,
                    actual: w.written(),
                });
            }
            progress(w.written());
        }
        let (actual, written, _) = w.finish();
        if written != size {
            return Err(OciError::SizeMismatch {
                what,
                expected: size,
                actual: written,
            });
        }
        if &actual != digest {
            return Err(OciError::DigestMismatch {
                what,
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(())
    }

    /// A small blob into memory, refused above `limit` bytes before anything is fetched.
    pub fn pull_blob_bytes(
        &self,
        digest: &Digest,
        size: u64,
        limit: u64,
    ) -> Result<Vec<u8>, OciError> {
        if size > limit {
            return Err(OciError::TooLarge {
                what: format!("the blob {digest}"),
                limit,
            });
        }
        let mut out = Vec::with_capacity(size as usize);
        self.pull_blob(digest, size, &mut out, &|_| {})?;
        Ok(out)
    }
}

/// A reader that hashes what it yields.
struct HashingReader<'a> {
    inner: &'a mut dyn Read,
    hasher: HashingWriter<io::Sink>,
}

impl<'a> HashingReader<'a> {
    fn new(inner: &'a mut dyn Read) -> HashingReader<'a> {
        HashingReader {
            inner,
            hasher: HashingWriter::new(io::sink()),
        }
    }

    fn digest(self) -> Digest {
        self.hasher.finish().0
    }
}

impl Read for HashingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.write_all(&buf[..n])?;
        Ok(n)
    }
}
