//! `qyv inspect`: what a wasm file is, imports, exports and is made of.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Parser;

use super::exit;

/// Show what a .wasm file is: kind, size, validity, the source language it suggests, its
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
    let bytes = match std::fs::read(&opts.file) {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!("error: cannot read {}: {err}", opts.file.display());
            return Ok(exit::USAGE);
        }
    };
    let name = opts.file.display().to_string();
    if opts.wit {
        return Ok(match runner::inspect::wit_text(&bytes) {
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
    let report = match runner::inspect::inspect(&bytes) {
        Ok(report) => report,
        Err(err) => {
            if opts.json {
                let out = serde_json::json!({ "file": name, "error": err.to_string() });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                eprintln!("error: {name}: {err}");
            }
            return Ok(exit::INVALID);
        }
    };
    if opts.json {
        let mut value = serde_json::to_value(&report)?;
        value["file"] = serde_json::Value::String(name);
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        print!("{}", runner::inspect::render_human(&name, &report, color));
    }
    Ok(exit::OK)
}
