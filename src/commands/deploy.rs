//! `qyv deploy`: Kubernetes YAML that runs an app from a registry under runwasi.

use clap::Parser;
use qyvoci::client::{Access, Client};
use qyvoci::fetch::{self, Pulled};
use qyvoci::kube::{self, Deploy};
use qyvoci::{Digest, Reference};
use qyvpack::bundle::ReadLimits;

use super::exit;
use super::options::{RegistryArgs, TrustArgs};

/// Print Kubernetes YAML that runs REF under runwasi (containerd's wasm shims; k3s ships the
/// `wasmtime` RuntimeClass): a Job for a command, a Deployment and a Service for an HTTP app.
///
/// The app is pulled and verified first, like `qyv pull` does, and the image is pinned by
/// digest. The manifest's args, env values, limits.memory and limits.timeout
/// (activeDeadlineSeconds) carry over. What runwasi cannot honour is refused with the reason
/// (diskfs, netfs, assets, models: an artifact's root file system is empty). runwasi does not
/// enforce qyv's network and file grants: a warning says so. Apply with `kubectl apply -f -`.
#[derive(Parser)]
pub struct Opts {
    /// The app: [REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST], pushed with `qyv push`.
    reference: String,
    /// The RuntimeClass the pods ask for.
    #[arg(long, value_name = "NAME", default_value = kube::DEFAULT_RUNTIME_CLASS)]
    runtime_class_name: String,
    /// Also emit the RuntimeClass (handler of the same name) for clusters without one.
    #[arg(long)]
    runtime_class: bool,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print no warnings.
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(opts: Opts) -> anyhow::Result<i32> {
    let reference = Reference::parse(&opts.reference)?;
    let policy = opts.trust.policy()?;
    let scratch = tempfile::tempdir()?;
    let pulled =
        match super::pull::pull_into(&reference, scratch.path(), &policy, &opts.registry, true) {
            Ok(p) => p,
            Err(e) => return Ok(super::pull::report(&e)),
        };
    let (digest, manifest) = match &pulled {
        Pulled::Bundle { path, digest, .. } => {
            let limits = ReadLimits::from_env()?;
            let bundle = qyvpack::bundle::verify_file(path, limits)?;
            let text = String::from_utf8_lossy(bundle.manifest_text()).into_owned();
            let manifest = qyvpack::manifest::parse(
                &text,
                std::path::Path::new(qyvpack::bundle::MANIFEST_PATH),
            )?;
            (digest.clone(), Some(manifest))
        }
        Pulled::Component { digest, .. } => (digest.clone(), None),
    };
    let command = match layer_title(&reference, &digest, &opts.registry) {
        Ok(t) => t,
        Err(e) => return Ok(super::push::report(&e)),
    };
    let name = manifest
        .as_ref()
        .map(|m| m.name.clone())
        .unwrap_or_else(|| reference.short_name().to_string());
    let image = format!("{}/{}@{digest}", reference.registry, reference.repository);
    let rendered = kube::render(&Deploy {
        image: &image,
        command: &command,
        manifest: manifest.as_ref(),
        name: &name,
        runtime_class: &opts.runtime_class_name,
        with_runtime_class: opts.runtime_class,
    });
    match rendered {
        Ok(r) => {
            if !opts.quiet {
                for w in &r.warnings {
                    eprintln!("warning: {w}");
                }
            }
            print!("{}", r.yaml);
            Ok(exit::OK)
        }
        Err(refusals) => {
            for r in &refusals {
                eprintln!("error: {r}");
            }
            eprintln!("runwasi cannot run {reference} as its manifest asks");
            Ok(exit::INVALID)
        }
    }
}

/// The wasm layer's file name (its title), which runwasi needs as `command`: a plain file
/// name, else `app.wasm`.
fn layer_title(
    reference: &Reference,
    digest: &Digest,
    registry: &RegistryArgs,
) -> Result<String, qyvoci::OciError> {
    let client = Client::new(reference, Access::Pull, &registry.options())?;
    let (manifest, _) = fetch::wasm_manifest(&client, &digest.to_string())?;
    let title = manifest
        .layers
        .first()
        .and_then(|l| l.annotations.get(qyvoci::artifact::TITLE))
        .filter(|t| {
            !t.is_empty()
                && t.len() <= 255
                && !t.starts_with('.')
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        })
        .cloned();
    Ok(title.unwrap_or_else(|| "app.wasm".into()))
}
