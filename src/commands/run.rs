//! `qyv run`: run an app in the sandbox its manifest describes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use qyvbuild::progress::Progress;
use qyvpack::manifest::{self, FsAccess, units};
use runner::app::{self, Invocation, LimitFlags, Prepared, ProjectFiles, Wasm};
use runner::grants::Overrides;
use runner::run::{Outcome, RunError};

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

/// qyv could not start the app.
pub const CANNOT_RUN: i32 = 125;
/// limits.timeout passed (like timeout(1)).
pub const TIMED_OUT: i32 = 124;
/// The app trapped (like wasmtime: 128 + SIGABRT).
pub const TRAPPED: i32 = 134;

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

    let (prepared, shown_file, language) = if input.is_file() && starts_like_bundle(&input) {
        let limits = qyvpack::bundle::ReadLimits::from_env().map_err(|e| e.to_string())?;
        let bytes = qyvpack::bundle::read_file(&input, &limits).map_err(|e| e.to_string())?;
        let (p, lang) = prepare_bundle(&input, &bytes, limits, opts, &inv)?;
        (p, input.display().to_string(), lang)
    } else if is_wasm_file(&input) {
        let wasm = qyvpack::bounded::read(&input, qyvpack::bounded::MAX_WASM_FILE, "a wasm file")
            .map_err(|e| e.to_string())?;
        let name = input
            .file_stem()
            .map(|s| {
                s.to_string_lossy()
                    .trim_end_matches(".component")
                    .to_string()
            })
            .unwrap_or_else(|| "app".into());
        let digest = (!opts.no_cache).then(|| runner::cache::file_digest(&input, &wasm));
        let wasm = Wasm {
            bytes: wasm,
            digest,
        };
        let p = app::prepare_bare(&name, wasm, &inv).map_err(|e| e.to_string())?;
        (p, input.display().to_string(), None)
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
        let loaded = manifest::load(&manifest_path).map_err(|e| match e {
            manifest::ManifestError::Invalid(_) => {
                format!("{} is invalid:\n\n{e}", manifest_path.display())
            }
            e => e.to_string(),
        })?;
        let m = &loaded.manifest;
        app::refuse_unsupported(m).map_err(|e| format!("{}: {e}", manifest_path.display()))?;
        let entry = m.entrypoint_path(&loaded.dir);
        let wasm = read_entrypoint(&loaded).map_err(|e| {
            format!(
                "cannot read the entrypoint {} of {}: {e} (build it with `qyv build {}`)",
                entry.display(),
                manifest_path.display(),
                loaded.dir.display()
            )
        })?;
        let files = ProjectFiles::new(&loaded.dir, m).map_err(|e| e.to_string())?;
        let digest = (!opts.no_cache).then(|| runner::cache::file_digest(&entry, &wasm));
        let wasm = Wasm {
            bytes: wasm,
            digest,
        };
        let p = app::prepare(m, &loaded.dir, wasm, &files, &inv)
            .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
        (p, entry.display().to_string(), m.language.clone())
    };

    // Fallback scratch directories are removed on SIGINT/SIGTERM/SIGHUP (a private tmpfs
    // needs none of this: it dies with qyv). Only such runs pay for the waiting thread.
    if prepared.scratch().is_some() && runner::scratch::has_live() {
        crate::interrupt::on_interrupt(runner::scratch::remove_live);
    }
    if !opts.quiet {
        banner(&prepared, &shown_file, language.as_deref(), opts.verbose);
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
                runner::inspect::human_size(bytes)
            );
            TRAPPED
        }
        Outcome::OutOfFuel(fuel) => {
            eprintln!("qyv: the app ran out of fuel (limits.fuel = {fuel})");
            TRAPPED
        }
    })
}

/// The entrypoint's bytes, read where it resolves inside the project (never through a link
/// that leaves it, even one swapped in after `manifest::load` checked).
fn read_entrypoint(loaded: &manifest::Loaded) -> Result<Vec<u8>, String> {
    let rel = Path::new(&loaded.manifest.entrypoint);
    let (path, file) = qyvpack::project::open(&loaded.dir, rel).map_err(|e| e.to_string())?;
    qyvpack::bounded::read_open(file, &path, qyvpack::bounded::MAX_WASM_FILE, "a wasm file")
        .map_err(|e| e.to_string())
}

fn starts_like_bundle(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && qyvpack::bundle::is_bundle(&head)
}

/// Verifies a bundle (before anything is compiled) and prepares its app.
fn prepare_bundle(
    path: &Path,
    bytes: &[u8],
    limits: qyvpack::bundle::ReadLimits,
    opts: &Opts,
    inv: &Invocation,
) -> Result<(Prepared, Option<String>), String> {
    let name = path.display();
    let refused = |e: qyvpack::bundle::BundleError| format!("{name} refused: {e}");
    // The signature and the signer first: an untrusted bundle is refused before its archive
    // is even read.
    let signed = qyvpack::bundle::read_index(bytes, limits).map_err(refused)?;
    let expected = match &opts.key {
        Some(k) => Some(qyvpack::keys::PublicKey::load(k).map_err(|e| e.to_string())?),
        None => None,
    };
    let signer = super::bundles::signer(signed.signer, expected.as_ref());
    match &signer {
        super::bundles::Signer::Unsigned if !opts.allow_unsigned => {
            return Err(format!(
                "{name} is not signed; run it anyway with --allow-unsigned"
            ));
        }
        super::bundles::Signer::Untrusted(fp) if !opts.allow_untrusted => {
            return Err(format!(
                "{name} is signed by {fp}, which is not trusted; trust it with `qyv trust add KEY.pub`, or run it anyway with --allow-untrusted"
            ));
        }
        super::bundles::Signer::NotExpected(fp) => {
            return Err(format!(
                "{name} is signed by {fp}, not by the key given with --key"
            ));
        }
        _ => {}
    }
    // The archive: verified in full, unless this very file was (see runner::verified).
    let verified = (!opts.no_cache)
        .then(runner::verified::Verified::new)
        .flatten();
    let recalled = verified
        .as_ref()
        .and_then(|v| v.recall(path, bytes.len(), &signed));
    let mut bundle = match recalled {
        Some(r) => qyvpack::bundle::Bundle {
            files: [
                (signed.index.manifest.clone(), r.manifest),
                (signed.index.component.clone(), r.component),
            ]
            .into(),
            version: signed.version,
            signer: signed.signer,
            compressed_size: bytes.len() as u64,
            index: signed.index,
        },
        None => {
            let index_bytes = signed.index_bytes.clone();
            let bundle =
                qyvpack::bundle::read_archive_of(bytes, signed, limits).map_err(refused)?;
            if let Some(v) = &verified {
                v.remember(path, &index_bytes, &bundle);
            }
            bundle
        }
    };
    let shown = PathBuf::from(format!("{name}!{}", qyvpack::bundle::MANIFEST_PATH));
    let m = manifest::text_of(bundle.manifest_text().to_vec(), &shown)
        .and_then(|text| manifest::parse(&text, &shown))
        .map_err(|e| format!("{}:\n\n{e}", shown.display()))?;
    app::refuse_unsupported(&m).map_err(|e| format!("{}: {e}", shown.display()))?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let component = bundle
        .entry(&bundle.index.component)
        .map(|e| e.blake3.clone());
    let wasm = Wasm {
        // Moved out, not copied: the bundle keeps only its models and assets.
        bytes: bundle
            .files
            .remove(&bundle.index.component)
            .unwrap_or_default(),
        digest: component,
    };
    let files = app::BundleFiles { bundle: &bundle };
    let p = app::prepare(&m, &dir, wasm, &files, inv).map_err(|e| format!("{name}: {e}"))?;
    Ok((p, m.language.clone()))
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
