//! What can go wrong talking to a registry, each case naming what the user can act on: the
//! registry's own error code, where rejected credentials came from, the digest that did not
//! match.

use crate::auth::CredentialSource;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("{0:?} is not a sha256 digest (sha256:<64 lowercase hex>)")]
    BadDigest(String),
    #[error("{reference:?} is not a reference: {why}")]
    BadReference { reference: String, why: String },
    #[error("cannot reach {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("{registry}: {method} {path} answered {status}{}", registry_errors(.codes))]
    Status {
        registry: String,
        method: &'static str,
        path: String,
        status: u16,
        /// The registry's error codes and messages (`MANIFEST_UNKNOWN: …`).
        codes: Vec<String>,
    },
    #[error("{registry} refused the credentials from {from}{}", registry_errors(.codes))]
    Unauthorized {
        registry: String,
        from: CredentialSource,
        codes: Vec<String>,
    },
    #[error("{registry} needs credentials and none were found (docker login, or QYV_REGISTRY_USERNAME and QYV_REGISTRY_PASSWORD){}", registry_errors(.codes))]
    NoCredentials {
        registry: String,
        codes: Vec<String>,
    },
    #[error("{registry} asks for an authentication scheme qyv does not speak: {challenge:?}")]
    UnknownChallenge { registry: String, challenge: String },
    #[error("the credential helper docker-credential-{helper} failed: {why}")]
    Helper { helper: String, why: String },
    #[error("{path}: {why}")]
    DockerConfig { path: String, why: String },
    #[error("{what} has the digest {actual}, not {expected}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what} is {actual} bytes, not the {expected} its descriptor says")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error("{what} is larger than {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    #[error("{what} is not valid: {why}")]
    Invalid { what: String, why: String },
    #[error("{registry} sent a Location qyv will not follow: {location:?}")]
    BadLocation { registry: String, location: String },
    #[error("plain HTTP is only used for loopback registries or with --insecure {0}")]
    PlainHttpRefused(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl OciError {
    /// Whether the registry said the thing does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, OciError::Status { status: 404, .. })
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> OciError {
        OciError::Io {
            what: what.into(),
            source,
        }
    }
}

fn registry_errors(codes: &[String]) -> String {
    if codes.is_empty() {
        String::new()
    } else {
        format!(": {}", codes.join("; "))
    }
}
