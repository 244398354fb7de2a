//! zig cc: the WASI C toolchain (zig from PyPI's ziglang, with a modern wasi-libc) that the C,
//! Make, CMake, command and Zig drivers share, so that none of them depends on another driver.

use std::path::PathBuf;

use crate::toolchain::{BuildError, Driver, Missing, ToolStatus};
use crate::tools;

/// The command that installs the pinned zig.
pub(crate) const INSTALL: &str = "pip install ziglang==0.17.1";

/// The zig a build uses (see [`zig_chosen`]).
pub fn zig() -> Option<PathBuf> {
    zig_chosen().map(|(zig, _)| zig)
}

/// The zig a build uses and why: `$ZIG` when set, else `zig` on `PATH`, else the pinned one
/// from PyPI's ziglang.
pub fn zig_chosen() -> Option<(PathBuf, String)> {
    if let Some(zig) = std::env::var_os("ZIG").filter(|z| !z.is_empty()) {
        let zig = PathBuf::from(zig);
        let found = if zig.components().count() > 1 {
            zig.is_file().then_some(zig)
        } else {
            tools::on_path(&zig.to_string_lossy())
        };
        if let Some(zig) = found {
            let why = format!("ZIG is {}", zig.display());
            return Some((zig, why));
        }
    }
    if let Some(zig) = tools::on_path("zig") {
        let why = format!("`zig` on PATH ({})", zig.display());
        return Some((zig, why));
    }
    tools::in_site_packages("ziglang/zig").map(|zig| {
        (
            zig,
            format!("qyv's pinned ziglang (`{INSTALL}`): no `zig` on PATH and no ZIG"),
        )
    })
}

/// What `qyv doctor` shows for a driver built with zig.
pub(crate) fn zig_chosen_line() -> Option<String> {
    zig_chosen().map(|(zig, why)| format!("{}: {why}", zig.display()))
}

pub(crate) fn zig_missing() -> Vec<Missing> {
    vec![Missing {
        what: "zig (for zig cc)".into(),
        install: INSTALL.into(),
    }]
}

/// zig, or the error saying how to install it, for a language built with it.
pub(crate) fn require_zig(driver: Driver) -> Result<PathBuf, BuildError> {
    zig().ok_or_else(|| BuildError::ToolchainMissing {
        driver,
        missing: zig_missing(),
    })
}

/// Whether zig is installed, for a language built with it; `label` names how it is used.
pub(crate) fn zig_status(driver: Driver, label: &str) -> ToolStatus {
    let version = zig().and_then(|z| tools::version_line(&z, &["version"]));
    ToolStatus {
        driver,
        missing: if version.is_some() {
            Vec::new()
        } else {
            zig_missing()
        },
        version: version.map(|v| format!("{label} {v}")),
    }
}
