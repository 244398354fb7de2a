//! What qyv reads of a Nim project's description: the `.nimble` file's `srcDir`, `bin` and
//! `requires`, the `--path`s of its `nim.cfg`/`config.nims`, and which of the required
//! packages neither a nimble package directory nor one of those paths holds (nimble would have
//! to fetch them, and qyv does not).

use std::path::{Path, PathBuf};

use crate::tools;

/// At most this much of a `.nimble`, `nim.cfg` or `config.nims` is read.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// A `.nimble` file, as far as building goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nimble {
    /// The file's stem, the package's name.
    pub name: String,
    /// `srcDir`, relative to the project.
    pub src_dir: Option<String>,
    /// `bin`: the programs, by name (without `.nim`).
    pub bin: Vec<String>,
    /// `requires`: each package with its version constraint, `nim` left out.
    pub requires: Vec<String>,
}

impl Nimble {
    /// The `.nimble` in `dir`, if there is one that can be read.
    pub fn in_dir(dir: &Path) -> Option<Nimble> {
        let path = tools::files_with_extension(dir, &["nimble"])
            .into_iter()
            .next()?;
        let text = read(&path)?;
        let name = path.file_stem()?.to_string_lossy().into_owned();
        Some(Nimble::parse(&name, &text))
    }

    /// Reads the assignments and `requires` lines nimble itself reads.
    pub fn parse(name: &str, text: &str) -> Nimble {
        let mut nimble = Nimble {
            name: name.to_string(),
            ..Nimble::default()
        };
        let mut continuing = false;
        for line in text.lines() {
            let line = without_comment(line).trim();
            if line.is_empty() {
                continue;
            }
            if let Some(value) = assignment(line, "srcDir") {
                nimble.src_dir = strings(value).into_iter().next();
            } else if let Some(value) = assignment(line, "bin") {
                nimble.bin = strings(value);
            } else if let Some(rest) = line.strip_prefix("requires") {
                nimble.requires.extend(strings(rest));
                continuing = line.ends_with(',');
                continue;
            } else if continuing {
                nimble.requires.extend(strings(line));
                continuing = line.ends_with(',');
                continue;
            }
            continuing = false;
        }
        nimble
            .requires
            .retain(|r| package_name(r).is_some_and(|n| n != "nim"));
        nimble
    }
}

/// A line up to its `#` comment (a `#` inside a string literal is not one).
fn without_comment(line: &str) -> &str {
    let mut in_string = false;
    for (at, c) in line.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '#' if !in_string => return &line[..at],
            _ => {}
        }
    }
    line
}

/// `key = value` (nimble's keys are case-insensitive past their first letter).
fn assignment<'l>(line: &'l str, key: &str) -> Option<&'l str> {
    let (left, right) = line.split_once('=')?;
    let left = left.trim();
    (left.eq_ignore_ascii_case(key) && !right.starts_with('=')).then_some(right)
}

/// The string literals of a line.
fn strings(text: &str) -> Vec<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The package a requirement names: `foo >= 1.0` is `foo`, a URL its last segment.
pub fn package_name(requirement: &str) -> Option<String> {
    let first = requirement.split_whitespace().next()?;
    let first = first.split(['>', '<', '=', '~', '^', '#', '@']).next()?;
    let name = first
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .rsplit('/')
        .next()?
        .to_ascii_lowercase();
    (!name.is_empty()).then_some(name)
}

fn read(path: &Path) -> Option<String> {
    qyvpack::bounded::read_to_string(path, MAX_CONFIG_BYTES, "a Nim project file").ok()
}

/// The module search paths `nim.cfg` and `config.nims` in `dirs` add, resolved against the
/// directory of the file that names them.
pub fn config_paths(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for dir in dirs {
        for file in ["nim.cfg", "config.nims"] {
            let Some(text) = read(&dir.join(file)) else {
                continue;
            };
            for line in text.lines() {
                let line = line.trim();
                let value = if let Some(rest) = line
                    .strip_prefix("--path")
                    .or_else(|| line.strip_prefix("path"))
                    .or_else(|| line.strip_prefix("-p"))
                {
                    let rest = rest.trim_start();
                    rest.strip_prefix([':', '='])
                        .map(|v| v.trim().trim_matches('"').to_string())
                } else if line.starts_with("switch(\"path\"") || line.starts_with("switch(\"p\"") {
                    strings(line).into_iter().nth(1)
                } else {
                    None
                };
                if let Some(value) = value.filter(|v| !v.is_empty()) {
                    paths.push(dir.join(value));
                }
            }
        }
    }
    paths
}

/// Where nimble keeps installed packages: `$NIMBLE_DIR`, else `~/.nimble`.
fn nimble_package_dirs() -> Vec<PathBuf> {
    let root = std::env::var_os("NIMBLE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".nimble")));
    root.map(|r| vec![r.join("pkgs2"), r.join("pkgs")])
        .unwrap_or_default()
}

/// The requirements that no installed nimble package and no configured path provides.
pub fn unmet(requires: &[String], paths: &[PathBuf]) -> Vec<String> {
    let installed: Vec<String> = nimble_package_dirs()
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .map(|e| e.file_name().to_string_lossy().to_ascii_lowercase())
        .collect();
    requires
        .iter()
        .filter(|requirement| {
            let Some(name) = package_name(requirement) else {
                return false;
            };
            let in_nimble = installed
                .iter()
                .any(|i| i == &name || i.starts_with(&format!("{name}-")));
            let on_path = paths.iter().any(|p| {
                p.join(format!("{name}.nim")).is_file()
                    || p.join(&name).is_dir()
                    || p.file_name()
                        .is_some_and(|f| f.to_string_lossy().eq_ignore_ascii_case(&name))
            });
            !in_nimble && !on_path
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nimble_file_gives_its_layout_and_requirements() {
        let text = "# Package\nversion       = \"0.1.0\"\nsrcDir        = \"src\"\n\
                    bin           = @[\"greet\", \"count\"]\n\n\
                    requires \"nim >= 1.6.0\", \"jester >= 0.5\",\n  \"https://github.com/x/karax.git#head\"\n\
                    requires \"regex\"\n";
        let n = Nimble::parse("greet", text);
        assert_eq!(n.src_dir.as_deref(), Some("src"));
        assert_eq!(n.bin, ["greet", "count"]);
        assert_eq!(
            n.requires,
            [
                "jester >= 0.5",
                "https://github.com/x/karax.git#head",
                "regex"
            ]
        );
        let names: Vec<_> = n.requires.iter().filter_map(|r| package_name(r)).collect();
        assert_eq!(names, ["jester", "karax", "regex"]);
    }

    #[test]
    fn paths_come_from_nim_cfg_and_config_nims() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join("nim.cfg"),
            "--path:\"vendor/a\"\npath = \"vendor/b\"\n",
        )
        .unwrap();
        std::fs::write(
            tmp.path().join("config.nims"),
            "switch(\"path\", \"vendor/c\")\n",
        )
        .unwrap();
        let paths = config_paths(&[tmp.path().to_path_buf()]);
        assert_eq!(
            paths,
            ["vendor/a", "vendor/b", "vendor/c"].map(|p| tmp.path().join(p))
        );
        std::fs::create_dir_all(tmp.path().join("vendor/a")).unwrap();
        std::fs::write(tmp.path().join("vendor/a/regex.nim"), "").unwrap();
        let unmet = unmet(&["regex >= 0.1".into(), "nosuchpackage-qyv".into()], &paths);
        assert_eq!(unmet, ["nosuchpackage-qyv"]);
    }
}
