//! The claim framework's error type.

use std::path::PathBuf;

/// Result alias of the claim framework.
pub type Result<T> = std::result::Result<T, ClaimError>;

/// What can go wrong while running a claim.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// A claim setting or flag is invalid.
    #[error("claim config `{field}`: {message}")]
    Config {
        /// The field or flag.
        field: String,
        /// What was found and what was expected.
        message: String,
    },
    /// Writing an output file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The log of a directory's invocations (`runs.csv`) is malformed or cannot be written.
    #[error("{}: {message}", path.display())]
    Log {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what was expected.
        message: String,
    },
    /// The plots of the results could not be made.
    #[error("plots of {}: {source}", dir.display())]
    Report {
        /// The results directory.
        dir: PathBuf,
        /// The cause.
        source: emc_report::ReportError,
    },
    /// Fetching or verifying published results failed.
    #[error("published results {repo}: {message}")]
    Hub {
        /// The repository, `owner/name`.
        repo: String,
        /// The cause.
        message: String,
    },
    /// A measurement failed.
    #[error("measuring {arm}: {source}")]
    Measure {
        /// Which arms (the failing configuration is named in the cause).
        arm: String,
        /// The cause.
        source: Box<emc_search::SearchError>,
    },
    /// The shards of a sharded directory cannot be merged.
    #[error("{}: {message}", dir.display())]
    Shards {
        /// The shard directory or file at fault.
        dir: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
}
