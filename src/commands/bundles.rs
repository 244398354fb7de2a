//! What the bundle commands share: who signed a bundle, and whether qyv accepts that.

use qyvpack::keys::{self, PublicKey, TrustStore};

/// A verified bundle's signer, judged against the trust store or an expected key.
pub enum Signer {
    Unsigned,
    Trusted(PublicKey),
    Untrusted(String),
    /// Signed by the key given on the command line.
    Expected(PublicKey),
    /// Signed, but not by the key given on the command line.
    NotExpected(String),
}

impl Signer {
    pub fn describe(&self) -> String {
        match self {
            Signer::Unsigned => "unsigned".into(),
            Signer::Trusted(k) => format!("trusted key {} ({})", k.fingerprint(), k.name),
            Signer::Untrusted(fp) => format!("untrusted key {fp}"),
            Signer::Expected(k) => format!("the given key {}", k.fingerprint()),
            Signer::NotExpected(fp) => format!("key {fp}, not the given key"),
        }
    }
}

pub fn signer(signer: Option<[u8; 32]>, expected: Option<&PublicKey>) -> Signer {
    let Some(key) = signer else {
        return Signer::Unsigned;
    };
    if let Some(k) = expected {
        return if k.bytes == key {
            Signer::Expected(k.clone())
        } else {
            Signer::NotExpected(keys::fingerprint(&key))
        };
    }
    match TrustStore::default_location().and_then(|s| s.trusts(&key)) {
        Some(k) => Signer::Trusted(k),
        None => Signer::Untrusted(keys::fingerprint(&key)),
    }
}
