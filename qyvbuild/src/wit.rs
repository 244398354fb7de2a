//! The WASI WIT files qyv ships (those of the wasmtime-wasi that `qyv run` embeds, WASI
//! 0.2.12), for the toolchains that generate bindings from WIT (componentize-py,
//! componentize-js).

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

/// The world qyv builds command apps against: `qyv:app/app`, which is wasi:cli/command.
pub const APP_WORLD: &str = "qyv:app/app";

/// The wasi-nn WIT `qyv run` serves (wasmtime-wasi-nn 48.0.8's), for apps that ask for it.
pub const NN_WIT: &str = include_str!("../wit/wasi-nn-0.2.0-rc-2024-10-28/wasi-nn.wit");
/// Its version.
pub const NN_VERSION: &str = "0.2.0-rc-2024-10-28";

/// Writes a WIT package directory for a command app into `dir` (world `qyv:app/app`
/// including `wasi:cli/command`, with the WASI packages under `deps/`) and returns it.
pub fn write_command_world(dir: &Path) -> std::io::Result<PathBuf> {
    write_world(dir, false)
}

/// [`write_command_world`] with wasi-nn's interfaces imported too.
pub fn write_nn_command_world(dir: &Path) -> std::io::Result<PathBuf> {
    write_world(dir, true)
}

fn write_world(dir: &Path, nn: bool) -> std::io::Result<PathBuf> {
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
    } else if deps.join("nn.wit").exists() {
        std::fs::remove_file(deps.join("nn.wit"))?;
    }
    write_if_changed(
        &dir.join("world.wit"),
        &format!(
            "package qyv:app;\n\nworld app {{\n  include wasi:cli/command@{WASI_VERSION};\n{imports}}}\n"
        ),
    )?;
    Ok(dir.to_path_buf())
}

fn write_if_changed(path: &Path, text: &str) -> std::io::Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        return Ok(());
    }
    std::fs::write(path, text)
}
