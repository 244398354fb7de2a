//! Scratch space of a run: the memfs, a netfs's fetched files, a bundle's models and
//! assets. It lives in RAM, only the user who runs qyv can read it, and no way of ending
//! `qyv run` (timeout, SIGINT, SIGTERM, even SIGKILL) may strand it.
//!
//! Where namespaces are available (Linux, as root or with unprivileged user namespaces) the
//! space is a private tmpfs of the run. `unshare(CLONE_NEWNS)` (and `CLONE_NEWUSER`) needs a
//! single-threaded process, which qyv is not by the time it knows it needs scratch, so a
//! holder process is forked: it unshares, mounts a tmpfs (mode 0700) with a memfs tmpfs of
//! `limits.disk` bytes inside, asks the kernel to kill it when qyv dies
//! (`PR_SET_PDEATHSIG`), reports ready and waits. qyv reaches the files through
//! `/proc/<holder>/root/tmp`. When qyv ends, however it ends, the holder dies, the mount
//! namespace goes with it, and the tmpfs is freed once the last open file in it is closed:
//! nothing is left behind for anyone to clean up. The fork costs about a millisecond, and
//! only runs that need scratch pay it.
//!
//! Elsewhere the space falls back to a directory `qyv-scratch-<pid>-<start>-*` in `/dev/shm`
//! (or the temp dir), mode 0700. It is removed when dropped, by [`remove_live`] (which
//! `qyv run` calls on SIGINT and SIGTERM), and, after a SIGKILL, by the next run that needs
//! scratch: [`sweep`] removes the directories whose owner process is gone. There the
//! memfs size is not enforced by the kernel: only the seeded assets are checked against
//! `limits.disk`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Prefix of fallback scratch directories (followed by `<pid>-<start time>-`).
const PREFIX: &str = "qyv-scratch-";

/// Set to 1 to skip the private tmpfs (tests of the fallback use it).
pub const NO_TMPFS_ENV: &str = "QYV_NO_PRIVATE_TMPFS";

/// Subdirectory names inside a scratch space.
pub const MEMFS: &str = "memfs";
pub const MODELS: &str = "models";
pub const NETFS: &str = "netfs";

/// The scratch space of one run; removed (or released) when dropped.
pub struct Scratch {
    root: PathBuf,
    disk: u64,
    backing: Backing,
}

enum Backing {
    /// Held for its `Drop`, which ends the holder process.
    #[cfg(target_os = "linux")]
    Tmpfs {
        _holder: holder::Holder,
    },
    Dir,
}

impl Scratch {
    /// A scratch space whose memfs may hold `disk` bytes. The kernel ends the holder when
    /// the thread that made it exits (`PR_SET_PDEATHSIG` follows the thread), so call this
    /// from a thread that lives as long as the run (qyv's main thread).
    pub fn new(disk: u64) -> io::Result<Scratch> {
        let tmpfs = std::env::var_os(NO_TMPFS_ENV).is_none_or(|v| v != "1");
        Scratch::with(disk, tmpfs)
    }

    /// A scratch space, trying a private tmpfs first when `tmpfs`.
    fn with(disk: u64, tmpfs: bool) -> io::Result<Scratch> {
        sweep();
        #[cfg(target_os = "linux")]
        if tmpfs && let Ok(h) = holder::Holder::spawn(disk) {
            let s = Scratch {
                root: h.root(),
                disk,
                backing: Backing::Tmpfs { _holder: h },
            };
            // /proc/<holder>/root may be out of reach (hardened /proc): then the fallback.
            if s.make_dirs().is_ok() {
                return Ok(s);
            }
        }
        let s = Scratch {
            root: fallback_dir()?,
            disk,
            backing: Backing::Dir,
        };
        s.make_dirs()?;
        Ok(s)
    }

    fn make_dirs(&self) -> io::Result<()> {
        for sub in [MEMFS, MODELS, NETFS] {
            private_dir(&self.dir(sub))?;
        }
        Ok(())
    }

    /// A subdirectory ([`MEMFS`], [`MODELS`], [`NETFS`]).
    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The memfs size limit.
    pub fn disk(&self) -> u64 {
        self.disk
    }

    /// Whether the kernel enforces the memfs size and frees everything when qyv dies
    /// (a private tmpfs), or qyv has to clean up itself (the fallback directory).
    pub fn is_private_tmpfs(&self) -> bool {
        !matches!(self.backing, Backing::Dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Backing::Dir = self.backing {
            let _ = std::fs::remove_dir_all(&self.root);
            forget_live(&self.root);
        }
    }
}

/// Writes a file only its owner can read (0600), creating its directories (0700).
pub fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    create_private(path)?.write_all(contents)
}

/// Creates (or truncates) a file only its owner can read (0600), creating its directories
/// (0700), for the caller to fill.
pub fn create_private(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        private_dir(parent)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// Creates a directory and its parents, 0700.
pub fn private_dir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

/// Fallback directories of this process, for [`remove_live`].
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn forget_live(root: &Path) {
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|p| p != root);
    }
}

/// Removes this process's fallback scratch directories now (before it dies of a signal).
/// A private tmpfs needs nothing: it goes with the process.
pub fn remove_live() {
    let roots = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
    for root in roots {
        let _ = std::fs::remove_dir_all(&root);
    }
}

/// Whether this process has fallback scratch directories that a signal would strand.
pub fn has_live() -> bool {
    LIVE.lock().is_ok_and(|l| !l.is_empty())
}

/// Where fallback directories go: RAM-backed `/dev/shm` when the host has it.
fn fallback_parent() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

fn fallback_dir() -> io::Result<PathBuf> {
    let pid = std::process::id();
    let prefix = format!("{PREFIX}{pid}-{}-", start_time(pid).unwrap_or(0));
    let make = |parent: &Path| {
        use std::os::unix::fs::PermissionsExt;
        tempfile::Builder::new()
            .prefix(&prefix)
            // tempfile's default for directories is 0777 less the umask.
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(parent)
    };
    let dir = make(&fallback_parent()).or_else(|_| make(&std::env::temp_dir()))?;
    // Registered before anything is written into it.
    let root = dir.keep();
    if let Ok(mut live) = LIVE.lock() {
        live.push(root.clone());
    }
    Ok(root)
}

/// When a process started (clock ticks after boot, from /proc), to tell it from a later
/// process with the same pid.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22; the command name (field 2) may hold spaces and parentheses.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that made a fallback directory is still running.
fn owner_alive(pid: u32, start: u64) -> bool {
    // SAFETY: kill with signal 0 sends nothing; it only checks that the pid exists.
    let exists = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0
        || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && start_time(pid).is_none_or(|s| s == start || start == 0)
}

/// Removes fallback scratch directories (this user's) whose owner process is gone: what a
/// SIGKILL left behind.
pub fn sweep() {
    for parent in [fallback_parent(), std::env::temp_dir()] {
        sweep_in(&parent);
    }
}

fn sweep_in(parent: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        let mut parts = rest.splitn(3, '-');
        let (Some(Ok(pid)), Some(Ok(start))) = (
            parts.next().map(str::parse::<u32>),
            parts.next().map(str::parse::<u64>),
        ) else {
            continue;
        };
        let path = entry.path();
        let mine = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == me);
        if mine && !owner_alive(pid, start) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

#[cfg(target_os = "linux")]
mod holder {
    //! The process that holds a run's private tmpfs.

    use std::ffi::CString;
    use std::io;
    use std::path::PathBuf;

    /// Where the holder mounts the tmpfs in its own mount namespace.
    const MOUNT_POINT: &str = "/tmp";

    pub struct Holder {
        pid: libc::pid_t,
    }

    /// Everything the child needs, made before the fork: after it, in a multi-threaded
    /// process, the child may only make system calls (no allocation, no locks).
    struct Plan {
        user_ns: bool,
        setgroups: CString,
        deny: &'static [u8],
        uid_map_path: CString,
        uid_map: Vec<u8>,
        gid_map_path: CString,
        gid_map: Vec<u8>,
        root: CString,
        mount_point: CString,
        memfs: CString,
        tmpfs: CString,
        outer_opts: CString,
        memfs_opts: CString,
    }

    impl Plan {
        fn new(disk: u64) -> Plan {
            // SAFETY: no preconditions.
            let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
            let c = |s: &str| CString::new(s).expect("no NUL");
            Plan {
                // Root can make a mount namespace without a user namespace.
                user_ns: uid != 0,
                setgroups: c("/proc/self/setgroups"),
                deny: b"deny",
                uid_map_path: c("/proc/self/uid_map"),
                uid_map: format!("{uid} {uid} 1").into_bytes(),
                gid_map_path: c("/proc/self/gid_map"),
                gid_map: format!("{gid} {gid} 1").into_bytes(),
                root: c("/"),
                mount_point: c(MOUNT_POINT),
                memfs: c(&format!("{MOUNT_POINT}/{}", super::MEMFS)),
                tmpfs: c("tmpfs"),
                outer_opts: c("mode=0700"),
                // tmpfs counts whole pages; at least one.
                memfs_opts: c(&format!("mode=0700,size={}", disk.max(4096))),
            }
        }
    }

    impl Holder {
        /// Root makes a plain mount namespace, or (in a container that does not allow
        /// that) a user namespace like everyone else.
        pub fn spawn(disk: u64) -> io::Result<Holder> {
            let mut plan = Plan::new(disk);
            match Holder::spawn_with(&plan) {
                Err(_) if !plan.user_ns => {
                    plan.user_ns = true;
                    Holder::spawn_with(&plan)
                }
                r => r,
            }
        }

        fn spawn_with(plan: &Plan) -> io::Result<Holder> {
            let mut fds = [0; 2];
            // SAFETY: fds has room for the two descriptors.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
                return Err(io::Error::last_os_error());
            }
            let (read_end, write_end) = (fds[0], fds[1]);
            // SAFETY: no preconditions.
            let parent = unsafe { libc::getpid() };
            // SAFETY: the child runs only `child`, which makes system calls on data prepared
            // before the fork and never returns.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // SAFETY: in the child of the fork.
                unsafe { child(plan, parent, write_end) }
            }
            // SAFETY: our own descriptor.
            unsafe { libc::close(write_end) };
            if pid < 0 {
                let e = io::Error::last_os_error();
                // SAFETY: our own descriptor.
                unsafe { libc::close(read_end) };
                return Err(e);
            }
            let holder = Holder { pid };
            // Ready: one zero byte; failed: the errno of the step that failed.
            let mut status = [0u8; 4];
            // SAFETY: status has room for 4 bytes.
            let n = unsafe { libc::read(read_end, status.as_mut_ptr().cast(), 4) };
            // SAFETY: our own descriptor.
            unsafe { libc::close(read_end) };
            match n {
                1 if status[0] == 0 => Ok(holder),
                4 => Err(io::Error::from_raw_os_error(i32::from_ne_bytes(status))),
                _ => Err(io::Error::other("the scratch holder died")),
            }
        }

        /// The tmpfs, seen from here.
        pub fn root(&self) -> PathBuf {
            PathBuf::from(format!("/proc/{}/root{MOUNT_POINT}", self.pid))
        }
    }

    impl Drop for Holder {
        fn drop(&mut self) {
            // SAFETY: our own child; reaped so that it leaves no zombie.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }

    /// The holder: set up the tmpfs, say so on `ready`, then wait to be killed.
    ///
    /// # Safety
    /// Only in the child of a fork; makes system calls only.
    unsafe fn child(p: &Plan, parent: libc::pid_t, ready: libc::c_int) -> ! {
        unsafe {
            // Die with qyv, even of SIGKILL; and not of a terminal's SIGINT meant for qyv
            // (qyv decides, and then this goes with it).
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                fail(ready);
            }
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            // Hold nothing of qyv's open: a pipe's reader would wait for this process.
            for fd in (0..3).filter(|&fd| fd != ready) {
                libc::close(fd);
            }
            libc::syscall(libc::SYS_close_range, 3, ready - 1, 0);
            libc::syscall(libc::SYS_close_range, ready + 1, libc::c_uint::MAX, 0);
            let flags = if p.user_ns {
                libc::CLONE_NEWUSER | libc::CLONE_NEWNS
            } else {
                libc::CLONE_NEWNS
            };
            if libc::unshare(flags) != 0 {
                fail(ready);
            }
            if p.user_ns {
                // The same ids inside, so that qyv's files in the tmpfs have an owner there.
                // setgroups may be missing on old kernels; the gid map then says why.
                write_file(&p.setgroups, p.deny);
                if !write_file(&p.uid_map_path, &p.uid_map)
                    || !write_file(&p.gid_map_path, &p.gid_map)
                {
                    fail(ready);
                }
            }
            // Private first: nothing mounted here may propagate to the host's namespace.
            let none = std::ptr::null();
            if libc::mount(
                none,
                p.root.as_ptr(),
                none,
                libc::MS_REC | libc::MS_PRIVATE,
                none.cast(),
            ) != 0
            {
                fail(ready);
            }
            if !mount_tmpfs(&p.tmpfs, &p.mount_point, &p.outer_opts)
                || libc::mkdir(p.memfs.as_ptr(), 0o700) != 0
                || !mount_tmpfs(&p.tmpfs, &p.memfs, &p.memfs_opts)
            {
                fail(ready);
            }
            libc::write(ready, [0u8].as_ptr().cast(), 1);
            libc::close(ready);
            loop {
                libc::pause();
            }
        }
    }

    /// Reports the errno of the step that failed on `ready`, and exits.
    unsafe fn fail(ready: libc::c_int) -> ! {
        unsafe {
            let bytes = (*libc::__errno_location()).to_ne_bytes();
            libc::write(ready, bytes.as_ptr().cast(), 4);
            libc::_exit(1)
        }
    }

    /// Mounts a tmpfs (`tmpfs` is its source and type name) at `target` with `opts`, with no
    /// set-id programs, devices or executables; true on success. A system call only.
    unsafe fn mount_tmpfs(tmpfs: &CString, target: &CString, opts: &CString) -> bool {
        let secure = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        unsafe {
            libc::mount(
                tmpfs.as_ptr(),
                target.as_ptr(),
                tmpfs.as_ptr(),
                secure,
                opts.as_ptr().cast(),
            ) == 0
        }
    }

    /// Writes `bytes` to the file at `path`; true on success. System calls only.
    unsafe fn write_file(path: &CString, bytes: &[u8]) -> bool {
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 {
                return false;
            }
            let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
            libc::close(fd);
            n == bytes.len() as isize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_private_tmpfs_enforces_the_disk_size_and_goes_with_its_holder() {
        let s = Scratch::with(1 << 20, true).unwrap();
        assert!(
            s.is_private_tmpfs(),
            "namespaces work here (root or user namespaces)"
        );
        let memfs = s.dir(MEMFS);
        write_private(&memfs.join("a/small.bin"), &[1; 1000]).unwrap();
        let e = write_private(&memfs.join("big.bin"), &vec![1; 2 << 20]).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
        // Models and netfs files are not counted against the memfs.
        write_private(&s.dir(MODELS).join("m.bin"), &vec![1; 2 << 20]).unwrap();
        for dir in [
            s.root.clone(),
            memfs.clone(),
            memfs.join("a"),
            s.dir(MODELS),
        ] {
            assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        }
        assert_eq!(mode(&memfs.join("a/small.bin")), 0o600);
        // Nobody else sees the mount.
        assert!(!Path::new("/tmp/memfs/a/small.bin").exists());
        let root = s.root.clone();
        drop(s);
        assert!(!root.exists(), "{}", root.display());
    }

    #[test]
    fn a_fallback_directory_is_private_and_removed_when_dropped() {
        let s = Scratch::with(1 << 20, false).unwrap();
        assert!(!s.is_private_tmpfs());
        assert!(has_live());
        write_private(&s.dir(MEMFS).join("x/y.txt"), b"y").unwrap();
        assert_eq!(mode(&s.root), 0o700);
        assert_eq!(mode(&s.dir(MEMFS).join("x")), 0o700);
        assert_eq!(mode(&s.dir(MEMFS).join("x/y.txt")), 0o600);
        let root = s.root.clone();
        drop(s);
        assert!(!root.exists());
    }

    #[test]
    fn sweep_removes_directories_whose_owner_is_gone() {
        let parent = tempfile::tempdir().unwrap();
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let dead = gone.id();
        gone.wait().unwrap();
        let me = std::process::id();
        let start = start_time(me).unwrap();
        let dead_dir = parent.path().join(format!("{PREFIX}{dead}-1-abc"));
        let reused_pid = parent
            .path()
            .join(format!("{PREFIX}{me}-{}-abc", start + 1));
        let live = parent.path().join(format!("{PREFIX}{me}-{start}-abc"));
        let other = parent.path().join("qyv-something-else");
        for d in [&dead_dir, &reused_pid, &live, &other] {
            private_dir(&d.join(MEMFS)).unwrap();
        }
        sweep_in(parent.path());
        assert!(!dead_dir.exists(), "owner gone");
        assert!(!reused_pid.exists(), "the pid is another process's now");
        assert!(live.exists(), "owner running");
        assert!(other.exists(), "not a scratch directory");
    }
}
