//! The shell's own commands: what only makes sense inside it (`cd`, `history`, `exit`) or
//! what reads the directory the way a qyv user looks at it (`ls` marks projects, manifests,
//! components and bundles).

use std::path::PathBuf;

use clap::CommandFactory;

use super::paths;
use super::{Session, Step};
use crate::commands::{self, exit};

/// A shell command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Help,
    Exit,
    Ls,
    Cd,
    Pwd,
    History,
    Cluster,
}

/// Every shell command: its names and a line of help. `shell` is the verb `qyv shell`.
pub const BUILTINS: &[(Builtin, &[&str], &str, &str)] = &[
    (
        Builtin::Help,
        &["help"],
        "[CMD]",
        "this list, or a command's help",
    ),
    (
        Builtin::Ls,
        &["ls", "dir"],
        "[DIR]",
        "list files, marking projects, manifests, .wasm and .qyvbin",
    ),
    (
        Builtin::Cd,
        &["cd"],
        "[DIR|-]",
        "change directory (none: home; -: the previous one)",
    ),
    (Builtin::Pwd, &["pwd"], "", "print the current directory"),
    (
        Builtin::History,
        &["history"],
        "[N]",
        "the last N lines typed (all by default)",
    ),
    (
        Builtin::Cluster,
        &["cluster"],
        "ACTION [NODE]",
        "not available: there is no cluster support yet",
    ),
    (
        Builtin::Exit,
        &["exit", "quit"],
        "[CODE]",
        "leave the shell (with the last exit code, or CODE)",
    ),
];

/// The shell command called `name`.
pub fn find(name: &str) -> Option<Builtin> {
    BUILTINS
        .iter()
        .find(|(_, names, ..)| names.contains(&name))
        .map(|(b, ..)| *b)
}

/// Every name of a shell command, for completion.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS
        .iter()
        .flat_map(|(_, names, ..)| names.iter().copied())
}

/// Runs a shell command with its arguments.
pub fn run(builtin: Builtin, args: &[String], session: &mut Session, history: &[String]) -> Step {
    session.failure = None;
    let result = match builtin {
        Builtin::Exit => {
            return match args.first().map(|a| a.parse::<i32>()) {
                None => Step::Exit(session.code),
                Some(Ok(code)) => Step::Exit(code),
                Some(Err(_)) => {
                    eprintln!("error: exit takes a number, not `{}`", args[0]);
                    session.code = exit::USAGE;
                    Step::Continue
                }
            };
        }
        Builtin::Help => {
            print!("{}", help(args.first().map(String::as_str)));
            Ok(())
        }
        Builtin::Ls => ls(args),
        Builtin::Cd => cd(args, session),
        Builtin::Pwd => std::env::current_dir()
            .map(|d| println!("{}", d.display()))
            .map_err(|e| format!("cannot read the current directory: {e}")),
        Builtin::History => show_history(args, history),
        Builtin::Cluster => {
            eprintln!("{CLUSTER}");
            session.code = exit::INVALID;
            return Step::Continue;
        }
    };
    session.code = match result {
        Ok(()) => exit::OK,
        Err(message) => {
            eprintln!("error: {message}");
            exit::USAGE
        }
    };
    Step::Continue
}

/// What `cluster` says: there is none, and what to use instead.
const CLUSTER: &str = "cluster: qyv has no cluster support: there are no nodes to list, join or \
drain. To run an app somewhere else, use `qyv deploy` (it writes what an orchestrator such as \
Kubernetes runs).";

/// `help`: the verbs (from the command line's own definition) and the shell's commands;
/// `help CMD`: that command's help.
pub fn help(topic: Option<&str>) -> String {
    let mut cli = commands::Cli::command();
    if let Some(topic) = topic {
        if let Some((_, names, args, about)) = BUILTINS.iter().find(|(_, n, ..)| n.contains(&topic))
        {
            return format!("{} {args}\n  {about}\n", names.join("|"));
        }
        return match cli.find_subcommand_mut(topic) {
            Some(sub) => {
                let mut sub = sub.clone().bin_name(format!("qyv {topic}"));
                format!("{}", sub.render_long_help())
            }
            None => format!("no command `{topic}`: `help` lists them\n"),
        };
    }
    let mut text = String::from("qyv verbs (as on the command line, without `qyv`):\n");
    for sub in cli.get_subcommands() {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        text.push_str(&format!("  {:<10} {about}\n", sub.get_name()));
    }
    text.push_str("\nshell commands:\n");
    for (_, names, args, about) in BUILTINS {
        let usage = format!("{} {args}", names.join("|"));
        text.push_str(&format!("  {:<22} {about}\n", usage.trim_end()));
    }
    text.push_str(
        "\n`help CMD` shows a command's help. Tab completes; → takes the grey hint; \
Ctrl-C cancels the line; Ctrl-D leaves.\n",
    );
    text
}

fn ls(args: &[String]) -> Result<(), String> {
    let dir = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let listing = paths::list(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let width = listing.iter().map(|e| e.shown().len()).max().unwrap_or(0);
    for entry in &listing {
        match entry.kind.label() {
            Some(label) => println!("{:<width$}  {label}", entry.shown()),
            None => println!("{}", entry.shown()),
        }
    }
    if listing.len() == paths::MAX_LISTED {
        println!("(the first {} entries)", paths::MAX_LISTED);
    }
    Ok(())
}

fn cd(args: &[String], session: &mut Session) -> Result<(), String> {
    let here =
        std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    let target = match args.first().map(String::as_str) {
        Some("-") => session
            .previous_dir
            .clone()
            .ok_or_else(|| "no previous directory".to_string())?,
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or_else(|| "no HOME to go to".to_string())?,
    };
    std::env::set_current_dir(&target).map_err(|e| format!("cd {}: {e}", target.display()))?;
    session.previous_dir = Some(here);
    Ok(())
}

fn show_history(args: &[String], history: &[String]) -> Result<(), String> {
    let count = match args.first() {
        Some(n) => n
            .parse::<usize>()
            .map_err(|_| format!("history takes a number, not `{n}`"))?,
        None => history.len(),
    };
    let skip = history.len().saturating_sub(count);
    for (i, line) in history.iter().enumerate().skip(skip) {
        println!("{:>5}  {line}", i + 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_is_found_by_each_of_its_names() {
        for (builtin, names, ..) in BUILTINS {
            for name in *names {
                assert_eq!(find(name), Some(*builtin));
            }
        }
        assert_eq!(find("build"), None, "verbs are not builtins");
    }

    #[test]
    fn no_builtin_shadows_a_verb() {
        let cli = commands::Cli::command();
        for name in names() {
            assert!(cli.find_subcommand(name).is_none(), "{name} is a verb too");
        }
    }

    #[test]
    fn exit_takes_the_last_code_or_its_argument() {
        let mut s = Session {
            code: 4,
            ..Session::default()
        };
        assert_eq!(run(Builtin::Exit, &[], &mut s, &[]), Step::Exit(4));
        assert_eq!(
            run(Builtin::Exit, &["0".into()], &mut s, &[]),
            Step::Exit(0)
        );
        assert_eq!(
            run(Builtin::Exit, &["x".into()], &mut s, &[]),
            Step::Continue
        );
        assert_eq!(s.code, exit::USAGE);
    }

    #[test]
    fn cluster_fails_and_points_to_deploy() {
        let mut s = Session::default();
        assert_eq!(
            run(Builtin::Cluster, &["list".into()], &mut s, &[]),
            Step::Continue
        );
        assert_eq!(s.code, exit::INVALID);
        assert!(CLUSTER.contains("qyv deploy"));
    }
}
