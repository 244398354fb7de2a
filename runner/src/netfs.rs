//! netfs: files fetched over HTTP(S) from `fs.source` before the app starts, checked against
//! their sha256 when the manifest pins one, placed in a scratch directory the app sees
//! read-only. With `fs.cache: true` fetched files are kept under the qyv cache directory
//! (by the sha256 of their URL) and reused.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use qyvpack::digest::sha256_hex;
use qyvpack::manifest::NetFile;

/// How long fetching may take and how much it may bring. A server that never answers, drips
/// a byte a second or sends without end must not hang or fill `qyv run`: every fetch has a
/// connect timeout, a timeout per read, a deadline for all files together, and a size cap
/// per file.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    pub connect: Duration,
    pub per_read: Duration,
    /// For all files together.
    pub overall: Duration,
    pub max_file: u64,
}

impl Default for FetchLimits {
    fn default() -> FetchLimits {
        FetchLimits {
            connect: Duration::from_secs(10),
            per_read: Duration::from_secs(30),
            overall: Duration::from_secs(300),
            max_file: 4 << 30,
        }
    }
}

impl FetchLimits {
    /// The default limits, with the overall deadline no later than `timeout` (the run's
    /// `limits.timeout`, when it has one).
    pub fn within(timeout: Option<Duration>) -> FetchLimits {
        let mut l = FetchLimits::default();
        if let Some(t) = timeout {
            l.overall = l.overall.min(t);
        }
        l
    }
}

/// A fetch that failed, before the app started.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("netfs: cannot fetch {url}: {reason}")]
    Http { url: String, reason: String },
    #[error("netfs: fetching {url} took longer than {what} ({})", qyvpack::manifest::units::format_duration(*.limit))]
    TimedOut {
        url: String,
        /// Which limit: "the connect timeout", "the read timeout", "the deadline ...".
        what: &'static str,
        limit: Duration,
    },
    #[error("netfs: {url} is larger than the limit of {limit} bytes per file")]
    TooLarge { url: String, limit: u64 },
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
    limits: FetchLimits,
) -> Result<Vec<PathBuf>, FetchError> {
    let deadline = Instant::now() + limits.overall;
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
                let bytes = get(&url, &limits, deadline)?;
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
        crate::scratch::write_private(&target, &bytes).map_err(|source| FetchError::Io {
            context: format!("cannot write {}", target.display()),
            source,
        })?;
        written.push(rel);
    }
    Ok(written)
}

/// One GET under `limits`, finished by `deadline`.
fn get(url: &str, limits: &FetchLimits, deadline: Instant) -> Result<Vec<u8>, FetchError> {
    let left = deadline.saturating_duration_since(Instant::now());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(limits.connect))
        .timeout_per_read(Some(limits.per_read))
        .timeout_global(Some(left))
        .build()
        .into();
    let error = |e: ureq::Error| match e {
        ureq::Error::Timeout(which) => {
            let (what, limit) = match which {
                ureq::Timeout::Connect | ureq::Timeout::Resolve => {
                    ("the connect timeout", limits.connect)
                }
                ureq::Timeout::PerRead => ("the read timeout", limits.per_read),
                _ => ("the deadline for all netfs files", limits.overall),
            };
            FetchError::TimedOut {
                url: url.to_string(),
                what,
                limit,
            }
        }
        ureq::Error::BodyExceedsLimit(_) => FetchError::TooLarge {
            url: url.to_string(),
            limit: limits.max_file,
        },
        e => FetchError::Http {
            url: url.to_string(),
            reason: e.to_string(),
        },
    };
    if left.is_zero() {
        return Err(error(ureq::Error::Timeout(ureq::Timeout::Global)));
    }
    let mut response = agent.get(url).call().map_err(error)?;
    response
        .body_mut()
        .with_config()
        .limit(limits.max_file)
        .read_to_vec()
        .map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A loopback server that reads each request and then does `answer` with the
    /// connection; returns the URL of a file on it.
    fn server(answer: fn(std::net::TcpStream)) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                std::thread::spawn(move || answer(conn));
            }
        });
        format!("http://127.0.0.1:{port}/f.bin")
    }

    fn small_limits() -> FetchLimits {
        FetchLimits {
            connect: Duration::from_secs(2),
            per_read: Duration::from_millis(500),
            overall: Duration::from_millis(1500),
            max_file: 1000,
        }
    }

    fn fetch(url: &str, limits: FetchLimits) -> (Result<Vec<PathBuf>, FetchError>, Duration) {
        let dest = tempfile::tempdir().unwrap();
        let start = Instant::now();
        let r = fetch_all(url, &[], false, dest.path(), limits);
        (r, start.elapsed())
    }

    /// The error of a fetch that timed out on `which` (its `what`).
    fn timed_out<T: std::fmt::Debug>(r: Result<T, FetchError>, which: &str) -> FetchError {
        let e = r.unwrap_err();
        assert!(
            matches!(&e, FetchError::TimedOut { what, .. } if *what == which),
            "{e}"
        );
        e
    }

    #[test]
    fn a_server_that_never_answers_hits_the_read_timeout() {
        let url = server(|conn| {
            std::thread::sleep(Duration::from_secs(30));
            drop(conn);
        });
        let (r, took) = fetch(&url, small_limits());
        let e = timed_out(r, "the read timeout");
        assert!(
            e.to_string()
                .contains("took longer than the read timeout (500ms)"),
            "{e}"
        );
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    #[test]
    fn a_server_that_drips_hits_the_overall_deadline() {
        let url = server(|mut conn| {
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 900\r\n\r\n");
            for _ in 0..900 {
                if conn.write_all(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let (r, took) = fetch(&url, small_limits());
        timed_out(r, "the deadline for all netfs files");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    #[test]
    fn the_deadline_is_the_tighter_of_the_default_and_the_timeout() {
        assert_eq!(
            FetchLimits::within(Some(Duration::from_secs(2))).overall,
            Duration::from_secs(2)
        );
        assert_eq!(
            FetchLimits::within(Some(Duration::from_secs(1 << 20))).overall,
            FetchLimits::default().overall
        );
    }

    #[test]
    fn a_file_over_the_cap_is_refused() {
        let url = server(|mut conn| {
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
            let _ = conn.write_all(&[b'x'; 5000]);
        });
        let (r, _) = fetch(&url, small_limits());
        let e = r.unwrap_err();
        assert!(matches!(e, FetchError::TooLarge { limit: 1000, .. }), "{e}");
        // Without a length, streamed until the cap.
        let url = server(|mut conn| {
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            while conn.write_all(&[b'x'; 4096]).is_ok() {}
        });
        let (r, _) = fetch(&url, small_limits());
        let e = r.unwrap_err();
        assert!(matches!(e, FetchError::TooLarge { limit: 1000, .. }), "{e}");
    }

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
