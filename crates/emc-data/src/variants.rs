//! The paper's data variants as data: [`Variant`], with a text form for the CLI and for
//! result files. Each applies a method on [`Dataset`] (in `transform.rs`) that returns a new
//! dataset, is deterministic given its seed, composes with the others, and appends itself
//! to the dataset's metadata.
//!
//! Every random variant draws from its own ChaCha8 stream (seeded by the seed, stream
//! chosen by the variant), so two variants applied with one seed are independent, and a
//! variant drawn over the whole split gives each sample the same draw in every subset.

use std::fmt;
use std::str::FromStr;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, ImageShape};
use crate::error::{DataError, Result};

/// Random streams, one per variant, so that variants seeded alike do not correlate.
pub(crate) mod stream {
    pub const ORDER: u64 = 1;
    pub const RANDOM_LABELS: u64 = 2;
    pub const LABEL_NOISE: u64 = 3;
    pub const GAUSSIAN: u64 = 4;
    pub const UNIFORM: u64 = 5;
    pub const SHUFFLED: u64 = 6;
}

pub(crate) fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// Replacement inputs that carry no information about the labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RandomInputs {
    /// i.i.d. Gaussian values with the dataset's per-channel mean and standard deviation
    /// (real-valued, not clamped to 0..=255).
    Gaussian,
    /// i.i.d. uniform values on [0, 255] (real-valued).
    Uniform,
    /// The real images with one fixed, seeded permutation of pixel positions, the same for
    /// every image and every channel.
    ShuffledPixels,
}

/// Which classes to keep.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClassSelection {
    /// Classes `0..k`.
    First(usize),
    /// These classes, in this order; class `list[i]` becomes label `i`.
    List(Vec<usize>),
}

/// A data variant, as data. Text forms (for `--variant` and result files):
///
/// | text | variant |
/// |---|---|
/// | `subset:N`, `subset-balanced:N` | the first N of the seeded (class-balanced) order |
/// | `random-labels` | labels uniform over the K classes, drawn once per sample |
/// | `random-labels:K` | labels uniform over K classes (any K ≥ 2), drawn once per sample |
/// | `merge-classes:K` | label c becomes c mod K (K ≥ 2 and below the class count) |
/// | `noise:P` | a fraction P of labels replaced by a different class |
/// | `gaussian-inputs`, `uniform-inputs`, `shuffled-pixels` | [`RandomInputs`] |
/// | `classes:K`, `classes:A,B,C` | [`ClassSelection`] |
/// | `resize:S`, `resize:HxW` | area-averaging resize |
/// | `grayscale` | ITU-R 601 luma |
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Variant {
    /// A nested subset: the first `n` samples of a seeded order.
    Subset {
        /// Number of samples.
        n: usize,
        /// Whether the order is class-balanced (every prefix as balanced as possible).
        balanced: bool,
    },
    /// Uniformly random labels.
    RandomLabels,
    /// Labels drawn uniformly over `k` classes (`0..k`), whatever the dataset's classes: the
    /// same samples under k-way random labels (with `k` = the dataset's class count, the
    /// labels of [`Variant::RandomLabels`] with the same seed).
    RandomLabelsOver(usize),
    /// Real labels merged into `k` classes: label `c` becomes `c mod k`, on every sample
    /// (the same samples under a coarser labelling that is still a function of the class).
    MergeClasses(usize),
    /// Partial label noise.
    LabelNoise {
        /// Fraction of samples whose label is replaced, in [0, 1].
        fraction: f64,
    },
    /// Random inputs.
    RandomInputs(RandomInputs),
    /// A class subset, relabelled `0..k`.
    Classes(ClassSelection),
    /// Resize every image (area averaging).
    Resize {
        /// Output height.
        height: usize,
        /// Output width.
        width: usize,
    },
    /// Convert RGB to one grey channel.
    Grayscale,
}

impl Variant {
    /// Applies the variant; `seed` is used by the random ones.
    ///
    /// # Errors
    /// When the variant does not fit the dataset (too few samples, unknown class, ...).
    pub fn apply(&self, ds: Dataset, seed: u64) -> Result<Dataset> {
        match self {
            Variant::Subset { n, balanced } => ds.nested_subset(*n, seed, *balanced),
            Variant::RandomLabels => ds.with_random_labels(seed),
            Variant::RandomLabelsOver(k) => ds.with_random_labels_over(*k, seed),
            Variant::MergeClasses(k) => ds.with_merged_classes(*k),
            Variant::LabelNoise { fraction } => ds.with_label_noise(*fraction, seed),
            Variant::RandomInputs(kind) => ds.with_random_inputs(*kind, seed),
            Variant::Classes(sel) => ds.with_classes(sel),
            Variant::Resize { height, width } => ds.resized(*height, *width),
            Variant::Grayscale => ds.grayscale(),
        }
    }

    /// Applies several variants in order with one seed.
    pub fn apply_all(variants: &[Variant], mut ds: Dataset, seed: u64) -> Result<Dataset> {
        for v in variants {
            ds = v.apply(ds, seed)?;
        }
        Ok(ds)
    }

    /// The image shape after the variant, computed without applying it (so that memory can
    /// be checked before a resize allocates).
    pub fn shape_after(&self, shape: ImageShape) -> ImageShape {
        match self {
            Variant::Resize { height, width } => ImageShape {
                height: *height,
                width: *width,
                ..shape
            },
            Variant::Grayscale => ImageShape {
                channels: 1,
                ..shape
            },
            _ => shape,
        }
    }

    /// Whether the variant draws random numbers.
    pub fn is_random(&self) -> bool {
        match self {
            Variant::Subset { .. }
            | Variant::RandomLabels
            | Variant::RandomLabelsOver(_)
            | Variant::LabelNoise { .. }
            | Variant::RandomInputs(_) => true,
            Variant::Classes(_)
            | Variant::MergeClasses(_)
            | Variant::Resize { .. }
            | Variant::Grayscale => false,
        }
    }

    /// Whether the variant changes only pixel values or the image shape: the samples, their
    /// order and their labels are the same after it, so checks on sizes and labels may skip
    /// it.
    pub fn pixels_only(&self) -> bool {
        match self {
            Variant::RandomInputs(_) | Variant::Resize { .. } | Variant::Grayscale => true,
            Variant::Subset { .. }
            | Variant::RandomLabels
            | Variant::RandomLabelsOver(_)
            | Variant::MergeClasses(_)
            | Variant::LabelNoise { .. }
            | Variant::Classes(_) => false,
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Variant::Subset { n, balanced: false } => write!(f, "subset:{n}"),
            Variant::Subset { n, balanced: true } => write!(f, "subset-balanced:{n}"),
            Variant::RandomLabels => f.write_str("random-labels"),
            Variant::RandomLabelsOver(k) => write!(f, "random-labels:{k}"),
            Variant::MergeClasses(k) => write!(f, "merge-classes:{k}"),
            Variant::LabelNoise { fraction } => write!(f, "noise:{fraction}"),
            Variant::RandomInputs(RandomInputs::Gaussian) => f.write_str("gaussian-inputs"),
            Variant::RandomInputs(RandomInputs::Uniform) => f.write_str("uniform-inputs"),
            Variant::RandomInputs(RandomInputs::ShuffledPixels) => f.write_str("shuffled-pixels"),
            Variant::Classes(ClassSelection::First(k)) => write!(f, "classes:{k}"),
            Variant::Classes(ClassSelection::List(v)) => write!(
                f,
                "classes:{}",
                v.iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Variant::Resize { height, width } if height == width => write!(f, "resize:{height}"),
            Variant::Resize { height, width } => write!(f, "resize:{height}x{width}"),
            Variant::Grayscale => f.write_str("grayscale"),
        }
    }
}

const VARIANT_FORMS: &str =
    "subset:N, subset-balanced:N, random-labels, random-labels:K, merge-classes:K, noise:P, \
gaussian-inputs, uniform-inputs, shuffled-pixels, classes:K, classes:A,B,..., resize:S, resize:HxW, grayscale";

impl FromStr for Variant {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self> {
        let bad =
            |msg: &str| DataError::variant(s, format!("{msg}; expected one of: {VARIANT_FORMS}"));
        let num = |v: &str, what: &str| -> Result<usize> {
            v.trim()
                .parse::<usize>()
                .map_err(|_| bad(&format!("`{v}` is not a valid {what}")))
        };
        let (head, arg) = match s.split_once(':') {
            Some((h, a)) => (h.trim(), Some(a.trim())),
            None => (s.trim(), None),
        };
        let v = match (head, arg) {
            ("subset", Some(a)) => Variant::Subset {
                n: num(a, "sample count")?,
                balanced: false,
            },
            ("subset-balanced", Some(a)) => Variant::Subset {
                n: num(a, "sample count")?,
                balanced: true,
            },
            ("random-labels", None) => Variant::RandomLabels,
            ("random-labels", Some(a)) => match num(a, "class count")? {
                k if k >= 2 => Variant::RandomLabelsOver(k),
                k => {
                    return Err(bad(&format!(
                        "random labels over {k} classes; need at least 2"
                    )))
                }
            },
            ("merge-classes", Some(a)) => match num(a, "class count")? {
                k if k >= 2 => Variant::MergeClasses(k),
                k => return Err(bad(&format!("merging into {k} classes; need at least 2"))),
            },
            ("noise", Some(a)) => {
                let fraction: f64 = a
                    .parse()
                    .map_err(|_| bad(&format!("`{a}` is not a fraction")))?;
                if !(0.0..=1.0).contains(&fraction) {
                    return Err(bad(&format!("noise fraction {fraction} is outside [0, 1]")));
                }
                Variant::LabelNoise { fraction }
            }
            ("gaussian-inputs", None) => Variant::RandomInputs(RandomInputs::Gaussian),
            ("uniform-inputs", None) => Variant::RandomInputs(RandomInputs::Uniform),
            ("shuffled-pixels", None) => Variant::RandomInputs(RandomInputs::ShuffledPixels),
            ("classes", Some(a)) if a.contains(',') => Variant::Classes(ClassSelection::List(
                a.split(',')
                    .map(|c| num(c, "class index"))
                    .collect::<Result<_>>()?,
            )),
            ("classes", Some(a)) => Variant::Classes(ClassSelection::First(num(a, "class count")?)),
            ("resize", Some(a)) => {
                let (h, w) = match a.split_once('x') {
                    Some((h, w)) => (num(h, "height")?, num(w, "width")?),
                    None => (num(a, "size")?, num(a, "size")?),
                };
                if h == 0 || w == 0 {
                    return Err(bad("resize to zero pixels"));
                }
                Variant::Resize {
                    height: h,
                    width: w,
                }
            }
            ("grayscale", None) => Variant::Grayscale,
            _ => return Err(bad("unknown variant")),
        };
        Ok(v)
    }
}

impl From<Variant> for String {
    fn from(v: Variant) -> String {
        v.to_string()
    }
}

impl TryFrom<String> for Variant {
    type Error = DataError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        for s in [
            "subset:100",
            "subset-balanced:64",
            "random-labels",
            "random-labels:2",
            "merge-classes:5",
            "noise:0.25",
            "gaussian-inputs",
            "uniform-inputs",
            "shuffled-pixels",
            "classes:5",
            "classes:3,1,7",
            "resize:14",
            "resize:8x16",
            "grayscale",
        ] {
            let v: Variant = s.parse().unwrap();
            assert_eq!(v.to_string(), s);
        }
        for bad in [
            "noise:1.5",
            "subset:-1",
            "resize:0",
            "classes:a",
            "random-labels:1",
            "merge-classes:0",
            "blur",
            "noise",
        ] {
            assert!(bad.parse::<Variant>().is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn pixel_only_variants_keep_samples_and_labels() {
        let shape = ImageShape {
            channels: 3,
            height: 4,
            width: 4,
        };
        let ds = crate::transform::tiny(30, 3, shape);
        for s in [
            "subset:10",
            "random-labels",
            "noise:0.5",
            "random-labels:7",
            "merge-classes:2",
            "gaussian-inputs",
            "uniform-inputs",
            "shuffled-pixels",
            "classes:2",
            "resize:2",
            "resize:3x5",
            "grayscale",
        ] {
            let v: Variant = s.parse().unwrap();
            let out = v.apply(ds.clone(), 5).unwrap();
            let same = out.labels() == ds.labels() && out.class_names() == ds.class_names();
            assert_eq!(v.pixels_only(), same, "{s}");
            // The shape is known before the variant is applied.
            assert_eq!(v.shape_after(ds.shape()), out.shape(), "{s}");
        }
    }
}
