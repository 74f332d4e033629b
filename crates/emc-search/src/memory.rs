//! The memory a measurement or a verification will allocate, estimated from the sizes the
//! user chose (model, resize, batch, jobs) before any of it is allocated, and checked
//! against a limit: the memory available to the process by default, or `--max-memory`.
//! A refusal names the estimate, each of its parts and the limit, so that a model of 10⁸
//! hidden units or a resize to 1000×1000 is an error, not an aborted allocation or a
//! machine driven out of memory.

use std::fmt;

use bytesize::ByteSize;
use emc_data::{Dataset, Variant};
use emc_models::{InputShape, ModelSpec};
use emc_optim::OptimKind;
use emc_train::{Batching, TrainConfig};

use crate::error::{Result, SearchError};

/// Bytes of one `f32`.
const F32: f64 = 4.0;

/// A memory limit and where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryLimit {
    /// Bytes.
    pub bytes: u64,
    /// Where the number comes from, for the refusal message.
    pub source: String,
}

impl MemoryLimit {
    /// `max_memory` when given (`--max-memory`), else the memory available to this process
    /// now: the system's available memory, or less when a cgroup limits the process (a
    /// container, a Slurm job). `None` when neither is given nor known (then nothing is
    /// checked).
    pub fn new(max_memory: Option<u64>) -> Option<MemoryLimit> {
        match max_memory {
            Some(bytes) => Some(MemoryLimit {
                bytes,
                source: format!("--max-memory {}", show(bytes as f64)),
            }),
            None => available(),
        }
    }
}

/// The memory available now, from sysinfo (`MemAvailable` on Linux, the cgroup's free
/// memory when that is smaller).
fn available() -> Option<MemoryLimit> {
    if !sysinfo::IS_SUPPORTED_SYSTEM {
        return None;
    }
    let mut sys = sysinfo::System::new();
    sys.refresh_memory();
    let system = sys.available_memory();
    let cgroup = sys.cgroup_limits().map(|c| c.free_memory);
    match cgroup {
        Some(free) if free < system => Some(MemoryLimit {
            bytes: free,
            source: "the memory its cgroup leaves free".into(),
        }),
        _ if system > 0 => Some(MemoryLimit {
            bytes: system,
            source: "the memory available on this machine".into(),
        }),
        _ => None,
    }
}

/// Parses a memory size for `--max-memory`: bytes, or a number with a unit (`512MiB`,
/// `8GiB`, `8GB`, `8G`; IEC units are powers of 1024, SI units of 1000).
///
/// # Errors
/// A message naming the text and what was expected (clap prints it beside the flag).
pub fn parse_memory_size(text: &str) -> std::result::Result<u64, String> {
    match text.trim().parse::<ByteSize>() {
        Ok(size) if size.as_u64() > 0 => Ok(size.as_u64()),
        Ok(_) => Err(format!("`{text}` is zero; expected a positive size")),
        Err(e) => Err(format!(
            "`{text}`: {e}; expected a size such as 8GiB, 512MiB or 16GB"
        )),
    }
}

/// Human-readable bytes, IEC units.
fn show(bytes: f64) -> String {
    // Estimates beyond u64 (absurd specs) still print, as at least 16 EiB.
    ByteSize(bytes.min(u64::MAX as f64) as u64)
        .display()
        .iec()
        .to_string()
}

/// An estimate of the memory something will allocate, by part.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryEstimate {
    /// What is estimated ("the measurement of mlp:32 on mnist").
    what: String,
    /// Each part: what it is, bytes.
    parts: Vec<(String, f64)>,
}

/// The sizes one configuration's memory depends on.
pub(crate) struct Sizes {
    /// Training samples (the split before the variants that drop samples: an upper bound).
    pub(crate) samples: usize,
    /// Input shape after every variant.
    pub(crate) input: InputShape,
    /// Trainable parameters.
    pub(crate) params: f64,
    /// Scalars per sample kept for the backward pass.
    pub(crate) activations: f64,
    /// Scalars of a reparameterisation (network weights, projection; 0 for a plain model).
    pub(crate) reparam: f64,
}

impl Sizes {
    /// The sizes of `spec` trained on `base` after `variants`, computed without applying
    /// the variants or building the model.
    pub(crate) fn new(spec: &ModelSpec, variants: &[Variant], base: &Dataset) -> Result<Sizes> {
        let shape = variants.iter().fold(base.shape(), |s, v| v.shape_after(s));
        let input = InputShape {
            channels: shape.channels,
            height: shape.height,
            width: shape.width,
        };
        let classes = base.num_classes();
        Ok(Sizes {
            samples: base.len(),
            input,
            params: spec.num_params(input, classes)? as f64,
            activations: spec.activations_per_sample(input, classes)?,
            reparam: spec.reparam_scalars(input, classes)?,
        })
    }

    /// Bytes of the training split as `f32` tensors.
    fn split_bytes(&self) -> f64 {
        self.samples as f64 * self.input.numel() as f64 * F32
    }
}

impl MemoryEstimate {
    /// A measurement of `sizes` trained by `train`: `searches` seeds searched at once, each
    /// holding its training split (built once from a copy, so twice while it is built), and
    /// `probes` probes training at once, each holding its training subset, the weights,
    /// their gradients and the optimizer's state, and the activations of one batch (values
    /// and gradients) or one evaluation batch, whichever is larger.
    pub(crate) fn measurement(
        what: String,
        sizes: &Sizes,
        train: &TrainConfig,
        searches: usize,
        probes: usize,
    ) -> MemoryEstimate {
        let batch = match train.batching {
            Batching::Mini(b) => b,
            Batching::Full { chunk } => chunk,
        }
        .min(sizes.samples) as f64;
        let eval = train.eval_batch.min(sizes.samples) as f64;
        let states = match train.optim.kind {
            OptimKind::Sgd { momentum: 0.0, .. } => 0.0,
            OptimKind::Sgd { .. } => 1.0,
            OptimKind::Adam { .. } | OptimKind::AdamW { .. } => 2.0,
            // The momentum buffer, kept in f64 (two f32 slots). Shampoo's statistics and
            // their inverse roots (two d × d f64 matrices per dimension d of each tensor) do
            // not scale with the parameter count and are not counted (that needs each
            // tensor's shape, which `ModelSpec` does not give without building): a few MB at
            // most for the models of this workspace, an underestimate for very wide layers
            // (an MLP's 3,072-wide input layer alone holds 300 MB of them).
            OptimKind::Shampoo { momentum: 0.0, .. } => 0.0,
            OptimKind::Shampoo { .. } => 2.0,
        };
        let (searches, probes) = (searches as f64, probes as f64);
        let acts = (2.0 * batch).max(eval) * sizes.activations * F32;
        let mut parts = vec![
            (
                format!(
                    "training split of {} samples of {}x{}x{}, per search, {} at once",
                    sizes.samples,
                    sizes.input.channels,
                    sizes.input.height,
                    sizes.input.width,
                    searches
                ),
                2.0 * searches * sizes.split_bytes(),
            ),
            (
                format!("training subsets of the {probes} probes trained at once"),
                probes * sizes.split_bytes(),
            ),
            (
                format!(
                    "weights, gradients and optimizer state of {} parameters, per probe",
                    sizes.params
                ),
                probes * (2.0 + states) * sizes.params * F32,
            ),
            (
                format!(
                    "activations at batch {batch} ({:.3e} per sample), per probe",
                    sizes.activations
                ),
                probes * acts,
            ),
        ];
        if sizes.reparam > 0.0 {
            parts.push((
                format!(
                    "the reparameterised network's weights, gradients and projection ({:.3e} \
                     scalars), per probe",
                    sizes.reparam
                ),
                probes * sizes.reparam * F32,
            ));
        }
        if train.dropout > 0.0 {
            // One f32 mask per hidden activation of a training batch (an upper bound: the
            // activation count includes the inputs and the logits).
            parts.push((
                format!("dropout masks at batch {batch}, per probe"),
                probes * batch * sizes.activations * F32,
            ));
        }
        if !train.augment.is_none() {
            // The augmented copy of a step's inputs, on the host and as a tensor: a
            // minibatch, or the whole subset for full-batch GD.
            let rows = match train.batching {
                Batching::Mini(_) => batch,
                Batching::Full { .. } => sizes.samples as f64,
            };
            parts.push((
                format!("augmented inputs of {rows} samples (host and tensor), per probe"),
                probes * 2.0 * rows * sizes.input.numel() as f64 * F32,
            ));
        }
        MemoryEstimate { what, parts }
    }

    /// One model of `sizes` evaluated on its training split in batches of `eval_batch`
    /// (`emc verify`): the split, the weights and one batch's activations.
    pub fn evaluation(
        what: String,
        spec: &ModelSpec,
        variants: &[Variant],
        base: &Dataset,
        eval_batch: usize,
    ) -> Result<MemoryEstimate> {
        let sizes = Sizes::new(spec, variants, base)?;
        let eval = eval_batch.max(1).min(sizes.samples) as f64;
        Ok(MemoryEstimate {
            what,
            parts: vec![
                (
                    format!(
                        "training split of {} samples of {}x{}x{}, twice while it is built",
                        sizes.samples, sizes.input.channels, sizes.input.height, sizes.input.width
                    ),
                    2.0 * sizes.split_bytes(),
                ),
                (
                    format!("weights of {} parameters", sizes.params),
                    sizes.params * F32,
                ),
                (
                    format!("activations at batch {eval}"),
                    eval * sizes.activations * F32,
                ),
                (
                    "the reparameterised network's weights and projection".into(),
                    sizes.reparam * F32,
                ),
            ],
        })
    }

    /// Estimated bytes in all.
    pub fn total(&self) -> f64 {
        self.parts.iter().map(|p| p.1).sum()
    }

    /// Refuses an estimate above `limit` (no limit known: nothing to check).
    ///
    /// # Errors
    /// [`SearchError::Memory`] naming the estimate, its parts and the limit.
    pub fn check(&self, limit: Option<&MemoryLimit>) -> Result<()> {
        match limit {
            Some(limit) if self.total() > limit.bytes as f64 => Err(SearchError::Memory(format!(
                "{self}; the limit is {} ({}). Use a smaller model, input size or batch, \
                     fewer --jobs or --lockstep, or --max-memory SIZE if the estimate is wrong \
                     for this machine",
                show(limit.bytes as f64),
                limit.source
            ))),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for MemoryEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} needs about {} (", self.what, show(self.total()))?;
        for (i, (part, bytes)) in self.parts.iter().enumerate() {
            let sep = if i == 0 { "" } else { "; " };
            write!(f, "{sep}{part}: {}", show(*bytes))?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use emc_data::{ImageShape, Metadata, Origin, Pixels, Split};

    use super::*;

    /// `n` blank 1x28x28 images over 10 classes.
    fn mnist_like(n: usize) -> Dataset {
        images(n, 1, 28)
    }

    /// `n` blank `channels`x`side`x`side` images over 10 classes.
    fn images(n: usize, channels: usize, side: usize) -> Dataset {
        let shape = ImageShape {
            channels,
            height: side,
            width: side,
        };
        let meta = Metadata {
            name: "blank".into(),
            split: Split::Train,
            origin: Origin::Generated {
                description: "unit test".into(),
            },
            files: vec![],
            variants: vec![],
        };
        Dataset::new(
            Pixels::U8(vec![0; n * shape.len()]),
            (0..n as u32).map(|i| i % 10).collect(),
            shape,
            (0..10).map(|c| c.to_string()).collect(),
            meta,
        )
        .unwrap()
    }

    fn estimate(model: &str, variants: &[&str], n: usize) -> MemoryEstimate {
        estimate_with(model, variants, &mnist_like(n), 2)
    }

    /// `emc measure`'s default training of `model` on `data` after `variants`, with `jobs`
    /// searches and probes at once.
    fn estimate_with(
        model: &str,
        variants: &[&str],
        data: &Dataset,
        jobs: usize,
    ) -> MemoryEstimate {
        let spec: ModelSpec = model.parse().unwrap();
        let variants: Vec<Variant> = variants.iter().map(|v| v.parse().unwrap()).collect();
        let sizes = Sizes::new(&spec, &variants, data).unwrap();
        let train = crate::MeasureConfig::measure_default("sgd").unwrap().train;
        MemoryEstimate::measurement(model.into(), &sizes, &train, jobs, jobs)
    }

    fn limit(gib: u64) -> MemoryLimit {
        MemoryLimit::new(Some(gib << 30)).unwrap()
    }

    #[test]
    fn the_issues_cases_are_refused_before_anything_is_allocated() {
        // 10^8 hidden units on 7x7 inputs: 5.9e9 parameters.
        let e = estimate("mlp:100000000", &["resize:7"], 100);
        let msg = e.check(Some(&limit(64))).unwrap_err().to_string();
        assert!(
            msg.starts_with("not enough memory: mlp:100000000 needs about"),
            "{msg}"
        );
        assert!(msg.contains("6000000010 parameters"), "{msg}");
        assert!(
            msg.contains("the limit is 64.0 GiB (--max-memory 64.0 GiB)"),
            "{msg}"
        );
        // Softmax regression on 1000x1000 inputs: the resized split alone is 4 GB per 1,000
        // images.
        let e = estimate("linear", &["resize:1000"], 1000);
        let msg = e.check(Some(&limit(16))).unwrap_err().to_string();
        assert!(
            msg.contains("training split of 1000 samples of 1x1000x1000"),
            "{msg}"
        );
    }

    #[test]
    fn estimates_are_near_measured_peaks() {
        // The README's first command (mlp:32:relu, 7x7 MNIST, jobs 2 and lockstep 4 as the
        // CLI runs it: 5 searches, 8 probes) peaked at 242 MiB resident, binary and the
        // loaded MNIST split (47 MB) included; estimated 206 MiB beyond those.
        let spec: ModelSpec = "mlp:32:relu".parse().unwrap();
        let resize: Vec<Variant> = vec!["resize:7".parse().unwrap()];
        let sizes = Sizes::new(&spec, &resize, &mnist_like(60_000)).unwrap();
        let train = crate::MeasureConfig::measure_default("sgd").unwrap().train;
        let e = MemoryEstimate::measurement("m".into(), &sizes, &train, 5, 8);
        assert!((150e6..300e6).contains(&e.total()), "{e}");
        // resnet18:k=16 on the 4,000 CIFAR-10 images, one probe (jobs 1): 8.5 GiB peak
        // resident (its evaluation batch of 1,024 holds the whole forward graph); the
        // estimate is within a factor of 2 of it.
        let e = estimate_with("resnet18:k=16", &[], &images(4_000, 3, 32), 1);
        let measured = 8.5 * (1u64 << 30) as f64;
        assert!((measured / 2.0..measured * 2.0).contains(&e.total()), "{e}");
    }

    #[test]
    fn the_estimate_grows_with_jobs_and_is_skipped_without_a_limit() {
        let spec: ModelSpec = "mlp:512".parse().unwrap();
        let sizes = Sizes::new(&spec, &[], &mnist_like(1000)).unwrap();
        let train = TrainConfig::default();
        let one = MemoryEstimate::measurement("m".into(), &sizes, &train, 1, 1);
        let four = MemoryEstimate::measurement("m".into(), &sizes, &train, 4, 4);
        assert!((four.total() - 4.0 * one.total()).abs() < 1.0);
        let huge = estimate("mlp:100000000", &[], 10);
        huge.check(None).unwrap();
    }

    /// Dropout adds its masks, augmentation its copies of the inputs (the whole subset for
    /// full batch); neither changes an estimate without them.
    #[test]
    fn dropout_and_augmentation_add_their_buffers() {
        let spec: ModelSpec = "mlp:64".parse().unwrap();
        let sizes = Sizes::new(&spec, &[], &mnist_like(1000)).unwrap();
        let plain = TrainConfig::default();
        let base = MemoryEstimate::measurement("m".into(), &sizes, &plain, 1, 1);
        assert_eq!(base.parts.len(), 4);
        let dropout = TrainConfig {
            dropout: 0.1,
            ..plain.clone()
        };
        let d = MemoryEstimate::measurement("m".into(), &sizes, &dropout, 1, 1);
        let masks = 128.0 * sizes.activations * F32;
        assert!((d.total() - base.total() - masks).abs() < 1.0, "{d}");
        let augment = TrainConfig {
            augment: emc_train::Augment {
                crop_padding: 2,
                hflip: false,
            },
            ..plain.clone()
        };
        let a = MemoryEstimate::measurement("m".into(), &sizes, &augment, 1, 1);
        assert!(
            (a.total() - base.total() - 2.0 * 128.0 * 784.0 * F32).abs() < 1.0,
            "{a}"
        );
        let full = TrainConfig {
            batching: Batching::Full { chunk: 100 },
            ..augment
        };
        let full_plain = TrainConfig {
            batching: Batching::Full { chunk: 100 },
            ..plain
        };
        let f = MemoryEstimate::measurement("m".into(), &sizes, &full, 1, 1);
        let fp = MemoryEstimate::measurement("m".into(), &sizes, &full_plain, 1, 1);
        assert!(
            (f.total() - fp.total() - 2.0 * sizes.split_bytes()).abs() < 1.0,
            "{f}"
        );
    }

    #[test]
    fn memory_sizes_parse_with_units_and_refuse_nonsense() {
        assert_eq!(parse_memory_size("8GiB"), Ok(8 << 30));
        assert_eq!(parse_memory_size("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_memory_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_memory_size("4096"), Ok(4096));
        let err = parse_memory_size("lots").unwrap_err();
        assert!(err.starts_with("`lots`") && err.contains("8GiB"), "{err}");
        assert!(parse_memory_size("0").unwrap_err().contains("zero"));
    }

    #[test]
    fn an_explicit_limit_is_named_as_such() {
        let l = MemoryLimit::new(Some(1 << 20)).unwrap();
        assert_eq!(l.bytes, 1 << 20);
        assert_eq!(l.source, "--max-memory 1.0 MiB");
        // The machine's own limit, whatever it is, is positive and says where it is from.
        if let Some(l) = MemoryLimit::new(None) {
            assert!(l.bytes > 0 && l.source.contains("memory"), "{l:?}");
        }
    }
}
