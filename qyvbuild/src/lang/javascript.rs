//! JavaScript: componentize-js (npm `@bytecodealliance/componentize-js`, StarlingMonkey) on
//! `app.js` (or `index.js`, `src/app.js`, `src/index.js`), against the project's own `wit/`
//! or else qyv's command world (`wasi:cli/command` with the WASI 0.2.12 WIT qyv ships). The
//! output is a component. componentize-js runs its splicer as a component inside node with
//! the preview2 shim, whose file system shows nothing unless told to: qyv drives it through a
//! small script that opens `/` to it, instead of its command line.

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
const ENTRIES: &[&str] = &["app.js", "index.js", "src/app.js", "src/index.js"];

/// Runs componentize-js's API with the WASI file system open (argv: the node_modules
/// directory, the source, the WIT path, the world or "", the output).
const DRIVER: &str = r#"// Written by qyv: componentize-js with the file system open to its WASI splicer.
import { pathToFileURL } from 'node:url';
import { writeFile } from 'node:fs/promises';
const [modules, source, wit, world, out] = process.argv.slice(2);
const load = (p) => import(pathToFileURL(`${modules}/${p}`).href);
const fs = await load('@bytecodealliance/preview2-shim/dist/nodejs/filesystem.js');
fs._setPreopens({ '/': '/' });
const { componentize } = await load('@bytecodealliance/componentize-js/src/componentize.js');
const { component } = await componentize({
  sourcePath: source,
  witPath: wit,
  worldName: world || undefined,
  // A command app: no wasi:http server, no fetch-event handler.
  disableFeatures: ['http', 'fetch-event'],
});
await writeFile(out, component);
"#;

/// The `node_modules` holding componentize-js and the preview2 shim: the project's, else
/// the one `install-toolchains.sh` filled.
fn modules(dir: &Path) -> Option<PathBuf> {
    tools::node_modules(dir, |m| {
        m.join(PACKAGE).join("src/componentize.js").is_file()
            && m.join("@bytecodealliance/preview2-shim/dist/nodejs/filesystem.js")
                .is_file()
    })
}

/// The entry module: package.json's `main`, else the first of [`ENTRIES`].
fn entry(dir: &Path) -> Option<PathBuf> {
    // A project's package.json could be a link to `/dev/zero`: read within a budget.
    let main =
        qyvpack::bounded::read_to_string(&dir.join("package.json"), 1 << 20, "a package.json")
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|json| json["main"].as_str().map(|m| dir.join(m)))
            .filter(|p| {
                p.is_file() && !p.components().any(|c| c == std::path::Component::ParentDir)
            });
    main.or_else(|| ENTRIES.iter().map(|e| dir.join(e)).find(|p| p.is_file()))
}

fn missing(dir: &Path) -> Vec<Missing> {
    let mut missing: Vec<Missing> = tools::node_missing().into_iter().collect();
    if modules(dir).is_none() {
        missing.push(Missing {
            what: format!("componentize-js (npm {PACKAGE}) with its preview2 shim"),
            install: tools::npm_install(&format!("{PACKAGE}@{VERSION}")),
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
            "package.json (main)",
            "app.js",
            "index.js",
            "src/app.js",
            "src/index.js",
        ]
    }

    fn find_marker(&self, dir: &Path) -> Option<PathBuf> {
        entry(dir)
    }

    fn status(&self) -> ToolStatus {
        let here = std::env::current_dir().unwrap_or_default();
        let version = modules(&here).and_then(|m| {
            let text = std::fs::read_to_string(m.join(PACKAGE).join("package.json")).ok()?;
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
        let source = entry(dir).ok_or_else(|| {
            BuildError::Project(format!(
                "no JavaScript entry in {}: looked for {}",
                dir.display(),
                ENTRIES.join(", ")
            ))
        })?;
        let name = tools::dir_name(dir);
        let target = dir.join("target/qyv");
        std::fs::create_dir_all(&target)
            .map_err(|e| BuildError::io("cannot create target/qyv", e))?;
        let out = target.join(format!("{name}.js.wasm"));
        let (wit_dir, world) = if dir.join("wit").is_dir() {
            (dir.join("wit"), String::new())
        } else {
            let wit_dir = wit::write_command_world(&target.join("wit"))
                .map_err(|e| BuildError::io("cannot write the WASI WIT files", e))?;
            let world = wit::APP_WORLD
                .rsplit('/')
                .next()
                .unwrap_or("app")
                .to_string();
            (wit_dir, world)
        };
        let digest = tools::sources_digest(
            dir,
            &["js", "mjs", "wit"],
            &format!("{PACKAGE}@{VERSION} {} {DRIVER}", wit::WASI_VERSION),
        );
        let target_name = format!("wasi:cli/command@{} (componentize-js)", wit::WASI_VERSION);
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
            .arg(&out);
        progress.phase("compiling");
        progress.detail("componentize-js");
        tools::run_and_record(cmd, "componentize-js", progress, &out, &digest)?;
        Ok(CompileOutput::new(out, name, target_name))
    }
}
