//! How a build tells what it is doing. The library never prints: the CLI implements
//! [`Progress`] (a spinner, `-v` timings, the compilers' output shown or kept), and library
//! users and tests take [`Silent`].

/// A build's reporter. `Sync`: compilers' output is read on helper threads.
pub trait Progress: Sync {
    /// Starts a phase (e.g. `compiling`), ending the previous one.
    fn phase(&self, name: &str);
    /// What the current phase is doing right now (e.g. the crate being compiled).
    fn detail(&self, message: &str);
    /// A line for the user: a note, a fallback taken.
    fn note(&self, line: &str);
    /// Whether compilers' output is kept and handed over only if they fail (a spinner is
    /// showing, or the caller asked for quiet), rather than passed through as it comes.
    fn captures_output(&self) -> bool;
    /// Whether the user asked for details (`-v`): what a build chose and why, and the output
    /// of tools qyv otherwise keeps to itself (pip, npm, a compiler whose errors qyv sums up).
    fn verbose(&self) -> bool {
        false
    }
    /// Compilers' output, as text that ends in a newline: each line as it comes when not
    /// captured; the whole output of a failed compiler when captured.
    fn tool_output(&self, text: &str);
    /// The build is over (or failed): end the phase, clear anything on screen.
    fn finish(&self);
    /// The exact command line a driver is about to run, as a shell would take it (`-v` shows
    /// it, so that a build can be repeated by hand).
    fn command(&self, _line: &str) {}
}

/// Shows nothing and captures compilers' output (library use, tests).
pub struct Silent;

impl Progress for Silent {
    fn phase(&self, _: &str) {}
    fn detail(&self, _: &str) {}
    fn note(&self, _: &str) {}
    fn captures_output(&self) -> bool {
        true
    }
    fn tool_output(&self, _: &str) {}
    fn finish(&self) {}
}
