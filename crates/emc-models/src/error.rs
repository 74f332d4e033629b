//! The one error type of the models crate: a bad spec names the field and the form it
//! expects; a bad configuration names the parameter and why it cannot be built.

/// Result alias used across the models crate.
pub type Result<T> = std::result::Result<T, ModelError>;

/// Everything that can go wrong while parsing a spec, building a model or counting its
/// parameters.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A spec string could not be parsed.
    #[error("bad model spec `{spec}`: {field}: found `{found}`, expected {expected}")]
    Spec {
        /// The whole spec string.
        spec: String,
        /// The field that is wrong (`family`, `widths`, `activation`, `k`, ...).
        field: &'static str,
        /// The offending text.
        found: String,
        /// The form that field accepts.
        expected: String,
    },
    /// A configuration holds a value the architecture cannot use.
    #[error("invalid {family} config: {field} = {value}; {reason}")]
    Config {
        /// The model family.
        family: &'static str,
        /// The configuration field.
        field: &'static str,
        /// The value found, as text.
        value: String,
        /// What is required of it.
        reason: String,
    },
    /// The input shape (or class count) does not suit the model.
    #[error("{family} cannot take input {channels}x{height}x{width} with {num_classes} classes: {reason}")]
    Input {
        /// The model family.
        family: &'static str,
        /// Input channels.
        channels: usize,
        /// Input height.
        height: usize,
        /// Input width.
        width: usize,
        /// Number of classes.
        num_classes: usize,
        /// What went wrong.
        reason: String,
    },
    /// Models cannot be stacked together (see [`crate::Stacked`]).
    #[error("cannot stack these models: {0}")]
    Stack(String),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}
