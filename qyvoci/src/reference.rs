//! Image references as docker and oras spell them: `[REGISTRY/]REPOSITORY[:TAG][@DIGEST]`.
//! A first component with a `.` or `:`, or `localhost`, names the registry; otherwise the
//! registry is Docker Hub and a one-component repository lives under `library/`.

use std::fmt;

use crate::digest::Digest;
use crate::error::OciError;

/// The registry a reference without one names.
pub const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub's API actually is.
const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// Longest repository name: the distribution spec allows more, but registries cap at 255.
const MAX_REPOSITORY: usize = 255;
/// Longest tag (distribution spec).
const MAX_TAG: usize = 128;

/// A parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]` as written (`docker.io` for Docker Hub).
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference, OciError> {
        let bad = |why: &str| OciError::BadReference {
            reference: s.chars().take(300).collect(),
            why: why.into(),
        };
        if s.is_empty() || s.len() > 1024 {
            return Err(bad("it is empty or too long"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => (
                rest,
                Some(Digest::parse(d).map_err(|_| bad("the digest is not sha256:<64 hex>"))?),
            ),
            None => (s, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(rest[i + 1..].to_string())),
            _ => (rest, None),
        };
        if let Some(t) = &tag
            && !valid_tag(t)
        {
            return Err(bad(
                "the tag must be letters, digits, '_', '.' or '-' (at most 128)",
            ));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ if !name.contains('/') => (DOCKER_HUB.to_string(), format!("library/{name}")),
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if !valid_registry(&registry) {
            return Err(bad("the registry is not a host name with an optional port"));
        }
        if !valid_repository(&repository) {
            return Err(bad(
                "the repository must be lowercase letters and digits separated by '/', '.', '_' or '-'",
            ));
        }
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// What to ask the registry for: the digest when there is one, else the tag (`latest`
    /// when neither was written).
    pub fn target(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }

    /// The host the API is at (Docker Hub's differs from its name).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The same repository, pinned to `digest`.
    pub fn with_digest(&self, digest: &Digest) -> Reference {
        Reference {
            digest: Some(digest.clone()),
            ..self.clone()
        }
    }

    /// The last component of the repository: a file name qyv may choose from it.
    pub fn short_name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn valid_tag(t: &str) -> bool {
    let mut chars = t.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && t.len() <= MAX_TAG
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn valid_registry(r: &str) -> bool {
    let (host, port) = match r.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (r, None),
    };
    !host.is_empty()
        && host.len() <= 253
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p != 0))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, the spec's rule.
fn valid_repository(r: &str) -> bool {
    r.len() <= MAX_REPOSITORY
        && r.split('/').all(|part| {
            let b = part.as_bytes();
            let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
            !b.is_empty()
                && alnum(&b[0])
                && alnum(&b[b.len() - 1])
                && b.iter()
                    .all(|c| alnum(c) || matches!(c, b'.' | b'_' | b'-'))
                && !part.contains("..")
                && !part.contains("___")
                && !part.contains(".-")
                && !part.contains("-.")
                && !part.contains("._")
                && !part.contains("_.")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_like_docker_reads_them() {
        let r = Reference::parse("127.0.0.1:5000/apps/hello:v1").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "apps/hello");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.target(), "v1");
        assert_eq!(r.short_name(), "hello");
        let d = format!("sha256:{}", "b".repeat(64));
        let r = Reference::parse(&format!("localhost/hello@{d}")).unwrap();
        assert_eq!(r.registry, "localhost");
        assert_eq!(r.target(), d);
        let r = Reference::parse("hello").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.target()),
            ("docker.io", "library/hello", "latest".into())
        );
        assert_eq!(r.api_host(), "registry-1.docker.io");
        let r = Reference::parse("ghcr.io/a/b/c:1.0@".to_string().trim_end_matches('@')).unwrap();
        assert_eq!(r.to_string(), "ghcr.io/a/b/c:1.0");
    }

    #[test]
    fn hostile_references_are_refused() {
        for bad in [
            "",
            "host:5000/../etc:x",
            "host:5000/a/../../b",
            "host:5000/UPPER",
            "host:5000/a:b:c",
            "host:5000/a:-tag",
            "host:99999/a",
            "host:5000/a@sha256:zz",
            "host:5000/a%2f..",
            "host:5000//a",
            "ho st:5000/a",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
