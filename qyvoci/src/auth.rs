//! Where credentials for a registry come from, in the order qyv asks: the environment
//! (`QYV_REGISTRY_USERNAME` and `QYV_REGISTRY_PASSWORD`, for CI), then docker's
//! `config.json` (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`): a
//! `credHelpers` entry for the host, an `auths` entry, then the `credsStore` helper. Helpers
//! are `docker-credential-NAME` programs on PATH, asked with `get` and the host on stdin.
//! The source travels with the credentials so that a refusal can say where they came from.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde::Deserialize;

use crate::error::OciError;

/// Largest docker config file read.
const MAX_CONFIG: u64 = 1 << 20;
/// Largest answer read from a credential helper.
const MAX_HELPER_OUTPUT: u64 = 64 << 10;

/// How long a credential helper may take to answer: long enough for one that asks the user to
/// unlock a keychain, short enough that a helper that hangs does not hang a push in CI.
const HELPER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Where a set of credentials was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    Environment,
    DockerConfig(PathBuf),
    Helper(String),
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Environment => {
                f.write_str("QYV_REGISTRY_USERNAME and QYV_REGISTRY_PASSWORD")
            }
            CredentialSource::DockerConfig(p) => write!(f, "{}", p.display()),
            CredentialSource::Helper(h) => write!(f, "docker-credential-{h}"),
        }
    }
}

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub source: CredentialSource,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password, even in a debug print.
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// The value of an `Authorization: Basic` header.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// What the lookup reads, so tests can point it elsewhere than the process environment.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub username: Option<String>,
    pub password: Option<String>,
    /// The docker config file.
    pub docker_config: Option<PathBuf>,
}

impl Environment {
    /// The process's environment.
    pub fn from_process() -> Environment {
        let docker_config = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
            .map(|d| d.join("config.json"));
        Environment {
            username: std::env::var("QYV_REGISTRY_USERNAME").ok(),
            password: std::env::var("QYV_REGISTRY_PASSWORD").ok(),
            docker_config,
        }
    }
}

#[derive(Deserialize, Default)]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: std::collections::BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

/// The credentials for `registry` (`host[:port]` as the reference names it), if any.
pub fn lookup(registry: &str, env: &Environment) -> Result<Option<Credentials>, OciError> {
    if let (Some(u), Some(p)) = (&env.username, &env.password) {
        return Ok(Some(Credentials {
            username: u.clone(),
            password: p.clone(),
            source: CredentialSource::Environment,
        }));
    }
    let Some(path) = &env.docker_config else {
        return Ok(None);
    };
    let config = match read_config(path)? {
        Some(c) => c,
        None => return Ok(None),
    };
    let bad = |why: String| OciError::DockerConfig {
        path: path.display().to_string(),
        why,
    };
    if let Some(helper) = lookup_key(&config.cred_helpers, registry) {
        return from_helper(helper, registry);
    }
    if let Some(entry) = lookup_key(&config.auths, registry) {
        let source = CredentialSource::DockerConfig(path.clone());
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad(format!("the auth of {registry} is not base64")))?;
            let raw = String::from_utf8(raw)
                .map_err(|_| bad(format!("the auth of {registry} is not UTF-8")))?;
            let (u, p) = raw
                .split_once(':')
                .ok_or_else(|| bad(format!("the auth of {registry} is not user:password")))?;
            return Ok(Some(Credentials {
                username: u.into(),
                password: p.into(),
                source,
            }));
        }
        if let Some(token) = &entry.identitytoken {
            return Ok(Some(Credentials {
                username: "<token>".into(),
                password: token.clone(),
                source,
            }));
        }
        if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
            return Ok(Some(Credentials {
                username: u.clone(),
                password: p.clone(),
                source,
            }));
        }
    }
    match &config.creds_store {
        Some(store) if !store.is_empty() => from_helper(store, registry),
        _ => Ok(None),
    }
}

fn read_config(path: &Path) -> Result<Option<DockerConfig>, OciError> {
    let bad = |why: String| OciError::DockerConfig {
        path: path.display().to_string(),
        why,
    };
    let text = match qyvpack::bounded::read(path, MAX_CONFIG, "a docker config") {
        Ok(t) => t,
        Err(qyvpack::bounded::ReadError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(None);
        }
        Err(e) => return Err(bad(e.to_string())),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| bad(e.to_string()))
}

/// The entry for `registry`, also under the spellings docker writes (`https://host`,
/// `https://index.docker.io/v1/` for Docker Hub).
fn lookup_key<'a, T>(
    map: &'a std::collections::BTreeMap<String, T>,
    registry: &str,
) -> Option<&'a T> {
    let hub = registry == crate::reference::DOCKER_HUB;
    map.iter().find_map(|(key, v)| {
        let host = key
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or("");
        let matches =
            host == registry || (hub && matches!(host, "index.docker.io" | "registry-1.docker.io"));
        matches.then_some(v)
    })
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Asks `docker-credential-NAME get`; a helper that has nothing for the host answers with an
/// error, which is "no credentials" rather than a failure.
fn from_helper(name: &str, registry: &str) -> Result<Option<Credentials>, OciError> {
    let fail = |why: String| OciError::Helper {
        helper: name.into(),
        why,
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(fail("the helper's name is not a plain program name".into()));
    }
    let program = format!("docker-credential-{name}");
    let Some((status, out)) = ask_helper(&program, registry, HELPER_TIMEOUT).map_err(fail)? else {
        return Err(fail(format!(
            "it did not answer within {} s",
            HELPER_TIMEOUT.as_secs()
        )));
    };
    if out.len() as u64 > MAX_HELPER_OUTPUT {
        return Err(fail(format!(
            "it answered more than {MAX_HELPER_OUTPUT} bytes"
        )));
    }
    if !status.success() {
        return Ok(None);
    }
    let answer: HelperAnswer =
        serde_json::from_slice(&out).map_err(|e| fail(format!("its answer is not JSON: {e}")))?;
    Ok(Some(Credentials {
        username: answer.username,
        password: answer.secret,
        source: CredentialSource::Helper(name.into()),
    }))
}

/// Runs `program get` with `registry` on its stdin: its exit status and (at most
/// [`MAX_HELPER_OUTPUT`] + 1 bytes of) its stdout, or None when it has not finished within
/// `timeout` (it is killed).
fn ask_helper(
    program: &str,
    registry: &str,
    timeout: std::time::Duration,
) -> Result<Option<(std::process::ExitStatus, Vec<u8>)>, String> {
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is answered by its exit status below.
        let _ = stdin.write_all(registry.as_bytes());
    }
    // Read on a thread, so that the wait below keeps the deadline even when the helper (or a
    // child of it holding its stdout) never closes it.
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let read = stdout
                .take(MAX_HELPER_OUTPUT + 1)
                .read_to_end(&mut out)
                .map(|_| out);
            let _ = tx.send(read);
        });
    }
    let deadline = std::time::Instant::now() + timeout;
    let out = match rx.recv_timeout(timeout) {
        Ok(read) => read.map_err(|e| e.to_string())?,
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Vec::new(),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
    };
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(Some((status, out)));
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(config: &str) -> (tempfile::TempDir, Environment) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, config).unwrap();
        let env = Environment {
            docker_config: Some(path),
            ..Default::default()
        };
        (dir, env)
    }

    #[test]
    fn the_environment_comes_first() {
        let (_d, mut env) = env_with(r#"{"auths":{"r.example":{"auth":"dTpw"}}}"#);
        env.username = Some("ci".into());
        env.password = Some("secret".into());
        let c = lookup("r.example", &env).unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("ci", "secret"));
        assert_eq!(c.source, CredentialSource::Environment);
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn auths_are_found_under_the_spellings_docker_writes() {
        let (_d, env) = env_with(
            r#"{"auths":{"https://r.example:5000/v2/":{"auth":"dTpwOnc="},
                "https://index.docker.io/v1/":{"username":"hub","password":"x"}}}"#,
        );
        let c = lookup("r.example:5000", &env).unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p:w"));
        let c = lookup("docker.io", &env).unwrap().unwrap();
        assert_eq!(c.username, "hub");
        assert!(lookup("other.example", &env).unwrap().is_none());
    }

    #[test]
    fn a_missing_config_means_anonymous_and_a_broken_one_is_an_error() {
        let env = Environment {
            docker_config: Some("/nonexistent/config.json".into()),
            ..Default::default()
        };
        assert!(lookup("r.example", &env).unwrap().is_none());
        let (_d, env) = env_with("{not json");
        assert!(matches!(
            lookup("r.example", &env),
            Err(OciError::DockerConfig { .. })
        ));
        let (_d, env) = env_with(r#"{"auths":{"r.example":{"auth":"!!"}}}"#);
        assert!(lookup("r.example", &env).is_err());
    }

    #[test]
    fn a_helper_that_hangs_is_stopped_at_the_timeout() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = |name: &str, body: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path.to_string_lossy().into_owned()
        };
        let short = std::time::Duration::from_millis(300);
        // Silent and never exits; and one that answers, then hangs with its stdout closed.
        let silent = script("docker-credential-silent", "sleep 30");
        let started = std::time::Instant::now();
        assert!(ask_helper(&silent, "r.example", short).unwrap().is_none());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let lingering = script(
            "docker-credential-lingering",
            "echo '{}'; exec >/dev/null; sleep 30",
        );
        assert!(
            ask_helper(&lingering, "r.example", short)
                .unwrap()
                .is_none()
        );
        let answers = script(
            "docker-credential-answers",
            "cat >/dev/null; echo '{\"Username\":\"u\",\"Secret\":\"s\"}'",
        );
        let (status, out) = ask_helper(&answers, "r.example", short).unwrap().unwrap();
        assert!(status.success());
        assert_eq!(out, b"{\"Username\":\"u\",\"Secret\":\"s\"}\n");
    }

    #[test]
    fn helper_names_cannot_name_a_path() {
        let (_d, env) = env_with(r#"{"credHelpers":{"r.example":"../../bin/sh"}}"#);
        assert!(matches!(
            lookup("r.example", &env),
            Err(OciError::Helper { .. })
        ));
    }
}
