//! The `Toolchain` trait: what every language's build driver offers.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::progress::Progress;

/// What builds a project: a language's compiler, or a build system around C (a Makefile,
/// CMake, the manifest's own `build.command`). Each has one [`Toolchain`] driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    Rust,
    Go,
    Python,
    C,
    Zig,
    Nim,
    AssemblyScript,
    JavaScript,
    Kotlin,
    /// A C/C++ project built by its Makefile.
    Make,
    /// A C/C++ project built by CMake.
    CMake,
    /// A C/C++ project with a `configure` script (Autotools), configured and built by make.
    Autotools,
    Julia,
    /// The manifest's own `build.command`.
    Command,
}

impl Driver {
    /// The driver's name (`qyv build` and `qyv doctor` show it); for a source language, the
    /// name used in manifests (`language:`) and on the command line (`--lang`).
    pub fn id(self) -> &'static str {
        match self {
            Driver::Rust => "rust",
            Driver::Go => "go",
            Driver::Python => "python",
            Driver::C => "c",
            Driver::Zig => "zig",
            Driver::Nim => "nim",
            Driver::AssemblyScript => "assemblyscript",
            Driver::JavaScript => "javascript",
            Driver::Kotlin => "kotlin",
            Driver::Make => "make",
            Driver::CMake => "cmake",
            Driver::Autotools => "autotools",
            Driver::Julia => "julia",
            Driver::Command => "command",
        }
    }

    /// The source language, as a manifest's `language:` names it: a Makefile or CMake
    /// project is C (or C++) to the manifest.
    pub fn language(self) -> &'static str {
        match self {
            Driver::Make | Driver::CMake | Driver::Autotools => "c",
            other => other.id(),
        }
    }

    /// The language's name in a producers section (`language` field), for the compilers
    /// that may leave none; `None` where the output is a component that names its own.
    pub fn producers_name(self) -> Option<&'static str> {
        Some(match self {
            Driver::C | Driver::Make | Driver::CMake | Driver::Autotools => "C",
            Driver::Zig => "Zig",
            Driver::Nim => "Nim",
            Driver::AssemblyScript => "AssemblyScript",
            Driver::Kotlin => "Kotlin",
            Driver::Go => "Go",
            Driver::Rust => "Rust",
            Driver::Python | Driver::JavaScript | Driver::Julia | Driver::Command => {
                return None;
            }
        })
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Why a toolchain thinks a directory is its kind of project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub driver: Driver,
    /// The file that gave it away (e.g. `Cargo.toml`).
    pub marker: PathBuf,
}

/// One thing a toolchain needs and lacks, with the command that installs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Missing {
    /// What is missing, e.g. `rust target wasm32-wasip2`.
    pub what: String,
    /// The exact command that installs it.
    pub install: String,
}

/// What `qyv doctor` reports for one language.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ToolStatus {
    pub driver: Driver,
    /// The compiler's version line, when it was found.
    pub version: Option<String>,
    /// What is missing; empty when the language is ready to build.
    pub missing: Vec<Missing>,
}

impl ToolStatus {
    /// Ready to build.
    pub fn ready(&self) -> bool {
        self.missing.is_empty()
    }
}

/// What to build, merged from the manifest's `build:` section and the command line.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// The project directory, canonical (build resolves it once for every driver).
    pub dir: PathBuf,
    /// A wasm target asked for explicitly (`--target` or `build.target`).
    pub target: Option<String>,
    /// The target was forced on the command line: no fallback to another one.
    pub target_forced: bool,
    /// Build profile (`release` by default).
    pub profile: Option<String>,
    /// Language features (cargo features for Rust).
    pub features: Vec<String>,
    /// The package to build in a multi-package project (`-p`).
    pub package: Option<String>,
    /// The binary to build when there are several (`--bin`).
    pub bin: Option<String>,
    /// The manifest's `build.entry`: what runs, for languages whose projects may hold several
    /// programs (a `[project.scripts]` name or script for Python, a module for JavaScript).
    pub entry: Option<String>,
    /// Build a reactor (a library of exports) instead of a command (manifest `type: reactor`).
    pub reactor: bool,
    /// The manifest's `build.go` (package, tags, ldflags).
    pub go: qyvpack::manifest::GoBuildConfig,
    /// The program to take when the build makes several (`build.output`: a path or a name).
    pub output: Option<String>,
}

/// A compiler's result, before componentization.
#[derive(Debug, Clone)]
pub struct CompileOutput {
    /// The `.wasm` the compiler wrote (core module or component).
    pub wasm: PathBuf,
    /// The app's name, from the project (package or binary name).
    pub name: String,
    /// The target actually used.
    pub target: String,
    /// Things the user should know (a fallback taken, a toolchain file overridden).
    pub notes: Vec<String>,
}

impl CompileOutput {
    /// An output with no notes.
    pub fn new(wasm: PathBuf, name: String, target: impl Into<String>) -> CompileOutput {
        CompileOutput {
            wasm,
            name,
            target: target.into(),
            notes: Vec::new(),
        }
    }

    /// With these notes.
    pub fn with_notes(mut self, notes: Vec<String>) -> CompileOutput {
        self.notes = notes;
        self
    }
}

/// Errors of a build.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No toolchain recognised the directory.
    #[error("no project found in {dir}: looked for {looked_for}")]
    NoProject { dir: PathBuf, looked_for: String },
    /// The toolchain is not installed or lacks a part.
    #[error("{driver} toolchain is not ready: {}", describe_missing(missing))]
    ToolchainMissing {
        driver: Driver,
        missing: Vec<Missing>,
    },
    /// The project's own description is ambiguous or wrong.
    #[error("{0}")]
    Project(String),
    /// The compiler failed; its output was already shown to the user.
    #[error("{tool} failed{}", status.map(|c| format!(" with exit code {c}")).unwrap_or_default())]
    CompilerFailed { tool: String, status: Option<i32> },
    /// Componentization failed.
    #[error(transparent)]
    Adapt(#[from] crate::componentize::AdaptError),
    /// Reading or writing files, or starting a program, failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn describe_missing(missing: &[Missing]) -> String {
    missing
        .iter()
        .map(|m| format!("{} is missing (install it with `{}`)", m.what, m.install))
        .collect::<Vec<_>>()
        .join("; ")
}

impl BuildError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        BuildError::Io {
            context: context.into(),
            source,
        }
    }
}

/// A language's (or build system's) build driver.
pub trait Toolchain {
    /// Which driver it is.
    fn driver(&self) -> Driver;
    /// The files whose presence makes a directory this language's project, for messages.
    fn markers(&self) -> &'static [&'static str];
    /// The file that makes `dir` this language's project, if there is one.
    fn find_marker(&self, dir: &Path) -> Option<PathBuf>;
    /// Recognises a project directory.
    fn detect(&self, dir: &Path) -> Option<Detection> {
        self.find_marker(dir).map(|marker| Detection {
            driver: self.driver(),
            marker,
        })
    }
    /// Reports the compiler's version and anything missing, with install commands.
    fn status(&self) -> ToolStatus;
    /// Which installation a build will use and why (the user's own, found on `PATH` or
    /// through a variable such as `GOROOT`, or qyv's pinned one), for `qyv doctor`.
    fn chosen(&self) -> Option<String> {
        None
    }
    /// `Some(reason)` when this language's core modules are kept as they are instead of being
    /// adapted to a component.
    fn keeps_core_module(&self) -> Option<&'static str> {
        None
    }
    /// Compiles the project to a core module or a component.
    fn compile(
        &self,
        request: &BuildRequest,
        progress: &dyn Progress,
    ) -> Result<CompileOutput, BuildError>;
}
