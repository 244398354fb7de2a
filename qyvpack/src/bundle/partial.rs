//! Partial bundles: the temporary files [`super::pack`] writes before a bundle takes its
//! name. They can be large (the whole compressed bundle), so none may outlive its pack:
//! - each is named `.qyvbin-<pid>-XXXXXX` after the process that writes it;
//! - while it is written it is registered here, so that the binary's SIGINT/SIGTERM
//!   handling can remove it ([`remove_all`]) before the process ends;
//! - a pack sweeps the partial files of processes that are gone (killed with SIGKILL, say)
//!   from the directory it writes to ([`sweep`]).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The prefix of every partial bundle's name.
pub const PREFIX: &str = ".qyvbin-";

/// The partial files this process is writing.
static WRITING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A new partial file in `dir` (removed when `file` is dropped, unless persisted), and its
/// registration.
pub(super) struct Partial {
    pub file: tempfile::NamedTempFile,
    pub registered: Registered,
}

/// A partial file's place in the list of those being written, until dropped.
pub(super) struct Registered(PathBuf);

impl Partial {
    pub fn create_in(dir: &Path) -> std::io::Result<Partial> {
        let file = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-", std::process::id()))
            .tempfile_in(dir)?;
        let path = file.path().to_path_buf();
        lock().push(path.clone());
        Ok(Partial {
            file,
            registered: Registered(path),
        })
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        lock().retain(|p| p != &self.0);
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    // A panic while holding the lock leaves the list usable.
    WRITING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes every partial file this process is writing: for a process about to end on a
/// signal, whose destructors will not run.
pub fn remove_all() {
    for path in lock().drain(..) {
        let _ = std::fs::remove_file(path);
    }
}

/// Removes from `dir` the partial files of processes that no longer exist. A file whose
/// writer is alive (or whose name has no pid) is left alone.
pub fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !process_exists(pid) && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether a process with this pid exists (then its files are kept, even if the pid was
/// reused: keeping a stale file is harmless, removing a live one is not).
fn process_exists(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(target_os = "linux")]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        if pid <= 0 {
            return false;
        }
        // SAFETY: signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        alive || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn sweeps_files_of_dead_writers_only() {
        let tmp = tempfile::tempdir().unwrap();
        // A child that has exited and been waited for: its pid names no process.
        let dead = std::process::Command::new("true")
            .spawn()
            .and_then(|mut c| c.wait().map(|_| c.id()))
            .unwrap();
        let mut live = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let names = [
            format!("{PREFIX}{dead}-abc123"),
            format!("{PREFIX}{}-abc123", live.id()),
            format!("{PREFIX}{}-abc123", std::process::id()),
            format!("{PREFIX}abc123"),
            "app.qyvbin".to_string(),
        ];
        for n in &names {
            std::fs::write(tmp.path().join(n), "partial").unwrap();
        }
        sweep(tmp.path());
        let _ = live.kill();
        let _ = live.wait();
        let mut left: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want = names[1..].to_vec();
        want.sort();
        assert_eq!(left, want);
    }

    #[test]
    fn partial_files_are_registered_while_written() {
        let tmp = tempfile::tempdir().unwrap();
        let partial = Partial::create_in(tmp.path()).unwrap();
        let path = partial.file.path().to_path_buf();
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(&format!("{PREFIX}{}-", std::process::id())));
        // (remove_all itself would also remove the files of other tests packing now.)
        assert!(lock().contains(&path));
        drop(partial);
        assert!(!lock().contains(&path));
        assert!(!path.exists());
    }
}
