//! The search crate's error type.

use std::path::PathBuf;

/// Result alias of the search crate.
pub type Result<T> = std::result::Result<T, SearchError>;

/// What can go wrong while measuring EMC.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// A measurement setting is invalid.
    #[error("measurement config field `{field}`: {message}")]
    Config {
        /// The field.
        field: String,
        /// What was found and what was expected.
        message: String,
    },
    /// What a measurement would allocate exceeds the memory limit (nothing was allocated).
    #[error("not enough memory: {0}")]
    Memory(String),
    /// A result file cannot be read or written.
    #[error("{}: {message}", path.display())]
    Results {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A probe the search needs is not in `probes.csv` and training is off
    /// ([`crate::RunOptions::recorded_only`]).
    #[error("{}: {message}", path.display())]
    NotRecorded {
        /// The probe log.
        path: PathBuf,
        /// Which probe.
        message: String,
    },
    /// One configuration of several measured together failed.
    #[error("{config}: {source}")]
    InConfig {
        /// The configuration: model, dataset and variants.
        config: String,
        /// The cause.
        source: Box<SearchError>,
    },
    /// Loading or transforming the data failed.
    #[error(transparent)]
    Data(#[from] emc_data::DataError),
    /// Building a model failed.
    #[error(transparent)]
    Model(#[from] emc_models::ModelError),
    /// Training failed (not a failure to fit, which is a result).
    #[error(transparent)]
    Train(#[from] emc_train::TrainError),
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
}

impl SearchError {
    /// Whether this is (or wraps) [`SearchError::NotRecorded`]: the records are incomplete,
    /// nothing failed.
    pub fn is_not_recorded(&self) -> bool {
        match self {
            SearchError::NotRecorded { .. } => true,
            SearchError::InConfig { source, .. } => source.is_not_recorded(),
            _ => false,
        }
    }
}
