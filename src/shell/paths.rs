//! Files as the shell sees them: what kind each is to qyv (a project, a manifest, a
//! component, a bundle, a key), for `ls` and for completing the paths a verb takes.

use std::path::{Path, PathBuf};

/// Most entries read from one directory: a huge directory is listed in part, not read whole.
pub const MAX_LISTED: usize = 2000;

/// Most entries looked at in a subdirectory to tell whether it is a project.
const MAX_PEEK: usize = 200;

/// What a file is to qyv.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A directory with a `.qyv` manifest.
    Project,
    Dir,
    Manifest,
    Wasm,
    Bundle,
    PublicKey,
    SecretKey,
    Other,
}

impl Kind {
    /// The mark `ls` shows.
    pub fn label(self) -> Option<&'static str> {
        match self {
            Kind::Project => Some("project"),
            Kind::Manifest => Some("manifest"),
            Kind::Wasm => Some("wasm"),
            Kind::Bundle => Some("bundle"),
            Kind::PublicKey => Some("public key"),
            Kind::SecretKey => Some("secret key"),
            Kind::Dir | Kind::Other => None,
        }
    }

    /// A directory, to list or to descend into.
    pub fn is_dir(self) -> bool {
        matches!(self, Kind::Project | Kind::Dir)
    }
}

/// One entry of a directory.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub kind: Kind,
}

impl Entry {
    /// Its name, with a `/` after a directory.
    pub fn shown(&self) -> String {
        if self.kind.is_dir() {
            format!("{}/", self.name)
        } else {
            self.name.clone()
        }
    }
}

/// The kind of the file at `path` (following links).
pub fn kind_of(path: &Path) -> Kind {
    if path.is_dir() {
        return if has_manifest(path) {
            Kind::Project
        } else {
            Kind::Dir
        };
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("qyv") => Kind::Manifest,
        Some("wasm") => Kind::Wasm,
        Some("qyvbin") => Kind::Bundle,
        Some("pub") => Kind::PublicKey,
        Some("key") => Kind::SecretKey,
        _ => Kind::Other,
    }
}

fn has_manifest(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .take(MAX_PEEK)
            .filter_map(Result::ok)
            .any(|e| e.path().extension().is_some_and(|x| x == "qyv"))
    })
}

/// The entries of `dir`, sorted by name, hidden ones left out, at most [`MAX_LISTED`].
pub fn list(dir: &Path) -> std::io::Result<Vec<Entry>> {
    let mut entries: Vec<Entry> = std::fs::read_dir(dir)?
        .take(MAX_LISTED)
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            (!name.starts_with('.')).then(|| Entry {
                kind: kind_of(&e.path()),
                name,
            })
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// What a verb's argument takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// Something to run: a project, a manifest, a `.wasm` or a `.qyvbin`.
    Runnable,
    /// A project directory or its manifest.
    Project,
    /// A `.wasm` or a `.qyvbin` to look into.
    Inspectable,
    Wasm,
    Bundle,
    PublicKey,
    SecretKey,
    /// A directory.
    Dir,
    /// Any file.
    Any,
}

impl Takes {
    /// Whether a file of `kind` is offered (directories always are, to descend into).
    pub fn accepts(self, kind: Kind) -> bool {
        if kind.is_dir() {
            return true;
        }
        match self {
            Takes::Runnable => matches!(kind, Kind::Manifest | Kind::Wasm | Kind::Bundle),
            Takes::Project => kind == Kind::Manifest,
            Takes::Inspectable => matches!(kind, Kind::Wasm | Kind::Bundle),
            Takes::Wasm => kind == Kind::Wasm,
            Takes::Bundle => kind == Kind::Bundle,
            Takes::PublicKey => kind == Kind::PublicKey,
            Takes::SecretKey => kind == Kind::SecretKey,
            Takes::Dir => false,
            Takes::Any => true,
        }
    }
}

impl Takes {
    /// Whether a project directory is itself an answer (not only a place to look in).
    fn wants_projects(self) -> bool {
        matches!(
            self,
            Takes::Runnable | Takes::Project | Takes::Dir | Takes::Any
        )
    }
}

/// The directory a partly typed path lists, and the part of its last name typed so far:
/// `demo/sr` is (`demo/`, `sr`).
pub fn split_typed(typed: &str) -> (&str, &str) {
    match typed.rfind('/') {
        Some(i) => (&typed[..=i], &typed[i + 1..]),
        None => ("", typed),
    }
}

/// The paths completing `typed` that `takes` accepts, relative to `cwd` as typed.
pub fn complete(cwd: &Path, typed: &str, takes: Takes) -> Vec<String> {
    let (dir_part, prefix) = split_typed(typed);
    let dir: PathBuf = if dir_part.is_empty() {
        cwd.to_path_buf()
    } else if let Some(rest) = dir_part.strip_prefix("~/") {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(rest)
    } else {
        cwd.join(dir_part)
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .take(MAX_LISTED)
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            if !name.starts_with(prefix) || (name.starts_with('.') && !prefix.starts_with('.')) {
                return None;
            }
            let kind = kind_of(&e.path());
            takes.accepts(kind).then(|| {
                // A project is offered by its name (`run demo`), other directories to descend.
                let bare = kind == Kind::Project && takes.wants_projects();
                let slash = if kind.is_dir() && !bare { "/" } else { "" };
                format!("{dir_part}{name}{slash}")
            })
        })
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path();
        std::fs::create_dir_all(p.join("demo/src")).unwrap();
        std::fs::write(p.join("demo/demo.qyv"), "name: demo\n").unwrap();
        std::fs::create_dir(p.join("docs")).unwrap();
        for f in [
            "app.wasm",
            "app.qyvbin",
            "me.pub",
            "me.key",
            "notes.txt",
            "tool.qyv",
            ".hidden",
        ] {
            std::fs::write(p.join(f), "").unwrap();
        }
        tmp
    }

    #[test]
    fn files_are_marked_by_what_they_are_to_qyv() {
        let tmp = tree();
        let listed: Vec<(String, Option<&str>)> = list(tmp.path())
            .unwrap()
            .into_iter()
            .map(|e| (e.shown(), e.kind.label()))
            .collect();
        assert_eq!(
            listed,
            [
                ("app.qyvbin".to_string(), Some("bundle")),
                ("app.wasm".to_string(), Some("wasm")),
                ("demo/".to_string(), Some("project")),
                ("docs/".to_string(), None),
                ("me.key".to_string(), Some("secret key")),
                ("me.pub".to_string(), Some("public key")),
                ("notes.txt".to_string(), None),
                ("tool.qyv".to_string(), Some("manifest")),
            ]
        );
    }

    #[test]
    fn paths_are_filtered_by_what_the_verb_takes() {
        let tmp = tree();
        let p = tmp.path();
        assert_eq!(
            complete(p, "", Takes::Runnable),
            ["app.qyvbin", "app.wasm", "demo", "docs/", "tool.qyv"]
        );
        assert_eq!(
            complete(p, "", Takes::PublicKey),
            ["demo/", "docs/", "me.pub"]
        );
        assert_eq!(complete(p, "a", Takes::Bundle), ["app.qyvbin"]);
        assert_eq!(
            complete(p, "demo/", Takes::Project),
            ["demo/demo.qyv", "demo/src/"]
        );
        assert_eq!(complete(p, "d", Takes::Dir), ["demo", "docs/"]);
        assert_eq!(complete(p, ".h", Takes::Any), [".hidden"]);
        assert!(complete(p, "nowhere/", Takes::Any).is_empty());
    }
}
