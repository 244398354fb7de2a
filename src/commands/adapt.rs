//! `qyv adapt`: turn a WASI preview1 core module into a P2 component.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use qyvbuild::componentize;

use super::exit;

/// Turn a WASI preview1 core module into a WASI P2 component.
///
/// Picks the preview1 adapter from the module's shape: the command adapter when it exports
/// `_start`, else the reactor adapter when it imports preview1, else none (a module with
/// component-type metadata and no preview1 imports is wrapped as it is). A component is
/// copied unchanged. The adapter and its version are recorded in a `qyv-adapter` custom
/// section that `qyv inspect` shows.
#[derive(Parser)]
pub struct Opts {
    /// The core module to adapt.
    input: PathBuf,
    /// Where to write the component [default: INPUT with `.component.wasm`].
    #[arg(short, long)]
    output: Option<PathBuf>,
}

pub fn run(opts: Opts) -> anyhow::Result<i32> {
    let bytes =
        qyvpack::bounded::read(&opts.input, qyvpack::bounded::MAX_WASM_FILE, "a wasm file")?;
    let output = opts.output.unwrap_or_else(|| default_output(&opts.input));
    qyvpack::output::check(&output, &[&opts.input])?;
    let adapted = match componentize::componentize(&bytes) {
        Ok(adapted) => adapted,
        Err(err) => {
            eprintln!("error: {}: {err}", opts.input.display());
            return Ok(exit::INVALID);
        }
    };
    qyvpack::output::write_atomically(&output, &adapted.bytes, qyvpack::output::Access::Shared)
        .with_context(|| format!("cannot write {}", output.display()))?;
    match adapted.adapter {
        None if !adapted.unchanged => eprintln!(
            "wrapped {} as a component (it imports no preview1, so it needs no adapter) -> {} ({} bytes)",
            opts.input.display(),
            output.display(),
            adapted.bytes.len()
        ),
        None => eprintln!(
            "{} is already a component; copied unchanged to {}",
            opts.input.display(),
            output.display()
        ),
        Some(kind) => eprintln!(
            "adapted {} with the preview1 {kind} adapter {} -> {} ({} bytes)",
            opts.input.display(),
            componentize::ADAPTER_VERSION,
            output.display(),
            adapted.bytes.len()
        ),
    }
    Ok(exit::OK)
}

/// `app.wasm` → `app.component.wasm`.
fn default_output(input: &std::path::Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    input.with_file_name(format!("{stem}.component.wasm"))
}
