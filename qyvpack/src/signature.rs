//! Strict Ed25519: which public keys and signatures qyv accepts.
//!
//! Plain (cofactorless) Ed25519 verification, ring's included, accepts forgeries under weak
//! keys: with the all-zero public key (a point of small order), R = the identity and S = 0,
//! the check `[S]B = R + [k]A` holds for every message whose `k = SHA-512(R‖A‖M) mod ℓ` is a
//! multiple of 8, and an attacker finds one by padding the message. So qyv verifies strictly:
//!
//! - a public key must be the canonical encoding of a curve point that is not of small order;
//! - a signature's R must be the canonical encoding of a point not of small order, and its S
//!   a canonical scalar (below the group order ℓ), so that no signature has a second form.
//!
//! Verification is ed25519-dalek 2's `verify_strict` (small-order A and R refused, S reduced,
//! R compared by its encoding), plus our own checks of A's encoding and of S, which hold
//! whatever features another crate turns on. ring stays for generating keys and signing: its
//! keys and signatures are sound, but its verifier gives no access to the decoded points, so
//! the same checks around it would mean decoding every key twice with two libraries that
//! must agree; `verify_strict` is the documented, tested form of exactly this rule.

use curve25519_dalek::Scalar;
use ed25519_dalek::{Signature, VerifyingKey};

/// Why a public key or a signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrictError {
    #[error("the public key is not a point of the Ed25519 curve")]
    NotAPoint,
    #[error("the public key is not in canonical form (it has another, shorter encoding)")]
    NonCanonicalKey,
    #[error(
        "the public key is a point of small order: anyone can forge signatures under it, so it is refused"
    )]
    WeakKey,
    #[error("the signature is not 64 bytes")]
    SignatureLength,
    #[error("the signature's S is not a canonical scalar (a malleable signature)")]
    NonCanonicalS,
    #[error("the signature's R is a point of small order or not canonical: a forgery")]
    WeakR,
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks a public key: a canonical encoding of a curve point not of small order.
pub fn check_public_key(bytes: &[u8; 32]) -> Result<VerifyingKey, StrictError> {
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| StrictError::NotAPoint)?;
    if key.to_edwards().compress().as_bytes() != bytes {
        return Err(StrictError::NonCanonicalKey);
    }
    if key.is_weak() {
        return Err(StrictError::WeakKey);
    }
    Ok(key)
}

/// Verifies `signature` over `message` under `public_key`, strictly (module doc).
pub fn verify_strict(
    public_key: &[u8; 32],
    message: &[u8],
    signature: &[u8],
) -> Result<(), StrictError> {
    let key = check_public_key(public_key)?;
    let sig: &[u8; 64] = signature
        .try_into()
        .map_err(|_| StrictError::SignatureLength)?;
    let s: [u8; 32] = sig[32..].try_into().expect("32 bytes");
    if Scalar::from_canonical_bytes(s).is_none().into() {
        return Err(StrictError::NonCanonicalS);
    }
    let r = curve25519_dalek::edwards::CompressedEdwardsY(sig[..32].try_into().expect("32 bytes"));
    match r.decompress() {
        Some(p) if !p.is_small_order() && p.compress() == r => {}
        _ => return Err(StrictError::WeakR),
    }
    key.verify_strict(message, &Signature::from_bytes(sig))
        .map_err(|_| StrictError::Mismatch)
}

/// The encodings of the eight points of small order of the Ed25519 curve (the identity, the
/// point of order 2, two of order 4 and four of order 8), each in canonical form; with the
/// non-canonical encodings of the same points they are the keys a forger would choose.
pub const SMALL_ORDER_POINTS: [[u8; 32]; 8] = [
    // The identity (0, 1).
    hex32("0100000000000000000000000000000000000000000000000000000000000000"),
    // Order 2: (0, -1).
    hex32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    // Order 4: (±sqrt(-1), 0).
    hex32("0000000000000000000000000000000000000000000000000000000000000000"),
    hex32("0000000000000000000000000000000000000000000000000000000000000080"),
    // Order 8.
    hex32("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    hex32("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
    hex32("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    hex32("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
];

const fn hex32(s: &str) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not lowercase hex"),
        }
    }
    let b = s.as_bytes();
    assert!(b.len() == 64);
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = nibble(b[2 * i]) << 4 | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests;
