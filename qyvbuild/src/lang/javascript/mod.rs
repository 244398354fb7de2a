//! JavaScript: componentize-js (npm `@bytecodealliance/componentize-js`, StarlingMonkey). The
//! output is a component. componentize-js runs its splicer as a component inside node with
//! the preview2 shim, whose file system shows nothing unless told to: qyv drives it through a
//! small script that opens `/` to it, instead of its command line.
//!
//! A plain Node.js script (ES modules or CommonJS; the entry from package.json's `main` or
//! `bin`, else `index.js`, `app.js`, `src/index.js`, `src/app.js`) gets its npm dependencies
//! installed (`npm.rs`) and is bundled by esbuild into qyv's Node.js shim (`bundle.rs`). A
//! project that exports WIT itself (its own `wit/`, `wasi:` imports, an exported `run`) is
//! built as it is, against its `wit/` or qyv's command world. An HTTP handler written as
//! service workers and edge functions are (`addEventListener("fetch", ...)`) is bundled as
//! an ES module and built against `wasi:http/proxy` with componentize-js's `http` and
//! `fetch-event` features, which export `wasi:http/incoming-handler` and call the listener.

mod bundle;
mod npm;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::progress::Progress;
use crate::toolchain::{
    BuildError, BuildRequest, CompileOutput, Driver, Missing, ToolStatus, Toolchain,
};
use crate::{tools, wit};

/// The JavaScript driver.
pub struct JavaScript;

const PACKAGE: &str = "@bytecodealliance/componentize-js";
const VERSION: &str = "0.23.0";
const ENTRIES: &[&str] = &[
    "index.js",
    "app.js",
    "src/index.js",
    "src/app.js",
    "index.mjs",
    "app.mjs",
];

/// Runs componentize-js's API with the WASI file system open (argv: the node_modules
/// directory, the source, the WIT path, the world or "", the output, the features to
/// disable, comma-separated).
const DRIVER: &str = r#"// Written by qyv: componentize-js with the file system open to its WASI splicer.
import { pathToFileURL } from 'node:url';
import { writeFile } from 'node:fs/promises';
const [modules, source, wit, world, out, disable] = process.argv.slice(2);
const load = (p) => import(pathToFileURL(`${modules}/${p}`).href);
const fs = await load('@bytecodealliance/preview2-shim/dist/nodejs/filesystem.js');
fs._setPreopens({ '/': '/' });
const { componentize } = await load('@bytecodealliance/componentize-js/src/componentize.js');
const { component } = await componentize({
  sourcePath: source,
  witPath: wit,
  worldName: world || undefined,
  disableFeatures: disable ? disable.split(',') : [],
});
await writeFile(out, component);
"#;

/// What a command app disables: no wasi:http server, no fetch-event handler.
const COMMAND_DISABLES: &str = "http,fetch-event";

/// The wasi:http version componentize-js's engine (StarlingMonkey) exports its fetch-event
/// handler at; a world with a later one finds no export (see
/// [`wit::write_proxy_world_with_http_at`]).
const ENGINE_HTTP_VERSION: &str = "0.2.10";

/// The `node_modules` holding componentize-js and the preview2 shim: the project's, else
/// the one `install-toolchains.sh` filled.
fn modules(dir: &Path) -> Option<PathBuf> {
    tools::node_modules(dir, |m| {
        m.join(PACKAGE).join("src/componentize.js").is_file()
            && m.join("@bytecodealliance/preview2-shim/dist/nodejs/filesystem.js")
                .is_file()
    })
}

/// The entry module, relative to `dir`: package.json's `main`, else its `bin` (the one named
/// after the package, or the only one), else the first of [`ENTRIES`].
fn entry(dir: &Path) -> Option<String> {
    // A project's package.json could be a link to `/dev/zero`: read within a budget.
    let package = npm::package_json(dir).ok().flatten();
    let declared = package.as_ref().and_then(|p| {
        let bin = match &p["bin"] {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(bins) => {
                let named = p["name"].as_str().and_then(|n| bins.get(n));
                named
                    .or_else(|| (bins.len() == 1).then(|| bins.values().next()).flatten())
                    .and_then(|b| b.as_str())
                    .map(str::to_string)
            }
            _ => None,
        };
        p["main"].as_str().map(str::to_string).or(bin)
    });
    let inside = |rel: &str| {
        let rel = rel.trim_start_matches("./");
        (!rel.is_empty() && is_file_inside(dir, rel)).then(|| rel.to_string())
    };
    declared
        .as_deref()
        .and_then(inside)
        .or_else(|| ENTRIES.iter().find_map(|e| inside(e)))
}

/// Whether `rel` is a file that stays inside the project (no `..`, no link leading out).
fn is_file_inside(dir: &Path, rel: &str) -> bool {
    qyvpack::project::resolve(dir, Path::new(rel)).is_ok_and(|p| p.is_file())
}

/// The manifest's `build.entry`, which must be a file inside the project.
fn chosen_entry(dir: &Path, chosen: &str) -> Result<String, BuildError> {
    let rel = chosen.trim_start_matches("./");
    if is_file_inside(dir, rel) {
        return Ok(rel.to_string());
    }
    Err(BuildError::Project(format!(
        "build.entry: {chosen} is not a file inside {}",
        dir.display()
    )))
}

/// Whether a module exports WIT itself (built as it is) rather than being a plain script.
fn exports_wit(text: &str) -> bool {
    text.contains("from 'wasi:")
        || text.contains("from \"wasi:")
        || text.contains("export const run")
        || text.contains("export { run")
}

/// Whether a module registers a `fetch` event listener (`addEventListener("fetch", ...)`),
/// as HTTP handlers for service workers and edge runtimes do.
fn registers_fetch_listener(text: &str) -> bool {
    text.match_indices("addEventListener").any(|(at, found)| {
        let rest = text[at + found.len()..].trim_start();
        let Some(rest) = rest.strip_prefix('(') else {
            return false;
        };
        let rest = rest.trim_start();
        ['"', '\'', '`'].iter().any(|q| {
            rest.strip_prefix(*q)
                .and_then(|r| r.strip_prefix("fetch"))
                .is_some_and(|r| r.starts_with(*q))
        })
    })
}

/// How a project is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// It exports WIT itself: built as it is.
    OwnWit,
    /// A `fetch` event handler: bundled as it is, built against `wasi:http/proxy`.
    Handler,
    /// A plain Node.js program: bundled into qyv's shim, built against the command world.
    Program,
}

fn shape(dir: &Path, source: &Path) -> Shape {
    if dir.join("wit").is_dir() {
        return Shape::OwnWit;
    }
    let text = qyvpack::bounded::read_to_string(source, 64 << 20, "a JavaScript module")
        .unwrap_or_default();
    if exports_wit(&text) {
        Shape::OwnWit
    } else if registers_fetch_listener(&text) {
        Shape::Handler
    } else {
        Shape::Program
    }
}

/// esbuild's `node_modules`: the project's, else the one `install-toolchains.sh` filled.
fn esbuild_modules(dir: &Path) -> Option<PathBuf> {
    tools::node_modules(dir, |m| bundle::esbuild_in(m).is_file())
}

fn missing(dir: &Path) -> Vec<Missing> {
    let mut missing: Vec<Missing> = tools::node_missing().into_iter().collect();
    if modules(dir).is_none() {
        missing.push(Missing {
            what: format!("componentize-js (npm {PACKAGE}) with its preview2 shim"),
            install: tools::npm_install(&format!("{PACKAGE}@{VERSION}")),
        });
    }
    if esbuild_modules(dir).is_none() {
        missing.push(Missing {
            what: "esbuild (npm)".into(),
            install: tools::npm_install(bundle::ESBUILD),
        });
    }
    missing
}

impl Toolchain for JavaScript {
    fn driver(&self) -> Driver {
        Driver::JavaScript
    }

    fn markers(&self) -> &'static [&'static str] {
        &[
            "package.json (main, bin)",
            "index.js",
            "app.js",
            "src/index.js",
            "src/app.js",
        ]
    }

    fn find_marker(&self, dir: &Path) -> Option<PathBuf> {
        entry(dir).map(|e| dir.join(e))
    }

    fn status(&self) -> ToolStatus {
        let here = std::env::current_dir().unwrap_or_default();
        let version = modules(&here).and_then(|m| {
            let text = qyvpack::bounded::read_to_string(
                &m.join(PACKAGE).join("package.json"),
                1 << 20,
                "a package.json",
            )
            .ok()?;
            let json: serde_json::Value = serde_json::from_str(&text).ok()?;
            Some(format!("componentize-js {}", json["version"].as_str()?))
        });
        ToolStatus {
            driver: Driver::JavaScript,
            version,
            missing: missing(&here),
        }
    }

    fn compile(
        &self,
        request: &BuildRequest,
        progress: &dyn Progress,
    ) -> Result<CompileOutput, BuildError> {
        let dir = &request.dir;
        let lacking = missing(dir);
        let (Some(modules), true) = (modules(dir), lacking.is_empty()) else {
            return Err(BuildError::ToolchainMissing {
                driver: Driver::JavaScript,
                missing: lacking,
            });
        };
        let entry = match &request.entry {
            Some(chosen) => Some(chosen_entry(dir, chosen)?),
            None => entry(dir),
        };
        let entry = entry.ok_or_else(|| {
            BuildError::Project(format!(
                "no JavaScript entry in {}: looked for package.json's main or bin, {}",
                dir.display(),
                ENTRIES.join(", ")
            ))
        })?;
        let name = tools::dir_name(dir);
        let target = dir.join("target/qyv");
        std::fs::create_dir_all(&target)
            .map_err(|e| BuildError::io("cannot create target/qyv", e))?;
        let out = target.join(format!("{name}.js.wasm"));
        let shape = shape(dir, &dir.join(&entry));
        let (source, wit_dir, world, digest) = if shape == Shape::OwnWit {
            let (wit_dir, world) = if dir.join("wit").is_dir() {
                (dir.join("wit"), String::new())
            } else {
                (command_world(&target)?, app_world_name())
            };
            let digest = tools::sources_digest(
                dir,
                &["js", "mjs", "wit"],
                &format!("{PACKAGE}@{VERSION} {} {DRIVER}", wit::WASI_VERSION),
            );
            (dir.join(&entry), wit_dir, world, digest)
        } else {
            let package = npm::package_json(dir)?;
            npm::install(dir, package.as_ref(), progress)?;
            let esbuild = esbuild_modules(dir)
                .map(|m| bundle::esbuild_in(&m))
                .ok_or_else(|| BuildError::ToolchainMissing {
                    driver: Driver::JavaScript,
                    missing: missing(dir),
                })?;
            let kind = match shape {
                Shape::Handler => bundle::Kind::Handler,
                _ => bundle::Kind::Program,
            };
            let module = bundle::bundle(&esbuild, dir, &entry, &name, kind, progress)?;
            let source = target.join("js/app.js");
            let digest = qyvpack::digest::sha256_hex(
                format!(
                    "{PACKAGE}@{VERSION} {} {} {DRIVER} {kind:?}\n{module}",
                    wit::WASI_VERSION,
                    bundle::ESBUILD
                )
                .as_bytes(),
            );
            if !tools::up_to_date(&out, &digest) {
                std::fs::write(&source, module)
                    .map_err(|e| BuildError::io("cannot write target/qyv/js/app.js", e))?;
            }
            let wit_dir = match shape {
                Shape::Handler => {
                    wit::write_proxy_world_with_http_at(&target.join("wit"), ENGINE_HTTP_VERSION)
                        .map_err(|e| BuildError::io("cannot write the WASI WIT files", e))?
                }
                _ => command_world(&target)?,
            };
            (source, wit_dir, app_world_name(), digest)
        };
        let (target_name, disable) = match shape {
            Shape::Handler => (
                format!("wasi:http/proxy@{ENGINE_HTTP_VERSION} (componentize-js)"),
                "",
            ),
            _ => (
                format!("wasi:cli/command@{} (componentize-js)", wit::WASI_VERSION),
                COMMAND_DISABLES,
            ),
        };
        if tools::up_to_date(&out, &digest) {
            return Ok(CompileOutput::new(out, name, target_name));
        }
        let driver = target.join("componentize.mjs");
        std::fs::write(&driver, DRIVER)
            .map_err(|e| BuildError::io("cannot write the componentize-js driver", e))?;
        let mut cmd = Command::new("node");
        cmd.current_dir(dir)
            .arg(&driver)
            .arg(&modules)
            .arg(&source)
            .arg(&wit_dir)
            .arg(&world)
            .arg(&out)
            .arg(disable);
        progress.phase("compiling");
        progress.detail("componentize-js");
        tools::run_and_record(cmd, "componentize-js", progress, &out, &digest)?;
        Ok(CompileOutput::new(out, name, target_name))
    }
}

/// qyv's command world, written into `target`.
fn command_world(target: &Path) -> Result<PathBuf, BuildError> {
    wit::write_command_world(&target.join("wit"))
        .map_err(|e| BuildError::io("cannot write the WASI WIT files", e))
}

/// The name of qyv's command world inside its package (`app`).
fn app_world_name() -> String {
    wit::APP_WORLD
        .rsplit('/')
        .next()
        .unwrap_or("app")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::project;

    #[test]
    fn the_entry_comes_from_main_then_bin_then_the_usual_files() {
        let main = project(&[
            ("package.json", r#"{"main": "./lib/cli.js"}"#),
            ("lib/cli.js", ""),
            ("index.js", ""),
        ]);
        assert_eq!(entry(main.path()).as_deref(), Some("lib/cli.js"));
        let bin = project(&[
            (
                "package.json",
                r#"{"name": "tool", "bin": {"other": "o.js", "tool": "t.js"}}"#,
            ),
            ("o.js", ""),
            ("t.js", ""),
        ]);
        assert_eq!(entry(bin.path()).as_deref(), Some("t.js"));
        let plain = project(&[("src/index.js", "")]);
        assert_eq!(entry(plain.path()).as_deref(), Some("src/index.js"));
    }

    #[test]
    fn an_entry_outside_the_project_is_not_taken() {
        let outside = project(&[("secret.js", "")]);
        let dir = project(&[("package.json", r#"{"main": "link.js"}"#), ("app.js", "")]);
        std::os::unix::fs::symlink(outside.path().join("secret.js"), dir.path().join("link.js"))
            .unwrap();
        assert_eq!(entry(dir.path()).as_deref(), Some("app.js"));
        assert!(chosen_entry(dir.path(), "link.js").is_err());
        assert!(chosen_entry(dir.path(), "../secret.js").is_err());
        assert_eq!(chosen_entry(dir.path(), "./app.js").unwrap(), "app.js");
    }

    #[test]
    fn modules_exporting_wit_are_told_from_plain_scripts() {
        let dir = project(&[
            (
                "a.js",
                "import { getArguments } from 'wasi:cli/environment@0.2.12';\n",
            ),
            ("b.js", "console.log(process.argv.slice(2));\n"),
        ]);
        assert_eq!(shape(dir.path(), &dir.path().join("a.js")), Shape::OwnWit);
        assert_ne!(shape(dir.path(), &dir.path().join("b.js")), Shape::OwnWit);
    }

    #[test]
    fn a_fetch_listener_makes_a_handler() {
        for handler in [
            "addEventListener(\"fetch\", (e) => e.respondWith(new Response(\"hi\")));",
            "self.addEventListener( 'fetch', handle)",
            "globalThis.addEventListener(`fetch`, handle)",
        ] {
            assert!(registers_fetch_listener(handler), "{handler}");
        }
        for other in [
            "addEventListener(\"message\", f)",
            "addEventListener(\"fetchy\", f)",
            "const r = await fetch('https://example.com');",
            "addEventListener",
        ] {
            assert!(!registers_fetch_listener(other), "{other}");
        }
        let dir = project(&[
            (
                "h.js",
                "addEventListener('fetch', (e) => e.respondWith(new Response('x')));\n",
            ),
            ("p.js", "console.log(process.argv.slice(2));\n"),
        ]);
        assert_eq!(shape(dir.path(), &dir.path().join("h.js")), Shape::Handler);
        assert_eq!(shape(dir.path(), &dir.path().join("p.js")), Shape::Program);
    }
}
