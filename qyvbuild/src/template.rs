//! Project templates for `qyv new`, embedded in the binary from `templates/<language>/`.

use std::path::{Path, PathBuf};

/// One file of a template: its path in the new project and its text with `{{name}}`
/// placeholders (and `{{go_module}}`, `{{cargo_package}}`, see [`go_module`] and
/// [`cargo_package`]).
struct TemplateFile {
    path: &'static str,
    text: &'static str,
    /// Written as they are, without placeholders (a model, an image).
    bytes: Option<&'static [u8]>,
}

/// A language's template.
pub struct Template {
    pub language: &'static str,
    pub description: &'static str,
    files: &'static [TemplateFile],
}

macro_rules! file {
    ($dest:expr, $src:expr) => {
        TemplateFile {
            path: $dest,
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../templates/", $src)),
            bytes: None,
        }
    };
}

/// A binary file of a template, from the repository (`examples/` holds the data once).
macro_rules! data {
    ($dest:expr, $src:expr) => {
        TemplateFile {
            path: $dest,
            text: "",
            bytes: Some(include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../",
                $src
            ))),
        }
    };
}

/// Templates beyond a language's plain one (`qyv new --lang rust --template nn`), by
/// language and name. The `http` ones are handlers for `wasi:http/proxy` (`type: http`) that
/// behave alike: `GET /hello?name=x`, `POST /echo` (streamed), 404 otherwise.
pub static VARIANTS: &[(&str, Template)] = &[
    (
        "http",
        Template {
            language: "rust",
            description: "a Rust HTTP handler (wasi:http/incoming-handler, the wasi crate) built for wasm32-wasip2",
            files: &[
                file!("Cargo.toml", "rust-http/Cargo.toml.tmpl"),
                file!("src/lib.rs", "rust-http/src/lib.rs"),
                file!("{{name}}.qyv", "rust-http/app.qyv"),
                file!(".gitignore", "rust/gitignore"),
            ],
        },
    ),
    (
        "http",
        Template {
            language: "python",
            description: "a Python HTTP handler (componentize-py's IncomingHandler for wasi:http/proxy)",
            files: &[
                file!("app.py", "python-http/app.py"),
                file!("pyproject.toml", "python-http/pyproject.toml.tmpl"),
                file!("{{name}}.qyv", "python-http/app.qyv"),
                file!(".gitignore", "python/gitignore"),
            ],
        },
    ),
    (
        "http",
        Template {
            language: "javascript",
            description: "a JavaScript HTTP handler (a fetch event listener, built by componentize-js for wasi:http/proxy)",
            files: &[
                file!("index.js", "javascript-http/index.js"),
                file!("package.json", "javascript-http/package.json.tmpl"),
                file!("{{name}}.qyv", "javascript-http/app.qyv"),
                file!(".gitignore", "javascript/gitignore"),
            ],
        },
    ),
    (
        "nn",
        Template {
            language: "rust",
            description: "a Rust component that classifies a handwritten digit with an ONNX model through wasi-nn",
            files: &[
                file!("Cargo.toml", "rust-nn/Cargo.toml.tmpl"),
                file!("src/main.rs", "rust-nn/src/main.rs"),
                file!(
                    "wit/wasi-nn.wit",
                    "../qyvbuild/wit/wasi-nn-0.2.0-rc-2024-10-28/wasi-nn.wit"
                ),
                file!("{{name}}.qyv", "rust-nn/app.qyv"),
                file!("README.md", "rust-nn/README.md"),
                file!(".gitignore", "rust/gitignore"),
                data!("models/mnist.onnx", "examples/mnist-rust/models/mnist.onnx"),
                data!("assets/two.pgm", "examples/mnist-rust/assets/two.pgm"),
            ],
        },
    ),
];

/// The template `name` of `language` (see [`VARIANTS`]).
pub fn find_variant(language: &str, name: &str) -> Result<&'static Template, TemplateError> {
    let language = language.to_ascii_lowercase();
    VARIANTS
        .iter()
        .find(|(n, t)| *n == name && t.language == language)
        .map(|(_, t)| t)
        .ok_or_else(|| {
            TemplateError::UnknownVariant(
                name.into(),
                language.clone(),
                VARIANTS
                    .iter()
                    .map(|(n, t)| format!("{n} ({})", t.language))
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })
}

/// Every template, by language.
pub static TEMPLATES: &[Template] = &[
    Template {
        language: "rust",
        description: "a cargo binary built for wasm32-wasip2",
        files: &[
            file!("Cargo.toml", "rust/Cargo.toml.tmpl"),
            file!("src/main.rs", "rust/src/main.rs"),
            file!("{{name}}.qyv", "rust/app.qyv"),
            file!(".gitignore", "rust/gitignore"),
        ],
    },
    Template {
        language: "go",
        description: "a Go command for GOOS=wasip1 (kept a preview1 core module)",
        files: &[
            file!("go.mod", "go/go.mod.tmpl"),
            file!("main.go", "go/main.go"),
            file!("{{name}}.qyv", "go/app.qyv"),
            file!(".gitignore", "go/gitignore"),
        ],
    },
    Template {
        language: "python",
        description: "a plain Python script (pyproject.toml for dependencies), made a component by componentize-py",
        files: &[
            file!("app.py", "python/app.py"),
            file!("pyproject.toml", "python/pyproject.toml.tmpl"),
            file!("{{name}}.qyv", "python/app.qyv"),
            file!(".gitignore", "python/gitignore"),
        ],
    },
    Template {
        language: "c",
        description: "C sources built by zig cc, adapted to a component",
        files: &[
            file!("src/main.c", "c/src/main.c"),
            file!("{{name}}.qyv", "c/app.qyv"),
            file!(".gitignore", "c/gitignore"),
        ],
    },
    Template {
        language: "zig",
        description: "a Zig 0.17 command (std.process.Init) for wasm32-wasi",
        files: &[
            file!("src/main.zig", "zig/src/main.zig"),
            file!("{{name}}.qyv", "zig/app.qyv"),
            file!(".gitignore", "zig/gitignore"),
        ],
    },
    Template {
        language: "nim",
        description: "a Nim command for wasm32-wasi (nim with clang and wasi-libc)",
        files: &[
            file!("src/main.nim", "nim/src/main.nim"),
            file!("{{name}}.qyv", "nim/app.qyv"),
            file!(".gitignore", "nim/gitignore"),
        ],
    },
    Template {
        language: "assemblyscript",
        description: "an AssemblyScript command (asc with the WASI shim)",
        files: &[
            file!("assembly/index.ts", "assemblyscript/assembly/index.ts"),
            file!("{{name}}.qyv", "assemblyscript/app.qyv"),
            file!(".gitignore", "assemblyscript/gitignore"),
        ],
    },
    Template {
        language: "javascript",
        description: "a plain Node.js script (package.json for npm dependencies), made a component by componentize-js",
        files: &[
            file!("index.js", "javascript/index.js"),
            file!("package.json", "javascript/package.json.tmpl"),
            file!("{{name}}.qyv", "javascript/app.qyv"),
            file!(".gitignore", "javascript/gitignore"),
        ],
    },
    Template {
        language: "kotlin",
        description: "a Kotlin/Wasm command for WASI (kotlinc-wasm, wasm GC)",
        files: &[
            file!("src/main.kt", "kotlin/src/main.kt"),
            file!("{{name}}.qyv", "kotlin/app.qyv"),
            file!(".gitignore", "kotlin/gitignore"),
        ],
    },
];

/// Errors of `qyv new`.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("no template for `{0}`; templates: {1}")]
    UnknownLanguage(String, String),
    #[error("no template `{0}` for {1}; there are: {2}")]
    UnknownVariant(String, String, String),
    #[error(
        "`{0}` is not a valid app name: use lowercase letters, digits and `-`, starting with a letter, at most 64"
    )]
    BadName(String),
    #[error("{0} already exists and is not empty; choose another name or remove it")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The template for a language.
pub fn find(language: &str) -> Result<&'static Template, TemplateError> {
    TEMPLATES
        .iter()
        .find(|t| t.language == language.to_ascii_lowercase())
        .ok_or_else(|| {
            TemplateError::UnknownLanguage(
                language.into(),
                TEMPLATES
                    .iter()
                    .map(|t| t.language)
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })
}

/// Scaffolds a project named after the last component of `dest`; returns the files written.
pub fn scaffold(template: &Template, dest: &Path) -> Result<Vec<PathBuf>, TemplateError> {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !valid_name(&name) {
        return Err(TemplateError::BadName(name));
    }
    if dest.exists()
        && dest
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(TemplateError::Exists(dest.to_path_buf()));
    }
    let mut written = Vec::new();
    for file in template.files {
        let path = dest.join(file.path.replace("{{name}}", &name));
        let io = |source| TemplateError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        match file.bytes {
            Some(bytes) => std::fs::write(&path, bytes).map_err(io)?,
            None => {
                let text = file
                    .text
                    .replace("{{go_module}}", &go_module(&name))
                    .replace("{{cargo_package}}", &cargo_package(&name))
                    .replace("{{name}}", &name);
                std::fs::write(&path, text).map_err(io)?;
            }
        }
        written.push(path);
    }
    Ok(written)
}

/// The Go module path for an app: `example/NAME`. A path whose first element has no dot is
/// the standard library's (`module go` is refused, `module fmt` makes `import "fmt"`
/// ambiguous, `std` and `cmd` mean the library and the toolchain), and `example` is the
/// first element Go reserves for users' self-contained modules (go.dev/ref/mod, "Module
/// paths").
pub fn go_module(name: &str) -> String {
    format!("example/{name}")
}

/// The Cargo package name for an app: its name, unless Cargo forbids it as a binary's name
/// (those of its build directories), then `NAME-app`. qyv names the component after the
/// manifest, not the package.
pub fn cargo_package(name: &str) -> String {
    if ["build", "deps", "examples", "incremental"].contains(&name) {
        format!("{name}-app")
    } else {
        name.to_string()
    }
}

/// The manifest's rule for app names (qyvpack's), and a letter first: the name also becomes
/// the package name of the language's own tooling (cargo refuses one starting with a digit).
fn valid_name(name: &str) -> bool {
    qyvpack::manifest::valid_name(name) && name.starts_with(|c: char| c.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaffolds_the_rust_template_with_a_valid_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("demo");
        let files = scaffold(find("rust").unwrap(), &dest).unwrap();
        assert_eq!(files.len(), 4);
        let manifest = std::fs::read_to_string(dest.join("demo.qyv")).unwrap();
        let m = qyvpack::manifest::parse(&manifest, &dest.join("demo.qyv")).unwrap();
        assert_eq!(m.name, "demo");
        assert_eq!(m.permissions.env, ["GREETING"]);
        let cargo = std::fs::read_to_string(dest.join("Cargo.toml")).unwrap();
        assert!(cargo.contains("name = \"demo\""));
        assert!(matches!(
            scaffold(find("rust").unwrap(), &dest),
            Err(TemplateError::Exists(_))
        ));
    }

    /// Every name `qyv new` accepts gives a go.mod that the installed Go accepts (found as
    /// `qyv build` finds it; missing, the test fails: the test set-up installs it), and the
    /// names it cannot take are refused before anything is written.
    #[test]
    fn any_accepted_name_gives_a_valid_go_module() {
        let go =
            crate::lang::go::Go::go().expect("go is installed by scripts/install-toolchains.sh");
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "go", "std", "cmd", "fmt", "main", "test", "a--b", "x-", "example",
        ] {
            let dest = dir.path().join(name);
            scaffold(find("go").unwrap(), &dest).unwrap();
            let out = std::process::Command::new(&go)
                .args(["list", "-m"])
                .current_dir(&dest)
                .env("GOTOOLCHAIN", "local")
                .env("GOFLAGS", "-mod=mod")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                format!("example/{name}")
            );
        }
        for name in ["1x", "a b", "a.b", "Go", "UPPER", "-x"] {
            assert!(
                matches!(
                    scaffold(find("go").unwrap(), &dir.path().join("bad").join(name)),
                    Err(TemplateError::BadName(_))
                ),
                "{name:?}"
            );
        }
        assert!(!dir.path().join("bad").exists());
    }

    #[test]
    fn the_nn_template_has_its_model_and_image() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("digits");
        scaffold(find_variant("rust", "nn").unwrap(), &dest).unwrap();
        let m = qyvpack::manifest::parse(
            &std::fs::read_to_string(dest.join("digits.qyv")).unwrap(),
            &dest.join("digits.qyv"),
        )
        .unwrap();
        assert_eq!(m.models, ["models/mnist.onnx"]);
        assert_eq!(
            std::fs::read(dest.join("models/mnist.onnx")).unwrap().len(),
            26_454
        );
        assert!(matches!(
            find_variant("go", "nn"),
            Err(TemplateError::UnknownVariant(..))
        ));
    }

    #[test]
    fn the_http_templates_are_http_apps() {
        let dir = tempfile::tempdir().unwrap();
        for language in ["rust", "python", "javascript"] {
            let dest = dir.path().join(format!("web-{language}"));
            scaffold(find_variant(language, "http").unwrap(), &dest).unwrap();
            let path = dest.join(format!("web-{language}.qyv"));
            let m =
                qyvpack::manifest::parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
            assert_eq!(m.app_type, qyvpack::manifest::AppType::Http, "{language}");
            assert_eq!(m.language.as_deref(), Some(language));
        }
        assert!(matches!(
            find_variant("go", "http"),
            Err(TemplateError::UnknownVariant(..))
        ));
    }

    #[test]
    fn cargo_packages_avoid_the_names_cargo_forbids() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("build");
        scaffold(find("rust").unwrap(), &dest).unwrap();
        let cargo = std::fs::read_to_string(dest.join("Cargo.toml")).unwrap();
        assert!(cargo.contains("name = \"build-app\""), "{cargo}");
        assert!(dest.join("build.qyv").is_file());
        assert_eq!(cargo_package("demo"), "demo");
    }

    #[test]
    fn rejects_bad_names_and_unknown_languages() {
        let dir = tempfile::tempdir().unwrap();
        let too_long = "a".repeat(65);
        for bad in ["Bad_Name", "2app", too_long.as_str()] {
            assert!(
                matches!(
                    scaffold(find("rust").unwrap(), &dir.path().join(bad)),
                    Err(TemplateError::BadName(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            find("cobol"),
            Err(TemplateError::UnknownLanguage(..))
        ));
    }
}
