//! Link failures of C inside Rust dependencies that calls what WASI lacks (threads,
//! processes, sockets through libc), told as the crate and the function instead of the
//! linker's bare "undefined symbol".

use std::path::{Path, PathBuf};

/// The crate whose C code a linker's `undefined symbol` line came from, and the symbol:
/// rust-lld names the archive member (`.../build/zstd-sys-<hash>/out/libzstd.a(x.o)`, or a
/// bundled one in `.../deps/libzstd_sys-<hash>.rlib(...)`).
fn undefined_symbol(line: &str) -> Option<(Option<String>, String)> {
    let (before, symbol) = line.split_once("undefined symbol: ")?;
    let symbol = symbol.trim().to_string();
    let origin = before.trim_end().trim_end_matches(':');
    let origin = origin.rsplit("error: ").next().unwrap_or(origin);
    Some((crate_of(origin), symbol))
}

fn crate_of(path: &str) -> Option<String> {
    let path = path.split('(').next().unwrap_or(path);
    let strip_hash = |s: &str| match s.rsplit_once('-') {
        Some((name, hash)) if hash.len() >= 8 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            name.to_string()
        }
        _ => s.to_string(),
    };
    let parts: Vec<&str> = path.split('/').collect();
    if let Some(i) = parts.iter().position(|p| *p == "build")
        && let Some(dir) = parts.get(i + 1)
        && parts.get(i + 2).is_some()
    {
        return Some(strip_hash(dir));
    }
    let file = parts.last()?;
    let stem = file.strip_prefix("lib")?.strip_suffix(".rlib")?;
    Some(strip_hash(stem))
}

/// What kind of thing WASI lacks, for a symbol C code wanted.
fn kind_of(symbol: &str) -> &'static str {
    const SOCKETS: &[&str] = &[
        "socket",
        "connect",
        "bind",
        "listen",
        "accept",
        "getaddrinfo",
        "freeaddrinfo",
        "gethostbyname",
        "getsockopt",
        "setsockopt",
        "sendto",
        "recvfrom",
        "getpeername",
        "getsockname",
        "inet_ntop",
        "inet_pton",
        "socketpair",
    ];
    const PROCESSES: &[&str] = &[
        "fork",
        "vfork",
        "execv",
        "execve",
        "execvp",
        "execl",
        "execlp",
        "waitpid",
        "wait",
        "posix_spawn",
        "posix_spawnp",
        "popen",
        "system",
        "kill",
    ];
    if symbol.starts_with("__cxa_") || symbol.starts_with("_Unwind_") {
        "C++ exceptions: libc++ for WASI is built without them; compile with -fno-exceptions"
    } else if symbol.starts_with("pthread_") || symbol.starts_with("sem_") {
        "threads"
    } else if PROCESSES.contains(&symbol) {
        "processes"
    } else if SOCKETS.contains(&symbol) {
        "sockets through libc"
    } else if symbol.starts_with("dl") {
        "dynamic loading"
    } else {
        "a function WASI's libc does not have"
    }
}

/// Explains a link that failed on C code calling what WASI lacks, naming each crate and
/// function; `None` when the output has no such line. Two forms: lld's `undefined symbol`
/// lines, and, for wasip2 (rustc links with `--allow-undefined`, so the symbol becomes an
/// import), wasm-component-ld's "failed to resolve import `env::NAME`", whose crate is found
/// by looking for the name in the C archives of the build scripts on the link line.
pub(super) fn explain_undefined(stderr: &str, target: &str) -> Option<String> {
    let mut found: Vec<(Option<String>, String)> = Vec::new();
    for line in stderr.lines() {
        let hit = undefined_symbol(line).or_else(|| {
            let symbol = unresolved_import(line)?;
            Some((crate_referencing(stderr, &symbol), symbol))
        });
        if let Some(hit) = hit
            && !found.contains(&hit)
        {
            found.push(hit);
        }
    }
    explain(&found, target)
}

/// The message for C calling functions WASI does not have: (crate, function) pairs.
fn explain(found: &[(Option<String>, String)], target: &str) -> Option<String> {
    if found.is_empty() {
        return None;
    }
    let mut lines = vec![format!(
        "the program does not link for {target}: C code calls functions WASI does not have"
    )];
    for (krate, symbol) in found.iter().take(20) {
        let who = match krate {
            Some(k) => format!("crate `{k}`"),
            None => "C code".into(),
        };
        lines.push(format!("  {who} calls `{symbol}` ({})", kind_of(symbol)));
    }
    if found.len() > 20 {
        lines.push(format!("  ... and {} more", found.len() - 20));
    }
    lines.push(
        "  WASI has no threads, processes or (on wasip1) sockets; look for a feature of the \
         crate that turns that part off, or a pure-Rust alternative"
            .into(),
    );
    Some(lines.join("\n"))
}

/// The function of wasm-component-ld's "failed to resolve import `env::NAME`".
fn unresolved_import(line: &str) -> Option<String> {
    let rest = line.split_once("failed to resolve import `env::")?.1;
    let name = rest.split('`').next()?;
    (!name.is_empty()).then(|| name.to_string())
}

/// The crate whose C archive (in a build script's `out` directory named by a `-L` on the
/// link line) mentions `symbol`.
fn crate_referencing(stderr: &str, symbol: &str) -> Option<String> {
    let dirs: Vec<PathBuf> = stderr
        .split('"')
        .filter(|p| p.contains("/build/") && p.ends_with("/out"))
        .map(PathBuf::from)
        .collect();
    crate_in_archives(&dirs, symbol)
}

/// The crate whose C archive under one of the build scripts' `out` directories `dirs`
/// mentions `symbol` as a whole word.
fn crate_in_archives(dirs: &[PathBuf], symbol: &str) -> Option<String> {
    let finder = memchr::memmem::Finder::new(symbol.as_bytes());
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    for dir in dirs {
        for archive in archives(dir, 3) {
            let Ok(bytes) = qyvpack::bounded::read(&archive, 512 << 20, "a C archive") else {
                continue;
            };
            let mentions = finder.find_iter(&bytes).any(|at| {
                let before = at.checked_sub(1).map(|i| bytes[i]);
                let after = bytes.get(at + symbol.len()).copied();
                !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
            });
            if mentions {
                return crate_of(&archive.display().to_string());
            }
        }
    }
    None
}

/// A wasip1 program links even when C calls what WASI lacks (rustc links with
/// `--allow-undefined`): each such function becomes an import from `env`, which no WASI host
/// provides. Explains them, with their crates, from the module cargo wrote (whose build
/// scripts' `out` directories are beside it, in `build/`).
pub(super) fn explain_env_imports(wasm: &Path, target: &str) -> Option<String> {
    let bytes = qyvpack::bounded::read(wasm, 1 << 30, "the wasm module").ok()?;
    let mut symbols = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        let Ok(wasmparser::Payload::ImportSection(imports)) = payload else {
            continue;
        };
        for import in imports.into_imports().flatten() {
            if import.module == "env" && matches!(import.ty, wasmparser::TypeRef::Func(_)) {
                symbols.push(import.name.to_string());
            }
        }
    }
    if symbols.is_empty() {
        return None;
    }
    let dirs: Vec<PathBuf> = wasm
        .parent()
        .map(|d| d.join("build"))
        .and_then(|b| std::fs::read_dir(b).ok())
        .map(|entries| entries.flatten().map(|e| e.path().join("out")).collect())
        .unwrap_or_default();
    let found: Vec<(Option<String>, String)> = symbols
        .into_iter()
        .map(|s| (crate_in_archives(&dirs, &s), s))
        .collect();
    explain(&found, target)
}

/// The `.a` files under `dir`, `depth` levels down at most.
fn archives(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() && depth > 0 => found.extend(archives(&path, depth - 1)),
            Ok(t) if t.is_file() && path.extension().is_some_and(|e| e == "a") => found.push(path),
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_symbols_name_the_crate() {
        let stderr = "\
          = note: rust-lld: error: /p/target/wasm32-wasip1/release/build/zstd-sys-0123456789abcdef/out/libzstd.a(pool.o): undefined symbol: pthread_create\n\
          rust-lld: error: /p/target/wasm32-wasip1/release/deps/libforky-fedcba9876543210.rlib(forky.o): undefined symbol: fork\n\
          rust-lld: error: /p/x.o: undefined symbol: socket\n\
          rust-lld: error: /p/y.o: undefined symbol: __cxa_throw\n";
        let text = explain_undefined(stderr, "wasm32-wasip1").unwrap();
        assert!(
            text.contains("crate `zstd-sys` calls `pthread_create` (threads)"),
            "{text}"
        );
        assert!(
            text.contains("crate `forky` calls `fork` (processes)"),
            "{text}"
        );
        assert!(
            text.contains("C code calls `socket` (sockets through libc)"),
            "{text}"
        );
        assert!(text.contains("`__cxa_throw` (C++ exceptions"), "{text}");
        assert_eq!(explain_undefined("error: could not compile", "t"), None);
        let p2 = "              2: failed to resolve import `env::socketpair`\n";
        let text = explain_undefined(p2, "wasm32-wasip2").unwrap();
        assert!(
            text.contains("C code calls `socketpair` (sockets through libc)"),
            "{text}"
        );
    }
}
