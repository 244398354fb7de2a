//! Digests as the project writes them, in lowercase hex: BLAKE3 where qyv names content for
//! itself (a bundle's files, the compile cache), SHA-256 where people compare with other tools
//! (a bundle's own digest, `sha256sum`).

use sha2::{Digest, Sha256};

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The sha256 of `bytes`, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The BLAKE3 of `bytes`, as lowercase hex: how qyv names content (about 3x faster than
/// SHA-256 here).
pub fn content_digest(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Whether `s` is a 32-byte digest in lowercase hex, as qyv writes them.
pub fn is_hex_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
