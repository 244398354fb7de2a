//! What WASI lacks for real C programs, supplied by qyv so they build without hand-written
//! shims (the C driver, `build.command` and Makefile projects all get it):
//!
//! - setjmp/longjmp through wasm exception handling, in the encoding wasmtime accepts
//!   (`-mexception-handling -mllvm -wasm-enable-sjlj -mllvm -wasm-use-legacy-eh=false`), with
//!   the `__c_longjmp` tag that zig's wasi-libc refers to but does not define;
//! - wasi-libc's emulation libraries (signal, mman, getpid, process clocks);
//! - stubs for process and ownership functions WASI has no equivalent for (`system`, `popen`,
//!   `tmpfile`, `chown`, `fork`, `pipe`, ...): declared by a header qyv force-includes, each
//!   in its own archive member so only the ones a program calls are linked, failing at run
//!   time with `ENOSYS`. Each leaves a marker string in the data segment, from which the build
//!   reports the stubs it linked.
//!
//! The archive is built once per qyv version and zig, under the cache directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::progress::Progress;
use crate::toolchain::BuildError;
use crate::tools;

/// The prefix of each stub's marker string.
const MARKER: &str = "qyv-enosys-stub:";

/// A stub: name, whether the header must declare it (wasi-libc declares some), prototype,
/// and the value returned after setting `errno` to `ENOSYS`.
const STUBS: &[(&str, bool, &str, &str)] = &[
    (
        "system",
        false,
        "int system(const char *command)",
        "command ? -1 : 0",
    ),
    ("tmpfile", false, "struct _IO_FILE *tmpfile(void)", "0"),
    ("tmpnam", false, "char *tmpnam(char *s)", "0"),
    ("getlogin", false, "char *getlogin(void)", "0"),
    (
        "popen",
        true,
        "struct _IO_FILE *popen(const char *command, const char *mode)",
        "0",
    ),
    ("pclose", true, "int pclose(struct _IO_FILE *f)", "-1"),
    (
        "tempnam",
        true,
        "char *tempnam(const char *dir, const char *prefix)",
        "0",
    ),
    (
        "chown",
        true,
        "int chown(const char *path, unsigned owner, unsigned group)",
        "-1",
    ),
    (
        "fchown",
        true,
        "int fchown(int fd, unsigned owner, unsigned group)",
        "-1",
    ),
    (
        "lchown",
        true,
        "int lchown(const char *path, unsigned owner, unsigned group)",
        "-1",
    ),
    ("getuid", true, "unsigned getuid(void)", "0"),
    ("geteuid", true, "unsigned geteuid(void)", "0"),
    ("getgid", true, "unsigned getgid(void)", "0"),
    ("getegid", true, "unsigned getegid(void)", "0"),
    ("getppid", true, "int getppid(void)", "1"),
    ("umask", true, "unsigned umask(unsigned mask)", "022"),
    ("chroot", true, "int chroot(const char *path)", "-1"),
    ("fork", true, "int fork(void)", "-1"),
    (
        "execv",
        true,
        "int execv(const char *path, char *const argv[])",
        "-1",
    ),
    (
        "execvp",
        true,
        "int execvp(const char *file, char *const argv[])",
        "-1",
    ),
    (
        "execve",
        true,
        "int execve(const char *path, char *const argv[], char *const envp[])",
        "-1",
    ),
    ("pipe", true, "int pipe(int fds[2])", "-1"),
    ("dup", true, "int dup(int fd)", "-1"),
    ("dup2", true, "int dup2(int fd, int to)", "-1"),
    ("kill", true, "int kill(int pid, int sig)", "-1"),
    ("wait", true, "int wait(int *status)", "-1"),
    (
        "waitpid",
        true,
        "int waitpid(int pid, int *status, int options)",
        "-1",
    ),
    ("alarm", true, "unsigned alarm(unsigned seconds)", "0"),
    (
        "mkfifo",
        true,
        "int mkfifo(const char *path, unsigned mode)",
        "-1",
    ),
    ("setuid", true, "int setuid(unsigned uid)", "-1"),
    ("setgid", true, "int setgid(unsigned gid)", "-1"),
    ("ttyname", true, "char *ttyname(int fd)", "0"),
    (
        "getrlimit",
        true,
        "int getrlimit(int resource, struct rlimit *limit)",
        "-1",
    ),
    (
        "setrlimit",
        true,
        "int setrlimit(int resource, const struct rlimit *limit)",
        "-1",
    ),
];

/// Functions WASI lacks that have a right answer there, so they are supplied rather than
/// stubbed: stdio's locks are no-ops in a single-threaded program. Name, prototype, body.
const SINGLE_THREADED: &[(&str, &str, &str)] = &[
    (
        "flockfile",
        "void flockfile(struct _IO_FILE *f)",
        "(void)f;",
    ),
    (
        "funlockfile",
        "void funlockfile(struct _IO_FILE *f)",
        "(void)f;",
    ),
    (
        "ftrylockfile",
        "int ftrylockfile(struct _IO_FILE *f)",
        "(void)f;\n  return 0;",
    ),
];

/// Flags that make setjmp/longjmp work (compile and link).
pub const SJLJ_FLAGS: &[&str] = &[
    "-mexception-handling",
    "-mllvm",
    "-wasm-enable-sjlj",
    "-mllvm",
    "-wasm-use-legacy-eh=false",
];

/// What WASI lacks, emulated by wasi-libc's libraries: (define, library).
pub const EMULATION: &[(&str, &str)] = &[
    ("-D_WASI_EMULATED_SIGNAL", "-lwasi-emulated-signal"),
    ("-D_WASI_EMULATED_MMAN", "-lwasi-emulated-mman"),
    ("-D_WASI_EMULATED_GETPID", "-lwasi-emulated-getpid"),
    (
        "-D_WASI_EMULATED_PROCESS_CLOCKS",
        "-lwasi-emulated-process-clocks",
    ),
];

/// The functions each of wasi-libc's emulation libraries defines, by the library's short
/// name: a program that links one of them pulled that emulation in.
const EMULATED_FUNCTIONS: &[(&str, &[&str])] = &[
    ("signal", &["signal", "raise", "__SIG_IGN", "__SIG_ERR"]),
    ("mman", &["mmap", "munmap", "mprotect"]),
    ("getpid", &["getpid"]),
    (
        "process-clocks",
        &["__clock", "clock", "times", "getrusage"],
    ),
];

const TAG: &str = "/* Written by qyv: the exception tag longjmp throws (wasi-libc's setjmp runtime\n   refers to it; zig's wasi-libc does not define it). */\n__asm__(\".globl __c_longjmp\\n.tagtype __c_longjmp i32\\n__c_longjmp:\\n\");\n";

fn header() -> String {
    let mut h = String::from(
        "/* Written by qyv: declarations of what WASI lacks, defined by qyv's stubs (they fail\n   with ENOSYS). Force-included; includes nothing, so feature macros still work. */\n#ifndef QYV_WASI_COMPAT_H\n#define QYV_WASI_COMPAT_H\n#ifdef __cplusplus\nextern \"C\" {\n#endif\nstruct _IO_FILE;\n",
    );
    for (_, prototype, _) in SINGLE_THREADED {
        h.push_str(prototype);
        h.push_str(";\n");
    }
    h.push_str(COMPANIONS);
    for (_, declare, prototype, _) in STUBS {
        if *declare {
            h.push_str(prototype);
            h.push_str(";\n");
        }
    }
    h.push_str("#ifdef __cplusplus\n}\n#endif\n#endif\n");
    h
}

/// What goes with the stubbed and emulated functions and that wasi-libc's headers leave out:
/// the temp-file constants of `tmpnam`/`tmpfile`/`tempnam`, the wait-status macros of
/// `system`/`waitpid` (POSIX puts them in `<stdlib.h>` too), and `siginfo_t`, which the
/// `<sys/wait.h>` a wasm build falls back to (musl's generic one) names. Each macro is spelt
/// exactly as musl's headers spell it, so a header that defines it again is no redefinition.
/// (The signal numbers for `kill` and `signal` come with `_WASI_EMULATED_SIGNAL`.)
const COMPANIONS: &str = r#"/* stdio.h: tmpnam, tmpfile, tempnam */
#ifndef TMP_MAX
#define TMP_MAX 10000
#endif
#ifndef L_tmpnam
#define L_tmpnam 20
#endif
#ifndef P_tmpdir
#define P_tmpdir "/tmp"
#endif
/* stdlib.h and sys/wait.h: system, wait, waitpid */
#define WNOHANG    1
#define WUNTRACED  2
#define WEXITSTATUS(s) (((s) & 0xff00) >> 8)
#define WTERMSIG(s) ((s) & 0x7f)
#define WSTOPSIG(s) WEXITSTATUS(s)
#define WCOREDUMP(s) ((s) & 0x80)
#define WIFEXITED(s) (!WTERMSIG(s))
#define WIFSTOPPED(s) ((short)((((s)&0xffff)*0x10001U)>>8) > 0x7f00)
#define WIFSIGNALED(s) (((s)&0xffff)-1U < 0xffu)
#define WIFCONTINUED(s) ((s) == 0xffff)
/* sys/resource.h: getrlimit, setrlimit */
typedef unsigned long long rlim_t;
struct rlimit {
  rlim_t rlim_cur;
  rlim_t rlim_max;
};
#define RLIM_INFINITY (~0ULL)
#define RLIM_SAVED_CUR RLIM_INFINITY
#define RLIM_SAVED_MAX RLIM_INFINITY
#define RLIMIT_CPU     0
#define RLIMIT_FSIZE   1
#define RLIMIT_DATA    2
#define RLIMIT_STACK   3
#define RLIMIT_CORE    4
#define RLIMIT_NOFILE  7
#define RLIMIT_AS      9
/* signal.h: the siginfo_t that waitid and SA_SIGINFO handlers take (WASI has none) */
typedef struct __qyv_siginfo {
  int si_signo, si_errno, si_code;
  int si_pid;
  unsigned si_uid;
  int si_status;
  void *si_addr;
} siginfo_t;
"#;

fn stub_source(name: &str, prototype: &str, value: &str) -> String {
    format!(
        "/* Written by qyv: `{name}` has no WASI equivalent; it fails with ENOSYS. */\n#include <errno.h>\nstruct _IO_FILE;\nstruct rlimit;\nextern const char *volatile __qyv_enosys_last;\n{prototype} {{\n  __qyv_enosys_last = \"{MARKER}{name}\";\n  errno = ENOSYS;\n  return {value};\n}}\n"
    )
}

/// The prepared layer: its header and archive.
#[derive(Debug, Clone)]
pub struct Compat {
    dir: PathBuf,
}

impl Compat {
    /// Flags for compiling C: the emulation defines, setjmp/longjmp, the forced header.
    pub fn cflags(&self) -> Vec<String> {
        let mut flags: Vec<String> = EMULATION.iter().map(|(d, _)| d.to_string()).collect();
        flags.extend(SJLJ_FLAGS.iter().map(|f| f.to_string()));
        flags.push("-include".into());
        flags.push(self.dir.join("qyv_wasi_compat.h").display().to_string());
        flags
    }

    /// Flags for linking: the emulation libraries and the stubs.
    pub fn ldflags(&self) -> Vec<String> {
        let mut flags: Vec<String> = EMULATION.iter().map(|(_, l)| l.to_string()).collect();
        flags.push(format!("-L{}", self.dir.display()));
        flags.push("-lqyvcompat".into());
        flags
    }
}

/// Builds the layer with `zig` (once: it is kept under the cache directory).
pub fn prepare(zig: &Path, progress: &dyn Progress) -> Result<Compat, BuildError> {
    let mut sources: Vec<(String, String)> = vec![
        ("qyv_tag.c".into(), TAG.into()),
        (
            "qyv_enosys.c".into(),
            "/* Written by qyv: the last WASI-less function a program called. */\nconst char *volatile __qyv_enosys_last;\n".into(),
        ),
    ];
    for (name, _, prototype, value) in STUBS {
        sources.push((format!("qyv_{name}.c"), stub_source(name, prototype, value)));
    }
    for (name, prototype, body) in SINGLE_THREADED {
        sources.push((
            format!("qyv_{name}.c"),
            format!(
                "/* Written by qyv: WASI programs are single-threaded; `{name}` has nothing to do. */\nstruct _IO_FILE;\n{prototype} {{\n  {body}\n}}\n"
            ),
        ));
    }
    let header = header();
    let key = {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(crate::zig_cc::INSTALL);
        h.update(&header);
        for (n, s) in &sources {
            h.update(n);
            h.update(s);
        }
        format!("{:x}", h.finalize())
    };
    let root = qyvpack::dirs::CacheArea::CCompat
        .dir_or_private_temp()
        .map_err(|e| BuildError::io("cannot find a private cache directory", e))?;
    let dir = root.join(&key[..16]);
    if dir.join("libqyvcompat.a").is_file() {
        return Ok(Compat { dir });
    }
    progress.detail("the WASI compat layer for C (once)");
    std::fs::create_dir_all(&root).map_err(|e| BuildError::io("cannot create the cache", e))?;
    let work = tempfile::tempdir_in(&root)
        .map_err(|e| BuildError::io("cannot create a temporary directory", e))?;
    let io = |e| BuildError::io("cannot write the compat layer", e);
    std::fs::write(work.path().join("qyv_wasi_compat.h"), &header).map_err(io)?;
    for (name, text) in &sources {
        std::fs::write(work.path().join(name), text).map_err(io)?;
    }
    // One object per stub, so a program links only the stubs it calls (zig cc compiles one
    // file per call). In parallel: there are dozens.
    let names: Vec<&String> = sources.iter().map(|(n, _)| n).collect();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunks: Vec<Vec<&String>> = names
        .chunks(names.len().div_ceil(threads).max(1))
        .map(<[&String]>::to_vec)
        .collect();
    let failure = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let work = work.path();
                scope.spawn(move || {
                    for name in chunk {
                        let out = Command::new(zig)
                            .current_dir(work)
                            .args(["cc", "-target", "wasm32-wasi", "-O2", "-c"])
                            .args(SJLJ_FLAGS)
                            .arg(name)
                            .output();
                        match out {
                            Ok(o) if o.status.success() => {}
                            Ok(o) => {
                                return Some(format!(
                                    "zig cc {name}: {}",
                                    String::from_utf8_lossy(&o.stderr).trim()
                                ));
                            }
                            Err(e) => return Some(format!("cannot run zig cc: {e}")),
                        }
                    }
                    None
                })
            })
            .collect();
        handles
            .into_iter()
            .find_map(|h| h.join().unwrap_or(Some("a compile thread failed".into())))
    });
    if let Some(message) = failure {
        return Err(BuildError::Project(format!(
            "building qyv's C compat layer failed: {message}"
        )));
    }
    let mut ar = Command::new(zig);
    ar.current_dir(work.path())
        .args(["ar", "rcs", "libqyvcompat.a"])
        .args(sources.iter().map(|(n, _)| n.replace(".c", ".o")));
    tools::run_tool(ar, "zig ar (compat layer)", progress)?;
    // Into place in one rename; a concurrent build that got there first wins.
    let built = work.keep();
    if std::fs::rename(&built, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&built);
    }
    Ok(Compat { dir })
}

/// The stubs linked into a module, from their marker strings.
pub fn linked_stubs(wasm: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let finder = memchr::memmem::Finder::new(MARKER.as_bytes());
    for at in finder.find_iter(wasm) {
        let rest = &wasm[at + MARKER.len()..];
        let end = rest.iter().position(|&b| b == 0).unwrap_or(0);
        if let Ok(name) = std::str::from_utf8(&rest[..end])
            && STUBS.iter().any(|(n, ..)| *n == name)
            && !found.iter().any(|f| f == name)
        {
            found.push(name.to_string());
        }
    }
    found.sort();
    found
}

/// The emulations a module linked, each with the functions of it that were linked, found by
/// the function names of the module's `name` section (none when it was stripped).
pub fn linked_emulations(wasm: &[u8]) -> Vec<(&'static str, Vec<&'static str>)> {
    let names = function_names(wasm);
    EMULATED_FUNCTIONS
        .iter()
        .filter_map(|(library, functions)| {
            let used: Vec<&'static str> = functions
                .iter()
                .copied()
                .filter(|f| names.iter().any(|n| n == f))
                .collect();
            (!used.is_empty()).then_some((*library, used))
        })
        .collect()
}

/// The function names of a module's `name` section.
fn function_names(wasm: &[u8]) -> Vec<String> {
    use wasmparser::{KnownCustom, Name, Payload};
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else { break };
        if let Payload::CustomSection(section) = payload
            && let KnownCustom::Name(reader) = section.as_known()
        {
            for sub in reader.into_iter().flatten() {
                if let Name::Function(map) = sub {
                    names.extend(map.into_iter().flatten().map(|n| n.name.to_string()));
                }
            }
        }
    }
    names
}

/// The module without its `name` and `.debug_*` sections (what `-s` leaves out): the C
/// driver links with them to report the emulations, then strips them here.
pub fn strip_names(wasm: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(wasm.len());
    let mut last = 0;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else {
            return wasm.to_vec();
        };
        if let wasmparser::Payload::CustomSection(section) = &payload
            && (section.name() == "name" || section.name().starts_with(".debug_"))
            && let Some((_, whole)) = payload.as_section()
        {
            // `whole` is the section's contents; its id and size come just before.
            let start = section_start(wasm, whole.start, last);
            out.extend_from_slice(&wasm[last..start]);
            last = whole.end;
        }
    }
    out.extend_from_slice(&wasm[last..]);
    out
}

/// Where the section whose contents start at `contents` begins: its id byte, after `from`.
fn section_start(wasm: &[u8], contents: usize, from: usize) -> usize {
    // The id (0 for custom) is followed by the contents' size in LEB128, which ends just
    // before the contents: walk back over the size's bytes (all but its last have the high bit).
    let mut at = contents.saturating_sub(1);
    while at > from && wasm[at - 1] & 0x80 != 0 {
        at -= 1;
    }
    at.saturating_sub(1).max(from)
}

/// Says which stubs and emulations a build linked (shown now, and returned for the build's
/// notes).
pub fn report_stubs(wasm: &Path, progress: &dyn Progress) -> Vec<String> {
    let Ok(bytes) = std::fs::read(wasm) else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    let stubs = linked_stubs(&bytes);
    if !stubs.is_empty() {
        notes.push(format!(
            "linked qyv's stubs for what WASI lacks ({}): calling them fails with ENOSYS",
            stubs.join(", ")
        ));
    }
    let emulations = linked_emulations(&bytes);
    if !emulations.is_empty() {
        notes.push(format!(
            "linked wasi-libc's emulations: {}",
            emulations
                .iter()
                .map(|(library, functions)| format!("{library} ({})", functions.join(", ")))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for note in &notes {
        progress.note(&format!("note: {note}"));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_declares_only_what_wasi_libc_does_not() {
        let h = header();
        assert!(h.contains("int fchown(int fd, unsigned owner, unsigned group);"));
        assert!(!h.contains("system("), "wasi-libc declares system");
        assert!(!h.contains("#include"), "feature macros must still apply");
    }

    #[test]
    fn the_header_supplies_what_goes_with_the_stubs() {
        let h = header();
        for needed in [
            "#define L_tmpnam 20",
            "#define TMP_MAX 10000",
            "#define P_tmpdir \"/tmp\"",
            "#define WEXITSTATUS(s) (((s) & 0xff00) >> 8)",
            "#define WIFSIGNALED(s)",
            "} siginfo_t;",
            "int waitpid(int pid, int *status, int options);",
            "void flockfile(struct _IO_FILE *f);",
            "struct rlimit {",
            "#define RLIMIT_NOFILE  7",
        ] {
            assert!(h.contains(needed), "{needed} missing from:\n{h}");
        }
    }

    #[test]
    fn emulations_are_read_from_names_which_stripping_removes() {
        let wasm = wat::parse_str(
            r#"(module (func $getpid) (func $raise) (func $main) (@custom "producers" ""))"#,
        )
        .unwrap();
        assert_eq!(
            linked_emulations(&wasm),
            [("signal", vec!["raise"]), ("getpid", vec!["getpid"])]
        );
        let stripped = strip_names(&wasm);
        assert!(stripped.len() < wasm.len());
        wasmparser::validate(&stripped).unwrap();
        assert!(function_names(&stripped).is_empty());
        assert!(linked_emulations(&stripped).is_empty());
        assert!(memchr::memmem::find(&stripped, b"producers").is_some());
        assert_eq!(strip_names(&stripped), stripped);
    }

    #[test]
    fn markers_name_the_linked_stubs() {
        let mut wasm = b"\0asm....".to_vec();
        wasm.extend_from_slice(b"qyv-enosys-stub:system\0xx qyv-enosys-stub:fchown\0");
        wasm.extend_from_slice(b"qyv-enosys-stub:not-a-stub\0");
        assert_eq!(linked_stubs(&wasm), ["fchown", "system"]);
    }
}
