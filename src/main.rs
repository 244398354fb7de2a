//! `qyv`: build, pack, inspect and run WebAssembly components.

mod commands;
mod interrupt;
mod progress;
mod shell;

use clap::Parser;

/// mimalloc: compiling a large component with cranelift allocates a great deal from every
/// core, and glibc's allocator makes that measurably slower.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The exit code when stdout or stderr was closed by the reader (`qyv inspect | head -1`):
/// 128 + SIGPIPE, what a shell reports for a program that the signal ended.
const CLOSED_OUTPUT: i32 = 141;

fn main() {
    quiet_on_closed_output();
    let cli = commands::Cli::parse();
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| commands::dispatch(cli)));
    std::process::exit(match code {
        Ok(code) => code,
        Err(payload) if is_closed_output(&*payload) => CLOSED_OUTPUT,
        Err(payload) => std::panic::resume_unwind(payload),
    });
}

/// Rust ignores SIGPIPE, so `println!` to a closed pipe panics ("failed printing to stdout:
/// Broken pipe"). Like cargo and ripgrep, qyv then stops quietly: this hook keeps that panic's
/// message off stderr, and `main` turns it into [`CLOSED_OUTPUT`]. SIGPIPE itself stays
/// ignored, so a guest writing to a closed stdout gets an error, not qyv killed mid-run.
fn quiet_on_closed_output() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !is_closed_output(info.payload()) {
            default(info);
        }
    }));
}

/// Whether a panic is `print!`'s on a closed stdout or stderr.
pub(crate) fn is_closed_output(payload: &(dyn std::any::Any + Send)) -> bool {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    // As `print!` words it: "failed printing to stdout: Broken pipe (os error 32)".
    #[cfg(unix)]
    let broken_pipe = std::io::Error::from_raw_os_error(libc::EPIPE).to_string();
    #[cfg(not(unix))]
    let broken_pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe).to_string();
    message.starts_with("failed printing to std") && message.ends_with(&broken_pipe)
}
