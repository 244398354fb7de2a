//! A plain Node.js script made one module for componentize-js: esbuild bundles the program
//! and its npm dependencies as CommonJS (Node's built-in modules left to `require`), and the
//! bundle goes inside a function of qyv's shim (`shim.js`), which serves `process`, `console`,
//! `fs`, `path` and friends from WASI and calls it when the component runs, not while
//! componentize-js snapshots the module at build time.
//!
//! An HTTP handler (a `fetch` event listener) is written against the web's APIs, which the
//! engine itself provides: it is bundled as an ES module for the browser platform, as web
//! bundlers do, with no shim, so that its listener is registered while componentize-js
//! snapshots it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::progress::Progress;
use crate::toolchain::BuildError;

pub const SHIM: &str = include_str!("shim.js");

/// Rewrites regular expressions with Unicode property escapes, which the engine refuses.
const UNICODE: &str = include_str!("unicode.mjs");

/// The JavaScript parser `UNICODE` uses, pinned by `scripts/install-toolchains.sh`.
pub const ACORN: &[&str] = &["acorn@8.17.0", "acorn-walk@8.3.5"];

/// A `node_modules` holding acorn and acorn-walk.
pub fn acorn_modules(dir: &Path) -> Option<PathBuf> {
    crate::tools::node_modules(dir, |m| {
        m.join("acorn/dist/acorn.mjs").is_file() && m.join("acorn-walk/dist/walk.mjs").is_file()
    })
}

/// The pinned esbuild `scripts/install-toolchains.sh` installs.
pub const ESBUILD: &str = "esbuild@0.28.2";

/// esbuild's executable in a `node_modules`.
pub fn esbuild_in(modules: &Path) -> PathBuf {
    modules.join("esbuild/bin/esbuild")
}

/// What a bundle is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Node.js program, run inside qyv's shim.
    Program,
    /// A `fetch` event handler, as it is.
    Handler,
}

/// Bundles `entry` (relative to `dir`) and returns the module componentize-js builds: for a
/// program, the shim with the program inside; for a handler, the bundle itself.
pub fn bundle(
    esbuild: &Path,
    dir: &Path,
    entry: &str,
    name: &str,
    kind: Kind,
    progress: &dyn Progress,
) -> Result<String, BuildError> {
    let work = dir.join("target/qyv/js");
    std::fs::create_dir_all(&work).map_err(|e| BuildError::io("cannot create target/qyv/js", e))?;
    let out = work.join("bundle.cjs");
    let meta = work.join("meta.json");
    progress.phase("bundling");
    progress.detail("esbuild");
    let result = Command::new(esbuild)
        .current_dir(dir)
        .arg(entry)
        .args(match kind {
            Kind::Program => ["--platform=node", "--format=cjs"],
            Kind::Handler => ["--platform=browser", "--format=esm"],
        })
        .args([
            "--bundle",
            "--target=es2022",
            "--log-level=error",
            "--charset=utf8",
        ])
        .arg(format!("--outfile={}", out.display()))
        .arg(format!("--metafile={}", meta.display()))
        .output()
        .map_err(|e| BuildError::io("cannot start esbuild", e))?;
    let text = String::from_utf8_lossy(&result.stderr).into_owned();
    if progress.verbose() {
        progress.tool_output(&text);
    }
    if !result.status.success() {
        if let Some(package) = native_addon_in_error(&text) {
            return Err(native_addon(&package));
        }
        return Err(BuildError::Project(format!(
            "esbuild could not bundle {entry}:\n{}",
            text.trim_end()
        )));
    }
    let metafile = qyvpack::bounded::read_to_string(&meta, 64 << 20, "esbuild's metafile")
        .map_err(|e| BuildError::Project(e.to_string()))?;
    if let Some(package) = native_package(dir, &metafile) {
        return Err(native_addon(&package));
    }
    let mut program = qyvpack::bounded::read_to_string(&out, 256 << 20, "the bundle")
        .map_err(|e| BuildError::Project(e.to_string()))?;
    if program.contains("\\p{") || program.contains("\\P{") {
        program = unicode_ranges(dir, &work, &out)?;
    }
    if kind == Kind::Handler {
        return Ok(program);
    }
    // A `#!` line (a `bin` script) is valid only at the start of a file.
    let program = match program.strip_prefix("#!") {
        Some(rest) => rest.split_once('\n').map_or("", |(_, r)| r).to_string(),
        None => program,
    };
    let config = serde_json::json!({ "name": name, "entry": entry });
    Ok(SHIM
        .replace("__QYV_CONFIG__", &config.to_string())
        .replace("__QYV_PROGRAM__", &program))
}

/// The bundle with its `\p{...}` regular expressions spelled out as ranges.
fn unicode_ranges(dir: &Path, work: &Path, bundle: &Path) -> Result<String, BuildError> {
    let modules = acorn_modules(dir).ok_or_else(|| BuildError::ToolchainMissing {
        driver: crate::toolchain::Driver::JavaScript,
        missing: vec![crate::toolchain::Missing {
            what: "acorn and acorn-walk (npm)".into(),
            install: crate::tools::npm_install(&ACORN.join(" ")),
        }],
    })?;
    let script = work.join("unicode.mjs");
    std::fs::write(&script, UNICODE)
        .map_err(|e| BuildError::io("cannot write target/qyv/js/unicode.mjs", e))?;
    let out = Command::new("node")
        .arg(&script)
        .arg(&modules)
        .arg(bundle)
        .output()
        .map_err(|e| BuildError::io("cannot start node", e))?;
    if !out.status.success() {
        return Err(BuildError::Project(format!(
            "cannot rewrite the bundle's Unicode property escapes:\n{}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        )));
    }
    qyvpack::bounded::read_to_string(bundle, 256 << 20, "the bundle")
        .map_err(|e| BuildError::Project(e.to_string()))
}

fn native_addon(package: &str) -> BuildError {
    BuildError::Project(format!(
        "the npm package `{package}` uses a native addon (compiled code loaded by Node.js), \
         which cannot run inside a WebAssembly component: only pure-JavaScript packages can be \
         bundled"
    ))
}

/// The package whose `.node` file esbuild could not load.
fn native_addon_in_error(text: &str) -> Option<String> {
    text.lines()
        .filter(|l| l.contains(".node"))
        .find_map(|l| package_of(l.split("node_modules/").nth(1)?))
}

/// `pkg` or `@scope/pkg` at the start of a path below `node_modules/`.
fn package_of(path: &str) -> Option<String> {
    let mut parts = path.split('/');
    let first = parts.next()?;
    let name = if first.starts_with('@') {
        format!("{first}/{}", parts.next()?)
    } else {
        first.to_string()
    };
    (!name.is_empty()).then_some(name)
}

/// The first package in the bundle that ships a native addon (`binding.gyp`, or a `.node`
/// file in its usual places).
fn native_package(dir: &Path, metafile: &str) -> Option<String> {
    let meta: serde_json::Value = serde_json::from_str(metafile).ok()?;
    let mut packages: Vec<String> = meta["inputs"]
        .as_object()?
        .keys()
        .filter_map(|input| {
            package_of(input.rsplit("node_modules/").next()?)
                .filter(|_| input.contains("node_modules/"))
        })
        .collect();
    packages.sort();
    packages.dedup();
    packages.into_iter().find(|p| {
        let root = dir.join("node_modules").join(p);
        root.join("binding.gyp").is_file()
            || ["build/Release", "prebuilds", "."]
                .iter()
                .any(|sub| has_node_file(&root.join(sub)))
    })
}

fn has_node_file(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let p = e.path();
            p.extension().is_some_and(|x| x == "node")
                || (p.is_dir() && dir.ends_with("prebuilds") && has_node_file(&p))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_are_named_from_their_paths() {
        assert_eq!(
            package_of("marked/lib/marked.cjs").as_deref(),
            Some("marked")
        );
        assert_eq!(
            package_of("@scope/pkg/index.js").as_deref(),
            Some("@scope/pkg")
        );
        let err = "✘ [ERROR] No loader is configured for \".node\" files: \
                   node_modules/fsevents/fsevents.node";
        assert_eq!(native_addon_in_error(err).as_deref(), Some("fsevents"));
    }
}
