//! Training throughput on the reference workloads, measured exactly as the repository's
//! `scripts/torch_reference.py` measures PyTorch: random inputs, labels `i % 10`,
//! cross-entropy, plain SGD with lr 0.01, one optimizer step per batch with the loss read
//! back every step, three warm-up steps, then at least `min_steps` steps and `min_seconds`.
//! The steps are the trainer's own ([`minibatch_step`], [`full_batch_step`]).

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use emc_models::{InputShape, ModelSpec};
use emc_optim::OptimConfig;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{Result, TrainError};
use crate::trainer::{full_batch_step, minibatch_step};

/// One benchmark workload.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Name, as `emc bench` and `scripts/torch_reference.py` print it.
    pub name: &'static str,
    /// Short key for `--only`.
    pub key: &'static str,
    /// The model.
    pub spec: String,
    /// Input geometry.
    pub input: InputShape,
    /// Samples per optimizer step.
    pub batch: usize,
    /// Full-batch gradient descent accumulated over this many chunks (0: a minibatch step).
    pub full_batch_chunks: usize,
}

/// The four reference workloads of the speed issue.
pub fn reference_workloads() -> Vec<Workload> {
    let mnist = InputShape {
        channels: 1,
        height: 28,
        width: 28,
    };
    let cifar = InputShape {
        channels: 3,
        height: 32,
        width: 32,
    };
    vec![
        Workload {
            name: "mlp_784-512-512-10_b128",
            key: "mlp",
            spec: "mlp:512x512:relu".into(),
            input: mnist,
            batch: 128,
            full_batch_chunks: 0,
        },
        Workload {
            name: "cnn_32-64_pool_b128",
            key: "cnn",
            spec: BENCH_CNN.into(),
            input: cifar,
            batch: 128,
            full_batch_chunks: 0,
        },
        Workload {
            name: "vit_d128_l4_h4_p4_b128",
            key: "vit",
            spec: BENCH_VIT.into(),
            input: cifar,
            batch: 128,
            full_batch_chunks: 0,
        },
        Workload {
            name: "mlp_full_batch_gd_n4096",
            key: "gd",
            spec: "mlp:512x512:relu".into(),
            input: mnist,
            batch: 4096,
            full_batch_chunks: 4,
        },
    ]
}

/// The tiny CNN that EMC claims train by the hundred, on 14x14 MNIST, at a small and a large
/// batch: per-op overhead matters here more than arithmetic.
pub fn emc_workloads() -> Vec<Workload> {
    let mnist14 = InputShape {
        channels: 1,
        height: 14,
        width: 14,
    };
    [
        (32, "cnn_4-8_pool_14x14_b32", "tiny32"),
        (256, "cnn_4-8_pool_14x14_b256", "tiny256"),
    ]
    .into_iter()
    .map(|(batch, name, key)| Workload {
        name,
        key,
        spec: TINY_CNN.into(),
        input: mnist14,
        batch,
        full_batch_chunks: 0,
    })
    .collect()
}

/// Every workload `emc bench` runs: the reference ones, then the EMC-sized ones.
pub fn all_workloads() -> Vec<Workload> {
    let mut all = reference_workloads();
    all.extend(emc_workloads());
    all
}

/// conv3x3(4) → relu → maxpool 2 → conv3x3(8) → relu → maxpool 2 → flatten → linear.
pub const TINY_CNN: &str = "cnn:4,8:relu:pool=all:flatten";
/// conv3x3(32) → relu → conv3x3(64) → relu → maxpool 2 → flatten → linear.
pub const BENCH_CNN: &str = "cnn:32,64:relu:pool=last:flatten";
/// ViT dim 128, depth 4, 4 heads, patch 4, MLP 256, mean pooling.
pub const BENCH_VIT: &str = "vit:patch4,d128,depth4,heads4,mlp256,pool=mean";

/// A measured throughput.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchResult {
    /// Workload name.
    pub name: &'static str,
    /// Samples per second.
    pub samples_per_sec: f64,
    /// Milliseconds per optimizer step.
    pub ms_per_step: f64,
    /// Steps timed.
    pub steps: usize,
}

/// Times a workload on `device`.
pub fn measure(
    w: &Workload,
    device: &Device,
    min_seconds: f64,
    min_steps: usize,
) -> Result<BenchResult> {
    let spec: ModelSpec = w.spec.parse()?;
    let built = spec.build(w.input, 10, 0, DType::F32, device)?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let len = w.batch * w.input.channels * w.input.height * w.input.width;
    let values: Vec<f32> = (0..len).map(|_| StandardNormal.sample(&mut rng)).collect();
    let x = Tensor::from_vec(
        values,
        (w.batch, w.input.channels, w.input.height, w.input.width),
        device,
    )?;
    let y = Tensor::from_vec(
        (0..w.batch as u32).map(|i| i % 10).collect::<Vec<_>>(),
        w.batch,
        device,
    )?;
    let mut opt = emc_optim::build(&OptimConfig::sgd(0.01, 0.0), built.trainable.clone())?;
    let model = built.model.as_ref();
    let mut step = || -> Result<()> {
        let out = if w.full_batch_chunks == 0 {
            minibatch_step(model, opt.as_mut(), &x, &y, 0.0)?
        } else {
            let chunk = w.batch.div_ceil(w.full_batch_chunks);
            full_batch_step(model, &built.trainable, opt.as_mut(), (&x, &y), chunk, 0.0)?
        };
        out.map(|_| ())
            .ok_or_else(|| TrainError::Data(format!("{}: the benchmark diverged", w.name)))
    };
    for _ in 0..3 {
        step()?;
    }
    let start = Instant::now();
    let mut steps = 0;
    while steps < min_steps || start.elapsed().as_secs_f64() < min_seconds {
        step()?;
        steps += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(BenchResult {
        name: w.name,
        samples_per_sec: (steps * w.batch) as f64 / seconds,
        ms_per_step: 1000.0 * seconds / steps as f64,
        steps,
    })
}
