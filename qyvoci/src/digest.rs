//! Content digests as OCI writes them: `sha256:<64 lowercase hex>`. Only sha256 is accepted:
//! it is what every registry and client writes, and one algorithm is one less thing to get
//! wrong.

use std::fmt;
use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use crate::error::OciError;

/// A sha256 digest, checked when parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Parses `sha256:<hex>`; anything else is refused (it ends up in URLs and file names).
    pub fn parse(s: &str) -> Result<Digest, OciError> {
        match s.strip_prefix("sha256:") {
            Some(hex) if qyvpack::digest::is_hex_digest(hex) => Ok(Digest { hex: hex.into() }),
            _ => Err(OciError::BadDigest(s.chars().take(100).collect())),
        }
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest {
            hex: qyvpack::digest::sha256_hex(bytes),
        }
    }

    /// The digest of everything `reader` yields, and its length.
    pub fn of_reader(reader: &mut impl Read) -> io::Result<(Digest, u64)> {
        let mut w = HashingWriter::new(io::sink());
        let n = io::copy(reader, &mut w)?;
        Ok((w.finish().0, n))
    }

    /// The lowercase hex, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The tag under which a registry without the referrers API keeps this manifest's
    /// referrers (distribution spec, "referrers tag schema").
    pub fn fallback_tag(&self) -> String {
        format!("sha256-{}", self.hex)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A writer that hashes and counts what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> HashingWriter<W> {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// How many bytes went through so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The digest of what was written, its length, and the inner writer.
    pub fn finish(self) -> (Digest, u64, W) {
        let hex = qyvpack::digest::hex(&self.hasher.finalize());
        (Digest { hex }, self.written, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sha256_in_lowercase_hex_parses() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert_eq!(Digest::parse(&good).unwrap().to_string(), good);
        for bad in [
            "sha256:".to_string(),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha512:{}", "a".repeat(64)),
            format!("sha256:{}", "a".repeat(63)),
            format!("sha256:../{}", "a".repeat(61)),
        ] {
            assert!(Digest::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_digest_of_a_reader_matches_the_digest_of_its_bytes() {
        let data = b"hello registry".repeat(1000);
        let (d, n) = Digest::of_reader(&mut &data[..]).unwrap();
        assert_eq!(d, Digest::of(&data));
        assert_eq!(n, data.len() as u64);
        assert_eq!(d.fallback_tag(), format!("sha256-{}", d.hex()));
    }
}
