//! Any bytes given as a `.qyvbin`, read as `qyv run` reads one: the index and its signature
//! first, then the archive. Whenever the reader names a signer, an independent check must
//! agree that the signature is a strict Ed25519 signature by that key over the stored index:
//! the key a canonical point not of small order, R canonical and not of small order, S
//! reduced, and plain verification (ring's) passing. A forgery under a weak key, accepted,
//! fails here. Seeds: signed and unsigned bundles, and that forgery.
#![no_main]

use base64::Engine as _;
use curve25519_dalek::Scalar;
use curve25519_dalek::edwards::CompressedEdwardsY;
use libfuzzer_sys::fuzz_target;
use qyvpack::bundle::{self, ReadLimits, SignatureBlock};

fuzz_target!(|data: &[u8]| {
    let limits = ReadLimits {
        max_unpacked: 1 << 20,
        max_entries: 64,
    };
    let Ok(signed) = bundle::read_index(data, limits) else {
        return;
    };
    if let Some(key) = signed.signer {
        let block = signature_block(data).expect("a signer without a signature block");
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(
            b64.decode(&block.public_key).ok().as_deref(),
            Some(&key[..])
        );
        let sig = b64
            .decode(&block.signature)
            .expect("the signature is base64");
        assert_eq!(sig.len(), 64);
        assert!(strong_point(&key), "accepted a weak or non-canonical key");
        assert!(
            strong_point(&sig[..32]),
            "accepted a weak or non-canonical R"
        );
        let s: [u8; 32] = sig[32..].try_into().unwrap();
        assert!(
            bool::from(Scalar::from_canonical_bytes(s).is_some()),
            "accepted S >= l"
        );
        let message = bundle::signed_message(signed.version, &signed.index_bytes);
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key)
            .verify(&message, &sig)
            .expect("accepted a signature that does not verify");
    }
    if let Ok(b) = bundle::read_archive_of(data, signed, limits) {
        assert!(b.unpacked_size() <= limits.max_unpacked);
        assert!(b.files.len() <= limits.max_entries);
        let _ = b.manifest_text();
        let _ = b.component();
    }
});

/// A canonical encoding of a curve point that is not of small order.
fn strong_point(bytes: &[u8]) -> bool {
    let Ok(bytes) = <[u8; 32]>::try_from(bytes) else {
        return false;
    };
    let c = CompressedEdwardsY(bytes);
    c.decompress()
        .is_some_and(|p| !p.is_small_order() && p.compress() == c)
}

/// The signature block of a bundle whose index frame the reader accepted (docs/format.md).
fn signature_block(data: &[u8]) -> Option<SignatureBlock> {
    let u32_at = |at: usize| Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?));
    let end = data.len();
    let payload_len = u32_at(end.checked_sub(8)?)? as usize;
    let payload = data.get(end.checked_sub(payload_len)?.checked_sub(8)? + 8..end - 8)?;
    let index_len = u32::from_le_bytes(payload.get(..4)?.try_into().ok()?) as usize;
    let sig_len =
        u32::from_le_bytes(payload.get(4 + index_len..8 + index_len)?.try_into().ok()?) as usize;
    serde_json::from_slice(payload.get(8 + index_len..8 + index_len + sig_len)?).ok()
}
