//! CIFAR-10 and CIFAR-100 binary versions.
//!
//! CIFAR-10 records are 1 label byte + 3072 pixel bytes (1024 R, 1024 G, 1024 B, each plane
//! row-major); CIFAR-100 records are 1 coarse label byte + 1 fine label byte + 3072 pixel
//! bytes. Files may hold any whole number of records (official batches hold 10,000; subset
//! copies such as `data_batch_1.first4000.bin` hold fewer).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset::{
    read_with_digest, Dataset, FileDigest, ImageShape, Metadata, Origin, Pixels, Split,
};
use crate::error::{DataError, Result};
use crate::names;

const PIXELS: usize = 3 * 32 * 32;

/// Which CIFAR-100 label to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cifar100Labels {
    /// The 100 fine classes.
    Fine,
    /// The 20 coarse superclasses.
    Coarse,
}

/// Reads records from one CIFAR binary file. `label_bytes` is 1 (CIFAR-10) or 2
/// (CIFAR-100), `label_at` picks which of them is the label.
fn read_records(
    path: &Path,
    label_bytes: usize,
    label_at: usize,
    classes: usize,
    pixels: &mut Vec<u8>,
    labels: &mut Vec<u32>,
) -> Result<FileDigest> {
    let (bytes, digest) = read_with_digest(path)?;
    let record = label_bytes + PIXELS;
    if bytes.is_empty() || bytes.len() % record != 0 {
        let whole = (bytes.len() / record).max(1);
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            what: format!(
                "a whole number of {record}-byte records ({label_bytes} label byte(s) + 3072 pixels); \
                 {} full records and {} stray bytes",
                bytes.len() / record,
                bytes.len() % record
            ),
            expected: (whole * record) as u64,
            found: bytes.len() as u64,
        });
    }
    let offset = labels.len();
    for (i, rec) in bytes.chunks_exact(record).enumerate() {
        let label = rec[label_at];
        if label as usize >= classes {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                index: i,
                label: label as i64,
                classes,
            });
        }
        labels.push(label as u32);
        pixels.extend_from_slice(&rec[label_bytes..]);
    }
    debug_assert_eq!(labels.len() - offset, bytes.len() / record);
    Ok(digest)
}

/// Reads class names from a text file of one name per line, when it exists and holds
/// exactly `expected.len()` names; the built-in list otherwise.
fn class_names(dir: &Path, file: &str, expected: &[&str]) -> Result<Vec<String>> {
    let path = dir.join(file);
    if !path.is_file() {
        return Ok(expected.iter().map(|s| s.to_string()).collect());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != expected.len() {
        return Err(DataError::format(
            &path,
            "class names",
            format!("{} names, expected {}", names.len(), expected.len()),
        ));
    }
    Ok(names)
}

/// Parses `data_batch_3.bin` or `data_batch_3.first4000.bin` (prefix `data_batch_`) into
/// the batch number; `test_batch.bin` and `test_batch.first1000.bin` into 0.
fn batch_number(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let rest = rest.strip_suffix(".bin")?;
    let (num, tail) = match rest.split_once('.') {
        Some((n, t)) => (n, Some(t)),
        None => (rest, None),
    };
    if let Some(t) = tail {
        let count = t.strip_prefix("first")?;
        if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    if num.is_empty() {
        Some(0)
    } else {
        num.parse().ok()
    }
}

/// The CIFAR-10 batch files of a split found in `dir`, in batch order.
pub fn cifar10_files(dir: &Path, split: Split) -> Result<Vec<PathBuf>> {
    let prefix = match split {
        Split::Train => "data_batch_",
        Split::Test => "test_batch",
    };
    let mut found = vec![];
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(_) => return Ok(vec![]),
    };
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(k) = batch_number(&name, prefix) {
            found.push((k, name, entry.path()));
        }
    }
    found.sort();
    if let Some(w) = found.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(DataError::format(
            dir,
            "batch files",
            format!(
                "both {} and {} hold batch {}; expected one file per batch",
                w[0].1, w[1].1, w[0].0
            ),
        ));
    }
    Ok(found.into_iter().map(|(_, _, p)| p).collect())
}

/// Loads CIFAR-10 batch files into one dataset (records in file order).
///
/// # Errors
/// A file that is not a whole number of records, or a label above 9.
pub fn load_cifar10_files(name: &str, split: Split, files: &[PathBuf]) -> Result<Dataset> {
    let dir = files
        .first()
        .and_then(|p| p.parent())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let names = class_names(&dir, "batches.meta.txt", &names::CIFAR10)?;
    let (mut pixels, mut labels, mut digests) = (vec![], vec![], vec![]);
    for f in files {
        digests.push(read_records(f, 1, 0, 10, &mut pixels, &mut labels)?);
    }
    cifar_dataset(name, split, dir, digests, pixels, labels, names)
}

/// A 3x32x32 dataset read from canonical CIFAR files in `dir`.
fn cifar_dataset(
    name: &str,
    split: Split,
    dir: PathBuf,
    files: Vec<FileDigest>,
    pixels: Vec<u8>,
    labels: Vec<u32>,
    names: Vec<String>,
) -> Result<Dataset> {
    let shape = ImageShape {
        channels: 3,
        height: 32,
        width: 32,
    };
    let meta = Metadata {
        name: name.to_string(),
        split,
        origin: Origin::Directory { path: dir },
        files,
        variants: vec![],
    };
    let ds = Dataset::new(Pixels::U8(pixels), labels, shape, names, meta)?;
    ds.check_usable()?;
    Ok(ds)
}

/// The CIFAR-100 file of a split: `train.bin` or `test.bin`.
pub fn cifar100_file(dir: &Path, split: Split) -> PathBuf {
    dir.join(match split {
        Split::Train => "train.bin",
        Split::Test => "test.bin",
    })
}

/// Loads a CIFAR-100 binary file with the chosen labels.
///
/// # Errors
/// A file that is not a whole number of 3074-byte records, or a label out of range.
pub fn load_cifar100_file(
    name: &str,
    split: Split,
    path: &Path,
    which: Cifar100Labels,
) -> Result<Dataset> {
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let (names, at, file) = match which {
        Cifar100Labels::Fine => (&names::CIFAR100_FINE[..], 1, "fine_label_names.txt"),
        Cifar100Labels::Coarse => (&names::CIFAR100_COARSE[..], 0, "coarse_label_names.txt"),
    };
    let names = class_names(&dir, file, names)?;
    let (mut pixels, mut labels) = (vec![], vec![]);
    let digest = read_records(path, 2, at, names.len(), &mut pixels, &mut labels)?;
    cifar_dataset(name, split, dir, vec![digest], pixels, labels, names)
}

#[cfg(test)]
mod tests {
    use super::batch_number;

    #[test]
    fn batch_file_names() {
        assert_eq!(batch_number("data_batch_1.bin", "data_batch_"), Some(1));
        assert_eq!(
            batch_number("data_batch_1.first4000.bin", "data_batch_"),
            Some(1)
        );
        assert_eq!(batch_number("test_batch.bin", "test_batch"), Some(0));
        assert_eq!(
            batch_number("test_batch.first1000.bin", "test_batch"),
            Some(0)
        );
        assert_eq!(batch_number("data_batch_1.bin.bak", "data_batch_"), None);
        assert_eq!(batch_number("data_batch_x.bin", "data_batch_"), None);
        assert_eq!(batch_number("data_batch_1.last10.bin", "data_batch_"), None);
    }
}
