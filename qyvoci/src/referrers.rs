//! Referrers: what is attached to a manifest. With the OCI 1.1 referrers API the registry
//! keeps the list (a manifest push answers with `OCI-Subject`); without it the client keeps an
//! image index under the tag `sha256-<hex>` of the subject, re-read before each addition so
//! that what others attached stays.

use crate::artifact::{Descriptor, IMAGE_INDEX, IMAGE_MANIFEST, Index};
use crate::client::{Body, Client, read_limited};
use crate::digest::Digest;
use crate::error::OciError;
use crate::manifests::MAX_MANIFEST;

/// How a referrer was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    /// The registry's referrers API keeps it.
    ReferrersApi,
    /// Added to the fallback index tag.
    FallbackTag,
    /// The fallback index had it already.
    AlreadyListed,
}

impl Client {
    /// Pushes `manifest` (with a `subject`) by digest and records it as a referrer of
    /// `subject`.
    pub fn attach(
        &self,
        subject: &Digest,
        manifest: &[u8],
        artifact_type: &str,
    ) -> Result<Attached, OciError> {
        let digest = Digest::of(manifest);
        let (_, oci_subject) = self.put_manifest(&digest.to_string(), IMAGE_MANIFEST, manifest)?;
        if oci_subject.is_some() {
            return Ok(Attached::ReferrersApi);
        }
        let tag = subject.fallback_tag();
        let mut index = match self.get_manifest(&tag, &[IMAGE_INDEX]) {
            Ok(f) => parse_index(&f.bytes)?,
            Err(e) if e.is_not_found() => Index::empty(),
            Err(e) => return Err(e),
        };
        let mut d = Descriptor::new(IMAGE_MANIFEST, digest, manifest.len() as u64);
        d.artifact_type = Some(artifact_type.into());
        if !index.add(d) {
            return Ok(Attached::AlreadyListed);
        }
        let bytes = serde_json::to_vec(&index).expect("an index serializes");
        self.put_manifest(&tag, IMAGE_INDEX, &bytes)?;
        Ok(Attached::FallbackTag)
    }

    /// The referrers of `subject`: from the referrers API when the registry has it, else from
    /// the fallback index tag (none when neither exists).
    pub fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, OciError> {
        let url = self.url(&format!("referrers/{subject}"));
        let response = self.send("GET", &url, &[("accept", IMAGE_INDEX)], Body::Empty)?;
        let status = response.status().as_u16();
        let is_index = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with(IMAGE_INDEX));
        if status == 200 && is_index {
            let bytes = read_limited(response, MAX_MANIFEST, "the referrers list")?;
            return Ok(parse_index(&bytes)?.manifests);
        }
        if !matches!(status, 200 | 400 | 404 | 405) {
            return Err(self.status_error("GET", &url, response));
        }
        drop(response);
        match self.get_manifest(&subject.fallback_tag(), &[IMAGE_INDEX]) {
            Ok(f) => Ok(parse_index(&f.bytes)?.manifests),
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
}

fn parse_index(bytes: &[u8]) -> Result<Index, OciError> {
    let index: Index = serde_json::from_slice(bytes).map_err(|e| OciError::Invalid {
        what: "the referrers index".into(),
        why: e.to_string(),
    })?;
    if index.schema_version != 2 {
        return Err(OciError::Invalid {
            what: "the referrers index".into(),
            why: "schemaVersion is not 2".into(),
        });
    }
    Ok(index)
}
