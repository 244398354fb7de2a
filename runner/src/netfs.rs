//! netfs: files fetched over HTTP(S) from `fs.source` before the app starts, checked against
//! their sha256 when the manifest pins one, placed in a scratch directory the app sees
//! read-only. With `fs.cache: true` fetched files are kept under the qyv cache directory
//! (by the sha256 of their URL) and reused.

use std::path::{Path, PathBuf};

use qyvpack::digest::sha256_hex;
use qyvpack::manifest::NetFile;

/// Largest file fetched.
const MAX_FILE: u64 = 4 << 30;

/// A fetch that failed, before the app started.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("netfs: cannot fetch {url}: {reason}")]
    Http { url: String, reason: String },
    #[error("netfs: {url} does not match its sha256 (expected {expected}, got {got})")]
    Digest {
        url: String,
        expected: String,
        got: String,
    },
    #[error("netfs: {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// The files to fetch: `files` below `source`, or `source` itself when none are listed.
fn plan(source: &str, files: &[NetFile]) -> Vec<(String, PathBuf, Option<String>)> {
    if files.is_empty() {
        let name = source
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty() && !n.contains(':'))
            .unwrap_or("index")
            .to_string();
        return vec![(source.to_string(), PathBuf::from(name), None)];
    }
    let base = if source.ends_with('/') {
        source.to_string()
    } else {
        format!("{source}/")
    };
    files
        .iter()
        .map(|f| {
            (
                format!("{base}{}", f.path.trim_start_matches('/')),
                PathBuf::from(&f.path),
                f.sha256.as_ref().map(|s| s.to_ascii_lowercase()),
            )
        })
        .collect()
}

/// Fetches every file into `dest` (paths already checked to stay inside by the manifest's
/// validation). Returns the relative paths written.
pub fn fetch_all(
    source: &str,
    files: &[NetFile],
    cache: bool,
    dest: &Path,
) -> Result<Vec<PathBuf>, FetchError> {
    let cache_dir = cache
        .then(|| qyvpack::dirs::CacheArea::Netfs.dir())
        .flatten();
    let mut written = Vec::new();
    for (url, rel, sha256) in plan(source, files) {
        let cached = cache_dir
            .as_ref()
            .map(|d| d.join(sha256_hex(url.as_bytes())));
        let from_cache = cached
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .filter(|bytes| {
                sha256
                    .as_ref()
                    .is_none_or(|want| &sha256_hex(bytes) == want)
            });
        let bytes = match from_cache {
            Some(bytes) => bytes,
            None => {
                let bytes = get(&url)?;
                if let Some(want) = &sha256 {
                    let got = sha256_hex(&bytes);
                    if &got != want {
                        return Err(FetchError::Digest {
                            url,
                            expected: want.clone(),
                            got,
                        });
                    }
                }
                if let Some(path) = &cached {
                    // A cache that cannot be written only costs a fetch next time.
                    let _ = std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")));
                    let _ = std::fs::write(path, &bytes);
                }
                bytes
            }
        };
        let target = dest.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|source| FetchError::Io {
                context: format!("cannot create {}", parent.display()),
                source,
            })?;
        }
        std::fs::write(&target, &bytes).map_err(|source| FetchError::Io {
            context: format!("cannot write {}", target.display()),
            source,
        })?;
        written.push(rel);
    }
    Ok(written)
}

fn get(url: &str) -> Result<Vec<u8>, FetchError> {
    let http = |reason: String| FetchError::Http {
        url: url.to_string(),
        reason,
    };
    let mut response = ureq::get(url).call().map_err(|e| http(e.to_string()))?;
    response
        .body_mut()
        .with_config()
        .limit(MAX_FILE)
        .read_to_vec()
        .map_err(|e| http(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_files_below_the_source_or_the_source_itself() {
        let files = vec![NetFile {
            path: "a/b.txt".into(),
            sha256: Some("AB".repeat(32)),
        }];
        let p = plan("http://h:1/base", &files);
        assert_eq!(p[0].0, "http://h:1/base/a/b.txt");
        assert_eq!(p[0].2.as_deref(), Some("ab".repeat(32).as_str()));
        let p = plan("https://h/data/file.bin", &[]);
        assert_eq!(p[0].1, PathBuf::from("file.bin"));
    }
}
