//! `qyv shell`: an interactive shell over every verb. A line is split with shell-words rules
//! and parsed by the same clap tree as the command line, then run in this process through
//! `commands::dispatch`; errors, traps and panics end the command, never the shell.
//!
//! On a terminal the line editor is rustyline (history, completion, hints); piped input is
//! read line by line with no prompt, so `qyv shell < script.qyvsh` runs a script.

mod builtins;
mod completion;
mod editor;
mod hints;
mod paths;
mod state;

use std::io::{BufRead, IsTerminal, Read};
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Parser;

use crate::commands::{self, exit, failure::Failure};

/// Start an interactive shell in which every qyv verb runs, with completion and hints.
///
/// Commands are qyv's verbs without the `qyv` (`build demo`, `run demo -- a b`), quoted as in
/// a POSIX shell, and the shell's own: help [CMD], ls, cd, pwd, history, cluster, shell (a
/// nested shell), exit [CODE]. The prompt shows the last exit code when it was not 0
/// (`qyv [1]> `). Tab completes verbs, flags, and the files each verb takes; a grey hint from
/// history or from the last command (after `build demo`, `run demo`) is taken with →.
/// History is kept in the state directory ($QYV_STATE_DIR, else $XDG_STATE_HOME/qyv).
///
/// With piped input there is no prompt: lines are read one by one and the exit code is the
/// last command's.
#[derive(Parser)]
pub struct Opts {
    /// vi editing mode instead of emacs (also QYV_EDIT_MODE=vi).
    #[arg(long)]
    vi: bool,
}

/// How deep in nested shells this one is (1 for the outermost).
static DEPTH: AtomicUsize = AtomicUsize::new(0);

/// Longest line read from piped input: a script line is a command, not data.
const MAX_LINE: usize = 64 << 10;

pub fn run(opts: Opts) -> anyhow::Result<i32> {
    let _depth = Depth::enter();
    if std::io::stdin().is_terminal() {
        let vi = opts.vi || std::env::var_os("QYV_EDIT_MODE").is_some_and(|m| m == "vi");
        editor::interactive(vi)
    } else {
        piped()
    }
}

/// Counts this shell in [`DEPTH`] while it lives.
struct Depth;

impl Depth {
    fn enter() -> Depth {
        DEPTH.fetch_add(1, Ordering::Relaxed);
        Depth
    }
}

impl Drop for Depth {
    fn drop(&mut self) {
        DEPTH.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the shell knows between lines.
#[derive(Debug, Default)]
pub struct Session {
    /// The last command's exit code.
    pub code: i32,
    /// The last command line that ran, and whether it succeeded.
    pub last_line: Option<String>,
    /// The kind of the last failure, when it has a next step.
    pub failure: Option<Failure>,
    /// The directory before the last `cd` (for `cd -`).
    pub previous_dir: Option<std::path::PathBuf>,
}

/// Whether the shell goes on after a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Continue,
    Exit(i32),
}

/// The prompt: `qyv> `, with the depth in nested shells and the last code after a failure.
pub fn prompt(depth: usize, code: i32) -> String {
    let mut p = String::from("qyv");
    if depth > 1 {
        p.push_str(&format!("({depth})"));
    }
    if code != 0 {
        p.push_str(&format!(" [{code}]"));
    }
    p.push_str("> ");
    p
}

/// The current nesting depth.
pub fn depth() -> usize {
    DEPTH.load(Ordering::Relaxed).max(1)
}

/// Runs one line: a shell command or a verb. `history` is the lines typed so far.
pub fn execute(line: &str, session: &mut Session, history: &[String]) -> Step {
    let words = match shell_words::split(line) {
        Ok(words) => words,
        Err(e) => {
            eprintln!("error: {e}");
            session.code = exit::USAGE;
            session.failure = None;
            return Step::Continue;
        }
    };
    let Some(first) = words.first() else {
        return Step::Continue;
    };
    if first.starts_with('#') {
        return Step::Continue;
    }
    let step = match builtins::find(first) {
        Some(builtin) => builtins::run(builtin, &words[1..], session, history),
        None => {
            commands::failure::take();
            session.code = guarded(|| run_verb(&words));
            session.failure = commands::failure::take();
            Step::Continue
        }
    };
    session.last_line = Some(line.trim().to_string());
    step
}

/// Parses `words` as `qyv WORDS` and dispatches it; a parse error (or `--help`) is printed
/// as the command line would print it.
fn run_verb(words: &[String]) -> i32 {
    match commands::Cli::try_parse_from(
        std::iter::once("qyv".to_string()).chain(words.iter().cloned()),
    ) {
        Ok(cli) => commands::dispatch(cli),
        Err(e) => {
            let _ = e.print();
            e.exit_code()
        }
    }
}

/// The exit code of a command that panicked: Rust's own for a panicking process.
const PANICKED: i32 = 101;

/// Runs `command`, turning a panic into a reported bug and [`PANICKED`], so the shell goes on.
/// A panic from printing to a closed stdout ends the shell as it would end qyv.
fn guarded(command: impl FnOnce() -> i32) -> i32 {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(command)) {
        Ok(code) => code,
        Err(payload) if crate::is_closed_output(&*payload) => std::panic::resume_unwind(payload),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            eprintln!(
                "qyv: bug: the command panicked ({message}); the shell goes on. Please report it."
            );
            PANICKED
        }
    }
}

/// Reads commands from a non-terminal stdin, one a line, without prompt or colour.
fn piped() -> anyhow::Result<i32> {
    let mut session = Session::default();
    let mut input = std::io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if read == 0 {
            return Ok(session.code);
        }
        if line.len() > MAX_LINE && !line.ends_with(b"\n") {
            anyhow::bail!("a line of the script is longer than {MAX_LINE} bytes");
        }
        let text = String::from_utf8_lossy(&line);
        if let Step::Exit(code) = execute(&text, &mut session, &[]) {
            return Ok(code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_shows_depth_and_failure() {
        assert_eq!(prompt(1, 0), "qyv> ");
        assert_eq!(prompt(1, 1), "qyv [1]> ");
        assert_eq!(prompt(2, 0), "qyv(2)> ");
        assert_eq!(prompt(3, 134), "qyv(3) [134]> ");
    }

    #[test]
    fn a_panic_is_a_reported_bug_not_the_end() {
        assert_eq!(guarded(|| panic!("boom")), PANICKED);
        assert_eq!(guarded(|| 7), 7);
    }

    #[test]
    fn bad_quoting_and_bad_flags_are_usage_errors() {
        let mut s = Session::default();
        assert_eq!(execute("run 'demo", &mut s, &[]), Step::Continue);
        assert_eq!(s.code, exit::USAGE);
        execute("inspect --no-such-flag x.wasm", &mut s, &[]);
        assert_eq!(s.code, exit::USAGE);
        assert_eq!(
            s.last_line.as_deref(),
            Some("inspect --no-such-flag x.wasm")
        );
    }

    #[test]
    fn comments_and_blank_lines_change_nothing() {
        let mut s = Session {
            code: 3,
            ..Session::default()
        };
        execute("   ", &mut s, &[]);
        execute("# a comment", &mut s, &[]);
        assert_eq!(s.code, 3);
    }
}
