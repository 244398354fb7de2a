//! End-to-end tests of `qyv shell`: piped scripts (no prompt, the last command's exit code),
//! and the interactive shell in a pseudo-terminal (prompt codes, completion, hints, Ctrl-C,
//! Ctrl-D, history kept across runs, a real build and run of a new Rust project).

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{Sandbox, qyv};
use rexpect::process::WaitStatus;
use rexpect::session::PtySession;

/// `qyv shell` in `sandbox`, with its trust store, cache and state directory there.
fn shell_command(sandbox: &Sandbox) -> Command {
    let mut cmd = qyv();
    cmd.current_dir(sandbox.tmp.path())
        .env("QYV_CONFIG_DIR", sandbox.path("config"))
        .env("QYV_CACHE_DIR", sandbox.path("cache"))
        .env("QYV_STATE_DIR", sandbox.path("state"))
        .env_remove("QYV_SIGNING_KEY")
        .env_remove("QYV_EDIT_MODE")
        .arg("shell");
    cmd
}

/// Runs `script` through a piped `qyv shell`.
fn piped(sandbox: &Sandbox, script: &str) -> Output {
    use std::io::Write;
    let mut child = shell_command(sandbox)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The interactive shell in a pseudo-terminal, with a generous timeout for builds.
fn pty(sandbox: &Sandbox, timeout: Duration) -> PtySession {
    let mut cmd = shell_command(sandbox);
    cmd.env("TERM", "xterm");
    rexpect::session::spawn_command(cmd, Some(timeout.as_millis() as u64)).unwrap()
}

fn exit_code(session: &PtySession) -> i32 {
    match session.process().wait().unwrap() {
        WaitStatus::Exited(_, code) => code,
        other => panic!("the shell did not exit normally: {other:?}"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_piped_script_runs_every_line_and_ends_with_the_last_code() {
    let sandbox = Sandbox::new();
    std::fs::create_dir(sandbox.path("my dir")).unwrap();
    let script = "\
pwd
keygen alice
ls
trust add alice.pub
trust list
# a comment, and a blank line, are not commands

validate nowhere
cd 'my dir'
pwd
run --no-such-flag
cluster list
";
    let out = piped(&sandbox, script);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "cluster's code is the last\n{stderr}"
    );
    assert!(!stdout.contains("qyv>"), "no prompt when piped:\n{stdout}");
    let root = sandbox.tmp.path().canonicalize().unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], root.display().to_string());
    assert!(lines.contains(&"alice.key  secret key"), "{stdout}");
    assert!(lines.contains(&"alice.pub  public key"), "{stdout}");
    assert!(
        lines.iter().any(|l| l.ends_with("  alice")),
        "trust list shows the key just trusted:\n{stdout}"
    );
    assert_eq!(
        *lines.last().unwrap(),
        root.join("my dir").display().to_string()
    );
    // The failures were reported and the script went on past each of them.
    assert!(stderr.contains("cannot read nowhere"), "{stderr}");
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
    assert!(stderr.contains("qyv deploy"), "{stderr}");
    assert!(sandbox.path("alice.key").is_file());
}

#[test]
fn exit_ends_a_script_with_its_code() {
    let sandbox = Sandbox::new();
    let out = piped(&sandbox, "cluster x\nexit 0\npwd\n");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty(), "nothing runs after exit");
    let out = piped(&sandbox, "inspect --bad\n");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_lists_the_verbs_and_the_shell_commands() {
    let sandbox = Sandbox::new();
    let out = piped(&sandbox, "help\n");
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!(text(&out.stdout));
    let out = piped(&sandbox, "help run\n");
    assert!(
        text(&out.stdout).contains("Usage: qyv run"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn the_interactive_shell_keeps_going_and_keeps_its_history() {
    let sandbox = Sandbox::new();
    let mut s = pty(&sandbox, Duration::from_secs(30));
    s.exp_string("qyv> ").unwrap();
    // A failure shows its code in the prompt and does not end the shell.
    std::fs::create_dir(sandbox.path("empty")).unwrap();
    s.send_line("validate empty").unwrap();
    s.exp_string("no .qyv manifest").unwrap();
    // The next step, derived from the kind of failure.
    s.exp_string("next: new --lang rust").unwrap();
    s.exp_string("qyv [2]> ").unwrap();
    // Ctrl-C drops a half-typed line and keeps the shell.
    s.send("keygen half").unwrap();
    s.send_control('c').unwrap();
    s.exp_string("qyv [2]> ").unwrap();
    s.send_line("pwd").unwrap();
    s.exp_string(
        &sandbox
            .tmp
            .path()
            .canonicalize()
            .unwrap()
            .display()
            .to_string(),
    )
    .unwrap();
    s.exp_string("qyv> ").unwrap();
    // A nested shell shows its depth, and leaves to the outer one.
    s.send_line("shell").unwrap();
    s.exp_string("qyv(2)> ").unwrap();
    s.send_line("exit 3").unwrap();
    s.exp_string("qyv [3]> ").unwrap();
    // Ctrl-D leaves, with the last code.
    s.send_control('d').unwrap();
    s.exp_eof().unwrap();
    assert_eq!(exit_code(&s), 3);
    assert!(
        !sandbox.path("half.key").exists(),
        "the cancelled line never ran"
    );

    let history = std::fs::read_to_string(sandbox.path("state/shell-history")).unwrap();
    assert!(history.contains("validate empty"), "{history}");
    assert!(!history.contains("keygen half"), "{history}");

    // A second shell has the first one's history.
    let mut s = pty(&sandbox, Duration::from_secs(30));
    s.exp_string("qyv> ").unwrap();
    s.send_line("history").unwrap();
    s.exp_string("validate empty").unwrap();
    s.exp_string("pwd").unwrap();
    s.exp_string("qyv> ").unwrap();
    s.send_line("exit").unwrap();
    s.exp_eof().unwrap();
    assert_eq!(exit_code(&s), 0);
}

#[test]
fn a_new_project_is_completed_built_hinted_and_run_from_the_shell() {
    let sandbox = Sandbox::new();
    let mut s = pty(&sandbox, Duration::from_secs(600));
    s.exp_string("qyv> ").unwrap();
    s.send_line("new --lang rust demo").unwrap();
    s.exp_string("created demo").unwrap();
    s.exp_string("qyv> ").unwrap();
    // Tab completes the verb, then the project: the line that runs is `build demo` (the
    // screen cannot tell, as the grey hint `build demo` shows the same letters).
    s.send("bu\t").unwrap();
    s.send(" de\t").unwrap();
    s.send_line("").unwrap();
    s.exp_string("built demo").unwrap();
    s.exp_string("qyv> ").unwrap();
    // After the build, typing `r` hints the run; → takes the hint.
    s.send("r").unwrap();
    s.flush().unwrap();
    s.exp_string("run demo").unwrap();
    s.send("\x1b[C -- x").unwrap();
    s.send_line("").unwrap();
    s.exp_string("Hello from demo!").unwrap();
    s.exp_string("args: x").unwrap();
    s.exp_string("qyv> ").unwrap();
    s.send_line("exit").unwrap();
    s.exp_eof().unwrap();
    assert_eq!(exit_code(&s), 0);
}

#[test]
fn ctrl_c_stops_a_running_guest_and_not_the_shell() {
    let sandbox = Sandbox::new();
    let probe = common::rust_fixture("probe", "wasm32-wasip2");
    std::fs::copy(&probe, sandbox.path("probe.wasm")).unwrap();
    let mut s = pty(&sandbox, Duration::from_secs(120));
    s.exp_string("qyv> ").unwrap();
    s.send_line("run -q probe.wasm -- spin").unwrap();
    // Give the guest time to start spinning (it compiles first).
    wait_for_guest(&sandbox.path("cache"));
    std::thread::sleep(Duration::from_millis(500));
    s.send_control('c').unwrap();
    s.exp_string("interrupted").unwrap();
    s.exp_string("qyv [130]> ").unwrap();
    s.send_line("exit 0").unwrap();
    s.exp_eof().unwrap();
    assert_eq!(exit_code(&s), 0);
}

/// Waits until the run has compiled the guest into the cache (then it is about to run).
fn wait_for_guest(cache: &Path) {
    let compiled = cache.join("compiled");
    for _ in 0..600 {
        if std::fs::read_dir(&compiled).is_ok_and(|mut d| d.next().is_some()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the guest was never compiled into {}", compiled.display());
}

#[test]
fn vi_mode_edits_with_vi_keys() {
    let sandbox = Sandbox::new();
    let mut cmd = shell_command(&sandbox);
    cmd.arg("--vi").env("TERM", "xterm");
    let mut s = rexpect::session::spawn_command(cmd, Some(30_000)).unwrap();
    s.exp_string("qyv> ").unwrap();
    // Escape to command mode (after the key-sequence timeout, so that it is not read as
    // Alt-x), `x` deletes the stray letter, Enter runs `pwd`.
    s.send("pwdq\x1b").unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(700));
    s.send_line("x").unwrap();
    s.exp_string(
        &sandbox
            .tmp
            .path()
            .canonicalize()
            .unwrap()
            .display()
            .to_string(),
    )
    .unwrap();
    s.exp_string("qyv> ").unwrap();
    s.send_line("exit").unwrap();
    s.exp_eof().unwrap();
    assert_eq!(exit_code(&s), 0);
}
