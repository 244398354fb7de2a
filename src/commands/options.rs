//! Option groups that several verbs flatten in (as wasm-tools' `src/lib.rs` and wasmtime's
//! `src/common.rs` do), each with typed values: a bad value is a usage error from clap (exit
//! code 2) that names the flag, before any work starts.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use qyvpack::keys::{PublicKey, TrustPolicy};
use qyvpack::manifest::{self, FsAccess, ManifestError, units};
use runner::app::LimitFlags;
use runner::grants::Overrides;

/// `-q` and `-v`.
#[derive(Args, Debug, Clone, Copy)]
pub struct Verbosity {
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print more: the time of each phase, and what was chosen and run (toolchains, command
    /// lines, grants).
    #[arg(short, long)]
    pub verbose: bool,
}

/// A project directory or its manifest.
#[derive(Args, Debug, Clone)]
pub struct ProjectArg {
    /// A project directory or a .qyv manifest [default: .].
    #[arg(value_name = "PROJECT")]
    pub input: Option<PathBuf>,
}

impl ProjectArg {
    /// The path as given, `.` when none was.
    pub fn path(&self) -> PathBuf {
        self.input.clone().unwrap_or_else(|| PathBuf::from("."))
    }

    /// The manifest it names: the path itself, or the `.qyv` in that directory.
    pub fn manifest(&self) -> Result<PathBuf, ManifestError> {
        let path = self.path();
        if path.is_dir() {
            manifest::find_in_dir(&path)
        } else {
            Ok(path)
        }
    }
}

/// Which signers a bundle may come from.
#[derive(Args, Debug, Clone)]
pub struct TrustArgs {
    /// Run a bundle that nobody signed.
    #[arg(long)]
    pub allow_unsigned: bool,
    /// Run a bundle signed by a key that is not in the trust store.
    #[arg(long)]
    pub allow_untrusted: bool,
    /// Accept bundles signed by this public key (a .pub file) instead of the trust store.
    #[arg(long, value_name = "PUB")]
    pub key: Option<PathBuf>,
}

impl TrustArgs {
    /// The policy these flags describe (reads the `--key` file).
    pub fn policy(&self) -> Result<TrustPolicy, qyvpack::keys::KeyError> {
        Ok(TrustPolicy {
            expected: self.key.as_deref().map(PublicKey::load).transpose()?,
            allow_unsigned: self.allow_unsigned,
            allow_untrusted: self.allow_untrusted,
        })
    }
}

/// What the guest may touch, narrowed or widened from the manifest's grants.
#[derive(Args, Debug, Clone)]
pub struct SandboxArgs {
    /// Grant no file system at all.
    #[arg(long)]
    pub no_fs: bool,
    /// Make every mount read-only.
    #[arg(long)]
    pub read_only: bool,
    /// Grant no network.
    #[arg(long)]
    pub no_net: bool,
    /// Pass no host environment variables (the manifest's fixed `env` values stay).
    #[arg(long)]
    pub no_env: bool,
    /// WIDEN what the manifest grants: `net` (any address), `fs=read` or `fs=write` (for
    /// --dir), `env=NAME` (a host variable). Repeatable.
    #[arg(long, value_name = "GRANT", value_parser = parse_grant)]
    pub grant: Vec<Grant>,
    /// Mount a host directory, HOST or HOST::GUEST (default guest path: /HOST's name); needs
    /// --grant fs=read|write.
    #[arg(long, value_name = "HOST[::GUEST]", value_parser = parse_dir)]
    pub dir: Vec<(PathBuf, String)>,
    /// Set a fixed environment variable for the app, KEY=VALUE. Repeatable.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
}

/// One `--grant`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Net,
    Fs(FsAccess),
    Env(String),
}

impl SandboxArgs {
    /// The flags as the runner takes them.
    pub fn overrides(&self) -> Overrides {
        let mut o = Overrides {
            no_fs: self.no_fs,
            read_only: self.read_only,
            no_net: self.no_net,
            no_env: self.no_env,
            dirs: self.dir.clone(),
            ..Default::default()
        };
        for g in &self.grant {
            match g {
                Grant::Net => o.grant_net = true,
                Grant::Fs(access) => o.grant_fs = Some(*access),
                Grant::Env(name) => o.grant_env.push(name.clone()),
            }
        }
        o
    }
}

/// Limits on top of the manifest's (the tighter one applies).
#[derive(Args, Debug, Clone, Copy)]
pub struct LimitArgs {
    /// Memory limit, e.g. 256MiB (the tighter of this and limits.memory applies).
    #[arg(long, value_name = "SIZE", value_parser = units::parse_size)]
    pub memory: Option<u64>,
    /// Wall-clock limit, e.g. 30s (exit code 124 when it passes); more than 0.
    #[arg(long, value_name = "DURATION", value_parser = units::parse_timeout)]
    pub timeout: Option<Duration>,
    /// Fuel limit (roughly, instructions).
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,
}

impl LimitArgs {
    pub fn flags(&self) -> LimitFlags {
        LimitFlags {
            memory: self.memory,
            timeout: self.timeout,
            fuel: self.fuel,
        }
    }
}

fn parse_grant(text: &str) -> Result<Grant, String> {
    match text.split_once('=') {
        None if text == "net" => Ok(Grant::Net),
        Some(("fs", "read" | "read-only")) => Ok(Grant::Fs(FsAccess::Read)),
        Some(("fs", "write" | "read-write")) => Ok(Grant::Fs(FsAccess::Write)),
        Some(("env", name)) if !name.is_empty() => Ok(Grant::Env(name.to_string())),
        _ => Err("expected net, fs=read, fs=write or env=NAME".into()),
    }
}

/// `HOST` or `HOST::GUEST`; without a guest path the host directory's own name under `/`.
fn parse_dir(text: &str) -> Result<(PathBuf, String), String> {
    if text.is_empty() {
        return Err("expected HOST or HOST::GUEST".into());
    }
    Ok(match text.split_once("::") {
        Some((host, guest)) => (PathBuf::from(host), guest.to_string()),
        None => {
            let host = PathBuf::from(text);
            let name = host
                .canonicalize()
                .ok()
                .and_then(|c| c.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "dir".into());
            (host, format!("/{name}"))
        }
    })
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err("expected KEY=VALUE".into()),
    }
}

/// How to reach OCI registries (`qyv push`, `qyv pull`, `qyv run REF`).
#[derive(Args, Debug, Clone, Default)]
pub struct RegistryArgs {
    /// Speak plain HTTP to this registry, HOST:PORT (loopback registries always are).
    /// Repeatable.
    #[arg(long, value_name = "HOST:PORT")]
    pub insecure: Vec<String>,
}

impl RegistryArgs {
    /// The client options: these hosts, credentials from the process's environment.
    pub fn options(&self) -> qyvoci::client::Options {
        qyvoci::client::Options {
            insecure: self.insecure.clone(),
            env: qyvoci::auth::Environment::from_process(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_parse_to_their_kind_and_others_are_refused() {
        assert_eq!(parse_grant("net"), Ok(Grant::Net));
        assert_eq!(parse_grant("fs=read"), Ok(Grant::Fs(FsAccess::Read)));
        assert_eq!(parse_grant("fs=read-write"), Ok(Grant::Fs(FsAccess::Write)));
        assert_eq!(parse_grant("env=HOME"), Ok(Grant::Env("HOME".into())));
        for bad in ["", "net=1", "fs", "fs=exec", "env=", "exec"] {
            assert!(parse_grant(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_values_split_at_the_first_equals_sign() {
        assert_eq!(parse_env("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert_eq!(parse_env("A="), Ok(("A".into(), String::new())));
        assert!(parse_env("=x").is_err());
        assert!(parse_env("A").is_err());
    }

    #[test]
    fn a_dir_without_a_guest_path_mounts_under_its_own_name() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let (host, guest) = parse_dir(data.to_str().unwrap()).unwrap();
        assert_eq!((host, guest.as_str()), (data.clone(), "/data"));
        let given = format!("{}::/in", data.display());
        assert_eq!(parse_dir(&given).unwrap(), (data, "/in".to_string()));
        assert!(parse_dir("").is_err());
    }
}
