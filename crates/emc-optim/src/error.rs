//! The crate's error type.

/// Everything that can go wrong building or stepping an optimizer.
#[derive(Debug, thiserror::Error)]
pub enum OptimError {
    /// A config field is out of range; `expected` says what is allowed.
    #[error("invalid optimizer config: `{field}` is {value}, expected {expected}")]
    InvalidConfig {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    /// A variable that cannot be optimized (not a floating-point dtype).
    #[error("var #{index} has dtype {dtype:?}; only floating-point vars can be optimized")]
    NonFloatVar {
        index: usize,
        dtype: candle_core::DType,
    },
    /// Shampoo's eigensolver did not converge on a preconditioner statistic.
    #[error(
        "the eigendecomposition of var #{index}'s {size}x{size} Shampoo statistic \
         (dimension {dim}) did not converge"
    )]
    Eigen {
        index: usize,
        dim: usize,
        size: usize,
    },
    /// A text spec (see [`crate::OptimConfig`]'s `FromStr`) could not be parsed.
    #[error("cannot parse optimizer spec `{spec}`: {reason}")]
    Parse { spec: String, reason: String },
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Result with [`OptimError`].
pub type Result<T> = std::result::Result<T, OptimError>;
