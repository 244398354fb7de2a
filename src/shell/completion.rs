//! Tab completion: verbs and flags from the command line's own clap tree (no second list to
//! keep in step), the shell's commands, flag values clap knows, and paths filtered by what the
//! verb takes; registry references from recent pushes for the verbs that take one.

use std::path::Path;

use clap::CommandFactory;

use super::builtins::{self, Builtin};
use super::paths::{self, Takes};
use crate::commands::Cli;

/// What a completion draws on besides the line.
pub struct Sources<'a> {
    pub cwd: &'a Path,
    /// Registry references pushed recently, newest last.
    pub refs: &'a [String],
}

/// Where the word under the cursor starts, and its candidates (whole words).
pub fn complete(line: &str, pos: usize, sources: &Sources) -> (usize, Vec<String>) {
    let before = &line[..pos.min(line.len())];
    let start = word_start(before);
    let raw = &before[start..];
    let typed = unquoted(raw);
    let words = shell_words::split(&before[..start]).unwrap_or_else(|_| {
        before[..start]
            .split_whitespace()
            .map(String::from)
            .collect()
    });
    let mut found = candidates(&words, &typed, sources);
    found.retain(|c| c.starts_with(typed.as_str()));
    found.dedup();
    let quoted = found.into_iter().map(|c| quote(&c)).collect();
    (start, quoted)
}

fn candidates(words: &[String], typed: &str, sources: &Sources) -> Vec<String> {
    let Some(first) = words.first() else {
        return verbs_and_builtins();
    };
    if let Some(builtin) = builtins::find(first) {
        return match builtin {
            Builtin::Help if words.len() == 1 => verbs_and_builtins(),
            Builtin::Cd => paths::complete(sources.cwd, typed, Takes::Dir),
            Builtin::Ls => paths::complete(sources.cwd, typed, Takes::Any),
            _ => Vec::new(),
        };
    }
    if words.iter().any(|w| w == "--") {
        // The app's own arguments.
        return paths::complete(sources.cwd, typed, Takes::Any);
    }
    let mut root = Cli::command();
    root.build();
    let mut cmd = &root;
    let mut verb = Vec::new();
    for word in words {
        match cmd.find_subcommand(word) {
            Some(sub) => {
                verb.push(sub.get_name().to_string());
                cmd = sub;
            }
            None if verb.is_empty() => return Vec::new(),
            None => {}
        }
    }
    let verb = verb.join(" ");
    if typed.starts_with('-') {
        return flags(cmd);
    }
    if let Some(values) = flag_value(cmd, words.last().map(String::as_str), sources, typed) {
        return values;
    }
    if cmd.has_subcommands() {
        return cmd
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .filter(|n| n != "help")
            .collect();
    }
    positional(&verb, typed, sources)
}

/// Every verb and shell command, sorted.
fn verbs_and_builtins() -> Vec<String> {
    let mut names: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .chain(builtins::names().map(String::from))
        .collect();
    names.sort();
    names
}

/// The flags of `cmd`, long and short.
fn flags(cmd: &clap::Command) -> Vec<String> {
    let mut found: Vec<String> = cmd
        .get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set())
        .flat_map(|a| {
            let long = a.get_long().map(|l| format!("--{l}"));
            let short = a.get_short().map(|s| format!("-{s}"));
            long.into_iter().chain(short)
        })
        .collect();
    found.sort();
    found
}

/// The values of the flag `previous`, when it is one that takes a value.
fn flag_value(
    cmd: &clap::Command,
    previous: Option<&str>,
    sources: &Sources,
    typed: &str,
) -> Option<Vec<String>> {
    let previous = previous?;
    let arg = if let Some(long) = previous.strip_prefix("--") {
        cmd.get_arguments().find(|a| a.get_long() == Some(long))?
    } else {
        let short = previous.strip_prefix('-')?.chars().next()?;
        cmd.get_arguments().find(|a| a.get_short() == Some(short))?
    };
    if !arg.get_action().takes_values() {
        return None;
    }
    let known: Vec<String> = arg
        .get_possible_values()
        .iter()
        .map(|v| v.get_name().to_string())
        .collect();
    if !known.is_empty() {
        return Some(known);
    }
    let takes = match arg.get_id().as_str() {
        "lang" => {
            return Some(
                qyvbuild::template::TEMPLATES
                    .iter()
                    .map(|t| t.language.to_string())
                    .collect(),
            );
        }
        "sign" => Takes::SecretKey,
        "key" => Takes::PublicKey,
        "dir" => Takes::Dir,
        _ => Takes::Any,
    };
    Some(paths::complete(sources.cwd, typed, takes))
}

/// What the verb's positional argument takes: files of a kind, references, key names.
fn positional(verb: &str, typed: &str, sources: &Sources) -> Vec<String> {
    let refs = || sources.refs.iter().rev().cloned();
    let files = |takes| paths::complete(sources.cwd, typed, takes);
    match verb {
        "run" | "cache warm" => files(Takes::Runnable),
        "build" | "pack" | "validate" => files(Takes::Project),
        "inspect" => files(Takes::Inspectable),
        "verify" | "push" => files(Takes::Bundle),
        "adapt" => files(Takes::Wasm),
        "trust add" => files(Takes::PublicKey),
        "trust remove" => qyvpack::keys::TrustStore::default_location()
            .map(|s| s.list().into_iter().map(|k| k.name).collect())
            .unwrap_or_default(),
        "pull" => refs().collect(),
        "deploy" => refs().chain(files(Takes::Runnable)).collect(),
        "new" | "keygen" | "doctor" | "shell" => Vec::new(),
        _ => files(Takes::Any),
    }
}

/// The byte offset where the word under the cursor starts: after the last blank outside
/// quotes and not escaped.
pub fn word_start(before: &str) -> usize {
    let (mut single, mut double, mut escaped) = (false, false, false);
    let mut start = 0;
    for (i, c) in before.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if !single => escaped = true,
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            c if c.is_whitespace() && !single && !double => start = i + c.len_utf8(),
            _ => {}
        }
    }
    start
}

/// The word as the command will see it (quotes removed), as far as it is typed.
fn unquoted(raw: &str) -> String {
    for closing in ["", "'", "\""] {
        if let Ok(mut words) = shell_words::split(&format!("{raw}{closing}"))
            && words.len() == 1
        {
            return words.remove(0);
        }
    }
    raw.to_string()
}

/// A candidate as it must be typed.
fn quote(word: &str) -> String {
    shell_words::quote(word).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete_in(dir: &Path, line: &str) -> Vec<String> {
        let refs = [
            "ghcr.io/me/old:1".to_string(),
            "ghcr.io/me/demo:2".to_string(),
        ];
        let sources = Sources {
            cwd: dir,
            refs: &refs,
        };
        complete(line, line.len(), &sources).1
    }

    fn project() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("demo")).unwrap();
        std::fs::write(tmp.path().join("demo/demo.qyv"), "").unwrap();
        for f in ["app.wasm", "app.qyvbin", "me.pub", "me.key", "my file.wasm"] {
            std::fs::write(tmp.path().join(f), "").unwrap();
        }
        tmp
    }

    #[test]
    fn verbs_come_from_the_clap_tree_and_builtins_from_the_shell() {
        let tmp = project();
        assert_eq!(complete_in(tmp.path(), "bu"), ["build"]);
        assert_eq!(complete_in(tmp.path(), "c"), ["cache", "cd", "cluster"]);
        let all = complete_in(tmp.path(), "");
        for verb in Cli::command().get_subcommands() {
            assert!(all.contains(&verb.get_name().to_string()));
        }
        assert!(all.contains(&"exit".to_string()));
        assert_eq!(complete_in(tmp.path(), "help ver"), ["verify"]);
    }

    #[test]
    fn flags_are_the_verbs_own() {
        let tmp = project();
        let flags = complete_in(tmp.path(), "run --no-");
        assert!(flags.contains(&"--no-net".to_string()), "{flags:?}");
        assert!(flags.iter().all(|f| f.starts_with("--no-")));
        assert_eq!(complete_in(tmp.path(), "pack --si"), ["--sign"]);
        assert!(complete_in(tmp.path(), "build --").contains(&"--features".to_string()));
    }

    #[test]
    fn paths_follow_what_the_verb_takes() {
        let tmp = project();
        let p = tmp.path();
        assert_eq!(
            complete_in(p, "run "),
            ["app.qyvbin", "app.wasm", "demo", "'my file.wasm'"]
        );
        assert_eq!(complete_in(p, "verify "), ["app.qyvbin", "demo/"]);
        assert_eq!(complete_in(p, "trust add "), ["demo/", "me.pub"]);
        assert_eq!(complete_in(p, "pack --sign "), ["demo/", "me.key"]);
        assert_eq!(complete_in(p, "inspect 'my"), ["'my file.wasm'"]);
        assert_eq!(complete_in(p, "build d"), ["demo"]);
        assert_eq!(complete_in(p, "cd "), ["demo"]);
    }

    #[test]
    fn subcommands_values_and_references() {
        let tmp = project();
        let p = tmp.path();
        assert_eq!(complete_in(p, "trust "), ["add", "list", "remove"]);
        assert_eq!(complete_in(p, "new --lang ru"), ["rust"]);
        // `pull` and `deploy` are verbs still to come: their references are ready for them.
        let refs = [
            "ghcr.io/me/old:1".to_string(),
            "ghcr.io/me/demo:2".to_string(),
        ];
        let sources = Sources {
            cwd: p,
            refs: &refs,
        };
        assert_eq!(
            positional("pull", "", &sources),
            ["ghcr.io/me/demo:2", "ghcr.io/me/old:1"]
        );
        assert_eq!(
            positional("deploy", "", &sources)[..3],
            ["ghcr.io/me/demo:2", "ghcr.io/me/old:1", "app.qyvbin"]
        );
        assert!(complete_in(p, "nosuchverb ").is_empty());
    }

    #[test]
    fn words_start_after_unquoted_blanks() {
        assert_eq!(word_start("run demo"), 4);
        assert_eq!(word_start("run 'my de"), 4);
        assert_eq!(word_start("run my\\ de"), 4);
        assert_eq!(word_start(""), 0);
    }
}
