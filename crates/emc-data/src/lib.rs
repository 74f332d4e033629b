//! # emc-data
//!
//! Datasets for Effective Model Complexity measurements: real MNIST, Fashion-MNIST,
//! CIFAR-10/100 and ImageNet-style folders read from their canonical files or from the
//! Hugging Face Hub, tabular CSV files (four UCI datasets by name) and parquet tables on the
//! Hub, and the paper's data variants (nested subsets, random labels, label
//! noise, random inputs, class subsets, resizing, grayscale), each deterministic from a seed
//! and recorded in the dataset's metadata.
//!
//! This crate knows nothing of models, training or the EMC search: it hands out
//! [`Dataset`]s and, at the end, normalised candle tensors.
//!
//! ```no_run
//! use emc_data::{load, DatasetId, LoadOptions, Split, Variant};
//! # fn main() -> emc_data::Result<()> {
//! let mnist = load(&DatasetId::Mnist, Split::Train, &LoadOptions::from_env())?;
//! let random = Variant::RandomLabels.apply(mnist, 0)?;   // labels drawn once per sample
//! let first_1000 = random.nested_subset(1000, 0, false)?; // a prefix of a seeded order
//! assert_eq!(first_1000.len(), 1000);
//! # Ok(()) }
//! ```

pub mod cifar;
mod dataset;
mod error;
pub mod folder;
pub mod hub;
pub mod idx;
pub mod names;
mod source;
pub mod tabular;
mod tensor;
mod transform;
mod variants;

pub use cifar::Cifar100Labels;
pub use dataset::{
    AppliedVariant, Dataset, FileDigest, ImageShape, Metadata, Origin, Pixels, Split,
};
pub use error::{DataError, Result};
pub use folder::FolderOptions;
pub use hub::{HubContent, HubDataset, HubImages, HubOptions, HubTable};
pub use source::{load, DatasetId, LoadOptions, SplitShape, DATASET_NAMES, DATA_DIR_ENV};
pub use tabular::KnownTable;
pub use tensor::{Normalization, TensorData};
pub use variants::{ClassSelection, RandomInputs, Variant};
