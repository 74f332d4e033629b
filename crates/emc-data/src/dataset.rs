//! The in-memory [`Dataset`]: images `[N, C, H, W]`, labels, class names and the metadata
//! that says where the data came from and what was done to it.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// Which split of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The training split.
    Train,
    /// The test (or validation) split.
    Test,
}

impl Split {
    /// `"train"` or `"test"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "train" => Ok(Split::Train),
            "test" | "val" | "validation" => Ok(Split::Test),
            _ => Err(format!("unknown split `{s}`, expected `train` or `test`")),
        }
    }
}

/// Image geometry: channels, height, width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageShape {
    /// Channels (1 for grey, 3 for RGB).
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
}

impl ImageShape {
    /// Values per image: `channels * height * width`.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Whether an image holds no value at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pixels per channel plane: `height * width`.
    pub fn plane(&self) -> usize {
        self.height * self.width
    }
}

impl fmt::Display for ImageShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}x{}", self.channels, self.height, self.width)
    }
}

/// Pixel storage, row-major `[N, C, H, W]`, on the 0..=255 scale.
///
/// Real images are `U8`. Variants that produce values between integers (area resizing,
/// grayscale, Gaussian random inputs) switch to `F32` rather than round, so their
/// statistics stay exactly as stated.
#[derive(Debug, Clone, PartialEq)]
pub enum Pixels {
    /// Bytes as read from the files.
    U8(Vec<u8>),
    /// Real-valued pixels on the same 0..=255 scale (not clamped).
    F32(Vec<f32>),
}

impl Pixels {
    /// Number of stored values.
    pub fn len(&self) -> usize {
        match self {
            Pixels::U8(v) => v.len(),
            Pixels::F32(v) => v.len(),
        }
    }

    /// Whether no value is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i` as `f32` (0..=255 scale).
    #[inline]
    pub fn get(&self, i: usize) -> f32 {
        match self {
            Pixels::U8(v) => v[i] as f32,
            Pixels::F32(v) => v[i],
        }
    }

    /// All values as `f32` (0..=255 scale).
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            Pixels::U8(v) => v.iter().map(|&x| x as f32).collect(),
            Pixels::F32(v) => v.clone(),
        }
    }

    /// Values rounded and clamped to bytes (for previews).
    pub fn to_u8_clamped(&self) -> Vec<u8> {
        match self {
            Pixels::U8(v) => v.clone(),
            Pixels::F32(v) => v
                .iter()
                .map(|&x| x.round().clamp(0.0, 255.0) as u8)
                .collect(),
        }
    }

    /// The values of the given images (each `image_len` long), in the given order.
    pub(crate) fn gather(&self, indices: &[usize], image_len: usize) -> Pixels {
        fn pick<T: Copy>(v: &[T], indices: &[usize], len: usize) -> Vec<T> {
            let mut out = Vec::with_capacity(indices.len() * len);
            for &i in indices {
                out.extend_from_slice(&v[i * len..(i + 1) * len]);
            }
            out
        }
        match self {
            Pixels::U8(v) => Pixels::U8(pick(v, indices, image_len)),
            Pixels::F32(v) => Pixels::F32(pick(v, indices, image_len)),
        }
    }
}

/// A file read to build a dataset, with its content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Where the file was read from.
    pub path: PathBuf,
    /// Its size in bytes (as stored, before decompression).
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the stored bytes.
    pub sha256: String,
}

/// Where a dataset came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Origin {
    /// Canonical files in a local directory.
    Directory {
        /// The directory.
        path: PathBuf,
    },
    /// Parquet files of a Hugging Face Hub dataset repository.
    Hub {
        /// `owner/name`.
        repo: String,
        /// The revision asked for.
        revision: String,
        /// Whether the files came from the local cache without a download.
        from_cache: bool,
    },
    /// Built in memory (tests, synthetic data).
    Generated {
        /// What generated it.
        description: String,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Directory { path } => write!(f, "directory {}", path.display()),
            Origin::Hub {
                repo,
                revision,
                from_cache,
            } => write!(
                f,
                "Hugging Face Hub {repo}@{revision}{}",
                if *from_cache { " (cache)" } else { "" }
            ),
            Origin::Generated { description } => write!(f, "generated: {description}"),
        }
    }
}

/// One variant applied to a dataset, as recorded in its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedVariant {
    /// The variant in its textual form (see [`crate::Variant`]).
    pub spec: String,
    /// The seed it was drawn with, when it is random.
    pub seed: Option<u64>,
}

/// Provenance of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Dataset name, e.g. `mnist`.
    pub name: String,
    /// The split.
    pub split: Split,
    /// Where it was read from.
    pub origin: Origin,
    /// Every file read, with its SHA-256.
    pub files: Vec<FileDigest>,
    /// Variants applied, in order.
    pub variants: Vec<AppliedVariant>,
}

/// An in-memory image classification dataset.
///
/// Invariants (checked by [`Dataset::new`]): `pixels.len() == labels.len() * shape.len()`
/// and every label is below `class_names.len()`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pixels: Pixels,
    labels: Vec<u32>,
    shape: ImageShape,
    class_names: Vec<String>,
    meta: Metadata,
}

impl Dataset {
    /// Builds a dataset, checking sizes and label ranges.
    pub fn new(
        pixels: Pixels,
        labels: Vec<u32>,
        shape: ImageShape,
        class_names: Vec<String>,
        meta: Metadata,
    ) -> Result<Self> {
        let origin = origin_path(&meta);
        let expected = labels.len().checked_mul(shape.len());
        if expected != Some(pixels.len()) {
            return Err(DataError::Truncated {
                path: origin,
                what: format!("{} labels of {shape} images", labels.len()),
                expected: expected.map_or(u64::MAX, |e| e as u64),
                found: pixels.len() as u64,
            });
        }
        if class_names.is_empty() {
            return Err(DataError::format(
                origin,
                "class_names",
                "no class; expected at least one",
            ));
        }
        if let Some((index, &label)) = labels
            .iter()
            .enumerate()
            .find(|(_, &l)| l as usize >= class_names.len())
        {
            return Err(DataError::LabelOutOfRange {
                path: origin,
                index,
                label: label as i64,
                classes: class_names.len(),
            });
        }
        Ok(Dataset {
            pixels,
            labels,
            shape,
            class_names,
            meta,
        })
    }

    /// Checks that the dataset can be learned from: at least one sample, every image
    /// dimension at least 1, and at least two classes present among the labels. Every
    /// loader calls it on what it read, so files that parse but hold nothing (an IDX
    /// header saying 0 images or 0 rows, a folder with one class) are refused before any
    /// training; the search calls it again on a training split after its variants.
    ///
    /// # Errors
    /// [`DataError::Degenerate`], naming the dataset, its files and what was found.
    pub fn check_usable(&self) -> Result<()> {
        let degenerate = |problem: String, expected: &'static str| {
            let variants = if self.meta.variants.is_empty() {
                String::new()
            } else {
                let specs: Vec<&str> = self.meta.variants.iter().map(|v| v.spec.as_str()).collect();
                format!(" after the variants {}", specs.join(" "))
            };
            let files = if self.meta.files.is_empty() {
                vec![origin_path(&self.meta)]
            } else {
                self.meta.files.iter().map(|f| f.path.clone()).collect()
            };
            Err(DataError::Degenerate {
                dataset: self.meta.name.clone(),
                split: self.meta.split,
                files,
                problem: format!("{problem}{variants}"),
                expected,
            })
        };
        if self.is_empty() {
            return degenerate(
                "0 samples".into(),
                "at least one sample (an image count of 0 in a file header, or an empty file)",
            );
        }
        let s = self.shape;
        if s.channels == 0 || s.height == 0 || s.width == 0 {
            return degenerate(
                format!("images of {s} (channels x height x width)"),
                "every image dimension to be at least 1",
            );
        }
        let present: Vec<usize> = self
            .label_histogram()
            .iter()
            .enumerate()
            .filter(|(_, &count)| count > 0)
            .map(|(class, _)| class)
            .collect();
        if present.len() < 2 {
            let class = present[0];
            let name = &self.class_names[class];
            let problem = if self.num_classes() == 1 {
                format!("a single class (`{name}`)")
            } else {
                format!(
                    "every one of the {} samples has label {class} (`{name}`), so only 1 of \
                     its {} classes is present",
                    self.len(),
                    self.num_classes()
                )
            };
            return degenerate(problem, "at least 2 classes present among the labels");
        }
        Ok(())
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the dataset holds no sample.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image geometry.
    pub fn shape(&self) -> ImageShape {
        self.shape
    }

    /// Pixel values, `[N, C, H, W]` on the 0..=255 scale.
    pub fn pixels(&self) -> &Pixels {
        &self.pixels
    }

    /// Labels, one per sample, each below [`Dataset::num_classes`].
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// Class names; the label `k` means `class_names()[k]`.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// Provenance.
    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    /// Number of samples per class.
    pub fn label_histogram(&self) -> Vec<usize> {
        let mut h = vec![0; self.num_classes()];
        for &l in &self.labels {
            h[l as usize] += 1;
        }
        h
    }

    /// The values of image `i` as `f32` (0..=255 scale), `[C, H, W]`.
    pub fn image_f32(&self, i: usize) -> Vec<f32> {
        let len = self.shape.len();
        (i * len..(i + 1) * len)
            .map(|j| self.pixels.get(j))
            .collect()
    }

    /// Per-channel mean and standard deviation of the pixels, on the 0..=255 scale.
    pub fn channel_stats(&self) -> Vec<(f64, f64)> {
        let c = self.shape.channels;
        let plane = self.shape.plane();
        let mut sum = vec![0f64; c];
        let mut sq = vec![0f64; c];
        for i in 0..self.len() {
            for (ch, (s, q)) in sum.iter_mut().zip(sq.iter_mut()).enumerate() {
                let start = (i * c + ch) * plane;
                let (mut ls, mut lq) = (0f64, 0f64);
                for j in start..start + plane {
                    let v = self.pixels.get(j) as f64;
                    ls += v;
                    lq += v * v;
                }
                *s += ls;
                *q += lq;
            }
        }
        let count = (self.len() * plane).max(1) as f64;
        sum.iter()
            .zip(&sq)
            .map(|(s, q)| {
                let mean = s / count;
                (mean, (q / count - mean * mean).max(0.0).sqrt())
            })
            .collect()
    }

    /// The samples at `indices`, in that order (indices may repeat).
    ///
    /// # Errors
    /// When an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Result<Dataset> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(DataError::variant(
                "select",
                format!("index {bad} out of range for {} samples", self.len()),
            ));
        }
        Ok(Dataset {
            pixels: self.pixels.gather(indices, self.shape.len()),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            shape: self.shape,
            class_names: self.class_names.clone(),
            meta: self.meta.clone(),
        })
    }

    /// Appends a variant record to the metadata (used by the variant implementations).
    pub(crate) fn record(mut self, spec: impl Into<String>, seed: Option<u64>) -> Self {
        self.meta.variants.push(AppliedVariant {
            spec: spec.into(),
            seed,
        });
        self
    }

    /// Replaces parts of the dataset, keeping the metadata (used by variants).
    pub(crate) fn into_parts(self) -> (Pixels, Vec<u32>, ImageShape, Vec<String>, Metadata) {
        (
            self.pixels,
            self.labels,
            self.shape,
            self.class_names,
            self.meta,
        )
    }
}

fn origin_path(meta: &Metadata) -> PathBuf {
    match (&meta.origin, meta.files.first()) {
        (_, Some(f)) => f.path.clone(),
        (Origin::Directory { path }, None) => path.clone(),
        (Origin::Hub { repo, .. }, None) => PathBuf::from(repo),
        (Origin::Generated { description }, None) => PathBuf::from(description),
    }
}

/// Reads a whole file and returns its bytes with their digest.
pub(crate) fn read_with_digest(path: &Path) -> Result<(Vec<u8>, FileDigest)> {
    use sha2::{Digest, Sha256};
    if path.is_dir() {
        return Err(DataError::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let sha256 = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let digest = FileDigest {
        path: path.to_path_buf(),
        bytes: bytes.len() as u64,
        sha256,
    };
    Ok((bytes, digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(labels: Vec<u32>, shape: ImageShape, files: Vec<&str>) -> Dataset {
        let meta = Metadata {
            name: "tiny".into(),
            split: Split::Train,
            origin: Origin::Generated {
                description: "unit test".into(),
            },
            files: files
                .into_iter()
                .map(|p| FileDigest {
                    path: p.into(),
                    bytes: 0,
                    sha256: String::new(),
                })
                .collect(),
            variants: vec![],
        };
        let pixels = Pixels::U8(vec![7; labels.len() * shape.len()]);
        Dataset::new(pixels, labels, shape, vec!["a".into(), "b".into()], meta).unwrap()
    }

    const GREY_2X2: ImageShape = ImageShape {
        channels: 1,
        height: 2,
        width: 2,
    };

    #[test]
    fn usable_datasets_pass_and_degenerate_ones_name_files_and_problem() {
        let files = vec!["/d/images", "/d/labels"];
        assert!(dataset(vec![0, 1, 1], GREY_2X2, files.clone())
            .check_usable()
            .is_ok());
        let msg = |ds: Dataset| {
            let err = ds.check_usable().unwrap_err();
            assert!(matches!(err, DataError::Degenerate { .. }), "{err}");
            err.to_string()
        };
        let empty = msg(dataset(vec![], GREY_2X2, files.clone()));
        assert!(
            empty.contains("/d/images, /d/labels") && empty.contains("0 samples"),
            "{empty}"
        );
        for shape in [
            ImageShape {
                channels: 0,
                ..GREY_2X2
            },
            ImageShape {
                height: 0,
                ..GREY_2X2
            },
            ImageShape {
                width: 0,
                ..GREY_2X2
            },
        ] {
            let m = msg(dataset(vec![0, 1], shape, files.clone()));
            assert!(m.contains(&format!("images of {shape}")), "{m}");
            assert!(m.contains("every image dimension"), "{m}");
        }
        let one = msg(dataset(vec![1, 1, 1], GREY_2X2, files.clone()));
        assert!(
            one.contains("label 1 (`b`)") && one.contains("at least 2 classes"),
            "{one}"
        );
        // With no file read, the origin is named instead; variants are named too.
        let generated = dataset(vec![0, 0], GREY_2X2, vec![]).record("classes:1", None);
        let m = msg(generated);
        assert!(
            m.contains("unit test") && m.contains("after the variants classes:1"),
            "{m}"
        );
    }

    #[test]
    fn a_directory_is_not_read_as_a_data_file() {
        let tmp = tempfile::tempdir().unwrap();
        let err = read_with_digest(tmp.path()).unwrap_err();
        assert!(matches!(err, DataError::IsDirectory { .. }), "{err}");
        assert!(err.to_string().contains("is a directory"), "{err}");
    }

    #[test]
    fn a_size_product_that_overflows_is_refused() {
        // The largest image an IDX header can describe; two of them overflow usize.
        let shape = ImageShape {
            channels: 1,
            height: u32::MAX as usize,
            width: u32::MAX as usize,
        };
        let meta = dataset(vec![0, 1], GREY_2X2, vec![]).meta;
        let err = Dataset::new(
            Pixels::U8(vec![]),
            vec![0, 0],
            shape,
            vec!["a".into()],
            meta,
        )
        .unwrap_err();
        assert!(matches!(err, DataError::Truncated { .. }), "{err}");
    }
}
