//! The one place a probe is trained: fit a model to an in-memory subset until every
//! sample is classified correctly, or stop and say why it did not.

use std::time::Instant;

use candle_core::{DType, Tensor, Var};
use emc_models::Model;
use emc_optim::Optimizer;
use emc_results::StopReason;
use serde::{Deserialize, Serialize};

use crate::config::{Batching, TrainConfig};
use crate::error::{Result, TrainError};
use crate::eval::{evaluate, full_gradient_smoothed, training_loss, Evaluation};
use crate::hessian::min_hessian_eigenvalue;
use crate::run::{Outcome, Run, Want};

/// The outcome of one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Whether the model classifies all `n` training samples correctly (eval mode).
    pub fitted: bool,
    /// Why training stopped.
    pub stop: StopReason,
    /// Number of training samples.
    pub n: usize,
    /// Epochs run.
    pub epochs: usize,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Exact training accuracy at the end (eval mode, all samples).
    pub train_accuracy: f64,
    /// Mean training cross-entropy at the end (eval mode, plain labels: never
    /// label-smoothed).
    pub train_loss: f64,
    /// Gradient norm: of the full-data mean loss at the final weights for failures (the
    /// certificate), of the last step for fits.
    pub grad_norm: f64,
    /// Most negative Hessian eigenvalue estimate at a failure, when the check ran
    /// (near zero or positive: a minimum; clearly negative: a saddle).
    pub min_hessian_eigenvalue: Option<f64>,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Training throughput: samples processed by optimizer steps per second.
    pub samples_per_sec: f64,
}

/// A progress event, sent after each evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Epochs done.
    pub epoch: usize,
    /// Steps done.
    pub step: usize,
    /// Mean training loss of the last epoch (label-smoothed when training is).
    pub epoch_loss: f64,
    /// Exact training accuracy after the epoch.
    pub train_accuracy: f64,
}

/// The training subset: `images` `[n, ...]` as the model expects them and `labels` `[n]`
/// (`u32`), on the model's device.
#[derive(Debug, Clone, Copy)]
pub struct TrainData<'a> {
    /// Inputs.
    pub images: &'a Tensor,
    /// Class indices.
    pub labels: &'a Tensor,
}

impl TrainData<'_> {
    pub(crate) fn check(&self) -> Result<usize> {
        let n = self.labels.dim(0)?;
        if self.labels.rank() != 1 || self.labels.dtype() != DType::U32 {
            return Err(TrainError::Data(format!(
                "labels are {:?} {:?}; expected a rank-1 u32 tensor",
                self.labels.dtype(),
                self.labels.dims()
            )));
        }
        if self.images.dim(0)? != n {
            return Err(TrainError::Data(format!(
                "{} images but {n} labels; expected equal counts",
                self.images.dim(0)?
            )));
        }
        if n == 0 {
            return Err(TrainError::Data("no sample; expected at least one".into()));
        }
        Ok(n)
    }
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// One optimizer step on a minibatch (training mode) on the cross-entropy label-smoothed
/// by `label_smoothing` (0: none), through the model's reparameterisation if it has one
/// (the gradient pulled back to the optimizer's variables, the weights written after the
/// step; see [`emc_models::reparam`]): returns the loss before the step and the gradient norm,
/// or `None` when either is not finite (divergence; the step is not applied when the loss
/// already is).
pub fn minibatch_step(
    model: &dyn Model,
    opt: &mut dyn Optimizer,
    x: &Tensor,
    y: &Tensor,
    label_smoothing: f64,
) -> Result<Option<(f64, f64)>> {
    let loss = training_loss(&model.forward(x, true)?, y, label_smoothing)?;
    let l = scalar(&loss)?;
    if !l.is_finite() {
        return Ok(None);
    }
    let grads = emc_models::pull_back(model, loss.backward()?)?;
    let norm = opt.step(&grads)?;
    emc_models::sync(model)?;
    Ok(norm.is_finite().then_some((l, norm)))
}

/// One full-batch gradient-descent step on the exact mean-loss gradient over all samples
/// (the loss label-smoothed by `label_smoothing`), accumulated in chunks; returns the loss
/// before the step and the gradient norm, or `None` on divergence.
pub fn full_batch_step(
    model: &dyn Model,
    trainable: &[Var],
    opt: &mut dyn Optimizer,
    (images, labels): (&Tensor, &Tensor),
    chunk: usize,
    label_smoothing: f64,
) -> Result<Option<(f64, f64)>> {
    let (grads, l, _) =
        full_gradient_smoothed(model, trainable, images, labels, chunk, label_smoothing)?;
    if !l.is_finite() {
        return Ok(None);
    }
    let norm = opt.step(&grads)?;
    emc_models::sync(model)?;
    Ok(norm.is_finite().then_some((l, norm)))
}

/// Trains `model` (whose optimizer-updated variables are `trainable`) on `data` until every
/// sample is classified correctly or a stop rule fires. `seed` drives the minibatch order.
///
/// The exact training accuracy is evaluated every `cfg.eval_every` epochs, before the
/// first epoch, and at the end; training stops as soon as it is 100%. A NaN or infinite
/// loss stops training as [`StopReason::Diverged`], never as a fit. Augmentation
/// (`cfg.augment`) changes the batches the steps see, never the samples the fit is judged
/// on. The rules live in one tensor-free state machine (`run.rs`); [`crate::fit_lockstep`]
/// drives the same rules for several models at once.
pub fn fit(
    model: &dyn Model,
    trainable: &[Var],
    data: TrainData<'_>,
    cfg: &TrainConfig,
    seed: u64,
    mut on_progress: Option<&mut dyn FnMut(&Progress)>,
) -> Result<FitReport> {
    cfg.validate()?;
    let n = data.check()?;
    let start = Instant::now();
    // A budget-relative schedule (`cosine-budget`) spans this run's whole step budget.
    let mut opt = emc_optim::build(
        &cfg.optim.for_budget(cfg.step_budget(n)),
        trainable.to_vec(),
    )?;
    let device = data.images.device().clone();
    let mut run = Run::new(cfg, n, seed);
    // Sample indices of a full batch (to key its augmentation), only when augmenting.
    let all: Vec<u32> = match (cfg.batching, cfg.augment.is_none()) {
        (Batching::Full { .. }, false) => (0..n as u32).collect(),
        _ => Vec::new(),
    };
    let outcome = loop {
        match run.next() {
            Want::Evaluate => {
                let eval = evaluate(model, data.images, data.labels, cfg.eval_batch)?;
                run.evaluated(eval, on_progress.as_deref_mut());
            }
            Want::Step(range) => {
                let rows = &run.order()[range];
                let idx = Tensor::from_slice(rows, rows.len(), &device)?;
                let x = data.images.index_select(&idx, 0)?;
                let x = cfg.augment.apply(&x, rows, seed, run.epochs)?;
                let y = data.labels.index_select(&idx, 0)?;
                let step = minibatch_step(model, opt.as_mut(), &x, &y, cfg.label_smoothing)?;
                run.stepped(step, idx.dim(0)?);
            }
            Want::FullStep { chunk } => {
                let images = cfg.augment.apply(data.images, &all, seed, run.epochs)?;
                let step = full_batch_step(
                    model,
                    trainable,
                    opt.as_mut(),
                    (&images, data.labels),
                    chunk,
                    cfg.label_smoothing,
                )?;
                run.stepped(step, n);
            }
            Want::Done(outcome) => break outcome,
        }
    };
    conclude(model, trainable, data, cfg, seed, &run, outcome, start)
}

/// The report of a finished run; a failure is first certified with the full-data gradient
/// (and optionally the Hessian), on the model's final weights.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conclude(
    model: &dyn Model,
    trainable: &[Var],
    data: TrainData<'_>,
    cfg: &TrainConfig,
    seed: u64,
    run: &Run,
    outcome: Outcome,
    start: Instant,
) -> Result<FitReport> {
    let n = run.n;
    let finish = |stop: StopReason, grad_norm: f64, eval: Evaluation, hess| {
        let seconds = start.elapsed().as_secs_f64();
        FitReport {
            fitted: stop == StopReason::Fitted,
            stop,
            n,
            epochs: run.epochs,
            steps: run.steps,
            train_accuracy: eval.accuracy(),
            train_loss: eval.loss,
            grad_norm,
            min_hessian_eigenvalue: hess,
            seconds,
            samples_per_sec: run.samples as f64 / seconds.max(1e-9),
        }
    };
    let stop = match outcome {
        Outcome::Fitted(eval) => {
            // Fitted before any step: no gradient was taken.
            let norm = if run.steps == 0 { 0.0 } else { run.last_norm };
            return Ok(finish(StopReason::Fitted, norm, eval, None));
        }
        Outcome::Failed(stop) => stop,
    };
    let eval = evaluate(model, data.images, data.labels, cfg.eval_batch)?;
    if stop == StopReason::Diverged || !eval.loss.is_finite() {
        return Ok(finish(StopReason::Diverged, run.last_norm, eval, None));
    }
    let chunk = match cfg.batching {
        Batching::Full { chunk } => chunk,
        Batching::Mini(_) => cfg.eval_batch,
    };
    let (grads, _, _) = full_gradient_smoothed(
        model,
        trainable,
        data.images,
        data.labels,
        chunk,
        cfg.label_smoothing,
    )?;
    let norm = emc_optim::grad_norm(trainable, &grads)?;
    let stop = if stop == StopReason::Plateau && norm <= cfg.stop.grad_tol {
        StopReason::SmallGradient
    } else {
        stop
    };
    let hess = if cfg.stop.hessian_check {
        Some(min_hessian_eigenvalue(
            model,
            trainable,
            (data.images, data.labels),
            (chunk, cfg.label_smoothing),
            cfg.stop.hessian_iters,
            seed,
        )?)
    } else {
        None
    };
    Ok(finish(stop, norm, eval, hess))
}
