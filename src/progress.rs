//! The build reporter the CLI shows: an indicatif spinner on a terminal, nothing otherwise
//! (then the compilers' own output passes through), and per-phase timings for `-v`.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use qyvbuild::progress::Progress;

/// Reports what a build is doing, on stderr.
pub struct Spinner {
    bar: Option<ProgressBar>,
    /// Capture tools' output even without a spinner (shown only on failure).
    capture: bool,
    verbose: bool,
    phase: Mutex<Option<(String, Instant)>>,
}

impl Spinner {
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
        Spinner {
            bar,
            capture: quiet,
            verbose,
            phase: Mutex::new(None),
        }
    }

    /// A spinner on a terminal; otherwise silent, with tools' output captured and shown only
    /// if they fail (`qyv run` building first, like `cargo run`).
    pub fn captured(verbose: bool) -> Self {
        let mut p = Spinner::new(verbose, false);
        p.capture = true;
        p
    }

    /// Ends the current phase, printing its time with `-v`.
    fn end_phase(&self) {
        let ended = self.phase.lock().map(|mut p| p.take()).unwrap_or(None);
        if let (true, Some((name, start))) = (self.verbose, ended) {
            self.note(&format!("  {name}: {:.1?}", start.elapsed()));
        }
        if let Some(bar) = &self.bar {
            bar.set_prefix(String::new());
        }
    }
}

impl Progress for Spinner {
    fn phase(&self, name: &str) {
        self.end_phase();
        if let Ok(mut phase) = self.phase.lock() {
            *phase = Some((name.to_string(), Instant::now()));
        }
        if let Some(bar) = &self.bar {
            bar.set_prefix(name.to_string());
            bar.set_message("");
        }
    }

    fn detail(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_string());
        }
    }

    fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    fn verbose(&self) -> bool {
        self.verbose
    }

    fn captures_output(&self) -> bool {
        self.bar.is_some() || self.capture
    }

    fn tool_output(&self, text: &str) {
        eprint!("{text}");
    }

    fn command(&self, line: &str) {
        if self.verbose {
            self.note(&format!("  $ {line}"));
        }
    }

    fn finish(&self) {
        self.end_phase();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A byte-count bar for transfers (`qyv push`, `qyv pull`): on a terminal only, none when
/// piped or quiet.
pub fn transfer_bar(prefix: &'static str, quiet: bool) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        )
        .expect("valid template"),
    );
    bar.set_prefix(prefix);
    Some(bar)
}

/// The progress callback of a transfer (bytes done, bytes in all) that moves `bar`, if any.
pub fn transfer_progress(bar: &Option<ProgressBar>) -> impl Fn(u64, u64) + '_ {
    move |done, total| {
        if let Some(b) = bar {
            b.set_length(total);
            b.set_position(done);
        }
    }
}
