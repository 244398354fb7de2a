//! Inline hints, fish-style: the rest of a likely line, shown grey after the cursor. They come
//! from what just happened (after `build demo`, `run demo`; after a failure, the command that
//! fixes it) and from history, lines that name files existing here first.

use std::path::Path;

use crate::commands::failure::Failure;

/// What the hints draw on besides the line.
pub struct Recent<'a> {
    /// The last line run, when it succeeded.
    pub succeeded: Option<&'a str>,
    /// The kind of the last failure.
    pub failure: Option<Failure>,
    /// History, oldest first.
    pub history: &'a [String],
    pub cwd: &'a Path,
}

/// The hint for `line` (what would follow it), when one fits.
pub fn hint(line: &str, recent: &Recent) -> Option<String> {
    if line.trim().is_empty() {
        return None;
    }
    candidates(recent)
        .into_iter()
        .find(|c| c.len() > line.len() && c.starts_with(line))
        .map(|c| c[line.len()..].to_string())
}

/// Likely lines, best first.
fn candidates(recent: &Recent) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(step) = recent.failure.and_then(|f| next_step(f, recent.cwd)) {
        found.push(step);
    }
    if let Some(next) = recent.succeeded.and_then(follow_up) {
        found.push(next);
    }
    // History, newest first, with the lines whose files exist here before the others.
    let mut seen = std::collections::HashSet::new();
    let newest_first: Vec<&String> = recent
        .history
        .iter()
        .rev()
        .filter(|l| seen.insert(l.as_str()))
        .collect();
    let (here, elsewhere): (Vec<&String>, Vec<&String>) = newest_first
        .into_iter()
        .partition(|l| names_files_here(l, recent.cwd));
    found.extend(here.into_iter().chain(elsewhere).cloned());
    found
}

/// The command that fixes a failure of this kind.
pub fn next_step(failure: Failure, cwd: &Path) -> Option<String> {
    Some(match failure {
        Failure::NoProject => "new --lang rust ".to_string(),
        Failure::ToolchainMissing => "doctor".to_string(),
        Failure::Untrusted => match first_with_extension(cwd, "pub") {
            Some(key) => format!("trust add {}", shell_words::quote(&key)),
            None => "trust add ".to_string(),
        },
    })
}

/// What usually comes after a successful line: a new project is built, a built one is run,
/// a new key signs a pack.
pub fn follow_up(line: &str) -> Option<String> {
    let words = shell_words::split(line).ok()?;
    let positional = |from: usize| {
        let mut skip_value = false;
        words[from..].iter().find(|w| {
            let is_flag = w.starts_with('-');
            let takes_value = matches!(
                w.as_str(),
                "--lang"
                    | "-l"
                    | "--target"
                    | "-p"
                    | "--package"
                    | "--bin"
                    | "--profile"
                    | "--features"
            );
            let keep = !is_flag && !skip_value;
            skip_value = takes_value;
            keep
        })
    };
    let quoted = |w: &String| shell_words::quote(w).into_owned();
    match words.first()?.as_str() {
        "new" => positional(1).map(|p| format!("build {}", quoted(p))),
        "build" => Some(match positional(1) {
            Some(p) => format!("run {}", quoted(p)),
            None => "run".to_string(),
        }),
        "keygen" => positional(1).map(|k| format!("pack --sign {}", quoted(&format!("{k}.key")))),
        _ => None,
    }
}

/// Whether every path-like argument of `line` exists in `cwd` (and it has one).
fn names_files_here(line: &str, cwd: &Path) -> bool {
    let Ok(words) = shell_words::split(line) else {
        return false;
    };
    let args: Vec<&String> = words
        .iter()
        .skip(1)
        .take_while(|w| *w != "--")
        .filter(|w| !w.starts_with('-'))
        .collect();
    !args.is_empty() && args.iter().any(|a| cwd.join(a).exists())
}

fn first_with_extension(dir: &Path, ext: &str) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .take(super::paths::MAX_LISTED)
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| Path::new(n).extension().is_some_and(|e| e == ext))
        .collect();
    names.sort();
    names.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recent<'a>(history: &'a [String], cwd: &'a Path) -> Recent<'a> {
        Recent {
            succeeded: None,
            failure: None,
            history,
            cwd,
        }
    }

    #[test]
    fn after_a_build_the_hint_is_to_run_it() {
        let tmp = tempfile::tempdir().unwrap();
        let r = Recent {
            succeeded: Some("build demo"),
            ..recent(&[], tmp.path())
        };
        assert_eq!(hint("r", &r).as_deref(), Some("un demo"));
        assert_eq!(hint("b", &r), None);
        assert_eq!(
            follow_up("new --lang rust demo").as_deref(),
            Some("build demo")
        );
        assert_eq!(
            follow_up("build -v 'my app'").as_deref(),
            Some("run 'my app'")
        );
        assert_eq!(
            follow_up("keygen me").as_deref(),
            Some("pack --sign me.key")
        );
        assert_eq!(follow_up("inspect x.wasm"), None);
    }

    #[test]
    fn after_a_failure_the_hint_is_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("alice.pub"), "").unwrap();
        let failed = |failure| Recent {
            failure: Some(failure),
            ..recent(&[], tmp.path())
        };
        assert_eq!(
            hint("d", &failed(Failure::ToolchainMissing)).as_deref(),
            Some("octor")
        );
        assert_eq!(
            hint("n", &failed(Failure::NoProject)).as_deref(),
            Some("ew --lang rust ")
        );
        assert_eq!(
            hint("t", &failed(Failure::Untrusted)).as_deref(),
            Some("rust add alice.pub")
        );
    }

    #[test]
    fn history_lines_naming_files_here_come_first() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("here")).unwrap();
        let history = ["run here -- a".to_string(), "run gone".to_string()];
        let r = recent(&history, tmp.path());
        assert_eq!(hint("run ", &r).as_deref(), Some("here -- a"));
        assert_eq!(hint("run g", &r).as_deref(), Some("one"));
        assert_eq!(hint("", &r), None);
        assert_eq!(
            hint("run here -- a", &r),
            None,
            "nothing to add to a whole line"
        );
    }
}
