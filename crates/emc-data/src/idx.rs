//! MNIST-family IDX files (MNIST, Fashion-MNIST), gzipped or plain.
//!
//! Format: a big-endian header — magic `0x00000803` then N, rows, cols for images;
//! magic `0x00000801` then N for labels — followed by one byte per value.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::dataset::{
    read_with_digest, Dataset, FileDigest, ImageShape, Metadata, Origin, Pixels, Split,
};
use crate::error::{DataError, Result};

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

/// Reads a file, gunzipping it when it starts with the gzip magic bytes.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<(Vec<u8>, FileDigest)> {
    let (raw, digest) = read_with_digest(path)?;
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|source| DataError::Gzip {
                path: path.to_path_buf(),
                source,
            })?;
        Ok((out, digest))
    } else {
        Ok((raw, digest))
    }
}

fn be_u32(path: &Path, bytes: &[u8], at: usize, what: &str) -> Result<u32> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| DataError::Truncated {
            path: path.to_path_buf(),
            what: format!("IDX header field `{what}`"),
            expected: (at + 4) as u64,
            found: bytes.len() as u64,
        })
}

/// Checks the magic number, reads the `dims` dimensions and checks that the file holds
/// exactly their product of bytes after the header. Returns the dimensions.
fn parse_header(
    path: &Path,
    bytes: &[u8],
    magic: u32,
    what: &'static str,
    dims: usize,
) -> Result<Vec<usize>> {
    let found = be_u32(path, bytes, 0, "magic")?;
    if found != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            what,
            expected: magic,
            found,
        });
    }
    let names = ["count", "rows", "cols"];
    let sizes = (0..dims)
        .map(|d| Ok(be_u32(path, bytes, 4 + 4 * d, names[d])? as usize))
        .collect::<Result<Vec<usize>>>()?;
    let header = 4 + 4 * dims;
    let expected = sizes
        .iter()
        .try_fold(1usize, |acc, &s| acc.checked_mul(s))
        .and_then(|body| body.checked_add(header));
    let says = sizes
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(" x ");
    let Some(expected) = expected else {
        return Err(DataError::format(
            path,
            "IDX header",
            format!(
                "sizes {says} multiply to more bytes than can be addressed; expected sizes \
                 whose product is the file's {} bytes after the header",
                bytes.len().saturating_sub(header)
            ),
        ));
    };
    if bytes.len() != expected {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            what: format!("IDX header says {says}"),
            expected: expected as u64,
            found: bytes.len() as u64,
        });
    }
    Ok(sizes)
}

/// Parsed IDX image file: `(count, rows, cols, bytes)`.
pub(crate) fn parse_images(path: &Path, bytes: &[u8]) -> Result<(usize, usize, usize, Vec<u8>)> {
    let d = parse_header(
        path,
        bytes,
        IMAGES_MAGIC,
        "IDX3 image file (ubyte, 3 dimensions)",
        3,
    )?;
    Ok((d[0], d[1], d[2], bytes[16..].to_vec()))
}

/// Parsed IDX label file.
pub(crate) fn parse_labels(path: &Path, bytes: &[u8], classes: usize) -> Result<Vec<u32>> {
    parse_header(
        path,
        bytes,
        LABELS_MAGIC,
        "IDX1 label file (ubyte, 1 dimension)",
        1,
    )?;
    bytes[8..]
        .iter()
        .enumerate()
        .map(|(index, &l)| {
            if (l as usize) < classes {
                Ok(l as u32)
            } else {
                Err(DataError::LabelOutOfRange {
                    path: path.to_path_buf(),
                    index,
                    label: l as i64,
                    classes,
                })
            }
        })
        .collect()
}

/// The file stems of a split: `(images, labels)`.
fn stems(split: Split) -> (&'static str, &'static str) {
    match split {
        Split::Train => ("train-images", "train-labels"),
        Split::Test => ("t10k-images", "t10k-labels"),
    }
}

/// Finds the image and label files of a split in `dir`, accepting the official names
/// (`train-images-idx3-ubyte`), the dotted variant (`train-images.idx3-ubyte`), each
/// optionally gzipped. Returns `None` when either is missing. A name that exists but is
/// not a file (a directory) is returned when no candidate is a file, so that loading it
/// says what it is rather than "not found".
pub fn find_files(dir: &Path, split: Split) -> Option<(PathBuf, PathBuf)> {
    let (img, lab) = stems(split);
    let find = |stem: &str, dims: &str| {
        let candidates: Vec<PathBuf> = [
            format!("{stem}-{dims}-ubyte.gz"),
            format!("{stem}-{dims}-ubyte"),
            format!("{stem}.{dims}-ubyte.gz"),
            format!("{stem}.{dims}-ubyte"),
        ]
        .into_iter()
        .map(|name| dir.join(name))
        .collect();
        let file = candidates.iter().find(|p| p.is_file());
        file.or_else(|| candidates.iter().find(|p| p.exists()))
            .cloned()
    };
    Some((find(img, "idx3")?, find(lab, "idx1")?))
}

/// The names a split's files are looked for under (for error messages).
pub fn expected_names(split: Split) -> String {
    let (img, lab) = stems(split);
    format!("{img}-idx3-ubyte[.gz] and {lab}-idx1-ubyte[.gz]")
}

/// Loads an IDX image/label pair into a [`Dataset`].
///
/// # Errors
/// Wrong magic number, truncated file, corrupt gzip, count mismatch, a label not below
/// `class_names.len()`, or files that hold no usable dataset ([`Dataset::check_usable`]).
pub fn load_idx_pair(
    name: &str,
    split: Split,
    images: &Path,
    labels: &Path,
    class_names: &[&str],
) -> Result<Dataset> {
    let (img_bytes, img_digest) = read_maybe_gz(images)?;
    let (n, rows, cols, pixels) = parse_images(images, &img_bytes)?;
    drop(img_bytes);
    let (lab_bytes, lab_digest) = read_maybe_gz(labels)?;
    let labels_v = parse_labels(labels, &lab_bytes, class_names.len())?;
    if labels_v.len() != n {
        return Err(DataError::CountMismatch {
            images_path: images.to_path_buf(),
            labels_path: labels.to_path_buf(),
            images: n,
            labels: labels_v.len(),
        });
    }
    let dir = images.parent().unwrap_or(Path::new(".")).to_path_buf();
    let ds = Dataset::new(
        Pixels::U8(pixels),
        labels_v,
        ImageShape {
            channels: 1,
            height: rows,
            width: cols,
        },
        class_names.iter().map(|s| s.to_string()).collect(),
        Metadata {
            name: name.to_string(),
            split,
            origin: Origin::Directory { path: dir },
            files: vec![img_digest, lab_digest],
            variants: vec![],
        },
    )?;
    ds.check_usable()?;
    Ok(ds)
}
