//! The one error type of the data crate: every variant names the file (or dataset) and
//! what was expected, so a user can fix the input without reading our source.

use std::path::PathBuf;

/// Result alias used across the data crate.
pub type Result<T> = std::result::Result<T, DataError>;

/// Everything that can go wrong while finding, reading or transforming a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A gzip stream is corrupt or ends early.
    #[error("{}: corrupt gzip stream ({source}); expected a complete gzip file — delete it and fetch it again", path.display())]
    Gzip {
        /// The file.
        path: PathBuf,
        /// The decompressor's complaint.
        #[source]
        source: std::io::Error,
    },
    /// A binary header carries the wrong magic number.
    #[error("{}: magic number {found:#010x}, expected {expected:#010x} ({what})", path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// What kind of file was expected.
        what: &'static str,
        /// The magic number the format requires.
        expected: u32,
        /// The magic number read.
        found: u32,
    },
    /// A file holds fewer (or more) bytes than its header or record size implies.
    #[error("{}: {found} bytes, expected {expected} ({what}); the file is truncated or not in the expected format", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What the size was derived from.
        what: String,
        /// The size that was expected.
        expected: u64,
        /// The size found.
        found: u64,
    },
    /// Images and labels disagree on the number of samples.
    #[error("{} holds {images} images but {} holds {labels} labels; expected equal counts", images_path.display(), labels_path.display())]
    CountMismatch {
        /// The image file.
        images_path: PathBuf,
        /// The label file.
        labels_path: PathBuf,
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A label is not a valid class index.
    #[error("{}: label {label} of sample {index} is out of range, expected 0..{classes}", path.display())]
    LabelOutOfRange {
        /// The file.
        path: PathBuf,
        /// Sample index within the file.
        index: usize,
        /// The label read.
        label: i64,
        /// Number of classes.
        classes: usize,
    },
    /// A file is malformed in a way not covered above.
    #[error("{}: {field}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The field or part of the file at fault.
        field: String,
        /// What was found and what was expected.
        message: String,
    },
    /// An image could not be decoded.
    #[error("{}: cannot decode image: {message}", path.display())]
    Image {
        /// The file (or parquet file and row).
        path: PathBuf,
        /// The decoder's complaint.
        message: String,
    },
    /// A class folder of an image-folder dataset holds no image.
    #[error("{}: class folder holds no .jpg/.jpeg/.png image; expected at least one", path.display())]
    EmptyClass {
        /// The empty class folder.
        path: PathBuf,
    },
    /// A path that should be a data file is a directory.
    #[error("{}: is a directory; expected a data file", path.display())]
    IsDirectory {
        /// The directory found where a file was expected.
        path: PathBuf,
    },
    /// The data directory given (`--data-dir` or `EMC_DATA_DIR`) cannot be used.
    #[error("data directory `{}`: {message}", path.display())]
    DataDir {
        /// The directory as given.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Files that read without error hold nothing to learn from: no sample, an image
    /// dimension of zero, or fewer than two classes present.
    #[error("{dataset} ({split}) read from {}: {problem}; expected {expected}", files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    Degenerate {
        /// The dataset name.
        dataset: String,
        /// The split.
        split: crate::Split,
        /// The files it was read from (or where it came from, when no file was read).
        files: Vec<PathBuf>,
        /// What was found.
        problem: String,
        /// What a usable dataset holds.
        expected: &'static str,
    },
    /// The dataset was found nowhere.
    #[error("dataset `{dataset}` ({split}) not found. Looked in:\n{}\nFix: {hint}", looked.iter().map(|l| format!("  - {l}")).collect::<Vec<_>>().join("\n"))]
    NotFound {
        /// The dataset name.
        dataset: String,
        /// The split.
        split: String,
        /// Every place that was tried, with why it did not work.
        looked: Vec<String>,
        /// The command or variable that fixes it.
        hint: String,
    },
    /// The Hugging Face Hub could not provide a file.
    #[error("Hugging Face Hub, {repo} file {file}: {message}")]
    Hub {
        /// The repository.
        repo: String,
        /// The file in the repository.
        file: String,
        /// What went wrong.
        message: String,
    },
    /// An unknown dataset name.
    #[error("unknown dataset `{name}`; expected one of: {expected}")]
    UnknownDataset {
        /// The name given.
        name: String,
        /// The names we know.
        expected: String,
    },
    /// A variant cannot be applied or parsed.
    #[error("variant `{spec}`: {message}")]
    Variant {
        /// The variant as written.
        spec: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        DataError::Format {
            path: path.into(),
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn variant(spec: impl Into<String>, message: impl Into<String>) -> Self {
        DataError::Variant {
            spec: spec.into(),
            message: message.into(),
        }
    }
}
