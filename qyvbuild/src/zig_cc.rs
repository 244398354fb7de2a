//! zig cc: the WASI C toolchain (zig from PyPI's ziglang, with a modern wasi-libc) that the C,
//! Make, CMake, command and Zig drivers share, so that none of them depends on another driver.

use std::path::PathBuf;

use crate::toolchain::{BuildError, Driver, Missing, ToolStatus};
use crate::tools;

/// The command that installs the pinned zig.
pub(crate) const INSTALL: &str = "pip install ziglang==0.17.1";

/// zig from PyPI's ziglang.
pub fn zig() -> Option<PathBuf> {
    tools::in_site_packages("ziglang/zig").or_else(|| tools::on_path("zig"))
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
