//! Progress for long builds: an indicatif spinner on a terminal, nothing otherwise (then the
//! compilers' own output passes through), and per-phase timings for `-v`.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Reports what a build is doing.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// Capture tools' output even without a spinner (shown only on failure).
    capture: bool,
    verbose: bool,
    phase: RefCell<Option<(String, Instant)>>,
}

impl Progress {
    /// A spinner when stderr is a terminal (and `quiet` is off), hidden otherwise. Quiet
    /// builds capture the tools' output and show it only if they fail.
    pub fn new(verbose: bool, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} {wide_msg}")
                    .expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Progress {
            bar,
            capture: quiet,
            verbose,
            phase: RefCell::new(None),
        }
    }

    /// A spinner on a terminal; otherwise silent, with tools' output captured and shown only
    /// if they fail (`qyv run` building first, like `cargo run`).
    pub fn captured(verbose: bool) -> Self {
        let mut p = Progress::new(verbose, false);
        p.capture = true;
        p
    }

    /// A reporter that shows nothing (library use, tests).
    pub fn hidden() -> Self {
        Progress {
            bar: None,
            capture: false,
            verbose: false,
            phase: RefCell::new(None),
        }
    }

    /// Whether a spinner is showing, in which case tools' output should be captured (and shown
    /// on failure) rather than passed through.
    pub fn is_interactive(&self) -> bool {
        self.bar.is_some() || self.capture
    }

    /// Starts a phase (e.g. `compiling`), ending the previous one.
    pub fn phase(&self, name: &str) {
        self.end_phase();
        *self.phase.borrow_mut() = Some((name.to_string(), Instant::now()));
        if let Some(bar) = &self.bar {
            bar.set_prefix(name.to_string());
            bar.set_message("");
        }
    }

    /// Ends the current phase, printing its time with `-v`.
    pub fn end_phase(&self) {
        let ended = self.phase.borrow_mut().take();
        if let (true, Some((name, start))) = (self.verbose, ended) {
            self.note(&format!("  {name}: {:.1?}", start.elapsed()));
        }
        if let Some(bar) = &self.bar {
            bar.set_prefix(String::new());
        }
    }

    /// Shows what the current phase is doing right now (e.g. the crate being compiled).
    pub fn detail(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_string());
        }
    }

    /// Prints a line above the spinner (or plainly).
    pub fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// Whether `-v` was given.
    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// Removes the spinner.
    pub fn finish(&self) {
        self.end_phase();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
