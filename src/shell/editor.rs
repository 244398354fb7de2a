//! The interactive loop on a terminal: rustyline with qyv's completion and hints, the prompt
//! that shows the last exit code and the depth, and history in the state directory.

use std::borrow::Cow;

use rustyline::completion::{Completer, Pair};
use rustyline::config::{CompletionType, Config, EditMode};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use super::{Session, Step, completion, hints, state};

/// What completion and hints know of the session, refreshed before each line.
#[derive(Default)]
struct QyvHelper {
    /// The last line, when it succeeded.
    succeeded: Option<String>,
    failure: Option<crate::commands::failure::Failure>,
    history: Vec<String>,
    refs: Vec<String>,
    colour: bool,
}

impl Completer for QyvHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let Ok(cwd) = std::env::current_dir() else {
            return Ok((pos, Vec::new()));
        };
        let sources = completion::Sources {
            cwd: &cwd,
            refs: &self.refs,
        };
        let (start, found) = completion::complete(line, pos, &sources);
        let pairs = found
            .into_iter()
            .map(|c| Pair {
                display: c.clone(),
                replacement: c,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for QyvHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<String> {
        if pos < line.len() {
            return None;
        }
        let cwd = std::env::current_dir().ok()?;
        let recent = hints::Recent {
            succeeded: self.succeeded.as_deref(),
            failure: self.failure,
            history: &self.history,
            cwd: &cwd,
        };
        hints::hint(line, &recent)
    }
}

impl Highlighter for QyvHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.colour {
            Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
        } else {
            Cow::Borrowed(hint)
        }
    }
}

impl Validator for QyvHelper {}
impl Helper for QyvHelper {}

/// Reads and runs lines until `exit` or Ctrl-D; returns the exit code.
pub fn interactive(vi: bool) -> anyhow::Result<i32> {
    crate::interrupt::keep_shell_on_sigint();
    let config = Config::builder()
        .edit_mode(if vi { EditMode::Vi } else { EditMode::Emacs })
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .history_ignore_dups(true)?
        .history_ignore_space(true)
        .max_history_size(state::HISTORY_SIZE)?
        .build();
    let mut editor: Editor<QyvHelper, FileHistory> = Editor::with_config(config)?;
    editor.set_helper(Some(QyvHelper {
        colour: std::env::var_os("NO_COLOR").is_none(),
        ..QyvHelper::default()
    }));
    let history_file = state::history_file().filter(|p| {
        // A missing file is created by the first append; an oversized one is left alone.
        !p.exists() || state::history_loadable(p)
    });
    if let Some(path) = &history_file
        && path.exists()
    {
        let _ = editor.load_history(path);
    }
    let mut session = Session::default();
    loop {
        refresh(&mut editor, &session);
        let prompt = super::prompt(super::depth(), session.code);
        match editor.readline(&prompt) {
            Ok(line) => {
                if !line.trim().is_empty()
                    && editor.add_history_entry(line.as_str())?
                    && let Some(path) = &history_file
                {
                    // A history that cannot be written costs only the history.
                    let _ = editor.append_history(path);
                }
                let history: Vec<String> = editor.history().iter().cloned().collect();
                if let Step::Exit(code) = super::execute(&line, &mut session, &history) {
                    return Ok(code);
                }
                if let Some(step) = session
                    .failure
                    .and_then(|f| hints::next_step(f, &std::env::current_dir().unwrap_or_default()))
                {
                    eprintln!("next: {}", step.trim_end());
                }
            }
            // Ctrl-C: the line is dropped, the shell stays.
            Err(ReadlineError::Interrupted) => {}
            Err(ReadlineError::Eof) => return Ok(session.code),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Gives the helper what the last line left.
fn refresh(editor: &mut Editor<QyvHelper, FileHistory>, session: &Session) {
    let history: Vec<String> = editor.history().iter().cloned().collect();
    if let Some(helper) = editor.helper_mut() {
        helper.succeeded = session.last_line.clone().filter(|_| session.code == 0);
        helper.failure = session.failure;
        helper.history = history;
        helper.refs = qyvpack::recent::load();
    }
}
