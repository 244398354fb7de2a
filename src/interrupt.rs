//! Ending on SIGINT, SIGTERM or SIGHUP after cleaning up. A process killed by a signal runs no
//! destructors, so what it was writing (a partial bundle, say) would stay behind.
//!
//! The signals are blocked in the calling thread, and so in every thread it starts later
//! (they inherit the mask); one thread waits for them with `sigwait` and runs the cleanups as
//! ordinary code (not in a signal handler, where almost nothing is allowed). Child processes
//! inherit the mask too, so this is for commands that start none.

use std::sync::{Mutex, Once};

static CLEANUPS: Mutex<Vec<fn()>> = Mutex::new(Vec::new());

/// On the first SIGINT, SIGTERM or SIGHUP, runs `cleanup` (and those registered before it)
/// and ends the process with 128 + the signal's number, as a shell reports a process killed
/// by it. Call it before starting the threads that may be working when the signal comes.
pub fn on_interrupt(cleanup: fn()) {
    CLEANUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(cleanup);
    #[cfg(unix)]
    {
        static WAITER: Once = Once::new();
        WAITER.call_once(start_waiter);
    }
}

#[cfg(unix)]
fn start_waiter() {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use; the calls only
    // change this thread's signal mask.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || {
        let mut signal: libc::c_int = 0;
        // SAFETY: `set` and `signal` are valid for the call.
        while unsafe { libc::sigwait(&set, &mut signal) } != 0 {}
        let cleanups = CLEANUPS.lock().map(|c| c.clone()).unwrap_or_default();
        for cleanup in cleanups {
            cleanup();
        }
        std::process::exit(128 + signal);
    });
}
