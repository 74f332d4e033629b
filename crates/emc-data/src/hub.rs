//! The Hugging Face Hub source: parquet conversions of MNIST, Fashion-MNIST, CIFAR-10 and
//! CIFAR-100, downloaded through `hf-hub` into its cache and decoded from their PNG bytes.

use std::path::{Path, PathBuf};

use crate::dataset::{Dataset, Split};
use crate::error::Result;

/// How to reach the Hub. [`HubOptions::from_env`] reads the variables the Hugging Face tools
/// read: `HF_ENDPOINT`, `HF_HUB_CACHE` / `HF_HOME`, `HF_HUB_OFFLINE`, `HF_TOKEN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubOptions {
    /// Hub base address; `None` means `HF_ENDPOINT` or `https://huggingface.co`.
    pub endpoint: Option<String>,
    /// Cache directory; `None` means hf-hub's default (`HF_HUB_CACHE`, `HF_HOME/hub`, ...).
    pub cache_dir: Option<PathBuf>,
    /// Never touch the network (`HF_HUB_OFFLINE=1`): only the cache is used.
    pub offline: bool,
    /// Repository revision (branch, tag or commit).
    pub revision: String,
}

/// A dataset repository on the Hub and how its parquet files are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubDataset {
    /// `owner/name` of the dataset repository.
    pub repo: &'static str,
    /// Path of the train split's parquet file inside the repository.
    pub train_file: String,
    /// Path of the test split's parquet file inside the repository.
    pub test_file: String,
    /// Column holding the image struct (`{bytes, path}`).
    pub image_column: &'static str,
    /// Column holding the integer label.
    pub label_column: &'static str,
    /// Channels of the decoded images (1 grey, 3 RGB).
    pub channels: usize,
    /// Height of the decoded images.
    pub height: usize,
    /// Width of the decoded images.
    pub width: usize,
    /// Class names in label order.
    pub class_names: &'static [&'static str],
}

impl HubDataset {
    /// The repository file of a split.
    pub fn file(&self, split: Split) -> &str {
        match split {
            Split::Train => &self.train_file,
            Split::Test => &self.test_file,
        }
    }
}

impl HubOptions {
    /// Options from the environment (see the type's docs).
    pub fn from_env() -> Self {
        todo!("hub helper")
    }
}

/// The split's parquet file from the local hub cache, without any network access;
/// `Ok(None)` when it is not cached.
pub fn cached(ds: &HubDataset, split: Split, opts: &HubOptions) -> Result<Option<PathBuf>> {
    let _ = (ds, split, opts);
    todo!("hub helper")
}

/// Downloads the split's parquet file into the hub cache (or finds it there) and returns
/// its local path.
pub fn fetch(ds: &HubDataset, split: Split, opts: &HubOptions) -> Result<PathBuf> {
    let _ = (ds, split, opts);
    todo!("hub helper")
}

/// Decodes a parquet file of `ds`'s layout into a [`Dataset`] named `name`.
pub fn load_parquet(
    name: &str,
    split: Split,
    path: &Path,
    ds: &HubDataset,
    opts: &HubOptions,
    from_cache: bool,
) -> Result<Dataset> {
    let _ = (name, split, path, ds, opts, from_cache);
    todo!("hub helper")
}
