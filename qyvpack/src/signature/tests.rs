use ring::signature::{Ed25519KeyPair, KeyPair};
use sha2::{Digest, Sha512};

use super::*;

/// The identity point's encoding: R of the forgery.
const IDENTITY: [u8; 32] = SMALL_ORDER_POINTS[0];

/// The forgery of the module doc: under the all-zero key (a point of order 4), R = the
/// identity and S = 0 verify for any message whose k = SHA-512(R‖A‖M), reduced mod ℓ as
/// verifiers do, is ≡ 0 mod 8. Pads `message` with spaces until it is.
fn forge(message: &[u8]) -> (Vec<u8>, [u8; 64]) {
    let zero = [0u8; 32];
    let mut m = message.to_vec();
    loop {
        let k = Sha512::new()
            .chain_update(IDENTITY)
            .chain_update(zero)
            .chain_update(&m)
            .finalize();
        // A little-endian scalar: its residue mod 8 is in its first byte.
        if Scalar::from_bytes_mod_order_wide(&k.into()).as_bytes()[0].is_multiple_of(8) {
            break;
        }
        m.push(b' ');
    }
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&IDENTITY);
    (m, sig)
}

#[test]
fn the_zero_key_forgery_is_refused_though_ring_accepts_it() {
    let (message, sig) = forge(b"{\"name\": \"evil\"}");
    // The forgery is real: a cofactorless verifier accepts it.
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, [0u8; 32])
        .verify(&message, &sig)
        .expect("ring accepts the forgery");
    assert_eq!(
        verify_strict(&[0u8; 32], &message, &sig),
        Err(StrictError::WeakKey)
    );
}

#[test]
fn the_eight_small_order_points_are_refused_as_keys() {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use curve25519_dalek::traits::IsIdentity;
    let mut points = Vec::new();
    for bytes in SMALL_ORDER_POINTS {
        // Each is a canonical encoding of a point whose order divides 8...
        let p = CompressedEdwardsY(bytes).decompress().expect("a point");
        assert_eq!(p.compress().to_bytes(), bytes);
        assert!(p.mul_by_cofactor().is_identity());
        points.push(p);
        assert_eq!(
            check_public_key(&bytes),
            Err(StrictError::WeakKey),
            "{bytes:x?}"
        );
    }
    // ...and the eight are distinct, so they are the whole torsion subgroup.
    for (i, a) in points.iter().enumerate() {
        assert!(points[i + 1..].iter().all(|b| a != b));
    }
}

#[test]
fn non_canonical_encodings_of_small_order_points_are_refused() {
    let mut identity_negative_zero = IDENTITY;
    identity_negative_zero[31] |= 0x80;
    // y = p + 1, the identity again; y = p, which is y = 0.
    let mut p_plus_one = [0xffu8; 32];
    p_plus_one[0] = 0xee;
    p_plus_one[31] = 0x7f;
    let mut p = p_plus_one;
    p[0] = 0xed;
    for bytes in [identity_negative_zero, p_plus_one, p] {
        assert!(check_public_key(&bytes).is_err(), "{bytes:x?}");
    }
}

#[test]
fn real_keys_verify_and_altered_signatures_do_not() {
    let doc = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
    let pk: [u8; 32] = pair.public_key().as_ref().try_into().unwrap();
    let sig: [u8; 64] = pair.sign(b"message").as_ref().try_into().unwrap();
    assert_eq!(check_public_key(&pk).map(|_| ()), Ok(()));
    assert_eq!(verify_strict(&pk, b"message", &sig), Ok(()));
    assert_eq!(
        verify_strict(&pk, b"massage", &sig),
        Err(StrictError::Mismatch)
    );
    assert_eq!(
        verify_strict(&pk, b"message", &sig[..63]),
        Err(StrictError::SignatureLength)
    );

    // S + ℓ: the same signature in a second form, which lax verifiers accept.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut malleable = sig;
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = malleable[32 + i] as u16 + L[i] as u16 + carry;
        malleable[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(
        verify_strict(&pk, b"message", &malleable),
        Err(StrictError::NonCanonicalS)
    );

    // A valid key with a small-order R: refused before any arithmetic.
    for r in SMALL_ORDER_POINTS {
        let mut forged = sig;
        forged[..32].copy_from_slice(&r);
        assert_eq!(
            verify_strict(&pk, b"message", &forged),
            Err(StrictError::WeakR)
        );
    }
}
