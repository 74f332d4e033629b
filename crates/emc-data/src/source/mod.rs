//! Where a named dataset's files are found, and loading them ([`load`]).
//!
//! Resolution order: an explicit directory (`--data-dir` / `EMC_DATA_DIR`), then the
//! Hugging Face Hub cache, then a download (unless `HF_HUB_OFFLINE` is set). A table named
//! on the Hub (`tabular:hub:OWNER/NAME...`) skips the directory. When nothing works the
//! error lists every place tried and what fixes it; there is no fallback to generated data.

use std::path::{Path, PathBuf};

use crate::cifar;
use crate::dataset::{Dataset, Split};
use crate::error::{DataError, Result};
use crate::folder;
use crate::hub::{self, HubDataset, HubOptions, HubTable};
use crate::idx;
use crate::names;
use crate::tabular;

mod id;
pub use id::{DatasetId, SplitShape, DATASET_NAMES};

/// The environment variable naming a directory of canonical dataset files.
pub const DATA_DIR_ENV: &str = "EMC_DATA_DIR";

impl DatasetId {
    /// Loads the split from canonical files in `dir` (a folder holding the files, or one
    /// holding this dataset's folder). `Ok(None)` when the files are not there (always for
    /// a table on the Hub).
    pub fn load_from_dir(&self, dir: &Path, split: Split) -> Result<Option<Dataset>> {
        let name = self.to_string();
        if self.hub_table().is_some() {
            return Ok(None);
        }
        match self {
            DatasetId::Folder(opts) => {
                return folder::load_image_folder(&name, split, opts).map(Some)
            }
            DatasetId::TableFile(path) => return tabular::load_table(&name, split, path).map(Some),
            DatasetId::Table(t) => {
                return t
                    .find(dir)
                    .map(|path| tabular::load_table(&name, split, &path))
                    .transpose()
            }
            _ => {}
        }
        let mut candidates = vec![dir.to_path_buf()];
        candidates.extend(self.folder_names().iter().map(|f| dir.join(f)));
        for d in candidates {
            match self {
                DatasetId::Mnist | DatasetId::FashionMnist => {
                    if let Some((images, labels)) = idx::find_files(&d, split) {
                        let names: &[&str] = if *self == DatasetId::Mnist {
                            &names::MNIST
                        } else {
                            &names::FASHION_MNIST
                        };
                        return idx::load_idx_pair(&name, split, &images, &labels, names).map(Some);
                    }
                }
                DatasetId::Cifar10 => {
                    let files = cifar::cifar10_files(&d, split)?;
                    if files.is_empty() {
                        continue;
                    }
                    let official: Vec<String> = match split {
                        Split::Train => (1..=5).map(|k| format!("data_batch_{k}.bin")).collect(),
                        Split::Test => vec!["test_batch.bin".to_string()],
                    };
                    // A directory under a batch's name is read (and refused as one).
                    let missing: Vec<&String> =
                        official.iter().filter(|f| !d.join(f).exists()).collect();
                    if !missing.is_empty() {
                        return Err(DataError::format(
                            &d,
                            "cifar10 batch files",
                            format!(
                                "missing {}; `cifar10` means the full official split. For the \
                                 copies in shared/data use `cifar10-jpeg` or `cifar10-subset`",
                                missing
                                    .iter()
                                    .map(|s| s.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                    return cifar::load_cifar10_files(&name, split, &files).map(Some);
                }
                DatasetId::Cifar10Jpeg | DatasetId::Cifar10Subset => {
                    let files = cifar::cifar10_files(&d, split)?;
                    if !files.is_empty() {
                        return cifar::load_cifar10_files(&name, split, &files).map(Some);
                    }
                }
                DatasetId::Cifar100(which) => {
                    let f = cifar::cifar100_file(&d, split);
                    if f.exists() {
                        return cifar::load_cifar100_file(&name, split, &f, *which).map(Some);
                    }
                }
                DatasetId::Folder(_) | DatasetId::Table(_) | DatasetId::TableFile(_) => {
                    unreachable!("handled above")
                }
            }
        }
        Ok(None)
    }

    fn expected_files(&self, split: Split) -> String {
        match self {
            DatasetId::Mnist | DatasetId::FashionMnist => idx::expected_names(split),
            DatasetId::Cifar10 => match split {
                Split::Train => "data_batch_1.bin .. data_batch_5.bin".into(),
                Split::Test => "test_batch.bin".into(),
            },
            DatasetId::Cifar10Jpeg | DatasetId::Cifar10Subset => match split {
                Split::Train => "data_batch_K[.firstN].bin".into(),
                Split::Test => "test_batch[.firstN].bin".into(),
            },
            DatasetId::Cifar100(_) => match split {
                Split::Train => "train.bin".into(),
                Split::Test => "test.bin".into(),
            },
            DatasetId::Folder(_) => "class folders".into(),
            DatasetId::Table(t) => t.file().into(),
            DatasetId::TableFile(_) => "a CSV file".into(),
        }
    }
}

/// Where [`load`] may look.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Directory of canonical files; `None` means `EMC_DATA_DIR` when set.
    pub data_dir: Option<PathBuf>,
    /// Hub access (endpoint, cache, offline).
    pub hub: HubOptions,
    /// Whether a missing dataset may be downloaded (still subject to `hub.offline`).
    pub allow_download: bool,
}

impl LoadOptions {
    /// Options from the environment: `EMC_DATA_DIR` and the Hugging Face variables. An
    /// `EMC_DATA_DIR` that is set but empty is kept (as an empty path), so that [`load`]
    /// refuses it by name rather than silently falling back to the Hub.
    pub fn from_env() -> Self {
        LoadOptions {
            data_dir: std::env::var_os(DATA_DIR_ENV).map(PathBuf::from),
            hub: HubOptions::from_env(),
            allow_download: true,
        }
    }

    /// The same options with an explicit data directory.
    pub fn with_data_dir(mut self, dir: Option<PathBuf>) -> Self {
        if dir.is_some() {
            self.data_dir = dir;
        }
        self
    }
}

/// Loads a dataset split: explicit directory, then hub cache, then hub download.
///
/// # Errors
/// [`DataError::NotFound`] listing every place tried; any read or decode error of the
/// files found.
pub fn load(id: &DatasetId, split: Split, opts: &LoadOptions) -> Result<Dataset> {
    let mut looked = vec![];
    if let Some(table) = id.hub_table() {
        return load_hub_table(id, &table?, split, opts);
    }
    match id {
        DatasetId::Folder(f) => return folder::load_image_folder(&id.to_string(), split, f),
        DatasetId::TableFile(path) => return tabular::load_table(&id.to_string(), split, path),
        _ => {}
    }
    match &opts.data_dir {
        Some(dir) if dir.as_os_str().is_empty() => {
            return Err(DataError::DataDir {
                path: dir.clone(),
                message: format!(
                    "an empty path; expected a folder of dataset files. {DATA_DIR_ENV} is set \
                     but empty (or --data-dir was given \"\"): unset it to use the Hugging Face \
                     Hub cache, or set it to the folder"
                ),
            });
        }
        Some(dir) => {
            if let Some(ds) = id.load_from_dir(dir, split)? {
                return Ok(ds);
            }
            let what = if !dir.exists() {
                "no such folder".to_string()
            } else if !dir.is_dir() {
                "not a folder (a data directory holds the dataset's folder or files)".to_string()
            } else {
                format!("no {}", id.expected_files(split))
            };
            looked.push(format!(
                "{} (and its sub-folders {}): {what}",
                dir.display(),
                id.folder_names().join(", "),
            ));
        }
        None => looked.push(format!(
            "no data directory given (--data-dir or {DATA_DIR_ENV})"
        )),
    }
    let Some(hd) = id.hub() else {
        return Err(DataError::NotFound {
            dataset: id.to_string(),
            split: split.to_string(),
            looked,
            hint: format!(
                "`{id}` is only read from local files: set {DATA_DIR_ENV} (or pass --data-dir) to a \
                 folder holding `{}/` with {}{}",
                id.folder_names().first().copied().unwrap_or("?"),
                id.expected_files(split),
                match id {
                    DatasetId::Table(t) => format!(" ({})", t.source()),
                    _ => String::new(),
                }
            ),
        });
    };
    if let Some((path, from_cache)) = hub_file(&hd, split, opts, &mut looked)? {
        return hub::load_parquet(&id.to_string(), split, &path, &hd, &opts.hub, from_cache);
    }
    Err(DataError::NotFound {
        dataset: id.to_string(),
        split: split.to_string(),
        looked,
        hint: format!(
            "run `emc data fetch {id}` on a machine with internet access (fills the hub cache), \
             or set {DATA_DIR_ENV}=DIR where DIR/{}/ holds {}{}",
            id.folder_names().first().copied().unwrap_or("?"),
            id.expected_files(split),
            if *id == DatasetId::Cifar10 {
                ". The partial CIFAR-10 copies in shared/data are named `cifar10-jpeg` \
                 (20,000 train, lossy pixels) and `cifar10-subset` (4,000 train, exact)"
            } else {
                ""
            }
        ),
    })
}

/// The local copy of a split's Hub file: from the hub cache, else downloaded (unless offline
/// or not allowed), with whether it came from the cache; `None` after noting in `looked`
/// why neither worked.
fn hub_file(
    hd: &HubDataset,
    split: Split,
    opts: &LoadOptions,
    looked: &mut Vec<String>,
) -> Result<Option<(PathBuf, bool)>> {
    if let Some(path) = hub::cached(hd, split, &opts.hub)? {
        return Ok(Some((path, true)));
    }
    looked.push(format!(
        "Hugging Face Hub cache{}: no {}@{} {}",
        opts.hub
            .cache_dir
            .as_ref()
            .map(|d| format!(" {}", d.display()))
            .unwrap_or_default(),
        hd.repo,
        opts.hub.revision,
        hd.file(split)
    ));
    if opts.hub.offline || !opts.allow_download {
        looked.push(if opts.hub.offline {
            "download skipped: HF_HUB_OFFLINE is set".to_string()
        } else {
            "download not allowed here".to_string()
        });
        return Ok(None);
    }
    match hub::fetch(hd, split, &opts.hub) {
        Ok(path) => Ok(Some((path, false))),
        Err(e) => {
            looked.push(format!("download: {e}"));
            Ok(None)
        }
    }
}

/// Loads a split of a table on the Hub: its file (or train and test files) from the hub
/// cache or a download, as for the image datasets, read by [`hub::load_table`].
fn load_hub_table(
    id: &DatasetId,
    table: &HubTable,
    split: Split,
    opts: &LoadOptions,
) -> Result<Dataset> {
    let hd = table.dataset();
    let mut looked = vec![];
    let name = id.to_string();
    if let Some((train, train_cached)) = hub_file(&hd, Split::Train, opts, &mut looked)? {
        if hd.one_file() {
            return hub::load_table(&name, split, &train, None, &hd, &opts.hub, train_cached);
        }
        if let Some((test, test_cached)) = hub_file(&hd, Split::Test, opts, &mut looked)? {
            let from_cache = train_cached && test_cached;
            return hub::load_table(
                &name,
                split,
                &train,
                Some(&test),
                &hd,
                &opts.hub,
                from_cache,
            );
        }
    }
    Err(DataError::NotFound {
        dataset: name,
        split: split.to_string(),
        looked,
        hint: format!(
            "check the repository and file names: a table on the Hub is one parquet file \
             (`tabular:hub:OWNER/NAME/PATH.parquet`, test split held out) or a train and a test \
             file (`.../PATH-{{split}}.parquet`; without a path, `{}`); then run `emc data fetch \
             {id}` on a machine with internet access (fills the hub cache)",
            hub::DEFAULT_TABLE_FILES
        ),
    })
}
