//! Julia: detected, and refused honestly. Julia has no route to WASI here: no Debian or npm
//! package, PyPI's installers download Julia from its website, and Julia itself has no
//! WASI target (its runtime needs a JIT, threads and signals that WASI does not have).

use std::path::{Path, PathBuf};

use crate::progress::Progress;
use crate::toolchain::{
    BuildError, BuildRequest, CompileOutput, Driver, Missing, ToolStatus, Toolchain,
};
use crate::tools;

/// The Julia "driver": detection and an honest refusal.
pub struct Julia;

/// Why there is no Julia build.
pub const NO_ROUTE: &str = "Julia cannot be built to WASI: Julia has no WASI target (its \
    runtime needs a JIT compiler, threads and signals, which WASI lacks), and no registry \
    this machine reaches ships Julia (no Debian or npm package; PyPI's installers download it \
    from julialang.org). Write the app's wasm part in another language (Rust, C, Zig, Go, \
    Python) and keep Julia on the host";

impl Toolchain for Julia {
    fn driver(&self) -> Driver {
        Driver::Julia
    }

    fn markers(&self) -> &'static [&'static str] {
        &["Project.toml", "*.jl"]
    }

    fn find_marker(&self, dir: &Path) -> Option<PathBuf> {
        tools::first_file(dir, &["Project.toml"])
            .or_else(|| tools::files_with_extension(dir, &["jl"]).into_iter().next())
    }

    fn status(&self) -> ToolStatus {
        ToolStatus {
            driver: Driver::Julia,
            version: None,
            missing: vec![Missing {
                what: "a Julia to WASI compiler".into(),
                install: "none exists; see the README's language table".into(),
            }],
        }
    }

    fn compile(
        &self,
        _request: &BuildRequest,
        _progress: &dyn Progress,
    ) -> Result<CompileOutput, BuildError> {
        Err(BuildError::Project(NO_ROUTE.into()))
    }
}
