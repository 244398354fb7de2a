//! JavaScript projects as Node.js developers write them, built by `qyv build` (esbuild, then
//! componentize-js) and run by `qyv run`: a plain CommonJS script with the Node APIs a CLI
//! uses, and an ES-module CLI with npm dependencies (commander, marked) whose output must
//! equal native node's. Each componentize-js build takes seconds: one project serves several
//! checks.

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

fn build_ok(dir: &Path) -> String {
    let out = qyv().args(["build", "-v"]).arg(dir).output().unwrap();
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

const PLAIN: &str = r#"const fs = require('fs');
const path = require('node:path');

console.error('top-level code ran');
const [command, ...rest] = process.argv.slice(2);
if (command === 'args') {
  console.log(process.argv.slice(2));
} else if (command === 'env') {
  console.log(process.env.GREETING, 'QYV_TEST_UNGRANTED' in process.env);
} else if (command === 'files') {
  const text = fs.readFileSync(path.join('/data', 'in.txt'), 'utf8');
  fs.writeFileSync('/data/out.txt', text.toUpperCase());
  console.log(fs.readdirSync('/data'), fs.existsSync('/data/none'), fs.statSync('/data/in.txt').size);
} else if (command === 'stdin') {
  process.stdout.write(fs.readFileSync(0, 'utf8').toUpperCase());
} else if (command === 'exit') {
  process.exit(4);
} else if (command === 'throw') {
  throw new TypeError('no such thing');
} else if (command === 'spawn') {
  require('child_process').execSync('ls');
}
"#;

#[test]
fn a_plain_node_script_gets_argv_env_files_stdin_and_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plain");
    write(
        &dir,
        &[
            ("index.js", PLAIN),
            (
                "package.json",
                "{\"name\": \"plain\", \"version\": \"1.0.0\", \"main\": \"index.js\"}\n",
            ),
            (
                "plain.qyv",
                "name: plain\nentrypoint: target/qyv/plain.wasm\nlanguage: javascript\n\
                 permissions:\n  fs: read-write\n  env: [GREETING]\nfs:\n  type: diskfs\n  source: data\n",
            ),
            ("data/in.txt", "lower case\n"),
        ],
    );
    let built = build_ok(&dir);
    assert!(
        !built.contains("top-level code ran"),
        "the script ran at build time:\n{built}"
    );

    let out = run(&dir, &["args", "a", "b c"]);
    assert_eq!(stdout(&out), "[ 'args', 'a', 'b c' ]\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("top-level code ran"));

    let out = run(&dir, &["env"]);
    assert_eq!(stdout(&out), "Hola false\n", "{}", stderr(&out));

    let out = run(&dir, &["files"]);
    assert_eq!(
        stdout(&out),
        "[ 'in.txt', 'out.txt' ] false 11\n",
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
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    let out = run(&dir, &["throw"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Uncaught TypeError: no such thing"),
        "{}",
        stderr(&out)
    );

    let out = run(&dir, &["spawn"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the Node.js module 'child_process' is not available"),
        "{}",
        stderr(&out)
    );
}

const TOOL: &str = r#"#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { marked } from 'marked';

const program = new Command();
program.name('tool').description('Greets people and converts Markdown');
program
  .command('greet')
  .description('greet someone')
  .argument('<name>', 'who to greet')
  .option('-c, --count <n>', 'how many times', '1')
  .option('-s, --shout', 'greet in capitals')
  .action((name, options) => {
    for (let i = 0; i < Number(options.count); i++) {
      const line = `Hello, ${name}!`;
      console.log(options.shout ? line.toUpperCase() : line);
    }
  });
program
  .command('md')
  .description('convert a Markdown file to HTML')
  .argument('<file>')
  .action((file) => process.stdout.write(marked.parse(readFileSync(file, 'utf8'))));
program.parse();
"#;

const MARKDOWN: &str = "# Notes\n\nSome *emphasis*, **strong** text and `code`, with a \
[link](https://example.org \"title\").\n\n1. one\n2. two\n    * nested\n\n    indented code\n\n\
> a quote & <html>\n\n---\n\nÜber _café_ naïve.\n";

#[test]
fn an_es_module_cli_with_commander_and_marked_prints_what_native_node_prints() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tool");
    write(
        &dir,
        &[
            ("cli.js", TOOL),
            (
                "package.json",
                "{\"name\": \"tool\", \"version\": \"1.0.0\", \"type\": \"module\", \
                 \"bin\": {\"tool\": \"cli.js\"}, \
                 \"dependencies\": {\"commander\": \"12.1.0\", \"marked\": \"15.0.7\"}}\n",
            ),
            (
                "tool.qyv",
                "name: tool\nentrypoint: target/qyv/tool.wasm\nlanguage: javascript\n\
                 permissions:\n  fs: read\nfs:\n  type: diskfs\n  source: data\n",
            ),
            ("data/in.md", MARKDOWN),
        ],
    );
    let first = build_ok(&dir);
    assert!(first.contains("npm install"), "{first}");

    let out = run(&dir, &["greet", "--count", "2", "--shout", "Ada"]);
    assert_eq!(
        stdout(&out),
        "HELLO, ADA!\nHELLO, ADA!\n",
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0));

    // The same script under native node, with the dependencies qyv's build installed.
    let native = |args: &[&str]| -> Output {
        Command::new("node")
            .arg("cli.js")
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    let out = run(&dir, &["md", "/data/in.md"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = native(&["md", "data/in.md"]);
    assert!(
        stdout(&expected).contains("<h1>Notes</h1>"),
        "{}",
        stderr(&expected)
    );
    assert_eq!(stdout(&out), stdout(&expected));

    let out = run(&dir, &["greet", "--help"]);
    let help = stdout(&native(&["greet", "--help"]));
    assert!(help.contains("--count <n>"), "{help}");
    assert_eq!(stdout(&out), help);

    let out = run(&dir, &["greet", "--colour", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("error: unknown option '--colour'"));

    // Nothing changed: neither npm nor componentize-js runs again.
    let second = build_ok(&dir);
    assert!(!second.contains("npm"), "{second}");
    assert!(!second.contains("compiling"), "{second}");
    assert!(second.contains("up to date"), "{second}");
}

#[test]
fn a_module_exporting_wit_itself_builds_as_before() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("exported");
    write(
        &dir,
        &[(
            "app.js",
            "import { getArguments } from 'wasi:cli/environment@0.2.12';\n\n\
             export const run = {\n  run() {\n    \
             console.log(['args:', ...getArguments().slice(1)].join(' '));\n  },\n};\n",
        )],
    );
    build_ok(&dir);
    let out = run(&dir, &["a", "b"]);
    assert_eq!(stdout(&out), "args: a b\n", "{}", stderr(&out));
}
