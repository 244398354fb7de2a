//! `rust-toolchain.toml`: what it asks rustup for, and the installed toolchain to use instead
//! when rustup would have to download something (there may be no network).

use std::path::Path;
use std::process::Command;

/// A `rust-toolchain.toml` asking for a toolchain, components or targets that are not
/// installed would make rustup try to download them, which fails without network. In that
/// case the build uses an installed toolchain instead (through `RUSTUP_TOOLCHAIN`, which
/// takes precedence over the file) and says so.
pub(super) fn toolchain_override(dir: &Path, notes: &mut Vec<String>) -> Option<String> {
    if std::env::var_os("RUSTUP_TOOLCHAIN").is_some() {
        return None;
    }
    let file = dir.ancestors().find_map(|d| {
        ["rust-toolchain.toml", "rust-toolchain"]
            .iter()
            .map(|n| d.join(n))
            .find(|p| p.is_file())
    })?;
    let text = std::fs::read_to_string(&file).ok()?;
    let wanted = ToolchainFile::parse(&text)?;
    let installed = installed_toolchains()?;
    let channel_match = installed
        .iter()
        .find(|t| t.name == wanted.channel || t.name.starts_with(&format!("{}-", wanted.channel)));
    let problem = match channel_match {
        None => Some(format!("toolchain `{}` is not installed", wanted.channel)),
        Some(tc) => {
            let have = installed_components(&tc.name);
            let lacking: Vec<String> = wanted
                .components
                .iter()
                .filter(|c| {
                    !have
                        .iter()
                        .any(|h| h == *c || h.starts_with(&format!("{c}-")))
                })
                .cloned()
                .chain(
                    wanted
                        .targets
                        .iter()
                        .filter(|t| !have.iter().any(|h| h == &format!("rust-std-{t}")))
                        .cloned(),
                )
                .collect();
            (!lacking.is_empty()).then(|| {
                format!(
                    "toolchain `{}` lacks {} (not installed)",
                    tc.name,
                    lacking.join(", ")
                )
            })
        }
    }?;
    let fallback = channel_match
        .map(|t| t.name.clone())
        .or_else(|| installed.iter().find(|t| t.default).map(|t| t.name.clone()))?;
    let note = format!(
        "{} asks for more than is installed ({problem}); rustup would try to download it, so \
         building with the installed toolchain `{fallback}` instead",
        file.display()
    );
    notes.push(note);
    Some(fallback)
}

/// The parts of a rust-toolchain file that decide what rustup would install.
#[derive(Debug, PartialEq, Eq)]
struct ToolchainFile {
    channel: String,
    components: Vec<String>,
    targets: Vec<String>,
}

impl ToolchainFile {
    fn parse(text: &str) -> Option<Self> {
        let trimmed = text.trim();
        // The legacy file holds just the channel name.
        if !trimmed.contains('[') && !trimmed.contains('=') {
            return Some(ToolchainFile {
                channel: trimmed.to_string(),
                components: Vec::new(),
                targets: Vec::new(),
            });
        }
        let value: toml::Table = trimmed.parse().ok()?;
        let tc = value.get("toolchain")?.as_table()?;
        let list = |key: &str| -> Vec<String> {
            tc.get(key)
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        Some(ToolchainFile {
            channel: tc
                .get("channel")
                .and_then(|v| v.as_str())
                .unwrap_or("stable")
                .to_string(),
            components: list("components"),
            targets: list("targets"),
        })
    }
}

struct InstalledToolchain {
    name: String,
    default: bool,
}

fn installed_toolchains() -> Option<Vec<InstalledToolchain>> {
    let out = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let name = l.split_whitespace().next()?.to_string();
                Some(InstalledToolchain {
                    default: l.contains("(default") || l.contains("default)"),
                    name,
                })
            })
            .collect(),
    )
}

fn installed_components(toolchain: &str) -> Vec<String> {
    Command::new("rustup")
        .args(["component", "list", "--installed", "--toolchain", toolchain])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| l.trim().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_toolchain_files() {
        let f = ToolchainFile::parse(
            "[toolchain]\nchannel = \"1.80.0\"\ncomponents = [\"rustfmt\", \"clippy\"]\ntargets = [\"wasm32-wasip1\"]\n",
        )
        .unwrap();
        assert_eq!(f.channel, "1.80.0");
        assert_eq!(f.components, ["rustfmt", "clippy"]);
        assert_eq!(f.targets, ["wasm32-wasip1"]);
        assert_eq!(
            ToolchainFile::parse("nightly\n").unwrap().channel,
            "nightly"
        );
        assert!(ToolchainFile::parse("[toolchain\n").is_none());
    }
}
