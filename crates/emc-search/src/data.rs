//! The data of a measurement: each dataset loaded once and shared ([`Loaded`]), and one
//! seed's training data for a configuration ([`SeedData`]): the variants drawn with the
//! seed, normalised, as tensors, with the seeded order whose prefixes are the probe sets.

use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use emc_data::{load, Dataset, DatasetId, LoadOptions, Normalization, Split, TensorData, Variant};
use emc_models::{Built, InputShape, ModelSpec};
use emc_train::{FitReport, Member, ProgressFn, TrainConfig};

use crate::config::MeasureConfig;
use crate::error::{Result, SearchError};
use crate::lockstep::Probe;
use crate::search::default_n0;

/// Datasets loaded once per (dataset, split) and shared.
#[derive(Default)]
pub(crate) struct Loaded(Vec<(DatasetId, Split, Arc<Dataset>)>);

impl Loaded {
    pub(crate) fn get(
        &mut self,
        id: &DatasetId,
        split: Split,
        opts: &LoadOptions,
    ) -> Result<Arc<Dataset>> {
        if let Some((_, _, d)) = self.0.iter().find(|(i, s, _)| i == id && *s == split) {
            return Ok(d.clone());
        }
        let d = Arc::new(load(id, split, opts)?);
        self.0.push((id.clone(), split, d.clone()));
        Ok(d)
    }
}

/// Checks, before any training, that `cfg`'s training split (`base` after the variants
/// that choose samples or labels, drawn with the first seed) can start a search: at least
/// two classes present, and at least `n0` samples, where `n0` is the configured first probe
/// or, by default, the default's floor of 4 samples per class (the default's share that
/// grows with the model, `params / 64`, is capped at the split, which then saturates).
///
/// # Errors
/// [`emc_data::DataError::Degenerate`] for fewer than two classes; [`SearchError::Config`]
/// naming the split's files, its size and `n0` for a split smaller than `n0`.
pub(crate) fn check_training_split(
    cfg: &MeasureConfig,
    variants: &[Variant],
    base: &Dataset,
) -> Result<()> {
    let choosing: Vec<Variant> = variants
        .iter()
        .filter(|v| !v.pixels_only())
        .cloned()
        .collect();
    let seed = cfg.seeds.first().copied().unwrap_or(0);
    let applied;
    let ds = if choosing.is_empty() {
        base
    } else {
        applied = Variant::apply_all(&choosing, base.clone(), seed)?;
        &applied
    };
    ds.check_usable()?;
    let (len, classes) = (ds.len(), ds.num_classes());
    let (n0, field, source) = match cfg.search.n0 {
        Some(n0) => (n0, "search.n0", "the first probe asked for".to_string()),
        None => (
            default_n0(0, classes),
            "data",
            format!("the smallest default first probe, 4 x {classes} classes"),
        ),
    };
    if len < n0 {
        let files: Vec<String> = ds
            .metadata()
            .files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect();
        return Err(SearchError::Config {
            field: field.into(),
            message: format!(
                "the training split of {} [{}] read from {} holds {len} samples, fewer than \
                 n0 = {n0} ({source}); expected at least {n0} samples: use more data or a \
                 smaller --n0",
                cfg.data,
                cfg.variants.join(" "),
                if files.is_empty() {
                    ds.metadata().origin.to_string()
                } else {
                    files.join(", ")
                },
            ),
        });
    }
    Ok(())
}

/// One seed's training data for a configuration: the variants drawn with the seed over the
/// whole training split, normalised by that split's per-channel statistics, as tensors, and
/// the seeded order whose prefixes are the training sets.
pub(crate) struct SeedData {
    pub(crate) input: InputShape,
    pub(crate) classes: usize,
    pub(crate) params: usize,
    /// The normalisation every input of this configuration gets (test inputs included).
    pub(crate) norm: Normalization,
    all: TensorData,
    order: Vec<u32>,
    /// Training samples after the variants.
    pub(crate) len: usize,
}

impl SeedData {
    pub(crate) fn new(
        spec: &ModelSpec,
        variants: &[Variant],
        base: &Dataset,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let ds = Variant::apply_all(variants, base.clone(), seed)?;
        let shape = ds.shape();
        let input = InputShape {
            channels: shape.channels,
            height: shape.height,
            width: shape.width,
        };
        let classes = ds.num_classes();
        let params = spec.num_params(input, classes)?;
        let norm = Normalization::from_dataset(&ds);
        let all = ds.to_tensors(device, &norm, false)?;
        let order: Vec<u32> = ds
            .nested_order(seed, false)
            .into_iter()
            .map(|i| i as u32)
            .collect();
        Ok(SeedData {
            input,
            classes,
            params,
            norm,
            all,
            order,
            len: ds.len(),
        })
    }

    /// Trains a fresh model (initialised with `seed`) on the first `n` samples of the
    /// order, alone (the generalization probe); the search's probes go through a
    /// [`ProbeTrainer`](crate::lockstep::ProbeTrainer), which trains them alone or in lockstep by the same rules.
    pub(crate) fn train_probe(
        &self,
        spec: &ModelSpec,
        n: usize,
        train: &TrainConfig,
        seed: u64,
    ) -> Result<(Built, FitReport)> {
        self.probe(spec, n, train, seed, None)?.fit_alone()
    }

    /// A probe on the first `n` samples of the order: a fresh model initialised with
    /// `seed`, to be trained by a [`ProbeTrainer`](crate::lockstep::ProbeTrainer).
    pub(crate) fn probe<'a>(
        &self,
        spec: &ModelSpec,
        n: usize,
        train: &TrainConfig,
        seed: u64,
        on_progress: Option<ProgressFn<'a>>,
    ) -> Result<Probe<'a>> {
        let device = self.all.images.device();
        let idx = Tensor::from_slice(&self.order[..n], n, device)?;
        Ok(Probe {
            config: 0,
            spec: spec.clone(),
            input: self.input,
            classes: self.classes,
            train: train.clone(),
            member: Member {
                built: spec.build_with_dropout(
                    self.input,
                    self.classes,
                    seed,
                    train.dropout,
                    DType::F32,
                    device,
                )?,
                images: self.all.images.index_select(&idx, 0)?,
                labels: self.all.labels.index_select(&idx, 0)?,
                seed,
                on_progress,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use emc_data::{ImageShape, Metadata, Origin, Pixels};

    use super::*;

    /// 60 distinct 1x2x2 images over 3 classes.
    fn base() -> Dataset {
        let n = 60;
        let pixels = (0..n * 4).map(|i| (i * 7 % 256) as u8).collect();
        let labels = (0..n as u32).map(|i| i % 3).collect();
        let shape = ImageShape {
            channels: 1,
            height: 2,
            width: 2,
        };
        let meta = Metadata {
            name: "tiny".into(),
            split: Split::Train,
            origin: Origin::Generated {
                description: "unit test".into(),
            },
            files: vec![],
            variants: vec![],
        };
        let classes = vec!["a".into(), "b".into(), "c".into()];
        Dataset::new(Pixels::U8(pixels), labels, shape, classes, meta).unwrap()
    }

    fn seed_data(seed: u64) -> SeedData {
        let spec: ModelSpec = "mlp:4".parse().unwrap();
        let variants = vec!["random-labels".parse().unwrap()];
        SeedData::new(&spec, &variants, &base(), seed, &Device::Cpu).unwrap()
    }

    fn labels(d: &SeedData) -> Vec<u32> {
        d.all.labels.to_vec1().unwrap()
    }

    #[test]
    fn a_seed_always_gives_the_same_data_and_order() {
        let (a, b, other) = (seed_data(3), seed_data(3), seed_data(4));
        assert_eq!(a.order, b.order);
        assert_eq!(labels(&a), labels(&b));
        assert_eq!(a.len, 60);
        assert_eq!((a.classes, a.input.height), (3, 2));
        // 4 inputs -> 4 hidden -> 3 classes.
        assert_eq!(a.params, 4 * 4 + 4 + 4 * 3 + 3);
        // Another seed draws other random labels and another order.
        assert_ne!(a.order, other.order);
        assert_ne!(labels(&a), labels(&other));
        let mut sorted = a.order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..60).collect::<Vec<u32>>());
    }

    fn config(variants: &[&str], n0: Option<usize>) -> (MeasureConfig, Vec<Variant>) {
        let mut cfg = MeasureConfig {
            data: "tiny".into(),
            variants: variants.iter().map(|v| v.to_string()).collect(),
            seeds: vec![0],
            ..MeasureConfig::default()
        };
        cfg.search.n0 = n0;
        let parsed = variants.iter().map(|v| v.parse().unwrap()).collect();
        (cfg, parsed)
    }

    #[test]
    fn a_split_smaller_than_n0_is_refused_before_training() {
        // 60 samples, 3 classes: the default's floor is 12.
        let (cfg, v) = config(&[], None);
        check_training_split(&cfg, &v, &base()).unwrap();
        let (cfg, v) = config(&["resize:1"], Some(60));
        check_training_split(&cfg, &v, &base()).unwrap();
        let (cfg, v) = config(&[], Some(61));
        let err = check_training_split(&cfg, &v, &base()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, SearchError::Config { ref field, .. } if field == "search.n0"));
        assert!(
            msg.contains("holds 60 samples") && msg.contains("n0 = 61"),
            "{msg}"
        );
        assert!(msg.contains("generated: unit test"), "{msg}");
        // The default's floor, after a subset variant: 11 samples of 3 classes.
        let (cfg, v) = config(&["subset:11"], None);
        let msg = check_training_split(&cfg, &v, &base())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("holds 11 samples") && msg.contains("n0 = 12 (the smallest default"),
            "{msg}"
        );
        let (cfg, v) = config(&["subset:12"], None);
        check_training_split(&cfg, &v, &base()).unwrap();
    }

    #[test]
    fn a_split_with_one_class_is_refused_before_training() {
        let (cfg, v) = config(&["classes:2,1"], Some(8));
        check_training_split(&cfg, &v, &base()).unwrap();
        let (cfg, v) = config(&["classes:1"], Some(8));
        let err = check_training_split(&cfg, &v, &base()).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                SearchError::Data(emc_data::DataError::Degenerate { .. })
            ),
            "{msg}"
        );
        assert!(
            msg.contains("a single class (`a`) after the variants classes:1"),
            "{msg}"
        );
    }

    #[test]
    fn a_probe_trains_on_a_prefix_of_the_order() {
        let spec: ModelSpec = "mlp:4".parse().unwrap();
        let d = seed_data(3);
        let probe = d.probe(&spec, 8, &TrainConfig::default(), 3, None).unwrap();
        let all = labels(&d);
        let expected: Vec<u32> = d.order[..8].iter().map(|&i| all[i as usize]).collect();
        assert_eq!(probe.member.labels.to_vec1::<u32>().unwrap(), expected);
        assert_eq!(probe.member.images.dims(), [8, 1, 2, 2]);
    }
}
