//! Manifests and indexes: fetched within a bound and checked against the digest asked for,
//! pushed by tag or by digest.

use crate::client::{Body, Client, read_limited};
use crate::digest::Digest;
use crate::error::OciError;

/// Largest manifest read or written (the distribution registry's own limit).
pub const MAX_MANIFEST: u64 = 4 << 20;

/// A manifest as fetched.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    /// The sha256 of `bytes`.
    pub digest: Digest,
    /// The `Content-Type` the registry gave.
    pub media_type: String,
}

impl Client {
    /// The manifest at `target` (a tag or `sha256:…`), accepting `accept`. By digest, the
    /// bytes must have that digest; by tag, a `Docker-Content-Digest` the registry gives must
    /// match them.
    pub fn get_manifest(&self, target: &str, accept: &[&str]) -> Result<Fetched, OciError> {
        let url = self.url(&format!("manifests/{target}"));
        let accept = accept.join(", ");
        let response = self.send("GET", &url, &[("accept", &accept)], Body::Empty)?;
        if response.status().as_u16() != 200 {
            return Err(self.status_error("GET", &url, response));
        }
        let media_type = header(&response, "content-type")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let said = header(&response, "docker-content-digest");
        let what = format!("the manifest {}@{target}", self.repository);
        let bytes = read_limited(response, MAX_MANIFEST, &what)?;
        let digest = Digest::of(&bytes);
        let expected = if target.starts_with("sha256:") {
            target.to_string()
        } else {
            said
        };
        if !expected.is_empty() && expected != digest.to_string() {
            return Err(OciError::DigestMismatch {
                what,
                expected: expected.chars().take(100).collect(),
                actual: digest.to_string(),
            });
        }
        Ok(Fetched {
            bytes,
            digest,
            media_type,
        })
    }

    /// Pushes a manifest under `target` (a tag or its digest). Returns its digest and the
    /// `OCI-Subject` the registry answered with, if any (it has the referrers API).
    pub fn put_manifest(
        &self,
        target: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(Digest, Option<String>), OciError> {
        let url = self.url(&format!("manifests/{target}"));
        let response = self.send(
            "PUT",
            &url,
            &[("content-type", media_type)],
            Body::Bytes(bytes),
        )?;
        if response.status().as_u16() != 201 {
            return Err(self.status_error("PUT", &url, response));
        }
        let subject = Some(header(&response, "oci-subject")).filter(|s| !s.is_empty());
        Ok((Digest::of(bytes), subject))
    }
}

fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}
