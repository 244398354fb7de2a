//! `qyv run`: run an app in the sandbox its manifest describes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use qyvbuild::progress::Progress;
use qyvpack::keys::{PublicKey, TrustError, TrustPolicy};
use qyvpack::manifest::{self, FsAccess, units};
use runner::app::{Invocation, LimitFlags, Prepared};
use runner::grants::Overrides;
use runner::open::{self, OpenError};
use runner::run::{Outcome, RunError};

use super::exit::{CANNOT_RUN, TIMED_OUT, TRAPPED};

/// Run a component or core module under the permissions and limits of its manifest.
///
/// INPUT is a .wasm file, a .qyv manifest, or a project directory (its .qyv; the project is
/// built first when it has sources, like `cargo run`). Arguments after `--` go to the app;
/// argv[0] is the app's name. The guest gets only what the manifest grants: flags can narrow
/// that (--no-net, --read-only, ...), and widening needs --grant, which the banner shows.
///
/// Exit codes: the app's own exit code; 124 when limits.timeout passed; 134 when the app
/// trapped (or hit limits.memory or limits.fuel); 125 when qyv could not start it (bad input,
/// refused grant, missing import, compile error).
#[derive(Parser)]
pub struct Opts {
    /// A .wasm file, a .qyv manifest, or a project directory [default: .].
    input: Option<PathBuf>,
    /// Arguments for the app (after `--`).
    #[arg(last = true)]
    args: Vec<String>,
    /// Grant no file system at all.
    #[arg(long)]
    no_fs: bool,
    /// Make every mount read-only.
    #[arg(long)]
    read_only: bool,
    /// Grant no network.
    #[arg(long)]
    no_net: bool,
    /// Pass no host environment variables (the manifest's fixed `env` values stay).
    #[arg(long)]
    no_env: bool,
    /// WIDEN what the manifest grants: `net` (any address), `fs=read` or `fs=write` (for
    /// --dir), `env=NAME` (a host variable). Repeatable.
    #[arg(long, value_name = "GRANT")]
    grant: Vec<String>,
    /// Mount a host directory, HOST or HOST::GUEST (default guest path: /HOST's name); needs
    /// --grant fs=read|write.
    #[arg(long, value_name = "HOST[::GUEST]")]
    dir: Vec<String>,
    /// Set a fixed environment variable for the app, KEY=VALUE. Repeatable.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env_vars: Vec<String>,
    /// Memory limit, e.g. 256MiB (the tighter of this and limits.memory applies).
    #[arg(long, value_name = "SIZE")]
    memory: Option<String>,
    /// Wall-clock limit, e.g. 30s (exit code 124 when it passes); more than 0.
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
    /// Fuel limit (roughly, instructions).
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Compile without the compile cache.
    #[arg(long)]
    no_cache: bool,
    /// Run a bundle that nobody signed.
    #[arg(long)]
    allow_unsigned: bool,
    /// Run a bundle signed by a key that is not in the trust store.
    #[arg(long)]
    allow_untrusted: bool,
    /// Accept bundles signed by this public key (a .pub file) instead of the trust store.
    #[arg(long, value_name = "PUB")]
    key: Option<PathBuf>,
    /// Print no banner.
    #[arg(short, long)]
    quiet: bool,
    /// Print the time of each phase.
    #[arg(short, long)]
    verbose: bool,
}

pub fn run(opts: Opts) -> anyhow::Result<i32> {
    let started = Instant::now();
    match start(&opts, started) {
        Ok(code) => Ok(code),
        Err(message) => {
            eprintln!("error: {message}");
            Ok(CANNOT_RUN)
        }
    }
}

fn start(opts: &Opts, started: Instant) -> Result<i32, String> {
    let overrides = overrides(opts)?;
    let limits = LimitFlags {
        memory: opts
            .memory
            .as_deref()
            .map(|m| units::parse_size(m).map_err(|e| format!("--memory: {e}")))
            .transpose()?,
        timeout: opts
            .timeout
            .as_deref()
            .map(|t| units::parse_timeout(t).map_err(|e| format!("--timeout: {e}")))
            .transpose()?,
        fuel: opts.fuel,
    };
    let input = opts.input.clone().unwrap_or_else(|| PathBuf::from("."));
    let mut env = Vec::new();
    for kv in &opts.env_vars {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--env `{kv}` is not KEY=VALUE"))?;
        env.push((k.to_string(), v.to_string()));
    }
    let inv = Invocation {
        args: opts.args.clone(),
        overrides,
        limits,
        env,
        cache: !opts.no_cache,
    };

    let opened = if input.is_file() && starts_like_bundle(&input) {
        open::open_bundle(&input, &trust_policy(opts)?, &inv)
    } else if is_wasm_file(&input) {
        open::open_wasm(&input, &inv)
    } else {
        let manifest_path = if input.is_dir() {
            manifest::find_in_dir(&input).map_err(|e| e.to_string())?
        } else {
            input.clone()
        };
        let dir = manifest_dir(&manifest_path);
        if qyvbuild::build::detect(&dir, None).is_ok() {
            build_first(&dir, opts)?;
        }
        open::open_manifest(&manifest_path, &inv)
    }
    .map_err(|e| match e {
        OpenError::Trust { source, .. } => refusal(&input, &source),
        OpenError::Manifest { shown, source } => match source {
            manifest::ManifestError::Invalid(_) => {
                format!("{} is invalid:\n\n{source}", shown.display())
            }
            source => source.to_string(),
        },
        e => e.to_string(),
    })?;
    let prepared = opened.prepared;

    // Fallback scratch directories are removed on SIGINT/SIGTERM/SIGHUP (a private tmpfs
    // needs none of this: it dies with qyv). Only such runs pay for the waiting thread.
    if prepared.scratch().is_some() && runner::scratch::has_live() {
        crate::interrupt::on_interrupt(runner::scratch::remove_live);
    }
    if !opts.quiet {
        banner(
            &prepared,
            &opened.file.display().to_string(),
            opened.language.as_deref(),
            opts.verbose,
        );
    }
    let setup = started.elapsed();
    let finished = runner::run::run(&prepared.request).map_err(|e| match e {
        RunError::Link(m) | RunError::NotRunnable(m) => m,
        e => e.to_string(),
    })?;
    if opts.verbose {
        let mut line = format!("qyv: setup {}", ms(setup));
        for (phase, d) in &finished.phases {
            line.push_str(&format!(", {phase} {}", ms(*d)));
        }
        if finished.cache_hit {
            line.push_str(" (compiled code from the cache)");
        }
        eprintln!("{line}");
    }
    Ok(match finished.outcome {
        Outcome::Exited(code) => code,
        Outcome::Trapped { message, backtrace } => {
            eprintln!("qyv: the app trapped: {message}");
            if !backtrace.is_empty() {
                eprintln!("{backtrace}");
            }
            TRAPPED
        }
        Outcome::TimedOut(d) => {
            eprintln!(
                "qyv: timed out after {} (limits.timeout)",
                units::format_duration(d)
            );
            TIMED_OUT
        }
        Outcome::MemoryLimit(bytes) => {
            eprintln!(
                "qyv: the app tried to grow its memory beyond limits.memory ({})",
                qyvpack::manifest::units::human_size(bytes)
            );
            TRAPPED
        }
        Outcome::OutOfFuel(fuel) => {
            eprintln!("qyv: the app ran out of fuel (limits.fuel = {fuel})");
            TRAPPED
        }
    })
}

fn starts_like_bundle(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && qyvpack::bundle::is_bundle(&head)
}

/// What `run` accepts of a bundle's signer, from `--key`, `--allow-unsigned` and
/// `--allow-untrusted`.
fn trust_policy(opts: &Opts) -> Result<TrustPolicy, String> {
    Ok(TrustPolicy {
        expected: match &opts.key {
            Some(k) => Some(PublicKey::load(k).map_err(|e| e.to_string())?),
            None => None,
        },
        allow_unsigned: opts.allow_unsigned,
        allow_untrusted: opts.allow_untrusted,
    })
}

/// A refused signer, with the flag or command that would accept it.
fn refusal(path: &Path, e: &TrustError) -> String {
    let name = path.display();
    match e {
        TrustError::Unsigned => {
            format!("{name} is not signed; run it anyway with --allow-unsigned")
        }
        TrustError::Untrusted(fp) => format!(
            "{name} is signed by {fp}, which is not trusted; trust it with `qyv trust add KEY.pub`, or run it anyway with --allow-untrusted"
        ),
        TrustError::NotExpected(fp) => {
            format!("{name} is signed by {fp}, not by the key given with --key")
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn is_wasm_file(p: &Path) -> bool {
    p.is_file() && p.extension().is_some_and(|e| e == "wasm")
}

fn manifest_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Builds the project (a no-op when nothing changed), like `cargo run`.
fn build_first(dir: &Path, opts: &Opts) -> Result<(), String> {
    let progress = crate::progress::Spinner::captured(opts.verbose);
    let built = qyvbuild::build::build(dir, &Default::default(), &progress);
    progress.finish();
    built
        .map(|_| ())
        .map_err(|e| format!("building {} failed: {e}", dir.display()))
}

fn overrides(opts: &Opts) -> Result<Overrides, String> {
    let mut o = Overrides {
        no_fs: opts.no_fs,
        read_only: opts.read_only,
        no_net: opts.no_net,
        no_env: opts.no_env,
        ..Default::default()
    };
    for g in &opts.grant {
        match g.split_once('=') {
            None if g == "net" => o.grant_net = true,
            Some(("fs", "read" | "read-only")) => o.grant_fs = Some(FsAccess::Read),
            Some(("fs", "write" | "read-write")) => o.grant_fs = Some(FsAccess::Write),
            Some(("env", name)) if !name.is_empty() => o.grant_env.push(name.to_string()),
            _ => {
                return Err(format!(
                    "--grant `{g}`: expected net, fs=read, fs=write or env=NAME"
                ));
            }
        }
    }
    for d in &opts.dir {
        let (host, guest) = match d.split_once("::") {
            Some((h, g)) => (PathBuf::from(h), g.to_string()),
            None => {
                let host = PathBuf::from(d);
                let name = host
                    .canonicalize()
                    .ok()
                    .and_then(|c| c.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .unwrap_or_else(|| "dir".into());
                (host, format!("/{name}"))
            }
        };
        o.dirs.push((host, guest));
    }
    Ok(o)
}

/// Two lines on stderr: what runs, and what it may touch.
fn banner(p: &Prepared, file: &str, language: Option<&str>, verbose: bool) {
    let kind = if wasmparser::Parser::is_component(&p.request.wasm) {
        "component"
    } else {
        "core module"
    };
    let lang = language.map(|l| format!(", {l}")).unwrap_or_default();
    eprintln!("qyv ▸ {} ({file}, {kind}{lang})", p.request.name);
    let widened = if p.widened {
        " [WIDENED by --grant]"
    } else {
        ""
    };
    eprintln!("qyv ▸ grants: {}{widened}", p.request.grants);
    if kind == "component" {
        let imports = runner::imports::component_imports(&p.request.wasm);
        let net = !matches!(p.request.grants.net, runner::grants::NetRules::Deny);
        if let Some(note) = runner::imports::ungranted_note(&imports, net) {
            eprintln!("qyv ▸ note: {note}");
        }
    }
    if verbose && !p.request.grants.env_missing.is_empty() {
        eprintln!(
            "qyv ▸ granted but unset on the host: {}",
            p.request.grants.env_missing.join(", ")
        );
    }
}
