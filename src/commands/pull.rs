//! `qyv pull`: fetch an app from an OCI registry, verified.

use std::path::PathBuf;

use clap::Parser;
use qyvoci::Reference;
use qyvoci::client::{Access, Client};
use qyvoci::fetch::{self, PullError, Pulled};
use qyvpack::bundle::ReadLimits;

use super::exit;
use super::options::{RegistryArgs, TrustArgs};

/// Pull an app from an OCI registry: the wasm artifact at REF and the signed .qyvbin
/// attached to it. The bundle's signature is checked against the trust store (or --key), and
/// its component must be byte for byte the artifact's layer; then it is written as
/// DIR/NAME.qyvbin, ready for `qyv run`. Prints the path written.
///
/// An artifact without a qyv bundle (pushed by wkg or oras) is refused with exit code 3;
/// with --allow-unsigned its bare component is written as DIR/NAME.wasm, which runs with
/// nothing granted. Exit codes: 0 pulled, 1 refused (digest or signature mismatch, bad
/// credentials, registry errors), 2 unreachable or unwritable, 3 not signed by a trusted key.
#[derive(Parser)]
pub struct Opts {
    /// What to pull: [REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST].
    reference: String,
    /// The directory to write to [default: .].
    #[arg(short, long, value_name = "DIR")]
    output: Option<PathBuf>,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print only errors (and the path).
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(opts: Opts) -> anyhow::Result<i32> {
    let reference = Reference::parse(&opts.reference)?;
    let dir = opts.output.clone().unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir)?;
    let policy = opts.trust.policy()?;
    match pull_into(&reference, &dir, &policy, &opts.registry, opts.quiet) {
        Ok(pulled) => {
            let path = match &pulled {
                Pulled::Bundle { path, signer, .. } => {
                    if !opts.quiet {
                        eprintln!("pulled {reference}, signed by {}", signer.describe());
                    }
                    path
                }
                Pulled::Component { path, .. } => {
                    if !opts.quiet {
                        eprintln!(
                            "pulled the bare component of {reference} (no signed bundle): it runs with nothing granted"
                        );
                    }
                    path
                }
            };
            println!("{}", path.display());
            // So that the first run starts warm, as after build and pack.
            super::cache::warm_in_background(path, None);
            Ok(exit::OK)
        }
        Err(e) => Ok(report(&e)),
    }
}

/// Pulls `reference` into `dir` (used by `qyv run REF` too).
pub fn pull_into(
    reference: &Reference,
    dir: &std::path::Path,
    policy: &qyvpack::keys::TrustPolicy,
    registry: &RegistryArgs,
    quiet: bool,
) -> Result<Pulled, PullError> {
    let limits = ReadLimits::from_env().map_err(|e| PullError::Io {
        what: "the bundle limits".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let client = Client::new(reference, Access::Pull, &registry.options())?;
    let bar = crate::progress::transfer_bar("pulling", quiet);
    let pulled = fetch::pull(
        &client,
        &reference.target(),
        dir,
        reference.short_name(),
        policy,
        limits,
        &crate::progress::transfer_progress(&bar),
    );
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    pulled
}

/// Prints why a pull failed and gives its exit code.
pub fn report(e: &PullError) -> i32 {
    match e {
        PullError::Registry(e) => super::push::report(e),
        PullError::NoBundle { .. } | PullError::Trust { .. } => {
            eprintln!("error: {e}");
            exit::NOT_TRUSTED
        }
        PullError::Mismatch { .. } | PullError::Bundle { .. } => {
            eprintln!("error: {e}");
            exit::INVALID
        }
        PullError::Io { .. } => {
            eprintln!("error: {e}");
            exit::USAGE
        }
    }
}
