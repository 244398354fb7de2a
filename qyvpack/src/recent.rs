//! Registry references used recently, kept in the state directory
//! ([`StateFile::RecentRefs`]) one a line, newest last: `qyv push` records what it pushed, and
//! the shell offers them when completing `pull`, `deploy` and `run`. A small plain file, so
//! that a verb added later appends to it without knowing who reads it.

use std::path::Path;

use crate::dirs::StateFile;
use crate::output::{Access, write_atomically};

/// How many references are kept: completion offers the recent ones, not an archive.
pub const KEPT: usize = 50;

/// Largest file read: [`KEPT`] references of a generous length.
const MAX_FILE: u64 = 64 << 10;

/// Longest reference kept (registries allow 255 bytes of repository name plus a tag).
const MAX_REF: usize = 512;

/// The recent references, newest last; none when there is no state directory or no file.
pub fn load() -> Vec<String> {
    StateFile::RecentRefs
        .path()
        .map(|p| load_from(&p))
        .unwrap_or_default()
}

/// Records `reference` as the newest (moving it to the end when it was there already).
pub fn record(reference: &str) -> std::io::Result<()> {
    let Some(path) = StateFile::RecentRefs.path() else {
        return Ok(());
    };
    record_in(&path, reference)
}

/// The references in the file at `path`; an unreadable, oversized or missing file has none.
pub fn load_from(path: &Path) -> Vec<String> {
    let Ok(text) = crate::bounded::read_to_string(path, MAX_FILE, "a list of references") else {
        return Vec::new();
    };
    text.lines()
        .map(str::trim)
        .filter(|l| is_reference(l))
        .map(str::to_string)
        .collect()
}

/// [`record`] in the file at `path`.
pub fn record_in(path: &Path, reference: &str) -> std::io::Result<()> {
    let reference = reference.trim();
    if !is_reference(reference) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("not a registry reference: {reference:?}"),
        ));
    }
    let mut refs = load_from(path);
    refs.retain(|r| r != reference);
    refs.push(reference.to_string());
    let skip = refs.len().saturating_sub(KEPT);
    let mut text = refs[skip..].join("\n");
    text.push('\n');
    write_atomically(path, text.as_bytes(), Access::Private)
}

/// One line, no spaces or controls, of a sane length: what a reference can be.
fn is_reference(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_REF && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_kept_newest_last_without_repeats() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("state/recent-refs");
        assert!(load_from(&file).is_empty());
        record_in(&file, "ghcr.io/me/demo:1").unwrap();
        record_in(&file, "ghcr.io/me/other:2").unwrap();
        record_in(&file, "ghcr.io/me/demo:1").unwrap();
        assert_eq!(
            load_from(&file),
            ["ghcr.io/me/other:2", "ghcr.io/me/demo:1"]
        );
        assert!(record_in(&file, "two words").is_err());
    }

    #[test]
    fn only_the_newest_are_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("recent-refs");
        for i in 0..KEPT + 5 {
            record_in(&file, &format!("r.io/app:{i}")).unwrap();
        }
        let refs = load_from(&file);
        assert_eq!(refs.len(), KEPT);
        assert_eq!(refs.last().unwrap(), &format!("r.io/app:{}", KEPT + 4));
    }

    #[test]
    fn a_hostile_file_gives_nothing_rather_than_everything() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("recent-refs");
        std::fs::write(&file, vec![b'a'; (MAX_FILE + 1) as usize]).unwrap();
        assert!(load_from(&file).is_empty());
        std::fs::write(&file, "ok.io/a:1\n\u{7}bell\n").unwrap();
        assert_eq!(load_from(&file), ["ok.io/a:1"]);
    }
}
