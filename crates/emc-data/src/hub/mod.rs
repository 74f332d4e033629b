//! The Hugging Face Hub source: the parquet conversions of MNIST, Fashion-MNIST, CIFAR-10
//! and CIFAR-100, decoded from their PNG bytes into planar `[C, H, W]` images, and parquet
//! tables a user names (`tabular:hub:OWNER/NAME[/PATH.parquet][#LABEL]`, see [`HubTable`]),
//! read like tabular CSV files. Both are found in or downloaded into the standard hub cache
//! through `hf-hub`, by the same functions ([`cached`], [`fetch`]).
//!
//! The cache layout is hf-hub's (and Python `huggingface_hub`'s):
//! `<cache>/datasets--<owner>--<name>/{refs/<revision>, snapshots/<commit>/<file>, blobs/<etag>}`.
//! A blob whose ETag is a SHA-256 (every LFS file, so every parquet file) is checked against
//! it whenever it is read.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use hf_hub::{HFClient, HFClientSync, HFError};
use sha2::{Digest, Sha256};

use crate::dataset::{FileDigest, Split};
use crate::error::{DataError, Result};

mod read;
pub use read::{load_parquet, load_table};

/// The public Hub, used when neither [`HubOptions::endpoint`] nor `HF_ENDPOINT` is set.
const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// How to reach the Hub. [`HubOptions::from_env`] reads the variables the Hugging Face tools
/// read: `HF_ENDPOINT`, `HF_HUB_CACHE`, `HF_HUB_OFFLINE`. The token is left to hf-hub, which
/// reads `HF_TOKEN` or the token file written by `huggingface-cli login`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubOptions {
    /// Hub base address; `None` means `HF_ENDPOINT` or `https://huggingface.co`.
    pub endpoint: Option<String>,
    /// Cache directory; `None` means hf-hub's default (`HF_HUB_CACHE`,
    /// `HUGGINGFACE_HUB_CACHE`, `HF_HOME/hub`, `XDG_CACHE_HOME/huggingface/hub`,
    /// `~/.cache/huggingface/hub`).
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
    pub repo: String,
    /// Path of the train split's parquet file inside the repository.
    pub train_file: String,
    /// Path of the test split's parquet file inside the repository; the same as
    /// `train_file` for a table held in one file, whose test split is a seeded holdout.
    pub test_file: String,
    /// What the files hold.
    pub content: HubContent,
}

/// What the parquet files of a [`HubDataset`] hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubContent {
    /// Encoded images and an integer label (the built-in image datasets).
    Images(HubImages),
    /// A table: numeric feature columns and a label column (see [`crate::tabular`]).
    Table {
        /// The label column; `None`: the column named `label`, else the last column.
        label_column: Option<String>,
    },
}

/// The columns and geometry of an image dataset's parquet files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubImages {
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

    /// Whether both splits are read from one file (a table whose test split is the seeded
    /// holdout of [`crate::tabular`]).
    pub fn one_file(&self) -> bool {
        self.train_file == self.test_file
    }

    fn error(&self, split: Split, message: impl Into<String>) -> DataError {
        DataError::Hub {
            repo: self.repo.clone(),
            file: self.file(split).to_string(),
            message: message.into(),
        }
    }
}

/// What a user's name of a Hub table starts with, after `tabular:`.
pub const HUB_TABLE_PREFIX: &str = "hub:";

/// Stands for `train` and `test` in a [`HubTable`] file path.
pub const SPLIT_PLACEHOLDER: &str = "{split}";

/// The files of a [`HubTable`] named without a path: the layout `datasets`'
/// `push_to_hub` writes for a train and a test split.
pub const DEFAULT_TABLE_FILES: &str = "data/{split}-00000-of-00001.parquet";

/// The form of a Hub table's name, for messages.
const HUB_TABLE_FORM: &str = "tabular:hub:OWNER/NAME[/PATH.parquet][#LABEL]";

/// A parquet table in a Hub dataset repository, as a user names it after `tabular:`:
/// `hub:OWNER/NAME[/PATH.parquet][#LABEL]`.
///
/// - `PATH` containing [`SPLIT_PLACEHOLDER`] names a train and a test file (`{split}`
///   replaced by `train` and `test`); without it, one file whose test split is the seeded
///   stratified holdout every table gets (see [`crate::tabular`]); no `PATH` means
///   [`DEFAULT_TABLE_FILES`].
/// - `LABEL` names the label column; without it, the column named `label`, else the last.
///
/// ```
/// use emc_data::hub::HubTable;
/// let t: HubTable = "hub:me/wine/wine.parquet#target".parse().unwrap();
/// assert_eq!(t.dataset().train_file, "wine.parquet");
/// assert!(t.dataset().one_file());
/// assert_eq!(t.to_string(), "hub:me/wine/wine.parquet#target");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HubTable {
    /// `owner/name` of the dataset repository.
    pub repo: String,
    /// The file path inside the repository, as named (`None`: [`DEFAULT_TABLE_FILES`]).
    pub file: Option<String>,
    /// The label column, as named (`None`: `label`, else the last column).
    pub label: Option<String>,
}

impl HubTable {
    /// The repository, files and label column to read.
    pub fn dataset(&self) -> HubDataset {
        let file = self.file.as_deref().unwrap_or(DEFAULT_TABLE_FILES);
        HubDataset {
            repo: self.repo.clone(),
            train_file: file.replace(SPLIT_PLACEHOLDER, "train"),
            test_file: file.replace(SPLIT_PLACEHOLDER, "test"),
            content: HubContent::Table {
                label_column: self.label.clone(),
            },
        }
    }
}

impl FromStr for HubTable {
    type Err = DataError;
    /// Parses `hub:OWNER/NAME[/PATH.parquet][#LABEL]`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| DataError::UnknownDataset {
            name: format!("tabular:{s}"),
            expected: format!("{HUB_TABLE_FORM} ({why})"),
        };
        let rest = s
            .strip_prefix(HUB_TABLE_PREFIX)
            .ok_or_else(|| bad("no `hub:` after `tabular:`"))?;
        let (location, label) = match rest.split_once('#') {
            Some((_, "")) => return Err(bad("nothing after `#`, where the label column goes")),
            Some((l, label)) => (l, Some(label.to_string())),
            None => (rest, None),
        };
        let mut parts = location.splitn(3, '/');
        let (owner, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let valid = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        if !valid(owner) || !valid(name) {
            return Err(bad(
                "the repository is OWNER/NAME, each made of letters, digits, `-`, `_` and `.`",
            ));
        }
        let file = match parts.next() {
            None => None,
            Some(path) => {
                if path.split('/').any(|seg| seg.is_empty() || seg == "..") {
                    return Err(bad("an empty or `..` segment in the file path"));
                }
                if !path.ends_with(".parquet") {
                    return Err(bad(
                        "the file is a `.parquet` file, one per split or one for both",
                    ));
                }
                Some(path.to_string())
            }
        };
        Ok(HubTable {
            repo: format!("{owner}/{name}"),
            file,
            label,
        })
    }
}

impl fmt::Display for HubTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{HUB_TABLE_PREFIX}{}", self.repo)?;
        if let Some(file) = &self.file {
            write!(f, "/{file}")?;
        }
        if let Some(label) = &self.label {
            write!(f, "#{label}")?;
        }
        Ok(())
    }
}

impl HubOptions {
    /// Options from the environment: `HF_ENDPOINT` (else `None`), `HF_HUB_CACHE` (else
    /// `None`, hf-hub's default), `HF_HUB_OFFLINE` (`1`, `true`, `yes` or `on`, any case),
    /// revision `main`.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        HubOptions {
            endpoint: var("HF_ENDPOINT"),
            cache_dir: var("HF_HUB_CACHE").map(PathBuf::from),
            offline: var("HF_HUB_OFFLINE").is_some_and(|v| truthy(&v)),
            revision: "main".to_string(),
        }
    }

    /// The hf-hub client for these options. `network: false` pins the (unused) endpoint so
    /// that a malformed `HF_ENDPOINT` cannot break cache look-ups.
    fn client(&self, network: bool) -> std::result::Result<(HFClientSync, PathBuf), HFError> {
        let mut builder = HFClient::builder();
        match (&self.endpoint, network) {
            (Some(e), true) => builder = builder.endpoint(e.clone()),
            (None, true) => {}
            (_, false) => builder = builder.endpoint(DEFAULT_ENDPOINT),
        }
        if let Some(dir) = &self.cache_dir {
            builder = builder.cache_dir(dir.clone());
        }
        let client = builder.build()?;
        let cache_dir = client.cache_dir().to_path_buf();
        Ok((HFClientSync::from_inner(client)?, cache_dir))
    }

    fn endpoint_name(&self) -> String {
        self.endpoint
            .clone()
            .or_else(|| std::env::var("HF_ENDPOINT").ok())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
    }
}

/// The split's parquet file from the local hub cache, without any network access;
/// `Ok(None)` when it is not cached.
///
/// # Errors
/// [`DataError::Hub`] when the cache cannot be read.
pub fn cached(ds: &HubDataset, split: Split, opts: &HubOptions) -> Result<Option<PathBuf>> {
    let (client, _) = opts
        .client(false)
        .map_err(|e| ds.error(split, format!("cannot set up the hub client: {e}")))?;
    let (owner, name) = hf_hub::split_id(&ds.repo);
    let found = client
        .dataset(owner, name)
        .download_file()
        .filename(ds.file(split))
        .revision(opts.revision.clone())
        .local_files_only(true)
        .send();
    match found {
        Ok(path) => Ok(Some(path)),
        // `EntryNotFound` here means a cached "does not exist" marker: not usable either.
        Err(HFError::LocalEntryNotFound { .. } | HFError::EntryNotFound { .. }) => Ok(None),
        Err(e) => Err(ds.error(split, format!("cannot read the hub cache: {e}"))),
    }
}

/// Downloads the split's parquet file into the hub cache (or finds it there) and returns
/// its local path. With `opts.offline` only the cache is consulted.
///
/// # Errors
/// [`DataError::Hub`] saying what failed (offline and not cached, repository or file not
/// found, authentication, network) and what to do about it; also when the downloaded bytes
/// do not match the Hub's SHA-256 ETag (the bad copy is removed from the cache).
pub fn fetch(ds: &HubDataset, split: Split, opts: &HubOptions) -> Result<PathBuf> {
    if opts.offline {
        return cached(ds, split, opts)?.ok_or_else(|| {
            ds.error(
                split,
                format!(
                    "not in the hub cache{} at revision {} and HF_HUB_OFFLINE is set; unset it \
                     (or run `emc data fetch` on a machine with internet access) to download",
                    opts.cache_dir
                        .as_ref()
                        .map(|d| format!(" {}", d.display()))
                        .unwrap_or_default(),
                    opts.revision
                ),
            )
        });
    }
    let (client, cache_dir) = opts
        .client(true)
        .map_err(|e| ds.error(split, format!("cannot set up the hub client: {e}")))?;
    let (owner, name) = hf_hub::split_id(&ds.repo);
    let path = client
        .dataset(owner, name)
        .download_file()
        .filename(ds.file(split))
        .revision(opts.revision.clone())
        .send()
        .map_err(|e| ds.error(split, describe(&e, opts, &cache_dir)))?;
    if let Some((blob, expected)) = lfs_blob(&path) {
        let digest = digest_file(&path)?;
        if digest.sha256 != expected {
            // hf-hub does not check the download against the ETag: a failed transfer would
            // otherwise sit in the cache for good.
            let _ = std::fs::remove_file(&blob);
            let _ = std::fs::remove_file(&path);
            return Err(ds.error(
                split,
                format!(
                    "downloaded {} bytes with SHA-256 {}, but the Hub's ETag is {expected}; \
                     removed the bad copy from the cache, try again",
                    digest.bytes, digest.sha256
                ),
            ));
        }
    }
    Ok(path)
}

/// Whether an environment value means "on" (`1`, `true`, `yes`, `on`, any case).
fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// A user-facing account of a download failure, with the fix where there is one.
fn describe(e: &HFError, opts: &HubOptions, cache_dir: &Path) -> String {
    let at = format!("{} (revision {})", opts.endpoint_name(), opts.revision);
    match e {
        HFError::RepoNotFound { .. } => format!(
            "repository not found at {at}; if it is gated or private, set HF_TOKEN or run \
             `huggingface-cli login`"
        ),
        HFError::EntryNotFound { .. } => format!("file not found at {at}"),
        HFError::RevisionNotFound { .. } => format!("revision not found at {at}"),
        HFError::AuthRequired { .. } | HFError::Forbidden { .. } => format!(
            "{e}; set HF_TOKEN (or run `huggingface-cli login`) with access to the repository"
        ),
        HFError::Request { .. } => format!(
            "cannot reach {at}: {e}. Check the network, point HF_ENDPOINT at a reachable \
             mirror, or fill the cache elsewhere and set HF_HUB_OFFLINE=1"
        ),
        HFError::Io(_) | HFError::CacheLockTimeout { .. } => {
            format!("cannot write the hub cache {}: {e}", cache_dir.display())
        }
        _ => format!("download from {at} failed: {e}"),
    }
}

/// For a hub-cache pointer (`snapshots/<commit>/<file>` → `blobs/<etag>`) whose ETag is a
/// SHA-256, the blob's path and that hash.
fn lfs_blob(path: &Path) -> Option<(PathBuf, String)> {
    let target = std::fs::read_link(path).ok()?;
    let etag = target.file_name()?.to_str()?;
    if etag.len() != 64 || !etag.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let blob = path.parent().map_or(target.clone(), |p| p.join(&target));
    Some((blob, etag.to_ascii_lowercase()))
}

/// Size and SHA-256 of a file, read in chunks (same digest as the other loaders record).
fn digest_file(path: &Path) -> Result<FileDigest> {
    let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(FileDigest {
        path: path.to_path_buf(),
        bytes,
        sha256,
    })
}

/// Size and SHA-256 of a split's local file, checked against the SHA-256 ETag of the
/// cache blob it points to (when it is such a pointer).
///
/// # Errors
/// [`DataError::Hub`] when the blob does not match its ETag (the message says which file to
/// delete); [`DataError::Io`] when the file cannot be read.
pub(super) fn verified_digest(ds: &HubDataset, split: Split, path: &Path) -> Result<FileDigest> {
    let digest = digest_file(path)?;
    if let Some((blob, expected)) = lfs_blob(path) {
        if digest.sha256 != expected {
            return Err(ds.error(
                split,
                format!(
                    "cached copy {} has SHA-256 {}, but its ETag is {expected}; delete {} and \
                     fetch it again",
                    path.display(),
                    digest.sha256,
                    blob.display()
                ),
            ));
        }
    }
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_values() {
        for (v, want) in [
            ("1", true),
            ("TRUE", true),
            (" On", true),
            ("yes", true),
            ("0", false),
            ("no", false),
            ("", false),
        ] {
            assert_eq!(truthy(v), want, "{v:?}");
        }
    }

    #[test]
    fn lfs_blob_needs_a_sha256_link() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.parquet");
        std::fs::write(&plain, b"x").unwrap();
        assert!(lfs_blob(&plain).is_none());
    }
}
