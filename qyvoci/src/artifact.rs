//! The documents qyv pushes and reads: the wasm artifact (CNCF TAG Runtime "Wasm OCI
//! Artifact" layout: an image manifest without `artifactType`, the wasm config, one
//! `application/wasm` layer) and the signed bundle attached to it as a referrer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::OciError;

pub const IMAGE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const IMAGE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_LAYER: &str = "application/wasm";
pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
/// The empty config's content, `{}`.
pub const EMPTY_JSON: &[u8] = b"{}";
pub const TITLE: &str = "org.opencontainers.image.title";
pub const CREATED: &str = "org.opencontainers.image.created";

/// The artifact type of the signed bundle, named after the bundle format it holds.
pub fn bundle_artifact_type() -> String {
    format!(
        "application/vnd.qyv.bundle.v{}",
        qyvpack::bundle::FORMAT_VERSION
    )
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// An image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index (here: the fallback list of referrers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

impl Index {
    pub fn empty() -> Index {
        Index {
            schema_version: 2,
            media_type: Some(IMAGE_INDEX.into()),
            manifests: Vec::new(),
        }
    }

    /// Adds `d` unless a descriptor of the same digest is there; whether it was added.
    pub fn add(&mut self, d: Descriptor) -> bool {
        if self.manifests.iter().any(|m| m.digest == d.digest) {
            return false;
        }
        self.manifests.push(d);
        true
    }
}

/// The wasm config's `component` object: the WIT names `wit-component` decodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentWorld {
    pub exports: Vec<String>,
    pub imports: Vec<String>,
    /// The world, when known (`root:component/root` for a component built from a WIT world
    /// without a name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// `application/vnd.wasm.config.v0+json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    pub architecture: String,
    pub os: String,
    pub layer_digests: Vec<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentWorld>,
}

/// What the wasm artifact is made of.
pub struct WasmArtifact {
    pub layer: Descriptor,
    pub config_bytes: Vec<u8>,
    pub manifest_bytes: Vec<u8>,
}

/// Builds the wasm artifact for a component of `layer_size` bytes with `layer_digest`.
/// `created` is an RFC 3339 time (from SOURCE_DATE_EPOCH or the epoch: the same input gives
/// the same digest); `world` is None for a core module (os `wasip1`).
pub fn wasm_artifact(
    layer_digest: Digest,
    layer_size: u64,
    title: &str,
    created: &str,
    world: Option<ComponentWorld>,
    annotations: BTreeMap<String, String>,
) -> WasmArtifact {
    let config = WasmConfig {
        created: created.into(),
        author: None,
        architecture: "wasm".into(),
        os: if world.is_some() { "wasip2" } else { "wasip1" }.into(),
        layer_digests: vec![layer_digest.clone()],
        component: world,
    };
    let config_bytes = serde_json::to_vec(&config).expect("a config serializes");
    let mut layer = Descriptor::new(WASM_LAYER, layer_digest, layer_size);
    layer.annotations.insert(TITLE.into(), title.into());
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(IMAGE_MANIFEST.into()),
        artifact_type: None,
        config: Descriptor::new(
            WASM_CONFIG,
            Digest::of(&config_bytes),
            config_bytes.len() as u64,
        ),
        layers: vec![layer.clone()],
        subject: None,
        annotations,
    };
    WasmArtifact {
        layer,
        config_bytes,
        manifest_bytes: serde_json::to_vec(&manifest).expect("a manifest serializes"),
    }
}

/// The manifest that attaches a bundle (a `.qyvbin` of `size` bytes with `digest`) to the
/// wasm manifest `subject`.
pub fn bundle_manifest(
    subject: Descriptor,
    digest: Digest,
    size: u64,
    title: &str,
    created: &str,
) -> Vec<u8> {
    let mut layer = Descriptor::new(&bundle_artifact_type(), digest, size);
    layer.annotations.insert(TITLE.into(), title.into());
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(IMAGE_MANIFEST.into()),
        artifact_type: Some(bundle_artifact_type()),
        config: Descriptor::new(
            EMPTY_CONFIG,
            Digest::of(EMPTY_JSON),
            EMPTY_JSON.len() as u64,
        ),
        layers: vec![layer],
        subject: Some(subject),
        annotations: BTreeMap::from([(CREATED.to_string(), created.to_string())]),
    };
    serde_json::to_vec(&manifest).expect("a manifest serializes")
}

/// Parses a manifest, naming `what` in the error.
pub fn parse_manifest(bytes: &[u8], what: &str) -> Result<Manifest, OciError> {
    let m: Manifest = serde_json::from_slice(bytes).map_err(|e| OciError::Invalid {
        what: what.into(),
        why: e.to_string(),
    })?;
    if m.schema_version != 2 {
        return Err(OciError::Invalid {
            what: what.into(),
            why: format!("schemaVersion is {}, not 2", m.schema_version),
        });
    }
    Ok(m)
}

/// The one `application/wasm` layer of a wasm artifact manifest, after checking the layout.
pub fn wasm_layer<'a>(m: &'a Manifest, what: &str) -> Result<&'a Descriptor, OciError> {
    let bad = |why: &str| OciError::Invalid {
        what: what.into(),
        why: why.into(),
    };
    if m.media_type.as_deref().is_some_and(|t| t != IMAGE_MANIFEST) {
        return Err(bad("it is not an OCI image manifest"));
    }
    if m.config.media_type != WASM_CONFIG {
        return Err(bad(&format!(
            "its config is {:?}, not a wasm config ({WASM_CONFIG})",
            m.config.media_type.chars().take(100).collect::<String>()
        )));
    }
    match m.layers.as_slice() {
        [l] if l.media_type == WASM_LAYER => Ok(l),
        _ => Err(bad(
            "a wasm artifact has exactly one application/wasm layer",
        )),
    }
}

/// RFC 3339 UTC for seconds since the epoch (civil-from-days, no time crate needed).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn the_wasm_artifact_has_the_cncf_layout_and_is_reproducible() {
        let world = ComponentWorld {
            exports: vec!["wasi:cli/run@0.2.0".into()],
            imports: vec!["wasi:cli/stdout@0.2.0".into()],
            target: None,
        };
        let make = || {
            wasm_artifact(
                Digest::of(b"wasm"),
                4,
                "hello.wasm",
                &rfc3339(0),
                Some(world.clone()),
                BTreeMap::from([("org.opencontainers.image.version".into(), "1.0.0".into())]),
            )
        };
        let a = make();
        assert_eq!(a.manifest_bytes, make().manifest_bytes);
        let m = parse_manifest(&a.manifest_bytes, "m").unwrap();
        assert_eq!(m.artifact_type, None);
        assert_eq!(wasm_layer(&m, "m").unwrap().digest, Digest::of(b"wasm"));
        let v: serde_json::Value = serde_json::from_slice(&a.config_bytes).unwrap();
        assert_eq!(v["architecture"], "wasm");
        assert_eq!(v["os"], "wasip2");
        assert_eq!(v["layerDigests"][0], Digest::of(b"wasm").to_string());
        assert_eq!(v["component"]["exports"][0], "wasi:cli/run@0.2.0");
    }

    #[test]
    fn the_fallback_index_keeps_one_of_each() {
        let mut i = Index::empty();
        let d = Descriptor::new(IMAGE_MANIFEST, Digest::of(b"a"), 1);
        assert!(i.add(d.clone()));
        assert!(!i.add(d));
        assert!(i.add(Descriptor::new(IMAGE_MANIFEST, Digest::of(b"b"), 1)));
        assert_eq!(i.manifests.len(), 2);
    }
}
