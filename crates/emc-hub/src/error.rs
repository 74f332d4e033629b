//! The hub crate's error type: every variant names the repository, file or field at fault
//! and says what was expected.

use std::path::PathBuf;

/// Result alias of the hub crate.
pub type Result<T> = std::result::Result<T, HubError>;

/// What can go wrong while publishing, fetching or verifying results.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// Pushing needs a Hugging Face token and none was found.
    #[error(
        "no Hugging Face token: pushing to {repo} needs one with write access; set HF_TOKEN, \
         or run `huggingface-cli login` (it writes $HF_HOME/token), or point HF_TOKEN_PATH at \
         a token file{}",
        if *.disabled { " (HF_HUB_DISABLE_IMPLICIT_TOKEN is set, so only an explicit token counts)" } else { "" }
    )]
    MissingToken {
        /// `owner/name`.
        repo: String,
        /// Whether `HF_HUB_DISABLE_IMPLICIT_TOKEN` hid the environment's token.
        disabled: bool,
    },
    /// A repository id, repository type or other argument is malformed.
    #[error("{what}: {message}")]
    Argument {
        /// The argument (`--repo`, `--repo-type`, ...).
        what: String,
        /// What was found and what was expected.
        message: String,
    },
    /// The Hub (or the hub cache) refused or failed a request.
    #[error("{repo}: {message}")]
    Hub {
        /// `owner/name` (with the repository type when not a model).
        repo: String,
        /// What failed and what to do about it.
        message: String,
    },
    /// A local directory or file is not what the command expects.
    #[error("{}: {message}", path.display())]
    Input {
        /// The path.
        path: PathBuf,
        /// What was found and what was expected.
        message: String,
    },
    /// `hub_manifest.toml` is missing a field or has a bad value.
    #[error("{} field `{field}`: {message}", path.display())]
    Manifest {
        /// The manifest (in the cache or on disk).
        path: PathBuf,
        /// The field.
        field: String,
        /// What was found and what was expected.
        message: String,
    },
    /// A fetched file does not match the size and SHA-256 its manifest records.
    #[error("{0}")]
    Mismatch(Box<FileMismatch>),
    /// A checkpoint cannot be verified (unreadable, inconsistent with its metadata or with
    /// the result files beside it).
    #[error("{}: {message}", path.display())]
    Checkpoint {
        /// The checkpoint.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Verification ran and at least one checkpoint failed it.
    #[error("verification of {} failed for {failed} of {total} checkpoint(s):\n{details}", dir.display())]
    VerifyFailed {
        /// The directory verified.
        dir: PathBuf,
        /// Checkpoints that failed.
        failed: usize,
        /// Checkpoints checked.
        total: usize,
        /// One line per failed checkpoint.
        details: String,
    },
    /// A file system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl HubError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        HubError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        HubError::Input {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn checkpoint(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        HubError::Checkpoint {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// A fetched file that does not match `hub_manifest.toml`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{file}: hub_manifest.toml records {expected_bytes} bytes with SHA-256 {expected_sha256}, \
     but the copy from {source_desc} has {found_bytes} bytes with SHA-256 {found_sha256}; \
     {action}"
)]
pub struct FileMismatch {
    /// Path inside the repository.
    pub file: String,
    /// Size recorded in the manifest.
    pub expected_bytes: u64,
    /// SHA-256 recorded in the manifest.
    pub expected_sha256: String,
    /// Size of the copy found.
    pub found_bytes: u64,
    /// SHA-256 of the copy found.
    pub found_sha256: String,
    /// Where the copy came from (the cache path).
    pub source_desc: String,
    /// What was done about it and what to do next.
    pub action: String,
}
