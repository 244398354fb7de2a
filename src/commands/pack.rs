//! `qyv pack`: make a signed, reproducible `.qyvbin`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use qyvpack::bundle::{self, PackFile, PackInput};
use qyvpack::{bounded, files, keys, manifest};

use super::exit;
use super::options::ProjectArg;

/// Pack an app into one signed, zstd-compressed, reproducible .qyvbin: its manifest, its
/// component (the manifest's entrypoint, built by `qyv build`), its models and assets.
///
/// Signing: --sign KEYFILE, or --sign env:VAR, or the QYV_SIGNING_KEY environment variable
/// (base64 of the key file) when --sign is absent. The key is never printed. The same inputs
/// give byte-identical bundles (mtime from SOURCE_DATE_EPOCH, else 0). Prints the bundle's
/// sha256 on stdout.
#[derive(Parser)]
pub struct Opts {
    #[command(flatten)]
    project: ProjectArg,
    /// The bundle to write [default: target/qyv/NAME.qyvbin beside the manifest].
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The private key: a file, or env:VAR.
    #[arg(long, value_name = "KEY")]
    sign: Option<String>,
    /// Do not sign, even if QYV_SIGNING_KEY is set.
    #[arg(long, conflicts_with = "sign")]
    unsigned: bool,
    /// zstd level, 1 (fast) to 19 (small); 3 by default.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=22))]
    level: i32,
    /// Print a JSON object {path, sha256, size, unpacked, files, signed_by}.
    #[arg(long)]
    json: bool,
    /// Print only errors.
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(opts: Opts) -> anyhow::Result<i32> {
    let manifest_path = opts.project.manifest()?;
    let loaded = match manifest::load(&manifest_path) {
        Ok(l) => l,
        Err(manifest::ManifestError::Invalid(d)) => {
            for d in &d {
                eprintln!("{d}\n");
            }
            eprintln!("{} is invalid", manifest_path.display());
            return Ok(exit::INVALID);
        }
        Err(e) => return Err(e.into()),
    };
    let m = &loaded.manifest;
    let entry = loaded.entrypoint()?;
    if !entry.is_file() {
        eprintln!(
            "error: the entrypoint {} does not exist: build it first (`qyv build {}`)",
            entry.display(),
            loaded.dir.display()
        );
        return Ok(exit::INVALID);
    }
    let key = match signing_key(&opts)? {
        Some((pair, source)) => {
            if !opts.quiet && !opts.json {
                eprintln!("signing with the key from {source}");
            }
            Some(pair)
        }
        None => None,
    };
    let declared = |patterns: &[String]| -> anyhow::Result<Vec<(String, PackFile)>> {
        Ok(files::declared(&loaded.dir, patterns)?
            .into_iter()
            .map(|f| {
                (
                    f.dest.to_string_lossy().replace('\\', "/"),
                    PackFile::Path(f.resolved),
                )
            })
            .collect())
    };
    let manifest_bytes = bounded::read(
        &loaded.path,
        manifest::MAX_SOURCE_BYTES as u64,
        "a manifest",
    )?;
    // A model tract cannot run is packed all the same (it is the app's data), with a warning.
    for warning in runner::nn::project_warnings(&loaded.dir, &m.models) {
        eprintln!("warning: {warning}");
    }
    let pack_input = PackInput {
        name: m.name.clone(),
        manifest: manifest_bytes,
        component: PackFile::Path(entry.clone()),
        models: declared(&m.models)?,
        assets: declared(&m.assets)?,
        level: opts.level,
        mtime: std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0),
    };
    let out = opts
        .output
        .clone()
        .unwrap_or_else(|| default_output(&loaded.dir, &m.name));
    // The files packed are checked by `bundle::pack`; the manifest goes in as bytes.
    qyvpack::output::check(&out, &[&loaded.path])?;
    // An interrupted pack removes its partial bundle.
    crate::interrupt::on_interrupt(bundle::partial::remove_all);
    let total: u64 = [entry.clone()]
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum::<u64>()
        + pack_input
            .models
            .iter()
            .chain(&pack_input.assets)
            .map(|(_, f)| match f {
                PackFile::Path(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
                PackFile::Bytes(b) => b.len() as u64,
            })
            .sum::<u64>();
    let bar = progress_bar(total, opts.quiet || opts.json);
    let packed = bundle::pack(&pack_input, key.as_ref(), &out, &|done| {
        if let Some(b) = &bar {
            b.set_position(done);
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let packed = packed?;
    let signed_by = packed.signer.map(|k| keys::fingerprint(&k));
    if opts.json {
        let v = serde_json::json!({
            "path": packed.path,
            "sha256": packed.sha256,
            "size": packed.size,
            "unpacked": packed.unpacked,
            "files": packed.files,
            "signed_by": signed_by,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        if !opts.quiet {
            let ratio = packed.unpacked as f64 / packed.size.max(1) as f64;
            eprintln!(
                "packed {} ({} files, {} -> {}, {ratio:.1}x), {}",
                packed.path.display(),
                packed.files,
                qyvpack::manifest::units::human_size(packed.unpacked),
                qyvpack::manifest::units::human_size(packed.size),
                match &signed_by {
                    Some(f) => format!("signed by {f}"),
                    None => "UNSIGNED".into(),
                }
            );
        }
        println!("{}", packed.sha256);
    }
    // So that the first run of the bundle starts warm (its component is the entrypoint's bytes).
    super::cache::warm_in_background(&manifest_path, None);
    Ok(exit::OK)
}

fn default_output(dir: &Path, name: &str) -> PathBuf {
    dir.join("target/qyv").join(format!("{name}.qyvbin"))
}

/// The key to sign with, and where it came from (never its content).
fn signing_key(opts: &Opts) -> anyhow::Result<Option<(ring::signature::Ed25519KeyPair, String)>> {
    if opts.unsigned {
        return Ok(None);
    }
    let (text, source) = match opts.sign.as_deref() {
        Some(spec) if spec.starts_with("env:") => {
            let var = &spec[4..];
            let text = std::env::var(var)
                .with_context(|| format!("--sign {spec}: the variable {var} is not set"))?;
            (text, format!("${var}"))
        }
        Some(path) => (
            bounded::read_to_string(Path::new(path), bounded::MAX_KEY_FILE, "a key file")
                .with_context(|| format!("cannot read the key {path}"))?,
            path.to_string(),
        ),
        None => match std::env::var("QYV_SIGNING_KEY") {
            Ok(text) if !text.trim().is_empty() => (text, "$QYV_SIGNING_KEY".to_string()),
            _ => return Ok(None),
        },
    };
    let pair = keys::parse_private(&text).with_context(|| format!("the key from {source}"))?;
    Ok(Some((pair, source)))
}

fn progress_bar(total: u64, hidden: bool) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    // Only worth it for large inputs, and only on a terminal.
    if hidden || total < (64 << 20) || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .expect("valid template"),
    );
    bar.set_prefix("hashing");
    Some(bar)
}
