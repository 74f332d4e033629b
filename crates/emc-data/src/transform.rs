//! The dataset transformations behind the [`Variant`](crate::Variant)s: seeded nested
//! orders and subsets, random and noisy labels, class selections and merges, random inputs,
//! resizing and grayscale. Each returns a new dataset, is deterministic given its seed and
//! draws from its own ChaCha8 stream (see `variants.rs`).

use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::{Distribution, Normal};

use crate::dataset::{Dataset, ImageShape, Pixels};
use crate::error::{DataError, Result};
use crate::variants::{rng, stream, ClassSelection, RandomInputs, Variant};

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

/// `n` images of `shape` with deterministic pixels and labels `i % classes` (class names
/// `c0`, `c1`, ...): the variants' and transformations' test data.
#[cfg(test)]
pub(crate) fn tiny(n: usize, classes: u32, shape: ImageShape) -> Dataset {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// [`super::tiny`] with single-channel `side`×`side` images.
    fn tiny(n: usize, classes: u32, side: usize) -> Dataset {
        let shape = ImageShape {
            channels: 1,
            height: side,
            width: side,
        };
        super::tiny(n, classes, shape)
    }

    #[test]
    fn random_labels_over_k_keep_the_samples_and_draw_over_k_classes() {
        let ds = tiny(400, 10, 2);
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
        let ds = tiny(30, 10, 2);
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
