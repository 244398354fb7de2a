//! Which `cargo` rustup would run for a project, told from rustup's own settings instead of
//! through its proxy: the proxy costs about as much as a whole no-op `cargo build` (it loads
//! its settings and resolves the toolchain on every call), and a warm `qyv build` is mostly
//! that call. Only the cases rustup documents are resolved here (`RUSTUP_TOOLCHAIN`, a
//! directory override, the default toolchain); a `rust-toolchain` file, or anything not
//! understood, leaves the choice to the proxy.

use std::path::{Path, PathBuf};

/// The program to run as cargo, and the toolchain to tell the rustc proxies it calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cargo {
    pub program: PathBuf,
    pub toolchain: Option<String>,
    /// Set for a toolchain's own cargo, as rustup's proxy would (with `RUSTUP_TOOLCHAIN`,
    /// cargo then runs the same toolchain's rustc directly, as it does under the proxy).
    pub rustup_home: Option<PathBuf>,
}

impl Cargo {
    fn proxy(toolchain: Option<&str>) -> Cargo {
        Cargo {
            program: PathBuf::from("cargo"),
            toolchain: toolchain.map(str::to_string),
            rustup_home: None,
        }
    }

    /// The environment to run it with.
    pub fn env(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        let mut env = Vec::new();
        if let Some(tc) = &self.toolchain {
            env.push(("RUSTUP_TOOLCHAIN", tc.into()));
        }
        if let Some(home) = &self.rustup_home {
            env.push(("RUSTUP_HOME", home.into()));
        }
        env
    }
}

fn rustup_home() -> Option<PathBuf> {
    std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")))
}

/// The cargo for a project in `dir`; `toolchain` is one qyv chose itself (see `rust.rs`).
pub fn cargo_for(dir: &Path, toolchain: Option<&str>) -> Cargo {
    let Some(home) = rustup_home() else {
        return Cargo::proxy(toolchain);
    };
    let from_env = std::env::var("RUSTUP_TOOLCHAIN").ok();
    let chosen = toolchain.map(str::to_string).or(from_env);
    resolve(&home, dir, chosen.as_deref()).unwrap_or_else(|| Cargo::proxy(toolchain))
}

/// rustup's order: an explicit toolchain (qyv's choice or `RUSTUP_TOOLCHAIN`), a directory
/// override, a `rust-toolchain` file (left to the proxy), the default.
fn resolve(home: &Path, dir: &Path, chosen: Option<&str>) -> Option<Cargo> {
    let settings: toml::Table = std::fs::read_to_string(home.join("settings.toml"))
        .ok()?
        .parse()
        .ok()?;
    let name = match chosen {
        Some(name) => name.to_string(),
        None => match directory_override(&settings, dir) {
            Some(name) => name,
            None => {
                let toolchain_file = dir.ancestors().any(|d| {
                    d.join("rust-toolchain.toml").is_file() || d.join("rust-toolchain").is_file()
                });
                if toolchain_file {
                    return None;
                }
                settings.get("default_toolchain")?.as_str()?.to_string()
            }
        },
    };
    let toolchains = home.join("toolchains");
    let full = if toolchains.join(&name).is_dir() {
        name
    } else {
        // `stable` names `stable-<host>`: accept exactly one installed match.
        let prefix = format!("{name}-");
        let mut matches = std::fs::read_dir(&toolchains)
            .ok()?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&prefix));
        let only = matches.next()?;
        if matches.next().is_some() {
            return None;
        }
        only
    };
    let program = toolchains.join(&full).join("bin/cargo");
    program.is_file().then(|| Cargo {
        program,
        toolchain: Some(full),
        rustup_home: Some(home.to_path_buf()),
    })
}

/// The toolchain of the nearest ancestor of `dir` with a `rustup override`.
fn directory_override(settings: &toml::Table, dir: &Path) -> Option<String> {
    let overrides = settings.get("overrides")?.as_table()?;
    dir.ancestors().find_map(|d| {
        overrides
            .get(d.to_str()?)
            .and_then(|v| v.as_str())
            .map(String::from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_home(default: &str, overrides: &[(&Path, &str)]) -> tempfile::TempDir {
        let home = tempfile::tempdir().unwrap();
        let mut settings =
            format!("version = \"12\"\ndefault_toolchain = \"{default}\"\n\n[overrides]\n");
        for (path, tc) in overrides {
            settings.push_str(&format!("\"{}\" = \"{tc}\"\n", path.display()));
        }
        std::fs::write(home.path().join("settings.toml"), settings).unwrap();
        for tc in [
            "stable-x86_64-unknown-linux-gnu",
            "nightly-x86_64-unknown-linux-gnu",
        ] {
            let bin = home.path().join("toolchains").join(tc).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::write(bin.join("cargo"), "").unwrap();
        }
        home
    }

    #[test]
    fn the_default_and_directory_overrides_are_resolved_like_rustup() {
        let project = tempfile::tempdir().unwrap();
        let nested = project.path().join("crate");
        std::fs::create_dir_all(&nested).unwrap();
        let home = fake_home(
            "stable",
            &[(project.path(), "nightly-x86_64-unknown-linux-gnu")],
        );
        let other = tempfile::tempdir().unwrap();
        let stable = resolve(home.path(), other.path(), None).unwrap();
        assert_eq!(
            stable.toolchain.as_deref(),
            Some("stable-x86_64-unknown-linux-gnu")
        );
        assert!(
            stable
                .program
                .ends_with("stable-x86_64-unknown-linux-gnu/bin/cargo")
        );
        let overridden = resolve(home.path(), &nested, None).unwrap();
        assert_eq!(
            overridden.toolchain.as_deref(),
            Some("nightly-x86_64-unknown-linux-gnu")
        );
        let chosen = resolve(home.path(), other.path(), Some("nightly")).unwrap();
        assert_eq!(
            chosen.toolchain.as_deref(),
            Some("nightly-x86_64-unknown-linux-gnu")
        );
    }

    #[test]
    fn toolchain_files_and_unknown_toolchains_are_left_to_the_proxy() {
        let home = fake_home("stable", &[]);
        let project = tempfile::tempdir().unwrap();
        std::fs::write(
            project.path().join("rust-toolchain.toml"),
            "[toolchain]\nchannel = \"nightly\"\n",
        )
        .unwrap();
        assert_eq!(resolve(home.path(), project.path(), None), None);
        let plain = tempfile::tempdir().unwrap();
        assert_eq!(resolve(home.path(), plain.path(), Some("beta")), None);
    }
}
