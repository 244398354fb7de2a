//! `qyv validate`: check a `.qyv` manifest.

use std::path::Path;

use clap::Parser;
use qyvpack::manifest::{self, Diagnostic, ManifestError};

use super::exit;
use super::options::ProjectArg;

/// Check a .qyv manifest: syntax, keys, types, values and the rules between them.
///
/// PATH is a manifest or a project directory (its one .qyv); by default the current
/// directory. Prints OK or each problem with file:line:col, the offending line and a hint.
/// Exits 0 when valid (warnings allowed), 1 when invalid, 2 when the file cannot be read.
#[derive(Parser)]
pub struct Opts {
    #[command(flatten)]
    project: ProjectArg,
    /// Print a JSON object: {"file", "valid", "manifest" (when valid), "diagnostics":
    /// [{"severity", "message", "file", "line", "column", "hint"}], "model_warnings" (ONNX
    /// models tract cannot run, when there are)}.
    #[arg(long)]
    json: bool,
}

pub fn run(opts: Opts) -> anyhow::Result<i32> {
    let file = match opts.project.manifest() {
        Ok(file) => file,
        Err(err) => {
            super::failure::note(super::failure::of_manifest(&err));
            return Ok(io_failure(
                &opts.project.path(),
                &err.to_string(),
                opts.json,
            ));
        }
    };
    match manifest::load(&file) {
        Ok(loaded) => {
            let dir = file.parent().unwrap_or(Path::new("."));
            let models = runner::nn::project_warnings(dir, &loaded.manifest.models);
            if opts.json {
                print_json(
                    &file,
                    true,
                    Some(&loaded.manifest),
                    &loaded.warnings,
                    &models,
                );
            } else {
                for w in &loaded.warnings {
                    eprintln!("{w}\n");
                }
                for w in &models {
                    eprintln!("warning: {w}\n");
                }
                let n = loaded.warnings.len() + models.len();
                let note = match n {
                    0 => String::new(),
                    1 => " (1 warning)".to_string(),
                    _ => format!(" ({n} warnings)"),
                };
                println!("OK {}{note}", file.display());
            }
            Ok(exit::OK)
        }
        Err(ManifestError::Invalid(diagnostics)) => {
            if opts.json {
                print_json(&file, false, None, &diagnostics, &[]);
            } else {
                for d in &diagnostics {
                    eprintln!("{d}\n");
                }
                let errors = diagnostics.iter().filter(|d| d.is_error()).count();
                eprintln!(
                    "{} is invalid: {errors} error{}",
                    file.display(),
                    if errors == 1 { "" } else { "s" }
                );
            }
            Ok(exit::INVALID)
        }
        Err(err) => Ok(io_failure(&file, &err.to_string(), opts.json)),
    }
}

fn print_json(
    file: &Path,
    valid: bool,
    manifest: Option<&manifest::Manifest>,
    diagnostics: &[Diagnostic],
    model_warnings: &[String],
) {
    let mut out = serde_json::json!({
        "file": file,
        "valid": valid,
        "diagnostics": diagnostics,
    });
    if !model_warnings.is_empty() {
        out["model_warnings"] = serde_json::json!(model_warnings);
    }
    if let Some(m) = manifest {
        out["manifest"] = serde_json::to_value(m).expect("manifest serializes");
    }
    println!("{}", serde_json::to_string_pretty(&out).expect("JSON"));
}

fn io_failure(file: &Path, message: &str, json: bool) -> i32 {
    if json {
        let out = serde_json::json!({ "file": file, "valid": false, "error": message });
        println!("{}", serde_json::to_string_pretty(&out).expect("JSON"));
    } else {
        eprintln!("error: {message}");
    }
    exit::USAGE
}
