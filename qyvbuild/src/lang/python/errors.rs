//! componentize-py's failures, said the way Python says them. When the program cannot be
//! built (a syntax error, an import error, a `wit_world` app without `Run`), componentize-py
//! prints the Python traceback and then its own Rust backtrace; the user needs the first.
//! Its whole output stays available with `-v`.

use std::process::Command;

use crate::progress::Progress;
use crate::toolchain::BuildError;

/// What the glue writes around an error it explains itself.
const BEGIN: &str = "--- qyv python error ---\n";
const END: &str = "--- end ---\n";

/// Runs componentize-py with its output kept; shows it with `-v`, and on failure turns it
/// into the Python error it holds.
pub fn run_componentize(cmd: Command, progress: &dyn Progress) -> Result<(), BuildError> {
    let (status, text) = crate::tools::run_kept(cmd, "componentize-py", progress)?;
    if status.success() {
        return Ok(());
    }
    match python_error(&text) {
        Some(error) => Err(BuildError::Project(format!(
            "the Python program cannot be built:\n{}\n(`qyv build -v` shows componentize-py's \
             whole output)",
            error.trim_end()
        ))),
        None => {
            if !progress.verbose() {
                progress.finish();
                progress.tool_output(&text);
            }
            Err(BuildError::CompilerFailed {
                tool: "componentize-py".into(),
                status: status.code(),
            })
        }
    }
}

/// The Python error in componentize-py's output: what the glue explained, else the cause
/// componentize-py reports (a traceback from inside the component, indented), else the last
/// traceback (up to its exception line).
fn python_error(output: &str) -> Option<String> {
    if let Some(start) = output.find(BEGIN) {
        let rest = &output[start + BEGIN.len()..];
        return Some(rest[..rest.find(END).unwrap_or(rest.len())].to_string());
    }
    if let Some(start) = output.find("\nCaused by:\n") {
        let rest = &output[start + "\nCaused by:\n".len()..];
        let cause = &rest[..rest.find("\nStack backtrace:").unwrap_or(rest.len())];
        let text: String = cause
            .lines()
            .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
            .collect();
        if !text.trim().is_empty() {
            return Some(text);
        }
    }
    let start = output.rfind("Traceback (most recent call last):")?;
    let mut lines = output[start..].lines();
    let mut error = String::new();
    error.push_str(lines.next()?);
    error.push('\n');
    for line in lines {
        error.push_str(line);
        error.push('\n');
        if !line.starts_with(' ') && !line.is_empty() {
            break;
        }
    }
    Some(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traceback_is_kept_and_the_rust_backtrace_dropped() {
        let output = "Error: Traceback (most recent call last):\n  File \"/0/app.py\", line 3, in \
                      <module>\n    import nope\nModuleNotFoundError: No module named 'nope'\n\n\
                      Stack backtrace:\n   0: componentize_py::foo\n";
        let error = python_error(output).unwrap();
        assert!(error.starts_with("Traceback"), "{error}");
        assert!(error.ends_with("No module named 'nope'\n"), "{error}");
        assert!(!error.contains("backtrace"), "{error}");
    }

    #[test]
    fn the_cause_from_inside_the_component_is_preferred_to_the_host_traceback() {
        let output = "Traceback (most recent call last):\n  File \"/usr/bin/componentize-py\", \
                      line 8\nAssertionError: AttributeError: no Run\n\n\nCaused by:\n    \
                      AttributeError: module 'app' has no attribute 'Run'\n\nStack backtrace:\n   \
                      0: anyhow\n";
        let error = python_error(output).unwrap();
        assert_eq!(
            error.trim(),
            "AttributeError: module 'app' has no attribute 'Run'"
        );
    }

    #[test]
    fn what_the_glue_explains_is_taken_whole() {
        let output = format!(
            "noise\n{BEGIN}  File \"app.py\", line 2\n    def (\nSyntaxError: invalid syntax\n{END}\
             Traceback (most recent call last):\n  File \"x\"\nSyntaxError: x\n"
        );
        let error = python_error(&output).unwrap();
        assert!(error.starts_with("  File \"app.py\", line 2"), "{error}");
        assert!(
            !error.contains("noise") && !error.contains("File \"x\""),
            "{error}"
        );
    }
}
