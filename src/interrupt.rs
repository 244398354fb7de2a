//! Ending on SIGINT, SIGTERM or SIGHUP after cleaning up. A process killed by a signal runs no
//! destructors, so what it was writing (a partial bundle, a run's fallback scratch directory)
//! would stay behind. `qyv pack` and `qyv run` both register their cleanup here.
//!
//! A handler catches the signals and only writes the signal's number to a pipe (about the one
//! thing a handler may do); a thread reads it, runs the cleanups as ordinary code, then lets
//! the signal end the process as it would have without qyv's help. A handler, unlike a blocked
//! signal mask, holds for threads that already exist, and compilers started later get the
//! default action back when they exec.
//!
//! An interactive `qyv shell` outlives its commands: there SIGINT stops the guest being run
//! (`runner::run::interrupt`) and qyv goes on.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Mutex, Once};

static CLEANUPS: Mutex<Vec<fn()>> = Mutex::new(Vec::new());

/// The write end of the pipe that carries a caught signal to the waiting thread.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Set in an interactive shell: SIGINT (Ctrl-C while a command runs) then stops the guest
/// being run, and the command returns to the prompt; qyv itself goes on. Compilers and other
/// programs a command started get the same Ctrl-C from the terminal and end by themselves.
static SHELL: AtomicBool = AtomicBool::new(false);

/// Set while `qyv run` serves an HTTP app: the first SIGINT or SIGTERM stops the server
/// gracefully (`runner::http::shutdown`: requests in flight finish) instead of ending qyv; a
/// second one ends it as usual.
static SERVING: AtomicBool = AtomicBool::new(false);

/// Makes the first SIGINT or SIGTERM from now on stop the HTTP server gracefully (see
/// [`SERVING`]) until [`served`].
pub fn stop_server_on_signal() {
    SERVING.store(true, Ordering::SeqCst);
    WAITER.call_once(start_waiter);
}

/// The server is done: signals act as before [`stop_server_on_signal`].
pub fn served() {
    SERVING.store(false, Ordering::SeqCst);
}

/// Keeps qyv alive on SIGINT from now on (see [`SHELL`]). SIGTERM and SIGHUP still clean up
/// and end it.
pub fn keep_shell_on_sigint() {
    SHELL.store(true, Ordering::Relaxed);
    runner::run::make_interruptible();
    WAITER.call_once(start_waiter);
}

/// On the first SIGINT, SIGTERM or SIGHUP, runs `cleanup` (and those registered before it),
/// then dies of that signal.
pub fn on_interrupt(cleanup: fn()) {
    CLEANUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(cleanup);
    WAITER.call_once(start_waiter);
}

/// Starts the thread that waits for a signal, once.
static WAITER: Once = Once::new();

extern "C" fn forward_signal(signal: libc::c_int) {
    let byte = signal as u8;
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    // SAFETY: write is async-signal-safe; `byte` outlives the call.
    unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
}

fn start_waiter() {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return;
    }
    SIGNAL_PIPE.store(fds[1], Ordering::Relaxed);
    let read_end = fds[0];
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut signal = 0u8;
            loop {
                // SAFETY: reads one byte into `signal`.
                while unsafe { libc::read(read_end, (&raw mut signal).cast(), 1) } != 1 {}
                let graceful = [libc::SIGINT, libc::SIGTERM].contains(&libc::c_int::from(signal));
                if graceful && SERVING.swap(false, Ordering::SeqCst) {
                    runner::http::shutdown();
                } else if libc::c_int::from(signal) == libc::SIGINT && SHELL.load(Ordering::Relaxed)
                {
                    runner::run::interrupt();
                } else {
                    break;
                }
            }
            let cleanups = CLEANUPS.lock().map(|c| c.clone()).unwrap_or_default();
            for cleanup in cleanups {
                cleanup();
            }
            let signal = libc::c_int::from(signal);
            // SAFETY: restores the default action and raises the signal again, so that qyv
            // ends the way it would have without the handler.
            unsafe {
                libc::signal(signal, libc::SIG_DFL);
                libc::raise(signal);
            }
            std::process::exit(128 + signal);
        });
    if spawned.is_err() {
        return;
    }
    for signal in SIGNALS {
        // SAFETY: forward_signal only makes an async-signal-safe call.
        unsafe { libc::signal(signal, forward_signal as *const () as libc::sighandler_t) };
    }
}
