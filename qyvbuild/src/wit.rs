//! The WASI WIT files qyv ships (those of the wasmtime-wasi and wasmtime-wasi-http that
//! `qyv run` embeds, WASI 0.2.12), for the toolchains that generate bindings from WIT
//! (componentize-py, componentize-js), and the worlds qyv builds apps against: a command
//! (`wasi:cli/command`) or an HTTP handler (`wasi:http/proxy`).

use std::path::{Path, PathBuf};

/// The WASI version of the shipped WIT: the one the host serves.
pub use qyvpack::versions::WASI as WASI_VERSION;

const FILES: &[(&str, &str)] = &[
    ("cli.wit", include_str!("../wit/wasi-0.2.12/cli.wit")),
    ("clocks.wit", include_str!("../wit/wasi-0.2.12/clocks.wit")),
    (
        "filesystem.wit",
        include_str!("../wit/wasi-0.2.12/filesystem.wit"),
    ),
    ("io.wit", include_str!("../wit/wasi-0.2.12/io.wit")),
    ("random.wit", include_str!("../wit/wasi-0.2.12/random.wit")),
    (
        "sockets.wit",
        include_str!("../wit/wasi-0.2.12/sockets.wit"),
    ),
];

/// wasi:http (wasmtime-wasi-http 48.0.8's `wit/deps/http.wit`), written only for handlers.
const HTTP_WIT: &str = include_str!("../wit/wasi-0.2.12/http.wit");

/// The world qyv builds apps against: `qyv:app/app`, which includes `wasi:cli/command` or,
/// for an HTTP handler, `wasi:http/proxy`.
pub const APP_WORLD: &str = "qyv:app/app";

/// The wasi-nn WIT `qyv run` serves (wasmtime-wasi-nn 48.0.8's), for apps that ask for it.
pub const NN_WIT: &str = include_str!("../wit/wasi-nn-0.2.0-rc-2024-10-28/wasi-nn.wit");
/// Its version.
pub const NN_VERSION: &str = "0.2.0-rc-2024-10-28";

/// What an app is to its host: the world its `qyv:app/app` includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    /// `wasi:cli/command`: a program the host runs once (exports `wasi:cli/run`).
    Command,
    /// `wasi:http/proxy`: an HTTP handler the host calls per request (exports
    /// `wasi:http/incoming-handler`), served by `qyv run` for `type: http`.
    Proxy,
}

impl World {
    /// The WASI world it includes, with its version, e.g. `wasi:http/proxy@0.2.12`.
    pub fn wasi_world(self) -> String {
        self.wasi_world_at(WASI_VERSION)
    }

    fn wasi_world_at(self, http_version: &str) -> String {
        match self {
            World::Command => format!("wasi:cli/command@{WASI_VERSION}"),
            World::Proxy => format!("wasi:http/proxy@{http_version}"),
        }
    }
}

/// Writes a WIT package directory for a command app into `dir` (world `qyv:app/app`
/// including `wasi:cli/command`, with the WASI packages under `deps/`) and returns it.
pub fn write_command_world(dir: &Path) -> std::io::Result<PathBuf> {
    write_app_world(dir, World::Command, false)
}

/// Writes a WIT package directory for an HTTP handler into `dir`: world `qyv:app/app`
/// including `wasi:http/proxy` (which exports `wasi:http/incoming-handler`), with the WASI
/// packages and wasi:http under `deps/`.
pub fn write_proxy_world(dir: &Path) -> std::io::Result<PathBuf> {
    write_app_world(dir, World::Proxy, false)
}

/// [`write_proxy_world`] with wasi:http's own package at `http_version` instead of
/// [`WASI_VERSION`] (its dependencies stay at theirs), for a toolchain whose prebuilt engine
/// exports the handler at a fixed version: componentize-js's StarlingMonkey exports
/// `wasi:http/incoming-handler@0.2.10` and finds no export for a later one. The host
/// serves any 0.2.x handler (component exports match by semver), and every item of the
/// vendored wasi:http is since 0.2.0 or 0.2.1 (or unstable), so any later 0.2 version
/// declares the same interfaces.
pub fn write_proxy_world_with_http_at(dir: &Path, http_version: &str) -> std::io::Result<PathBuf> {
    write_world(dir, World::Proxy, false, http_version)
}

/// Writes world `qyv:app/app` including `world` (and wasi-nn's interfaces when `nn`) with
/// the WIT it needs under `deps/`; the WIT of what it does not use is removed, so that a
/// directory reused across builds holds one app's world.
pub fn write_app_world(dir: &Path, world: World, nn: bool) -> std::io::Result<PathBuf> {
    write_world(dir, world, nn, WASI_VERSION)
}

fn write_world(dir: &Path, world: World, nn: bool, http_version: &str) -> std::io::Result<PathBuf> {
    let deps = dir.join("deps");
    std::fs::create_dir_all(&deps)?;
    for (name, text) in FILES {
        write_if_changed(&deps.join(name), text)?;
    }
    let mut imports = String::new();
    if nn {
        write_if_changed(&deps.join("nn.wit"), NN_WIT)?;
        for interface in ["tensor", "graph", "inference", "errors"] {
            imports.push_str(&format!("  import wasi:nn/{interface}@{NN_VERSION};\n"));
        }
    } else {
        remove_if_present(&deps.join("nn.wit"))?;
    }
    match world {
        World::Proxy => write_if_changed(&deps.join("http.wit"), &http_wit_at(http_version))?,
        World::Command => remove_if_present(&deps.join("http.wit"))?,
    }
    write_if_changed(
        &dir.join("world.wit"),
        &format!(
            "package qyv:app;\n\nworld app {{\n  include {};\n{imports}}}\n",
            world.wasi_world_at(http_version)
        ),
    )?;
    Ok(dir.to_path_buf())
}

/// wasi:http's WIT with its package declared at `version` (only the `package` line names
/// wasi:http's own version; its `use`s and imports name the other packages').
fn http_wit_at(version: &str) -> String {
    let own = format!("package wasi:http@{WASI_VERSION};");
    HTTP_WIT.replacen(&own, &format!("package wasi:http@{version};"), 1)
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn write_if_changed(path: &Path, text: &str) -> std::io::Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        return Ok(());
    }
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_world_includes_wasi_http_and_a_command_world_leaves_it_out() {
        let dir = tempfile::tempdir().unwrap();
        write_proxy_world(dir.path()).unwrap();
        let world = std::fs::read_to_string(dir.path().join("world.wit")).unwrap();
        assert!(world.contains("include wasi:http/proxy@0.2.12;"), "{world}");
        let http = std::fs::read_to_string(dir.path().join("deps/http.wit")).unwrap();
        assert!(http.starts_with("package wasi:http@0.2.12;"));
        assert!(http.contains("export incoming-handler;"));
        write_command_world(dir.path()).unwrap();
        let world = std::fs::read_to_string(dir.path().join("world.wit")).unwrap();
        assert!(
            world.contains("include wasi:cli/command@0.2.12;"),
            "{world}"
        );
        assert!(!dir.path().join("deps/http.wit").exists());
    }

    #[test]
    fn only_wasi_http_itself_moves_to_another_version() {
        let dir = tempfile::tempdir().unwrap();
        write_proxy_world_with_http_at(dir.path(), "0.2.10").unwrap();
        let world = std::fs::read_to_string(dir.path().join("world.wit")).unwrap();
        assert!(world.contains("include wasi:http/proxy@0.2.10;"), "{world}");
        let http = std::fs::read_to_string(dir.path().join("deps/http.wit")).unwrap();
        assert!(http.starts_with("package wasi:http@0.2.10;"));
        assert!(http.contains("use wasi:io/streams@0.2.12."));
        assert!(!http.contains("wasi:http@0.2.12"));
    }

    /// The vendored WIT is wasmtime-wasi-http's at the version of the other WASI files, and
    /// nothing in it is newer than 0.2.1 (what declaring it at an earlier 0.2 relies on).
    #[test]
    fn the_vendored_http_wit_is_at_the_shipped_wasi_version() {
        assert!(HTTP_WIT.starts_with(&format!("package wasi:http@{WASI_VERSION};")));
        for since in HTTP_WIT.lines().filter(|l| l.contains("@since(")) {
            assert!(
                ["@since(version = 0.2.0)", "@since(version = 0.2.1)"].contains(&since.trim()),
                "{since}"
            );
        }
        for line in HTTP_WIT.lines().filter(|l| l.contains("wasi:")) {
            assert!(
                !line.contains("@0.2.") || line.contains(&format!("@{WASI_VERSION}")),
                "{line}"
            );
        }
    }
}
