//! `qyv inspect`: what a wasm file is, imports, exports and is made of.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Parser;

use super::exit;

/// Show what a .wasm file or a .qyvbin bundle is (for a bundle: its files, digests,
/// compression and signer, then its component). For wasm: kind, size, validity, the source language it suggests, its
/// WIT world or core imports/exports, the WASI world it fits, wasm proposals used, producers,
/// the preview1 adapter that made it, and where its bytes go.
///
/// Exits 0 when the file was inspected (even if the validator rejects it: the report says
/// so), 1 when it is not wasm or is too broken to read, 2 when it cannot be read at all.
#[derive(Parser)]
pub struct Opts {
    /// The .wasm file (core module or component).
    file: PathBuf,
    /// Print the report as JSON (schema in docs/inspect-json.md).
    #[arg(long, conflicts_with = "wit")]
    json: bool,
    /// Print the component's WIT world instead of the report.
    #[arg(long)]
    wit: bool,
}

pub fn run(opts: Opts) -> anyhow::Result<i32> {
    let file = match read_file(&opts.file) {
        Ok(file) => file,
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(exit::USAGE);
        }
    };
    let bytes: &[u8] = &file;
    let name = opts.file.display().to_string();
    let mut bundle_info = None;
    let bytes = if qyvpack::bundle::is_bundle(bytes) {
        match qyvpack::bundle::read(bytes, qyvpack::bundle::ReadLimits::from_env()?) {
            Ok(bundle) => {
                bundle_info = Some(bundle);
                bundle_info.as_ref().expect("just set").component()
            }
            Err(err) => {
                return Ok(invalid(&name, &err, opts.json));
            }
        }
    } else {
        bytes
    };
    if opts.wit {
        return Ok(match qyvinspect::wit_text(bytes) {
            Ok(wit) => {
                print!("{wit}");
                exit::OK
            }
            Err(err) => {
                eprintln!("error: {name}: {err}");
                exit::INVALID
            }
        });
    }
    let report = if bundle_info.is_some() {
        qyvinspect::inspect(bytes)
    } else {
        qyvinspect::inspect_file(&opts.file, bytes)
    };
    let report = match report {
        Ok(report) => report,
        Err(err) => {
            return Ok(invalid(&name, &err, opts.json));
        }
    };
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    if opts.json {
        let mut value = serde_json::to_value(&report)?;
        value["file"] = serde_json::Value::String(name);
        if let Some(b) = &bundle_info {
            value["bundle"] = bundle_json(b);
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        if let Some(b) = &bundle_info {
            print!("{}", bundle_human(&name, b));
        }
        let shown = match &bundle_info {
            Some(b) => format!("{name}!{}", b.index.component),
            None => name,
        };
        print!("{}", qyvinspect::render_human(&shown, &report, color));
    }
    Ok(exit::OK)
}

/// Reports a file that cannot be inspected (one line, or `{file, error}` with `--json`).
fn invalid(name: &str, err: &dyn std::fmt::Display, json: bool) -> i32 {
    if json {
        let out = serde_json::json!({ "file": name, "error": err.to_string() });
        println!("{}", serde_json::to_string_pretty(&out).expect("JSON"));
    } else {
        eprintln!("error: {name}: {err}");
    }
    exit::INVALID
}

fn signer_json(b: &qyvpack::bundle::Bundle) -> serde_json::Value {
    let signer = qyvpack::keys::Signer::judge(b.signer, None);
    serde_json::json!({
        "signed": b.signer.is_some(),
        "fingerprint": b.signer.map(|k| qyvpack::keys::fingerprint(&k)),
        "trusted": matches!(signer, qyvpack::keys::Signer::Trusted(_)),
        "status": signer.describe(),
    })
}

fn bundle_json(b: &qyvpack::bundle::Bundle) -> serde_json::Value {
    let manifest = String::from_utf8_lossy(b.manifest_text()).into_owned();
    serde_json::json!({
        "format": b.version,
        "name": b.index.name,
        "size": b.compressed_size,
        "unpacked": b.unpacked_size(),
        "ratio": b.unpacked_size() as f64 / b.compressed_size.max(1) as f64,
        "signature": signer_json(b),
        "files": b.index.files.iter().map(|f| serde_json::json!({
            "path": f.path, "size": f.size, "blake3": f.blake3,
        })).collect::<Vec<_>>(),
        "manifest": manifest,
        "models": bundle_models(b).iter().map(|(path, info)| match info {
            Ok(info) => serde_json::json!({
                "path": path,
                "inputs": info.inputs,
                "outputs": info.outputs,
                "runs_on_tract": info.cannot_run.is_none(),
                "cannot_run": info.cannot_run,
            }),
            Err(e) => serde_json::json!({
                "path": path, "runs_on_tract": false, "cannot_run": e.to_string(),
            }),
        }).collect::<Vec<_>>(),
    })
}

/// The bundle's ONNX models (under `models/`), described by the backend `qyv run` uses.
fn bundle_models(
    b: &qyvpack::bundle::Bundle,
) -> Vec<(
    String,
    Result<runner::nn::ModelInfo, runner::nn::ModelError>,
)> {
    b.files_below(qyvpack::bundle::MODELS_DIR)
        .into_iter()
        .filter(|(p, _)| runner::nn::is_onnx(std::path::Path::new(p)))
        .map(|(p, bytes)| {
            let info = runner::nn::describe(&p, bytes);
            (p, info)
        })
        .collect()
}

fn bundle_human(name: &str, b: &qyvpack::bundle::Bundle) -> String {
    use std::fmt::Write;
    let human = qyvpack::manifest::units::human_size;
    let mut out = String::new();
    let ratio = b.unpacked_size() as f64 / b.compressed_size.max(1) as f64;
    let _ = writeln!(
        out,
        "{name}: qyv bundle v{}, {} ({} unpacked, {ratio:.1}x)",
        b.version,
        human(b.compressed_size),
        human(b.unpacked_size()),
    );
    let signer = qyvpack::keys::Signer::judge(b.signer, None);
    let _ = writeln!(out, "  signature    {}", signer.describe());
    let _ = writeln!(out, "files ({})", b.index.files.len());
    for f in &b.index.files {
        let _ = writeln!(
            out,
            "  {:<28}{:>10}  blake3:{}",
            f.path,
            human(f.size),
            &f.blake3[..16]
        );
    }
    let models = bundle_models(b);
    if !models.is_empty() {
        let _ = writeln!(out, "models ({}, wasi-nn)", models.len());
    }
    for (path, info) in &models {
        match info {
            Ok(info) => {
                let runs = match &info.cannot_run {
                    None => format!("runs on tract {}", runner::nn::TRACT_VERSION),
                    Some(why) => format!("CANNOT RUN: {why}"),
                };
                let _ = writeln!(out, "  {path}  {runs}");
                for t in &info.inputs {
                    let _ = writeln!(out, "    input   {} {t}", t.name);
                }
                for t in &info.outputs {
                    let _ = writeln!(out, "    output  {} {t}", t.name);
                }
            }
            Err(e) => {
                let _ = writeln!(out, "  {path}  CANNOT RUN: {e}");
            }
        }
    }
    let _ = writeln!(out, "manifest");
    for line in String::from_utf8_lossy(b.manifest_text()).lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// The file's bytes: mapped into memory (no copy of a large component), or read when it
/// cannot be mapped (a pipe, an empty file).
enum FileBytes {
    Mapped(memmap2::Mmap),
    Read(Vec<u8>),
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(m) => m,
            FileBytes::Read(v) => v,
        }
    }
}

fn read_file(path: &std::path::Path) -> Result<FileBytes, qyvpack::bounded::ReadError> {
    let io = |source| qyvpack::bounded::ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if meta.is_file() && meta.len() > 0 {
        // SAFETY: the map is read-only and lives only while this command inspects it; a file
        // truncated meanwhile by another process could fault, as for any mmap reader.
        if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
            return Ok(FileBytes::Mapped(map));
        }
    }
    // A pipe or a device: read within the larger of the two budgets, and only if it starts
    // like a wasm file or a bundle.
    let limit =
        qyvpack::bounded::MAX_WASM_FILE.max(qyvpack::bundle::ReadLimits::default().max_file_size());
    qyvpack::bounded::read_expecting(path, limit, "a wasm file or a qyv bundle", 4, |head| {
        head == b"\0asm" || qyvpack::bundle::is_bundle(head)
    })
    .map(FileBytes::Read)
}
