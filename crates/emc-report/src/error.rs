//! The report's error type.

use std::path::PathBuf;

/// Result alias of the report crate.
pub type Result<T> = std::result::Result<T, ReportError>;

/// What can go wrong while reading a results directory or drawing its figures. Every
/// message is complete in itself (it carries its cause's text), so that it reads the same
/// however it is printed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A results file is missing, unreadable or malformed, or the directory is not one.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Input {
        /// The file (or directory).
        path: PathBuf,
        /// The 1-based line, where one is to blame.
        line: Option<u64>,
        /// What is wrong: the column and value, where one is to blame.
        message: String,
    },
    /// The embedded font could not be registered with the bitmap text renderer.
    #[error("the embedded DejaVu Sans font did not load")]
    Font,
    /// Drawing a figure failed.
    #[error("{0}")]
    Draw(String),
    /// A figure file could not be drawn (`drawing`) or written (`writing`).
    #[error("{action} {}: {message}", path.display())]
    Figure {
        /// `drawing` or `writing`.
        action: &'static str,
        /// The figure file.
        path: PathBuf,
        /// The cause.
        message: String,
    },
}

impl ReportError {
    /// An input error in `path` at `line` (if any).
    pub(crate) fn input(
        path: impl Into<PathBuf>,
        line: Option<u64>,
        message: impl std::fmt::Display,
    ) -> Self {
        ReportError::Input {
            path: path.into(),
            line,
            message: message.to_string(),
        }
    }
}

impl<E: std::error::Error + Send + Sync> From<plotters::drawing::DrawingAreaErrorKind<E>>
    for ReportError
{
    fn from(e: plotters::drawing::DrawingAreaErrorKind<E>) -> Self {
        ReportError::Draw(chain(&e))
    }
}

/// `e` and its causes, `: `-separated.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_errors_name_the_file_and_the_line() {
        let e = ReportError::input(
            "runs/x/probes.csv",
            Some(7),
            "column `n`: `x` is not an integer",
        );
        assert_eq!(
            e.to_string(),
            "runs/x/probes.csv line 7: column `n`: `x` is not an integer"
        );
        let e = ReportError::input("runs/x", None, "not a directory");
        assert_eq!(e.to_string(), "runs/x: not a directory");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("writing plot.png")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_chain_carries_every_cause() {
        let e = Outer(std::io::Error::other("disk full"));
        assert_eq!(chain(&e), "writing plot.png: disk full");
    }
}
