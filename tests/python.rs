//! Python projects as their developers write them, built by `qyv build` (componentize-py)
//! and run by `qyv run`: a plain script run as `__main__`, a `[project.scripts]` CLI in the
//! `src/` layout, dependencies from PyPI, and the refusals and errors a developer meets.
//! Each componentize-py build takes tens of seconds: one project serves several checks.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::qyv;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

fn build(dir: &Path) -> Output {
    qyv().args(["build", "-v"]).arg(dir).output().unwrap()
}

fn build_ok(dir: &Path) -> String {
    let out = build(dir);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "qyv build failed:\n{stderr}");
    stderr
}

fn run(dir: &Path, args: &[&str]) -> Output {
    qyv()
        .args(["run", "-q"])
        .arg(dir)
        .arg("--")
        .args(args)
        .env("GREETING", "Hola")
        .env("QYV_TEST_UNGRANTED", "x")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const PLAIN: &str = r#"import json
import os
import sys

try:
    import qyv_no_such_module
except ImportError:
    qyv_no_such_module = None

print("module-level code ran", file=sys.stderr)


def main():
    command = sys.argv[1]
    if command == "args":
        print(json.dumps(sys.argv))
    elif command == "env":
        print(os.environ.get("GREETING"), "QYV_TEST_UNGRANTED" in os.environ)
    elif command == "files":
        with open("/data/in.txt", encoding="utf-8") as f:
            text = f.read()
        with open("/data/out.txt", "w", encoding="utf-8") as f:
            f.write(text.upper())
        print(sorted(os.listdir("/data")))
    elif command == "stdin":
        sys.stdout.write(sys.stdin.read().upper())
    elif command == "exit":
        sys.exit(3)
    elif command == "raise":
        raise ValueError("no such thing")
    elif command == "markdown":
        # What `python -m markdown FILE` does.
        from markdown.__main__ import run

        sys.argv = ["markdown"] + sys.argv[2:]
        run()


if __name__ == "__main__":
    main()
"#;

const MARKDOWN: &str = "# Notes\n\nSome *emphasis*, **strong** text and `code`, with a \
[link](https://example.org \"title\").\n\n1. one\n2. two\n    * nested\n\n    indented code\n\n\
> a quote & <html>\n\n---\n";

#[test]
fn a_plain_script_runs_as_main_with_its_arguments_environment_files_exit_codes_and_dependencies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plain");
    write(
        &dir,
        &[
            ("app.py", PLAIN),
            (
                "pyproject.toml",
                "[project]\nname = \"plain\"\nversion = \"1.0\"\ndependencies = [\"markdown==3.7\"]\n",
            ),
            (
                "plain.qyv",
                "name: plain\nentrypoint: target/qyv/plain.wasm\nlanguage: python\n\
                 permissions:\n  fs: read-write\n  env: [GREETING]\nfs:\n  type: diskfs\n  source: data\n",
            ),
            ("data/in.txt", "lower case\n"),
            ("data/in.md", MARKDOWN),
        ],
    );
    let first = build_ok(&dir);
    assert!(first.contains("pip install"), "{first}");
    assert!(
        first.contains("note: app.py imports `qyv_no_such_module`, which is neither installed"),
        "{first}"
    );
    assert!(
        !first.contains("module-level code ran"),
        "the script ran at build time:\n{first}"
    );

    let out = run(&dir, &["args", "a", "b c"]);
    assert_eq!(stdout(&out), "[\"plain\", \"args\", \"a\", \"b c\"]\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("module-level code ran"));

    let out = run(&dir, &["env"]);
    assert_eq!(stdout(&out), "Hola False\n", "{}", stderr(&out));

    let out = run(&dir, &["files"]);
    assert_eq!(
        stdout(&out),
        "['in.md', 'in.txt', 'out.txt']\n",
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("data/out.txt")).unwrap(),
        "LOWER CASE\n"
    );

    let out = common::run_with_stdin(&dir, &["stdin"], b"from stdin\n");
    assert_eq!(stdout(&out), "FROM STDIN\n");

    let out = run(&dir, &["exit"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));

    let out = run(&dir, &["raise"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("Traceback (most recent call last):")
            && err.contains("File \"app.py\", line 30, in main")
            && err.contains("raise ValueError(\"no such thing\")")
            && err.ends_with("ValueError: no such thing\n"),
        "{err}"
    );
    assert!(
        !err.contains("qyv_python_main"),
        "glue frames shown:\n{err}"
    );

    // Python-Markdown's own command line, against the same version run natively.
    let out = run(&dir, &["markdown", "/data/in.md"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let site = tmp.path().join("native-site");
    let pip = Command::new("python3")
        .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
        .args(["--root-user-action=ignore", "markdown==3.7", "--target"])
        .arg(&site)
        .output()
        .unwrap();
    assert!(pip.status.success(), "{}", stderr(&pip));
    let native = Command::new("python3")
        .args(["-m", "markdown", "in.md"])
        .current_dir(dir.join("data"))
        .env("PYTHONPATH", &site)
        .output()
        .unwrap();
    assert!(native.status.success(), "{}", stderr(&native));
    assert!(stdout(&native).contains("<h1>Notes</h1>"));
    assert_eq!(stdout(&out), stdout(&native));

    // Nothing changed: neither pip nor componentize-py runs again.
    let second = build_ok(&dir);
    assert!(!second.contains("pip install"), "{second}");
    assert!(!second.contains("compiling"), "{second}");
    assert!(second.contains("up to date"), "{second}");
}

#[test]
fn a_click_cli_in_the_src_layout_runs_from_its_project_scripts_with_options() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("greeter");
    write(
        &dir,
        &[
            (
                "pyproject.toml",
                "[project]\nname = \"greet\"\nversion = \"0.1.0\"\ndependencies = [\"click==8.1.8\"]\n\n\
                 [project.scripts]\ngreet = \"greet.cli:main\"\n\n\
                 [build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n",
            ),
            ("src/greet/__init__.py", ""),
            (
                "src/greet/cli.py",
                r#"import click


@click.command()
@click.option("--count", default=1, show_default=True, help="How many greetings.")
@click.option("--shout/--no-shout", default=False, help="Greet in capitals.")
@click.argument("name")
def main(count, shout, name):
    """Greets NAME, COUNT times."""
    for _ in range(count):
        line = f"Hello, {name}!"
        click.echo(line.upper() if shout else line)
"#,
            ),
        ],
    );
    build_ok(&dir);
    let out = run(&dir, &["--count", "2", "--shout", "Ada"]);
    assert_eq!(
        stdout(&out),
        "HELLO, ADA!\nHELLO, ADA!\n",
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0));

    let out = run(&dir, &["--help"]);
    let help = stdout(&out);
    assert!(
        help.starts_with("Usage: greeter [OPTIONS] NAME\n")
            && help.contains("Greets NAME, COUNT times.")
            && help.contains("--count INTEGER")
            && help.contains("[default: 1]"),
        "{help}"
    );

    let out = run(&dir, &["--colour", "x"]);
    assert_eq!(out.status.code(), Some(2), "click's usage error exit code");
    assert!(stderr(&out).contains("No such option: --colour"));
}

#[test]
fn a_dependency_with_only_native_wheels_is_refused_by_name_before_componentize_py() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("native");
    write(
        &dir,
        &[
            ("main.py", "import ujson\nprint(ujson.dumps([1]))\n"),
            (
                "pyproject.toml",
                "[project]\nname = \"native\"\nversion = \"1.0\"\ndependencies = [\"ujson==5.10.0\"]\n",
            ),
        ],
    );
    let out = build(&dir);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("`ujson` has no pure-Python wheel") && err.contains("native"),
        "{err}"
    );
    assert!(
        !dir.join("target/qyv/native.py.wasm").exists(),
        "componentize-py ran"
    );
}

#[test]
fn a_syntax_error_shows_pythons_message_with_file_and_line_not_a_rust_backtrace() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("broken");
    write(
        &dir,
        &[("main.py", "import sys\n\n\ndef main(:\n    pass\n")],
    );
    // Without -v: the error alone (-v adds componentize-py's whole output).
    let out = qyv().arg("build").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("File \"main.py\", line 4") && err.contains("SyntaxError: invalid syntax"),
        "{err}"
    );
    assert!(
        !err.contains("Stack backtrace") && !err.contains("componentize_py::"),
        "{err}"
    );
}

#[test]
fn an_app_written_against_wit_world_builds_as_before() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("witty");
    write(
        &dir,
        &[(
            "app.py",
            "import sys\n\nimport wit_world\n\n\nclass Run(wit_world.WitWorld):\n    \
             def run(self) -> None:\n        print(\"args: \" + \" \".join(sys.argv[1:]))\n",
        )],
    );
    build_ok(&dir);
    let out = run(&dir, &["a", "b"]);
    assert_eq!(stdout(&out), "args: a b\n", "{}", stderr(&out));
}

#[test]
fn a_package_with_main_runs_as_python_dash_m_would_run_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pm");
    write(
        &dir,
        &[
            ("tool/__init__.py", "from .core import shout\n"),
            ("tool/core.py", "def shout(s):\n    return s.upper()\n"),
            (
                "tool/__main__.py",
                "import sys\nfrom tool import shout\nfrom . import core\n\n\
                 print(__name__, __package__, shout(\" \".join(sys.argv[1:])), core.shout(\"x\"))\n",
            ),
        ],
    );
    build_ok(&dir);
    let out = run(&dir, &["a", "b"]);
    let native = Command::new("python3")
        .args(["-m", "tool", "a", "b"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(stdout(&native), "__main__ tool A B X\n");
    assert_eq!(stdout(&out), stdout(&native), "{}", stderr(&out));
}
