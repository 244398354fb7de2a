//! What the shell keeps in qyv's state directory: its history (`qyvpack::dirs::StateFile`).

use std::path::PathBuf;

use qyvpack::dirs::StateFile;

/// Lines of history kept.
pub const HISTORY_SIZE: usize = 1000;

/// Largest history file loaded: [`HISTORY_SIZE`] long lines. A bigger one is not read (and so
/// not appended to) rather than read whole.
pub const MAX_HISTORY_FILE: u64 = 4 << 20;

/// The history file, its directory created (owner-only, as the history may hold secrets
/// typed as arguments). `None` without a state directory: the shell then keeps no history.
pub fn history_file() -> Option<PathBuf> {
    let path = StateFile::ShellHistory.path()?;
    let dir = path.parent()?;
    create_private_dir(dir).ok()?;
    Some(path)
}

/// Whether the history file may be loaded: missing (nothing to load) or within its budget.
pub fn history_loadable(path: &std::path::Path) -> bool {
    match std::fs::metadata(path) {
        Ok(meta) => meta.is_file() && meta.len() <= MAX_HISTORY_FILE,
        Err(_) => false,
    }
}

fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}
