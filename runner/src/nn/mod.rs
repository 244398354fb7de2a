//! wasi-nn for guests, on a backend of our own: tract, in pure Rust, so no native library has
//! to be installed. The models a guest can load by name are the app's own (`models:` in its
//! manifest), read once from the host file that backs `/models`; bytes a guest hands to
//! `load` are accepted too, within [`MAX_GUEST_MODEL`].
//!
//! wasmtime-wasi-nn turns every backend failure into the guest's generic `runtime-error`, so
//! the real cause is collected in [`Diagnostics`] for the CLI (or the server log) to print.

mod model;
mod registry;
mod tensor;
mod tract;

use crate::diagnostics::Diagnostics;
pub use model::{ModelError, ModelInfo, TRACT_VERSION, TensorInfo, describe};
pub use registry::names_for;

use model::Model;
use registry::Names;

/// Largest model a guest may hand to `load` as bytes: the app's own models have no such cap
/// (they were bounded when the bundle was read), a guest's bytes are its own choice.
pub const MAX_GUEST_MODEL: usize = 256 << 20;

/// A model of the run: its path under `/models` and the host file with its verified bytes.
pub use crate::run::ModelFile;

/// Why the models of a run cannot be offered: the run does not start.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    #[error("cannot read model {model}: {source}")]
    Read {
        model: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// The app's models, loaded into tract and checked before the guest starts: an operator tract
/// does not have is found here, not in the middle of a run.
pub struct Models {
    names: Names,
}

impl Models {
    /// Loads every `.onnx` of `files`; other files under `/models` are left to the guest.
    pub fn load(files: &[ModelFile]) -> Result<Models, NnError> {
        let mut loaded = Vec::new();
        for file in files.iter().filter(|f| is_onnx(&f.guest)) {
            let shown = file.guest.to_string_lossy().into_owned();
            let limit = qyvpack::bundle::ReadLimits::default().max_unpacked;
            let bytes = qyvpack::bounded::read(&file.host, limit, "a model").map_err(|e| {
                NnError::Read {
                    model: shown.clone(),
                    source: e.into_io(),
                }
            })?;
            loaded.push((shown.clone(), Model::from_bytes(&shown, &bytes)?));
        }
        Ok(Models {
            names: Names::new(loaded),
        })
    }

    /// The context for a component's `wasi:nn` imports.
    pub fn component_context(&self, diagnostics: &Diagnostics) -> wasmtime_wasi_nn::wit::WasiNnCtx {
        wasmtime_wasi_nn::wit::WasiNnCtx::new(
            [tract::backend(diagnostics)],
            wasmtime_wasi_nn::Registry::from(self.names.registry(diagnostics)),
        )
    }

    /// The context for a core module's `wasi_ephemeral_nn` imports.
    pub fn module_context(&self, diagnostics: &Diagnostics) -> wasmtime_wasi_nn::witx::WasiNnCtx {
        wasmtime_wasi_nn::witx::WasiNnCtx::new(
            [tract::backend(diagnostics)],
            wasmtime_wasi_nn::Registry::from(self.names.registry(diagnostics)),
        )
    }
}

/// Why each ONNX model a project declares (`patterns`, its manifest's `models:`) cannot run,
/// for `qyv validate` and `qyv pack` to warn before a run finds out. Models that cannot be
/// read are left to the commands' own reading of them.
pub fn project_warnings(dir: &std::path::Path, patterns: &[String]) -> Vec<String> {
    let Ok(files) = qyvpack::files::declared(dir, patterns) else {
        return Vec::new();
    };
    let limit = qyvpack::bundle::ReadLimits::default().max_unpacked;
    files
        .iter()
        .filter(|f| is_onnx(&f.dest))
        .filter_map(|f| {
            let shown = f.dest.to_string_lossy();
            let bytes = qyvpack::bounded::read(&f.resolved, limit, "a model").ok()?;
            match describe(&shown, &bytes) {
                Ok(info) => info.cannot_run,
                Err(e) => Some(e.to_string()),
            }
        })
        .collect()
}

/// Whether a path names an ONNX model.
pub fn is_onnx(p: &std::path::Path) -> bool {
    p.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

/// The context of the guest's `wasi:nn`, one shape per kind of guest.
pub enum NnCtx {
    Component(wasmtime_wasi_nn::wit::WasiNnCtx),
    Module(wasmtime_wasi_nn::witx::WasiNnCtx),
}

/// Whether a component's top-level imports include `wasi:nn`.
pub fn component_imports_nn(imports: &[String]) -> bool {
    imports.iter().any(|i| i.starts_with("wasi:nn/"))
}

/// The module name of wasi-nn's preview 1 (witx) form.
pub const WITX_MODULE: &str = "wasi_ephemeral_nn";

#[cfg(test)]
mod tests;
