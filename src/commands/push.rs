//! `qyv push`: publish an app to an OCI registry.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;
use clap::Parser;
use qyvoci::artifact::ComponentWorld;
use qyvoci::client::{Access, Client};
use qyvoci::publish::{self, PushInput};
use qyvoci::referrers::Attached;
use qyvoci::{OciError, Reference};
use qyvpack::bundle::ReadLimits;

use super::exit;
use super::options::RegistryArgs;

/// Push an app to an OCI registry: its component as a standard wasm artifact (the CNCF
/// layout that wkg, wash and runwasi read) under REF's tag, and its signed .qyvbin attached
/// to it as a referrer, for `qyv pull` and `qyv run REF` to verify.
///
/// INPUT is a .qyvbin, or a project, which is packed first like `qyv pack` does (signed with
/// QYV_SIGNING_KEY when it is set). Prints the manifest's digest on stdout: the same bundle
/// always gives the same digest (`created` comes from SOURCE_DATE_EPOCH, else the epoch).
/// Credentials: QYV_REGISTRY_USERNAME and QYV_REGISTRY_PASSWORD, else docker's config.json
/// (auths, credHelpers, credsStore).
#[derive(Parser)]
pub struct Opts {
    /// Where to push: [REGISTRY/]REPOSITORY[:TAG] (the tag defaults to latest).
    reference: String,
    /// A .qyvbin, or a project directory or manifest [default: .].
    input: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print only errors (and the digest).
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(opts: Opts) -> anyhow::Result<i32> {
    let reference = Reference::parse(&opts.reference)?;
    if reference.digest.is_some() {
        anyhow::bail!("push names a tag, not a digest: the digest is what the push prints");
    }
    let input = opts.input.clone().unwrap_or_else(|| PathBuf::from("."));
    let bundle_path = if input.is_file() && is_bundle_file(&input)? {
        input
    } else {
        match pack_project(&input)? {
            Some(p) => p,
            None => return Ok(exit::INVALID),
        }
    };
    let limits = ReadLimits::from_env()?;
    // Verified as a stream: a bundle of any size is pushed in bounded memory.
    let bundle = match qyvpack::bundle::verify_file(&bundle_path, limits) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {}: {e}", bundle_path.display());
            return Ok(exit::INVALID);
        }
    };
    if bundle.signer.is_none() && !opts.quiet {
        eprintln!(
            "warning: {} is unsigned: `qyv pull` refuses it unless --allow-unsigned",
            bundle_path.display()
        );
    }
    let world = match component_world(bundle.component()) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: the bundle's component: {e}");
            return Ok(exit::INVALID);
        }
    };
    let created = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let client = Client::new(&reference, Access::Push, &opts.registry.options())?;
    let bar = crate::progress::transfer_bar("pushing", opts.quiet);
    let outcome = publish::push(
        &client,
        &reference.target(),
        &PushInput {
            bundle_path: &bundle_path,
            bundle: &bundle,
            world,
            created,
        },
        &crate::progress::transfer_progress(&bar),
    );
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return Ok(report(&e)),
    };
    if !opts.quiet {
        let how = match outcome.attached {
            Attached::ReferrersApi => "through the referrers API",
            Attached::FallbackTag => "in the referrers tag",
            Attached::AlreadyListed => "already attached",
        };
        eprintln!("pushed {}@{} (bundle {how})", reference, outcome.digest);
    }
    println!("{}", outcome.digest);
    // For the shell's completion of registry references; a state file that cannot be
    // written only costs that.
    let _ = qyvpack::recent::record(&reference.to_string());
    Ok(exit::OK)
}

/// Prints a registry error and gives its exit code: 2 when the registry could not be reached
/// or a file not read, 1 for what the registry refused or sent wrong.
pub fn report(e: &OciError) -> i32 {
    let mut msg = format!("error: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    eprintln!("{msg}");
    match e {
        OciError::Transport { .. } | OciError::Io { .. } => exit::USAGE,
        _ => exit::INVALID,
    }
}

fn is_bundle_file(path: &Path) -> anyhow::Result<bool> {
    use std::io::Read;
    let mut head = [0u8; qyvpack::bundle::HEADER_LEN];
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let n = f.read(&mut head)?;
    Ok(qyvpack::bundle::is_bundle(&head[..n]))
}

/// Packs a project with `qyv pack --json` (its diagnostics on stderr) and returns the bundle
/// it wrote; None when packing failed (already reported).
fn pack_project(project: &Path) -> anyhow::Result<Option<PathBuf>> {
    let exe = std::env::current_exe().context("finding qyv itself")?;
    let out = Command::new(exe)
        .arg("pack")
        .arg("--json")
        .arg(project)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running qyv pack")?;
    if !out.status.success() {
        return Ok(None);
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("reading what qyv pack printed")?;
    let path = v["path"].as_str().context("qyv pack printed no path")?;
    Ok(Some(PathBuf::from(path)))
}

/// The component's WIT names as `qyv inspect --json` reports them; None for a core module.
fn component_world(wasm: &[u8]) -> anyhow::Result<Option<ComponentWorld>> {
    // The bundle was verified; the registry only needs the names, not a validation.
    Ok(
        qyvinspect::component_world(wasm)?.map(|(world, imports, exports)| ComponentWorld {
            exports: exports.into_iter().map(|i| i.name).collect(),
            imports: imports.into_iter().map(|i| i.name).collect(),
            target: Some(world),
        }),
    )
}
