//! The paper's data variants. Each is a method on [`Dataset`] returning a new dataset, is
//! deterministic given its seed, composes with the others, and appends itself to the
//! dataset's metadata. [`Variant`] is the same set as data, with a text form for the CLI
//! and for result files.
//!
//! Every random variant draws from its own ChaCha8 stream (seeded by the seed, stream
//! chosen by the variant), so two variants applied with one seed are independent, and a
//! variant drawn over the whole split gives each sample the same draw in every subset.

use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, ImageShape, Pixels};
use crate::error::{DataError, Result};

/// Random streams, one per variant, so that variants seeded alike do not correlate.
mod stream {
    pub const ORDER: u64 = 1;
    pub const RANDOM_LABELS: u64 = 2;
    pub const LABEL_NOISE: u64 = 3;
    pub const GAUSSIAN: u64 = 4;
    pub const UNIFORM: u64 = 5;
    pub const SHUFFLED: u64 = 6;
}

fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
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

impl Dataset {
    /// The seeded order whose prefixes are the nested subsets: a permutation of all
    /// samples. With `balanced`, classes take turns (in a seeded order each round), so every
    /// prefix has per-class counts differing by at most one until a class runs out.
    pub fn nested_order(&self, seed: u64, balanced: bool) -> Vec<usize> {
        let mut r = rng(seed, stream::ORDER);
        if !balanced {
            let mut order: Vec<usize> = (0..self.len()).collect();
            order.shuffle(&mut r);
            return order;
        }
        let mut per_class: Vec<Vec<usize>> = vec![vec![]; self.num_classes()];
        for (i, &l) in self.labels().iter().enumerate() {
            per_class[l as usize].push(i);
        }
        for c in &mut per_class {
            c.shuffle(&mut r);
        }
        let rounds = per_class.iter().map(Vec::len).max().unwrap_or(0);
        let mut classes: Vec<usize> = (0..self.num_classes()).collect();
        let mut order = Vec::with_capacity(self.len());
        for round in 0..rounds {
            classes.shuffle(&mut r);
            order.extend(
                classes
                    .iter()
                    .filter_map(|&c| per_class[c].get(round).copied()),
            );
        }
        order
    }

    /// The first `n` samples of [`Dataset::nested_order`]: `nested_subset(n)` is a prefix of
    /// `nested_subset(m)` for `n < m` with the same seed.
    ///
    /// # Errors
    /// When `n` exceeds the number of samples.
    pub fn nested_subset(&self, n: usize, seed: u64, balanced: bool) -> Result<Dataset> {
        let v = Variant::Subset { n, balanced };
        if n > self.len() {
            return Err(DataError::variant(
                v.to_string(),
                format!("asks for {n} samples but the dataset holds {}", self.len()),
            ));
        }
        let order = self.nested_order(seed, balanced);
        Ok(self.select(&order[..n])?.record(v.to_string(), Some(seed)))
    }

    /// Labels drawn uniformly over the classes, independently per sample.
    pub fn with_random_labels(self, seed: u64) -> Result<Dataset> {
        let k = self.num_classes() as u32;
        let mut r = rng(seed, stream::RANDOM_LABELS);
        let (pixels, labels, shape, names, meta) = self.into_parts();
        let labels = labels.iter().map(|_| r.random_range(0..k)).collect();
        Ok(Dataset::new(pixels, labels, shape, names, meta)?
            .record(Variant::RandomLabels.to_string(), Some(seed)))
    }

    /// Labels drawn uniformly over `k` classes, independently per sample, on every sample;
    /// the classes are named `random 0` .. `random k-1`. The draws are those of
    /// [`Dataset::with_random_labels`] with the same seed, so for `k` equal to the class
    /// count the labels are the same.
    pub fn with_random_labels_over(self, k: usize, seed: u64) -> Result<Dataset> {
        let v = Variant::RandomLabelsOver(k);
        if k < 2 {
            return Err(DataError::variant(
                v.to_string(),
                format!("random labels over {k} classes; need at least 2"),
            ));
        }
        let mut r = rng(seed, stream::RANDOM_LABELS);
        let (pixels, labels, shape, _, meta) = self.into_parts();
        let labels = labels.iter().map(|_| r.random_range(0..k as u32)).collect();
        let names = (0..k).map(|c| format!("random {c}")).collect();
        Ok(Dataset::new(pixels, labels, shape, names, meta)?.record(v.to_string(), Some(seed)))
    }

    /// Merges the real classes into `k`: class `c` becomes `c mod k`, named by the classes
    /// it joins (`0+5`). Every sample is kept.
    pub fn with_merged_classes(self, k: usize) -> Result<Dataset> {
        let v = Variant::MergeClasses(k);
        let classes = self.num_classes();
        if k < 2 || k >= classes {
            return Err(DataError::variant(
                v.to_string(),
                format!(
                    "merging {classes} classes into {k}; expected 2 to {}",
                    classes.saturating_sub(1)
                ),
            ));
        }
        let (pixels, labels, shape, names, meta) = self.into_parts();
        let labels = labels.iter().map(|&c| c % k as u32).collect();
        let names = (0..k)
            .map(|m| {
                (m..classes)
                    .step_by(k)
                    .map(|c| names[c].clone())
                    .collect::<Vec<_>>()
                    .join("+")
            })
            .collect();
        Ok(Dataset::new(pixels, labels, shape, names, meta)?.record(v.to_string(), None))
    }

    /// Replaces the labels of exactly `round(fraction · N)` samples, chosen uniformly, by a
    /// class drawn uniformly from the *other* K − 1 classes (a replaced label never equals
    /// the true one).
    pub fn with_label_noise(self, fraction: f64, seed: u64) -> Result<Dataset> {
        let v = Variant::LabelNoise { fraction };
        if !(0.0..=1.0).contains(&fraction) {
            return Err(DataError::variant(
                v.to_string(),
                "fraction must be in [0, 1]",
            ));
        }
        let k = self.num_classes() as u32;
        if k < 2 {
            return Err(DataError::variant(
                v.to_string(),
                "needs at least two classes",
            ));
        }
        let mut r = rng(seed, stream::LABEL_NOISE);
        let (pixels, mut labels, shape, names, meta) = self.into_parts();
        let m = (fraction * labels.len() as f64).round() as usize;
        let mut idx: Vec<usize> = (0..labels.len()).collect();
        let (chosen, _) = idx.partial_shuffle(&mut r, m);
        for &i in chosen.iter() {
            let other = r.random_range(0..k - 1);
            labels[i] = if other >= labels[i] { other + 1 } else { other };
        }
        Ok(Dataset::new(pixels, labels, shape, names, meta)?.record(v.to_string(), Some(seed)))
    }

    /// Replaces the inputs by random ones (labels unchanged).
    pub fn with_random_inputs(self, kind: RandomInputs, seed: u64) -> Result<Dataset> {
        let spec = Variant::RandomInputs(kind).to_string();
        let stats = self.channel_stats();
        let (pixels, labels, shape, names, meta) = self.into_parts();
        let n = labels.len();
        let pixels = match kind {
            RandomInputs::Gaussian => {
                let mut r = rng(seed, stream::GAUSSIAN);
                let normals = stats
                    .iter()
                    .map(|&(m, s)| Normal::new(m as f32, s as f32))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| DataError::variant(&spec, e.to_string()))?;
                let mut out = Vec::with_capacity(pixels.len());
                for _ in 0..n {
                    for normal in &normals {
                        out.extend((0..shape.plane()).map(|_| normal.sample(&mut r)));
                    }
                }
                Pixels::F32(out)
            }
            RandomInputs::Uniform => {
                let mut r = rng(seed, stream::UNIFORM);
                Pixels::F32(
                    (0..pixels.len())
                        .map(|_| r.random::<f32>() * 255.0)
                        .collect(),
                )
            }
            RandomInputs::ShuffledPixels => {
                let mut r = rng(seed, stream::SHUFFLED);
                let mut perm: Vec<usize> = (0..shape.plane()).collect();
                perm.shuffle(&mut r);
                // Output position j takes input position perm[j], in every plane.
                let planes = n * shape.channels;
                let plane = perm.len();
                let perm = &perm;
                let index: Vec<usize> = (0..planes)
                    .flat_map(|p| perm.iter().map(move |&j| p * plane + j))
                    .collect();
                pixels.gather(&index, 1)
            }
        };
        Ok(Dataset::new(pixels, labels, shape, names, meta)?.record(spec, Some(seed)))
    }

    /// Keeps the selected classes and relabels them `0..k` in selection order.
    pub fn with_classes(self, sel: &ClassSelection) -> Result<Dataset> {
        let spec = Variant::Classes(sel.clone()).to_string();
        let k = self.num_classes();
        let chosen: Vec<usize> = match sel {
            ClassSelection::First(n) => (0..*n).collect(),
            ClassSelection::List(v) => v.clone(),
        };
        if chosen.is_empty() {
            return Err(DataError::variant(&spec, "selects no class"));
        }
        let mut new_label = vec![None; k];
        for (i, &c) in chosen.iter().enumerate() {
            if c >= k {
                return Err(DataError::variant(
                    &spec,
                    format!("class {c} does not exist; the dataset has classes 0..{k}"),
                ));
            }
            if new_label[c].replace(i as u32).is_some() {
                return Err(DataError::variant(&spec, format!("class {c} listed twice")));
            }
        }
        let keep: Vec<usize> = (0..self.len())
            .filter(|&i| new_label[self.labels()[i] as usize].is_some())
            .collect();
        let (pixels, labels, shape, names, meta) = self.into_parts();
        let labels = keep
            .iter()
            .map(|&i| new_label[labels[i] as usize].unwrap_or_default())
            .collect();
        let names = chosen.iter().map(|&c| names[c].clone()).collect();
        Ok(Dataset::new(
            pixels.gather(&keep, shape.len()),
            labels,
            shape,
            names,
            meta,
        )?
        .record(spec, None))
    }

    /// Refuses an image variant on samples that are feature vectors (1×1 inputs: a table).
    fn refuse_features(&self, spec: &str) -> Result<()> {
        let s = self.shape();
        if s.height == 1 && s.width == 1 {
            return Err(DataError::variant(
                spec,
                format!(
                    "`{}` holds {} features per sample (1x1 inputs, e.g. a table), not images; \
                     expected an image dataset",
                    self.metadata().name,
                    s.channels
                ),
            ));
        }
        Ok(())
    }

    /// Resizes every image by area averaging: each output pixel is the mean of the input
    /// area it covers, weighting partly covered pixels by the covered fraction (exact
    /// 2x2 means for 28→14, 32→16). Upsampling repeats pixels. The result is real-valued.
    pub fn resized(self, height: usize, width: usize) -> Result<Dataset> {
        let spec = Variant::Resize { height, width }.to_string();
        if height == 0 || width == 0 {
            return Err(DataError::variant(spec, "resize to zero pixels"));
        }
        self.refuse_features(&spec)?;
        let (pixels, labels, shape, names, meta) = self.into_parts();
        let wy = area_weights(shape.height, height);
        let wx = area_weights(shape.width, width);
        let out_shape = ImageShape {
            channels: shape.channels,
            height,
            width,
        };
        let planes = labels.len() * shape.channels;
        let mut out = Vec::with_capacity(planes * height * width);
        let mut rows = vec![0f32; shape.height * width];
        for p in 0..planes {
            let base = p * shape.plane();
            // Horizontal pass: [H, W] -> [H, width].
            for y in 0..shape.height {
                for (ox, ws) in wx.iter().enumerate() {
                    rows[y * width + ox] = ws
                        .iter()
                        .map(|&(x, w)| w * pixels.get(base + y * shape.width + x))
                        .sum();
                }
            }
            // Vertical pass: [H, width] -> [height, width].
            for ws in &wy {
                for ox in 0..width {
                    out.push(ws.iter().map(|&(y, w)| w * rows[y * width + ox]).sum());
                }
            }
        }
        Ok(Dataset::new(Pixels::F32(out), labels, out_shape, names, meta)?.record(spec, None))
    }

    /// Converts RGB images to one channel, `0.299 R + 0.587 G + 0.114 B` (ITU-R 601).
    /// Grey images are returned unchanged (and the step is still recorded).
    pub fn grayscale(self) -> Result<Dataset> {
        let spec = Variant::Grayscale.to_string();
        self.refuse_features(&spec)?;
        let shape = self.shape();
        match shape.channels {
            1 => Ok(self.record(spec, None)),
            3 => {
                let (pixels, labels, shape, names, meta) = self.into_parts();
                let plane = shape.plane();
                let mut out = Vec::with_capacity(labels.len() * plane);
                for i in 0..labels.len() {
                    let b = i * 3 * plane;
                    out.extend((0..plane).map(|j| {
                        0.299 * pixels.get(b + j)
                            + 0.587 * pixels.get(b + plane + j)
                            + 0.114 * pixels.get(b + 2 * plane + j)
                    }));
                }
                let shape = ImageShape {
                    channels: 1,
                    ..shape
                };
                Ok(Dataset::new(Pixels::F32(out), labels, shape, names, meta)?.record(spec, None))
            }
            c => Err(DataError::variant(
                spec,
                format!("images have {c} channels; expected 1 or 3"),
            )),
        }
    }
}

/// For each output index, the input indices it covers and their weights (summing to 1).
fn area_weights(input: usize, output: usize) -> Vec<Vec<(usize, f32)>> {
    let scale = input as f64 / output as f64;
    (0..output)
        .map(|o| {
            let (lo, hi) = (o as f64 * scale, (o + 1) as f64 * scale);
            let mut ws = vec![];
            let mut i = lo.floor() as usize;
            while (i as f64) < hi && i < input {
                let cover = (hi.min(i as f64 + 1.0) - lo.max(i as f64)).max(0.0);
                if cover > 1e-12 {
                    ws.push((i, (cover / scale) as f32));
                }
                i += 1;
            }
            ws
        })
        .collect()
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
        let n = 30;
        let ds = Dataset::new(
            Pixels::U8((0..n * shape.len()).map(|i| (i * 13 % 251) as u8).collect()),
            (0..n as u32).map(|i| i % 3).collect(),
            shape,
            vec!["a".into(), "b".into(), "c".into()],
            crate::Metadata {
                name: "tiny".into(),
                split: crate::Split::Train,
                origin: crate::Origin::Generated {
                    description: "unit test".into(),
                },
                files: vec![],
                variants: vec![],
            },
        )
        .unwrap();
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

    fn tiny(n: usize, classes: u32) -> Dataset {
        let shape = ImageShape {
            channels: 1,
            height: 2,
            width: 2,
        };
        Dataset::new(
            Pixels::U8((0..n * shape.len()).map(|i| (i * 7 % 251) as u8).collect()),
            (0..n as u32).map(|i| i % classes).collect(),
            shape,
            (0..classes).map(|c| format!("c{c}")).collect(),
            crate::Metadata {
                name: "tiny".into(),
                split: crate::Split::Train,
                origin: crate::Origin::Generated {
                    description: "unit test".into(),
                },
                files: vec![],
                variants: vec![],
            },
        )
        .unwrap()
    }

    #[test]
    fn random_labels_over_k_keep_the_samples_and_draw_over_k_classes() {
        let ds = tiny(400, 10);
        for k in [2, 5, 10, 20] {
            let out = ds.clone().with_random_labels_over(k, 3).unwrap();
            assert_eq!(out.len(), ds.len());
            assert_eq!(out.num_classes(), k);
            let mut seen = vec![0usize; k];
            for &l in out.labels() {
                seen[l as usize] += 1;
            }
            // 400 draws over at most 20 classes: every class drawn, none dominating.
            assert!(
                seen.iter().all(|&c| c > 0 && c < 400 / k * 3),
                "{k}: {seen:?}"
            );
        }
        // Over the dataset's own class count: the labels of `random-labels`.
        let a = ds.clone().with_random_labels_over(10, 3).unwrap();
        let b = ds.clone().with_random_labels(3).unwrap();
        assert_eq!(a.labels(), b.labels());
        assert_ne!(
            ds.clone().with_random_labels_over(10, 4).unwrap().labels(),
            a.labels()
        );
        assert!(ds.with_random_labels_over(1, 0).is_err());
    }

    #[test]
    fn merged_classes_are_the_class_mod_k_with_joined_names() {
        let ds = tiny(30, 10);
        let out = ds.clone().with_merged_classes(4).unwrap();
        assert_eq!(out.len(), 30);
        for (a, b) in ds.labels().iter().zip(out.labels()) {
            assert_eq!(*b, a % 4);
        }
        assert_eq!(
            out.class_names(),
            ["c0+c4+c8", "c1+c5+c9", "c2+c6", "c3+c7"]
        );
        let err = ds.clone().with_merged_classes(10).unwrap_err().to_string();
        assert!(
            err.contains("merge-classes:10") && err.contains("expected 2 to 9"),
            "{err}"
        );
        assert!(ds.with_merged_classes(1).is_err());
    }

    #[test]
    fn area_weights_are_exact_means_for_halving() {
        let w = area_weights(28, 14);
        assert_eq!(w[3], vec![(6, 0.5), (7, 0.5)]);
        let w = area_weights(3, 2);
        assert_eq!(w[0].len(), 2);
        let total: f32 = w[0].iter().map(|x| x.1).sum();
        assert!((total - 1.0).abs() < 1e-6);
    }
}
