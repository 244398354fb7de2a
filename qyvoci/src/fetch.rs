//! `qyv pull`: the wasm manifest, then the signed bundle among its referrers, verified
//! against the trust policy and checked to hold exactly the component it is attached to:
//! without that check anyone who can push could attach a validly signed bundle of another
//! app. Nothing the registry says names a file: the caller chooses the path.

use std::io::Write;
use std::path::{Path, PathBuf};

use qyvpack::bundle::{BundleError, ReadLimits};
use qyvpack::keys::{Signer, TrustError, TrustPolicy};

use crate::artifact::{self, Descriptor, IMAGE_MANIFEST, Manifest};
use crate::client::Client;
use crate::digest::Digest;
use crate::error::OciError;

/// Most attached bundles tried, newest first.
const MAX_CANDIDATES: usize = 16;

/// Why a pull gave nothing.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Registry(#[from] OciError),
    #[error(
        "{reference} has no signed qyv bundle attached (pushed by another tool?); --allow-unsigned pulls the bare component, which then runs with nothing granted"
    )]
    NoBundle { reference: String },
    #[error("the bundle attached to {reference} is refused: {source}")]
    Trust {
        reference: String,
        #[source]
        source: TrustError,
    },
    #[error(
        "the bundle attached to {reference} holds a component with the digest {bundle}, not the layer {layer} it is attached to"
    )]
    Mismatch {
        reference: String,
        layer: String,
        bundle: String,
    },
    #[error("the bundle attached to {reference} is not valid: {source}")]
    Bundle {
        reference: String,
        #[source]
        source: BundleError,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// What was pulled.
#[derive(Debug)]
pub enum Pulled {
    /// A verified bundle.
    Bundle {
        path: PathBuf,
        signer: Signer,
        digest: Digest,
    },
    /// A bare component (no bundle attached, `--allow-unsigned`).
    Component { path: PathBuf, digest: Digest },
}

/// The wasm artifact's manifest at `target`, checked, and its digest.
pub fn wasm_manifest(client: &Client, target: &str) -> Result<(Manifest, Digest), OciError> {
    let fetched = client.get_manifest(target, &[IMAGE_MANIFEST])?;
    let what = format!("the manifest {}@{target}", client.repository);
    let manifest = artifact::parse_manifest(&fetched.bytes, &what)?;
    artifact::wasm_layer(&manifest, &what)?;
    Ok((manifest, fetched.digest))
}

/// Pulls `target` into `out` (written whole or not at all). `name` is the file name to write
/// without its extension; `.qyvbin` or `.wasm` is added.
pub fn pull(
    client: &Client,
    target: &str,
    dir: &Path,
    name: &str,
    policy: &TrustPolicy,
    limits: ReadLimits,
    progress: &dyn Fn(u64, u64),
) -> Result<Pulled, PullError> {
    let sep = if target.starts_with("sha256:") {
        '@'
    } else {
        ':'
    };
    let reference = format!("{}/{}{sep}{target}", client.registry, client.repository);
    let (manifest, digest) = wasm_manifest(client, target)?;
    let layer = artifact::wasm_layer(&manifest, &reference)
        .map_err(PullError::Registry)?
        .clone();
    let bundle_type = artifact::bundle_artifact_type();
    let candidates: Vec<Descriptor> = client
        .referrers(&digest)?
        .into_iter()
        .filter(|d| d.artifact_type.as_deref() == Some(bundle_type.as_str()))
        .collect();
    let io = |what: &str| {
        let what = what.to_string();
        move |source| PullError::Io { what, source }
    };
    // The newest attachment first; the first that passes every check wins, else the reason
    // the last one failed. A registry listing thousands is not followed that far.
    let mut failure = None;
    for candidate in candidates.iter().rev().take(MAX_CANDIDATES) {
        match pull_bundle(
            client, candidate, &digest, &layer, dir, policy, limits, &reference, progress,
        ) {
            Ok((tmp, signer)) => {
                let path = dir.join(format!("{name}.qyvbin"));
                readable(&tmp)?;
                tmp.persist(&path).map_err(|e| PullError::Io {
                    what: path.display().to_string(),
                    source: e.error,
                })?;
                return Ok(Pulled::Bundle {
                    path,
                    signer,
                    digest,
                });
            }
            Err(e) => failure = Some(e),
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    if !policy.allow_unsigned {
        return Err(PullError::NoBundle { reference });
    }
    if layer.size > limits.max_file_size() {
        return Err(OciError::TooLarge {
            what: format!("the component of {reference}"),
            limit: limits.max_file_size(),
        }
        .into());
    }
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(io("a file in the output directory"))?;
    client.pull_blob(&layer.digest, layer.size, tmp.as_file_mut(), &|n| {
        progress(n, layer.size)
    })?;
    tmp.as_file_mut().flush().map_err(io("the component"))?;
    let path = dir.join(format!("{name}.wasm"));
    readable(&tmp)?;
    tmp.persist(&path).map_err(|e| PullError::Io {
        what: path.display().to_string(),
        source: e.error,
    })?;
    Ok(Pulled::Component { path, digest })
}

/// Fetches one attached bundle into a temporary file beside the output and verifies it.
#[allow(clippy::too_many_arguments)]
fn pull_bundle(
    client: &Client,
    candidate: &Descriptor,
    subject: &Digest,
    layer: &Descriptor,
    dir: &Path,
    policy: &TrustPolicy,
    limits: ReadLimits,
    reference: &str,
    progress: &dyn Fn(u64, u64),
) -> Result<(tempfile::NamedTempFile, Signer), PullError> {
    let what = format!("the referrer {}", candidate.digest);
    let fetched = client.get_manifest(&candidate.digest.to_string(), &[IMAGE_MANIFEST])?;
    let m = artifact::parse_manifest(&fetched.bytes, &what)?;
    let bundle_type = artifact::bundle_artifact_type();
    let invalid = |why: &str| {
        PullError::Registry(OciError::Invalid {
            what: what.clone(),
            why: why.into(),
        })
    };
    if m.artifact_type.as_deref() != Some(bundle_type.as_str())
        || m.subject.as_ref().map(|s| &s.digest) != Some(subject)
    {
        return Err(invalid("it is not a qyv bundle attached to this manifest"));
    }
    let blob = match m.layers.as_slice() {
        [b] if b.media_type == bundle_type => b,
        _ => return Err(invalid("it does not hold exactly one bundle")),
    };
    if blob.size > limits.max_file_size() {
        return Err(OciError::TooLarge {
            what,
            limit: limits.max_file_size(),
        }
        .into());
    }
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|source| PullError::Io {
        what: "a file in the output directory".into(),
        source,
    })?;
    client.pull_blob(&blob.digest, blob.size, tmp.as_file_mut(), &|n| {
        progress(n, blob.size)
    })?;
    // Verified as a stream: memory stays bounded whatever the bundle's size.
    let bundle =
        qyvpack::bundle::verify_file(tmp.path(), limits).map_err(|source| PullError::Bundle {
            reference: reference.into(),
            source,
        })?;
    let signer = policy
        .admit(bundle.signer)
        .map_err(|source| PullError::Trust {
            reference: reference.into(),
            source,
        })?;
    let actual = Digest::of(bundle.component());
    if actual != layer.digest {
        return Err(PullError::Mismatch {
            reference: reference.into(),
            layer: layer.digest.to_string(),
            bundle: actual.to_string(),
        });
    }
    Ok((tmp, signer))
}

/// A pulled file is an ordinary file (0644), not the temporary file's 0600.
fn readable(tmp: &tempfile::NamedTempFile) -> Result<(), PullError> {
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(|source| PullError::Io {
            what: "the pulled file".into(),
            source,
        })
}
