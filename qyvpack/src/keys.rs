//! Signing keys: Ed25519 key pairs (PKCS#8 in PEM), public key files, fingerprints, and the
//! trust store that decides which signers `qyv run` accepts.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use sha2::{Digest, Sha256};

use crate::output::Access;
use crate::signature::{StrictError, check_public_key};

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";
/// The first word of a public key file.
pub const PUBLIC_KEY_TAG: &str = "qyv-ed25519";

/// A key problem.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Invalid(String),
    /// A key that verifies forgeries (see [`crate::signature`]): never trusted nor used.
    #[error("{context}: {source}")]
    Refused {
        context: String,
        #[source]
        source: StrictError,
    },
    #[error("{} already exists; qyv never overwrites a key", .0.display())]
    Exists(PathBuf),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// A public key with an optional name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub bytes: [u8; 32],
    pub name: String,
}

impl PublicKey {
    /// `SHA256:` and the unpadded base64 of the key's sha256.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.bytes)
    }

    /// The file form: `qyv-ed25519 <base64> NAME`.
    pub fn to_line(&self) -> String {
        format!(
            "{PUBLIC_KEY_TAG} {} {}\n",
            b64().encode(self.bytes),
            self.name
        )
    }

    /// Parses the file form. Keys of small order or not in canonical form are refused.
    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        let mut words = text.split_whitespace();
        if words.next() != Some(PUBLIC_KEY_TAG) {
            return Err(KeyError::Invalid(format!(
                "not a qyv public key (expected `{PUBLIC_KEY_TAG} <base64> NAME`)"
            )));
        }
        let bytes: [u8; 32] = words
            .next()
            .and_then(|w| b64().decode(w).ok())
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| KeyError::Invalid("the public key is not 32 bytes of base64".into()))?;
        let name = words.collect::<Vec<_>>().join(" ");
        check_public_key(&bytes).map_err(|source| KeyError::Refused {
            context: format!("public key {}", fingerprint(&bytes)),
            source,
        })?;
        Ok(PublicKey { bytes, name })
    }

    pub fn load(path: &Path) -> Result<PublicKey, KeyError> {
        let text = crate::bounded::read_to_string(path, crate::bounded::MAX_KEY_FILE, "a key file")
            .map_err(|e| KeyError::Io {
                context: format!("cannot read {}", path.display()),
                source: e.into_io(),
            })?;
        PublicKey::parse(&text).map_err(|e| match e {
            KeyError::Refused { source, .. } => KeyError::Refused {
                context: path.display().to_string(),
                source,
            },
            e => KeyError::Invalid(format!("{}: {e}", path.display())),
        })
    }
}

/// The fingerprint of raw public key bytes.
pub fn fingerprint(key: &[u8; 32]) -> String {
    let digest = Sha256::digest(key);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

/// Generates a key pair: (PKCS#8 PEM text, public key).
pub fn generate(name: &str) -> Result<(String, PublicKey), KeyError> {
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| KeyError::Invalid("the system random generator failed".into()))?;
    let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref())
        .map_err(|_| KeyError::Invalid("generated key does not parse".into()))?;
    let bytes = checked_public_key(&pair)?;
    let body = b64().encode(doc.as_ref());
    let mut pem = String::from(PEM_BEGIN);
    pem.push('\n');
    for chunk in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str(PEM_END);
    pem.push('\n');
    Ok((
        pem,
        PublicKey {
            bytes,
            name: name.to_string(),
        },
    ))
}

/// Parses a private key: PKCS#8 PEM, or the base64 of its DER (what QYV_SIGNING_KEY holds),
/// or the PEM text itself base64-encoded.
pub fn parse_private(text: &str) -> Result<Ed25519KeyPair, KeyError> {
    let text = text.trim();
    let der = if text.starts_with(PEM_BEGIN) {
        let body: String = text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        b64()
            .decode(body.trim())
            .map_err(|_| KeyError::Invalid("the PEM body is not base64".into()))?
    } else {
        let raw = b64()
            .decode(text.split_whitespace().collect::<String>())
            .map_err(|_| KeyError::Invalid("not a PEM private key nor base64".into()))?;
        match std::str::from_utf8(&raw) {
            Ok(inner) if inner.trim_start().starts_with(PEM_BEGIN) => {
                return parse_private(inner);
            }
            _ => raw,
        }
    };
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
        .map_err(|_| KeyError::Invalid("not an Ed25519 PKCS#8 private key".into()))?;
    checked_public_key(&pair)?;
    Ok(pair)
}

/// A key pair's public key, refused if weak: what it signs must verify strictly.
fn checked_public_key(pair: &Ed25519KeyPair) -> Result<[u8; 32], KeyError> {
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(pair.public_key().as_ref());
    check_public_key(&bytes).map_err(|source| KeyError::Refused {
        context: "the key pair's public key".into(),
        source,
    })?;
    Ok(bytes)
}

/// Writes `NAME.key` (mode 0600) and `NAME.pub` in `dir`; never overwrites, and never
/// writes through a symbolic link (a dangling one included). Both names are checked before
/// either file is written, and the private key is removed again if the public one cannot be
/// written: no orphan key is left.
pub fn write_pair(dir: &Path, name: &str) -> Result<(PathBuf, PathBuf, PublicKey), KeyError> {
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    for p in [&private, &public] {
        // symlink_metadata: a link counts as existing, whether or not its target does.
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(KeyError::Exists(p.clone()));
        }
    }
    let (pem, pk) = generate(name)?;
    let io = |p: &Path| {
        let context = format!("cannot write {}", p.display());
        move |source| KeyError::Io { context, source }
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    // create_new is O_CREAT|O_EXCL: it fails on any existing name, links included, and so
    // never follows one.
    let mut f = opts.open(&private).map_err(io(&private))?;
    f.write_all(pem.as_bytes()).map_err(io(&private))?;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&public)
        .and_then(|mut f| f.write_all(pk.to_line().as_bytes()));
    if let Err(source) = written {
        let _ = std::fs::remove_file(&private);
        return Err(match source.kind() {
            std::io::ErrorKind::AlreadyExists => KeyError::Exists(public),
            _ => io(&public)(source),
        });
    }
    Ok((private, public, pk))
}

/// A bundle's signer, judged against the trust store or an expected key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    Unsigned,
    Trusted(PublicKey),
    /// Signed by a key the trust store does not hold (its fingerprint).
    Untrusted(String),
    /// Signed by the key the caller expected (`--key`).
    Expected(PublicKey),
    /// Signed, but not by the key the caller expected (its fingerprint).
    NotExpected(String),
}

impl Signer {
    /// Judges a bundle's signer (see [`crate::bundle::SignedIndex::signer`]): against
    /// `expected` when given, else against the default trust store.
    pub fn judge(signer: Option<[u8; 32]>, expected: Option<&PublicKey>) -> Signer {
        let Some(key) = signer else {
            return Signer::Unsigned;
        };
        if let Some(k) = expected {
            return if k.bytes == key {
                Signer::Expected(k.clone())
            } else {
                Signer::NotExpected(fingerprint(&key))
            };
        }
        match TrustStore::default_location().and_then(|s| s.trusts(&key)) {
            Some(k) => Signer::Trusted(k),
            None => Signer::Untrusted(fingerprint(&key)),
        }
    }

    /// One line for people: `trusted key SHA256:… (ci)`, `unsigned`, ...
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

/// Which signers a caller accepts before anything of a bundle is run: trusted keys (or the
/// one expected key) always; unsigned and untrusted bundles only when allowed.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    /// Accept only this key (instead of the trust store).
    pub expected: Option<PublicKey>,
    pub allow_unsigned: bool,
    pub allow_untrusted: bool,
}

/// A signer that a [`TrustPolicy`] does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("it is not signed")]
    Unsigned,
    #[error("it is signed by {0}, which is not trusted")]
    Untrusted(String),
    #[error("it is signed by {0}, not by the expected key")]
    NotExpected(String),
}

impl TrustPolicy {
    /// The signer, judged, when this policy accepts it.
    pub fn admit(&self, signer: Option<[u8; 32]>) -> Result<Signer, TrustError> {
        let signer = Signer::judge(signer, self.expected.as_ref());
        match &signer {
            Signer::Unsigned if !self.allow_unsigned => Err(TrustError::Unsigned),
            Signer::Untrusted(fp) if !self.allow_untrusted => {
                Err(TrustError::Untrusted(fp.clone()))
            }
            Signer::NotExpected(fp) => Err(TrustError::NotExpected(fp.clone())),
            _ => Ok(signer),
        }
    }
}

/// The trusted signers: one public key file per key in a directory.
pub struct TrustStore {
    pub dir: PathBuf,
}

impl TrustStore {
    /// `$QYV_CONFIG_DIR/trusted`, else `$XDG_CONFIG_HOME/qyv/trusted`, else
    /// `~/.config/qyv/trusted`.
    pub fn default_location() -> Option<TrustStore> {
        Some(TrustStore {
            dir: crate::dirs::config_dir()?.join("trusted"),
        })
    }

    fn file_for(&self, key: &PublicKey) -> PathBuf {
        let safe: String = key
            .fingerprint()
            .trim_start_matches("SHA256:")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        self.dir.join(format!("{safe}.pub"))
    }

    /// Adds a key; returns false if it was already trusted. Weak keys are refused.
    pub fn add(&self, key: &PublicKey) -> Result<bool, KeyError> {
        check_public_key(&key.bytes).map_err(|source| KeyError::Refused {
            context: format!("public key {}", key.fingerprint()),
            source,
        })?;
        let path = self.file_for(key);
        if path.exists() {
            return Ok(false);
        }
        std::fs::create_dir_all(&self.dir).map_err(|source| KeyError::Io {
            context: format!("cannot create {}", self.dir.display()),
            source,
        })?;
        crate::output::write_atomically(&path, key.to_line().as_bytes(), Access::Shared).map_err(
            |source| KeyError::Io {
                context: format!("cannot write {}", path.display()),
                source,
            },
        )?;
        Ok(true)
    }

    /// Every trusted key, sorted by name then fingerprint. Unreadable files are skipped, and so
    /// are weak keys (put there by hand or by an older qyv): they are never trusted.
    pub fn list(&self) -> Vec<PublicKey> {
        let mut keys: Vec<PublicKey> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "pub"))
            .filter_map(|e| PublicKey::load(&e.path()).ok())
            .collect();
        keys.sort_by(|a, b| (&a.name, a.fingerprint()).cmp(&(&b.name, b.fingerprint())));
        keys
    }

    /// Removes the keys whose fingerprint or name is `which`; returns them.
    pub fn remove(&self, which: &str) -> Result<Vec<PublicKey>, KeyError> {
        let mut removed = Vec::new();
        for key in self.list() {
            if key.fingerprint() == which || key.name == which {
                let path = self.file_for(&key);
                std::fs::remove_file(&path).map_err(|source| KeyError::Io {
                    context: format!("cannot remove {}", path.display()),
                    source,
                })?;
                removed.push(key);
            }
        }
        Ok(removed)
    }

    pub fn trusts(&self, key: &[u8; 32]) -> Option<PublicKey> {
        self.list().into_iter().find(|k| &k.bytes == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_files_and_env_forms() {
        let tmp = tempfile::tempdir().unwrap();
        let (private, public, pk) = write_pair(tmp.path(), "ci").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&private).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            write_pair(tmp.path(), "ci"),
            Err(KeyError::Exists(_))
        ));
        let pem = std::fs::read_to_string(&private).unwrap();
        let pair = parse_private(&pem).unwrap();
        assert_eq!(pair.public_key().as_ref(), pk.bytes);
        // QYV_SIGNING_KEY forms: base64 of the PEM text, and base64 of the DER.
        let env_pem = b64().encode(pem.as_bytes());
        assert_eq!(
            parse_private(&env_pem).unwrap().public_key().as_ref(),
            pk.bytes
        );
        let der: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(parse_private(&der).unwrap().public_key().as_ref(), pk.bytes);
        assert_eq!(PublicKey::load(&public).unwrap(), pk);
        assert!(pk.fingerprint().starts_with("SHA256:"));
    }

    /// An empty trust store in a temporary directory.
    fn temporary_store() -> (tempfile::TempDir, TrustStore) {
        let tmp = tempfile::tempdir().unwrap();
        let store = TrustStore {
            dir: tmp.path().join("trusted"),
        };
        std::fs::create_dir_all(&store.dir).unwrap();
        (tmp, store)
    }

    #[test]
    fn trust_store_adds_lists_and_removes() {
        let (_tmp, store) = temporary_store();
        let (_, a) = generate("alice").unwrap();
        let (_, b) = generate("bob").unwrap();
        assert!(store.add(&a).unwrap());
        assert!(!store.add(&a).unwrap());
        store.add(&b).unwrap();
        assert_eq!(store.list(), vec![a.clone(), b.clone()]);
        assert!(store.trusts(&a.bytes).is_some());
        assert_eq!(store.remove("alice").unwrap(), vec![a.clone()]);
        assert!(store.trusts(&a.bytes).is_none());
        assert_eq!(store.remove(&b.fingerprint()).unwrap(), vec![b]);
        assert!(store.list().is_empty());
    }

    #[test]
    fn a_trust_policy_admits_the_expected_key_and_unsigned_bundles_only_when_allowed() {
        let (_, ours) = generate("ours").unwrap();
        let (_, theirs) = generate("theirs").unwrap();
        let policy = TrustPolicy {
            expected: Some(ours.clone()),
            allow_unsigned: false,
            allow_untrusted: true,
        };
        assert_eq!(
            policy.admit(Some(ours.bytes)),
            Ok(Signer::Expected(ours.clone()))
        );
        // The expected key is the only one, whatever else is allowed.
        assert_eq!(
            policy.admit(Some(theirs.bytes)),
            Err(TrustError::NotExpected(theirs.fingerprint()))
        );
        assert_eq!(policy.admit(None), Err(TrustError::Unsigned));
        let lenient = TrustPolicy {
            allow_unsigned: true,
            ..policy
        };
        assert_eq!(lenient.admit(None), Ok(Signer::Unsigned));
    }

    #[test]
    fn adding_a_key_never_writes_through_a_link() {
        let (tmp, store) = temporary_store();
        let (_, key) = generate("ci").unwrap();
        let elsewhere = tmp.path().join("elsewhere");
        std::os::unix::fs::symlink(&elsewhere, store.file_for(&key)).unwrap();
        assert!(store.add(&key).unwrap());
        assert!(!elsewhere.exists(), "written through the link");
        let meta = std::fs::symlink_metadata(store.file_for(&key)).unwrap();
        assert!(meta.file_type().is_file());
        assert!(store.trusts(&key.bytes).is_some());
    }

    #[test]
    fn small_order_keys_are_refused_when_read_trusted_or_found_in_the_store() {
        let (_tmp, store) = temporary_store();
        for (i, bytes) in crate::signature::SMALL_ORDER_POINTS.iter().enumerate() {
            let weak = PublicKey {
                bytes: *bytes,
                name: format!("weak{i}"),
            };
            assert!(matches!(
                PublicKey::parse(&weak.to_line()),
                Err(KeyError::Refused {
                    source: StrictError::WeakKey,
                    ..
                })
            ));
            assert!(matches!(store.add(&weak), Err(KeyError::Refused { .. })));
            // Written by hand into the store: never trusted.
            std::fs::write(store.dir.join(format!("weak{i}.pub")), weak.to_line()).unwrap();
            assert!(store.trusts(bytes).is_none());
        }
        assert!(store.list().is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn keygen_refuses_links_and_leaves_no_orphan_key() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        // A dangling link as NAME.pub, then as NAME.key: nothing is written, nothing followed.
        std::os::unix::fs::symlink(d.join("nowhere"), d.join("a.pub")).unwrap();
        assert!(matches!(write_pair(d, "a"), Err(KeyError::Exists(p)) if p == d.join("a.pub")));
        std::os::unix::fs::symlink(d.join("target"), d.join("b.key")).unwrap();
        assert!(matches!(write_pair(d, "b"), Err(KeyError::Exists(p)) if p == d.join("b.key")));
        let mut names: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.pub", "b.key"]);
    }
}
