//! `qyv push`: the component as a wasm artifact under a tag, the signed bundle attached to it.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use qyvpack::bundle::Bundle;

use crate::artifact::{self, ComponentWorld, Descriptor, IMAGE_MANIFEST};
use crate::blobs::Pushed;
use crate::client::Client;
use crate::digest::Digest;
use crate::error::OciError;
use crate::referrers::Attached;

/// What to push.
pub struct PushInput<'a> {
    /// The `.qyvbin` on disk (streamed from there).
    pub bundle_path: &'a Path,
    /// The same bundle, read and verified.
    pub bundle: &'a Bundle,
    /// The component's WIT names; None for a core module.
    pub world: Option<ComponentWorld>,
    /// `created`, in seconds since the epoch (SOURCE_DATE_EPOCH, else 0).
    pub created: u64,
}

/// What a push did.
#[derive(Debug)]
pub struct PushOutcome {
    /// The wasm artifact's manifest digest: what `REF@digest` pins.
    pub digest: Digest,
    pub bundle_manifest: Digest,
    pub component: Pushed,
    pub bundle_blob: Pushed,
    pub attached: Attached,
}

/// The annotations of the wasm manifest that come from the app's manifest.
pub fn annotations(bundle: &Bundle) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    let text = String::from_utf8_lossy(bundle.manifest_text()).into_owned();
    if let Ok(m) = qyvpack::manifest::parse(&text, Path::new(qyvpack::bundle::MANIFEST_PATH)) {
        if let Some(v) = m.version {
            a.insert("org.opencontainers.image.version".into(), v);
        }
        if let Some(d) = m.description {
            a.insert("org.opencontainers.image.description".into(), d);
        }
    }
    a
}

/// Pushes the wasm artifact under `tag`, then the bundle as its referrer. `progress` gets
/// the bytes sent so far and the total.
pub fn push(
    client: &Client,
    tag: &str,
    input: &PushInput<'_>,
    progress: &dyn Fn(u64, u64),
) -> Result<PushOutcome, OciError> {
    let component = input.bundle.component();
    let layer_digest = Digest::of(component);
    let bundle_file = File::open(input.bundle_path)
        .map_err(|e| OciError::io(input.bundle_path.display().to_string(), e))?;
    let (bundle_digest, bundle_size) = Digest::of_reader(&mut &bundle_file)
        .map_err(|e| OciError::io(input.bundle_path.display().to_string(), e))?;
    let total = component.len() as u64 + bundle_size;
    let created = artifact::rfc3339(input.created);
    let title = format!("{}.wasm", input.bundle.index.name);
    let wasm = artifact::wasm_artifact(
        layer_digest.clone(),
        component.len() as u64,
        &title,
        &created,
        input.world.clone(),
        annotations(input.bundle),
    );
    let component_pushed = client.push_blob(
        &layer_digest,
        component.len() as u64,
        &mut &component[..],
        None,
        &|n| progress(n, total),
    )?;
    client.push_blob_bytes(&wasm.config_bytes)?;
    let (digest, _) = client.put_manifest(tag, IMAGE_MANIFEST, &wasm.manifest_bytes)?;

    let mut reader = &bundle_file;
    std::io::Seek::rewind(&mut reader)
        .map_err(|e| OciError::io(input.bundle_path.display().to_string(), e))?;
    let done = component.len() as u64;
    let bundle_pushed = client.push_blob(&bundle_digest, bundle_size, &mut reader, None, &|n| {
        progress(done + n, total)
    })?;
    client.push_blob_bytes(artifact::EMPTY_JSON)?;
    let subject = Descriptor::new(
        IMAGE_MANIFEST,
        digest.clone(),
        wasm.manifest_bytes.len() as u64,
    );
    let bundle_manifest = artifact::bundle_manifest(
        subject,
        bundle_digest,
        bundle_size,
        &format!("{}.qyvbin", input.bundle.index.name),
        &created,
    );
    let attached = client.attach(&digest, &bundle_manifest, &artifact::bundle_artifact_type())?;
    Ok(PushOutcome {
        digest,
        bundle_manifest: Digest::of(&bundle_manifest),
        component: component_pushed,
        bundle_blob: bundle_pushed,
        attached,
    })
}
