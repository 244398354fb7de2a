//! `qyv run`: run an app in the sandbox its manifest describes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use qyvbuild::progress::Progress;
use qyvpack::keys::TrustError;
use qyvpack::manifest::{self, units};
use runner::app::{Invocation, Prepared};
use runner::open::{self, Input, OpenError};
use runner::run::{ColdStart, Compiled, Outcome, RunError};

mod serve;

use super::exit::{CANNOT_RUN, INTERRUPTED, TIMED_OUT, TRAPPED};
use super::failure;
use super::options::{LimitArgs, RegistryArgs, SandboxArgs, TrustArgs, Verbosity};

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
///
/// INPUT may also be a registry reference (REGISTRY/REPOSITORY[:TAG][@DIGEST]) that is not a
/// path: it is pulled into the cache and verified like `qyv pull` does, then run.
///
/// An HTTP app (`type: http`, or a component exporting wasi:http/incoming-handler) is served
/// until SIGINT or SIGTERM (requests in flight finish first) on --listen, its manifest's
/// `http.listen`, or 127.0.0.1:8080, with one line per request on stderr (-q: none). Further
/// INPUTs (and its manifest's `services:`) are served beside it without a host port: it
/// reaches each at http://NAME.service/ when its permissions.net grants `service://NAME`.
#[derive(Parser)]
pub struct Opts {
    /// A .wasm file, a .qyv manifest, a project directory [default: .], or a registry
    /// reference; more than one only for HTTP apps (the first one listens).
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Arguments for the app (after `--`).
    #[arg(last = true)]
    args: Vec<String>,
    #[command(flatten)]
    sandbox: SandboxArgs,
    #[command(flatten)]
    limits: LimitArgs,
    /// Compile without the compile cache.
    #[arg(long)]
    no_cache: bool,
    /// Where an HTTP app listens, IP:PORT (port 0: a free port, which is printed).
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    verbosity: Verbosity,
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

impl Opts {
    /// How an HTTP app is served.
    fn serve_options(&self, inv: &Invocation) -> serve::ServeArgs<'_> {
        serve::ServeArgs {
            listen: self.listen,
            quiet: self.verbosity.quiet,
            verbose: self.verbosity.verbose,
            opts: self,
            inv: inv.clone(),
        }
    }
}

fn start(opts: &Opts, started: Instant) -> Result<i32, String> {
    let inv = Invocation {
        args: opts.args.clone(),
        overrides: opts.sandbox.overrides(),
        limits: opts.limits.flags(),
        env: opts.sandbox.env.clone(),
        cache: !opts.no_cache,
        // A cold start runs on baseline code only when something compiles the optimized code
        // for the next run.
        cold: if super::cache::compiles_in_background() {
            ColdStart::Baseline
        } else {
            ColdStart::Optimized
        },
    };
    let inputs = if opts.inputs.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        opts.inputs.clone()
    };
    let opened = open_input(&inputs[0], opts, &inv)?;
    let wasm = &opened.prepared.request.wasm;
    if opened.serving.http
        || (wasmparser::Parser::is_component(wasm) && runner::http::component_exports_handler(wasm))
    {
        return serve::serve(opened, &inputs[1..], opts.serve_options(&inv));
    }
    if inputs.len() > 1 {
        return Err(format!(
            "{} is not an HTTP app: only HTTP apps run several at once; give the app's arguments after `--`",
            inputs[0].display()
        ));
    }
    run_command(opened, opts, started)
}

/// Opens one INPUT: pulls a registry reference first, builds a project first.
pub(super) fn open_input(
    input: &Path,
    opts: &Opts,
    inv: &Invocation,
) -> Result<open::Opened, String> {
    let input = match pull_first(input, opts)? {
        Some(pulled) => pulled,
        None => input.to_path_buf(),
    };
    let opened = match Input::of(&input).map_err(|e| {
        failure::note(failure::of_manifest(&e));
        e.to_string()
    })? {
        Input::Bundle => {
            let policy = opts.trust.policy().map_err(|e| e.to_string())?;
            open::open_bundle(&input, &policy, inv)
        }
        Input::Wasm => open::open_wasm(&input, inv),
        Input::Manifest(manifest_path) => {
            let dir = manifest_dir(&manifest_path);
            if qyvbuild::build::detect(&dir, None).is_ok() {
                build_first(&dir, opts.verbosity.verbose)?;
            }
            open::open_manifest(&manifest_path, inv)
        }
    }
    .inspect_err(|e| failure::note(failure::of_open(e)))
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
    // Fallback scratch directories are removed on SIGINT/SIGTERM/SIGHUP (a private tmpfs
    // needs none of this: it dies with qyv). Only such runs pay for the waiting thread.
    if opened.prepared.scratch().is_some() && runner::scratch::has_live() {
        crate::interrupt::on_interrupt(runner::scratch::remove_live);
    }
    Ok(opened)
}

/// Runs a command app to its end.
fn run_command(opened: open::Opened, opts: &Opts, started: Instant) -> Result<i32, String> {
    let prepared = opened.prepared;

    if !opts.verbosity.quiet {
        banner(
            &prepared,
            &opened.file.display().to_string(),
            opened.language.as_deref(),
            opts.verbosity.verbose,
        );
    }
    let setup = started.elapsed();
    let finished = runner::run::run(&prepared.request).map_err(|e| match e {
        RunError::Link(m) | RunError::NotRunnable(m) => m,
        e => e.to_string(),
    })?;
    if finished.compiled == Compiled::Baseline {
        let options = runner::run::engine_options(&prepared.request.limits);
        super::cache::warm_in_background(&opened.file, Some(options));
    }
    if opts.verbosity.verbose {
        let mut line = format!("qyv: setup {}", ms(setup));
        for (phase, d) in &finished.phases {
            line.push_str(&format!(", {phase} {}", ms(*d)));
        }
        line.push_str(match finished.compiled {
            Compiled::Cached => " (compiled code from the cache)",
            Compiled::Optimized => " (compiled now)",
            Compiled::Baseline => {
                " (baseline code for a cold start; optimized code is being compiled for the next run)"
            }
        });
        eprintln!("{line}");
    }
    // What the guest could only be told as an error code (wasi-nn), said in full.
    for note in &finished.notes {
        eprintln!("qyv: {note}");
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
        Outcome::Interrupted => {
            eprintln!("qyv: interrupted");
            INTERRUPTED
        }
        Outcome::OutOfFuel(fuel) => {
            eprintln!("qyv: the app ran out of fuel (limits.fuel = {fuel})");
            TRAPPED
        }
    })
}

/// A refused signer, with the flag or command that would accept it.
/// When `input` is no path but a reference naming a registry: pulls it into the cache (a
/// directory per reference) and returns the file pulled.
fn pull_first(input: &Path, opts: &Opts) -> Result<Option<PathBuf>, String> {
    let Some(text) = input.to_str() else {
        return Ok(None);
    };
    if input.exists() {
        return Ok(None);
    }
    let Ok(reference) = qyvoci::Reference::parse(text) else {
        return Ok(None);
    };
    // `name` alone would read as Docker Hub's library/name: only an explicit registry pulls.
    if reference.registry == qyvoci::reference::DOCKER_HUB && !text.starts_with("docker.io/") {
        return Ok(None);
    }
    let area = qyvpack::dirs::CacheArea::Pulled
        .dir_or_private_temp()
        .map_err(|e| format!("the cache: {e}"))?;
    let dir = area.join(&qyvpack::digest::sha256_hex(reference.to_string().as_bytes())[..16]);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let policy = opts.trust.policy().map_err(|e| e.to_string())?;
    match super::pull::pull_into(
        &reference,
        &dir,
        &policy,
        &opts.registry,
        opts.verbosity.quiet,
    ) {
        Ok(
            qyvoci::fetch::Pulled::Bundle { path, .. }
            | qyvoci::fetch::Pulled::Component { path, .. },
        ) => Ok(Some(path)),
        Err(e) => Err(e.to_string()),
    }
}

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

fn manifest_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Builds the project (a no-op when nothing changed), like `cargo run`.
fn build_first(dir: &Path, verbose: bool) -> Result<(), String> {
    let progress = crate::progress::Spinner::captured(verbose);
    let built = qyvbuild::build::build(dir, &Default::default(), &progress);
    progress.finish();
    built.map(|_| ()).map_err(|e| {
        failure::note(failure::of_build(&e));
        format!("building {} failed: {e}", dir.display())
    })
}

/// Two lines on stderr: what runs, and what it may touch.
pub(super) fn banner(p: &Prepared, file: &str, language: Option<&str>, verbose: bool) {
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
