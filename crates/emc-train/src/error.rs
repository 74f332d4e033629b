//! The training crate's error type.

use std::path::PathBuf;

/// Result alias of the training crate.
pub type Result<T> = std::result::Result<T, TrainError>;

/// What can go wrong while training, evaluating or checkpointing.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A training setting is invalid.
    #[error("training config field `{field}`: {message}")]
    Config {
        /// The field.
        field: String,
        /// What was found and what was expected.
        message: String,
    },
    /// The data handed to the trainer is inconsistent.
    #[error("training data: {0}")]
    Data(String),
    /// A checkpoint file is missing, unreadable or does not match the model.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The optimizer rejected its settings or failed.
    #[error(transparent)]
    Optim(#[from] emc_optim::OptimError),
    /// Building the model failed.
    #[error(transparent)]
    Model(#[from] emc_models::ModelError),
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
}
