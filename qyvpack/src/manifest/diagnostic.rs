//! Diagnostics: an error or warning at a place in a manifest, shown rustc-style with the
//! offending line and a caret.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::yaml::Pos;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A message about a place in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The source line, when there is one.
    #[serde(skip)]
    pub snippet: Option<String>,
    /// Width of the marked text in the snippet.
    #[serde(skip)]
    pub width: usize,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at `pos` of `src`.
    pub fn at(
        severity: Severity,
        file: &std::path::Path,
        src: &str,
        pos: Pos,
        message: impl Into<String>,
    ) -> Self {
        // The parser reports the end of the input as the start of the line after it: point
        // at the end of the last line instead, which the user can see.
        let lines = src.split('\n').count();
        let (line, column) = if pos.line > lines {
            let last = src.split('\n').next_back().unwrap_or("");
            (lines, last.chars().count() + 1)
        } else {
            (pos.line.max(1), pos.column.max(1))
        };
        Diagnostic {
            severity,
            message: message.into(),
            file: file.to_path_buf(),
            line,
            column,
            snippet: src
                .lines()
                .nth(line.saturating_sub(1))
                .map(|l| l.trim_end().to_string()),
            width: pos.len.max(1),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{label}: {}", self.message)?;
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        write!(
            f,
            "{pad}--> {}:{}:{}",
            self.file.display(),
            self.line,
            self.column
        )?;
        if let Some(line) = &self.snippet {
            // Columns count characters; tabs keep their width in the caret line.
            let before: String = line
                .chars()
                .take(self.column - 1)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let available = line.chars().count().saturating_sub(self.column - 1).max(1);
            write!(
                f,
                "\n{pad} |\n{number} | {line}\n{pad} | {before}{}",
                "^".repeat(self.width.min(available))
            )?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n{pad} = help: {hint}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let src = "name: x\npermissions:\n  fs: sometimes\n";
        let d = Diagnostic::at(
            Severity::Error,
            std::path::Path::new("app.qyv"),
            src,
            Pos {
                line: 3,
                column: 7,
                len: 9,
            },
            "bad value",
        )
        .hint("use none");
        assert_eq!(
            d.to_string(),
            "error: bad value\n --> app.qyv:3:7\n  |\n3 |   fs: sometimes\n  |       ^^^^^^^^^\n  = help: use none"
        );
    }
}
