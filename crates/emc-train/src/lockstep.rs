//! Lockstep training: several small models of one spec (different seeds, different
//! training sets, even different sizes `n`) stacked into one [`Stacked`] model and trained
//! together, one optimizer step each per tick, so that the per-op overhead that dominates
//! tiny models is paid once per tick instead of once per model.
//!
//! Every member follows exactly the rules of [`crate::fit`] (the shared [`Run`] state
//! machine) and its numbers are those of training it alone, bit for bit: the stacked
//! kernels make each member's products, losses and gradients with the very calls the
//! single-model kernels make, the optimizer update is element-wise, and the gradient norm
//! is summed per member in the same order. A member whose run ends leaves the stack idle
//! (no rows; its slice is written back to its own model first) while the others go on.
//! Label smoothing goes along: the packed loss smooths each member's rows as its own loss
//! does, and evaluations, as alone, use the plain labels.

use std::ops::Range;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use emc_models::kernels::{
    member_square_sums, segmented_cross_entropy, segmented_smoothed_cross_entropy,
};
use emc_models::{Built, InputShape, ModelSpec, Segments, Stacked};

use crate::config::{Batching, TrainConfig};
use crate::error::{Result, TrainError};
use crate::eval::{chunks, Evaluation};
use crate::run::{Run, Want};
use crate::trainer::{conclude, FitReport, Progress, TrainData};

/// A progress callback that may travel to the thread that trains the group.
pub type ProgressFn<'a> = Box<dyn FnMut(&Progress) + Send + 'a>;

/// One model of a lockstep group: its freshly built model (whose weights are stacked and,
/// at the end, overwritten with the trained ones), its training set and its seed.
pub struct Member<'a> {
    /// The model, as [`ModelSpec::build`] made it.
    pub built: Built,
    /// Inputs `[n, ...]`.
    pub images: Tensor,
    /// Class indices `[n]` (`u32`).
    pub labels: Tensor,
    /// Drives the minibatch order (as in [`crate::fit`]).
    pub seed: u64,
    /// Receives the member's end-of-epoch evaluations.
    pub on_progress: Option<ProgressFn<'a>>,
}

/// Whether models of `spec` trained with `cfg` can go in lockstep: models that stack
/// ([`Stacked::supports`]: `mlp`, `linear`, `cnn` without batch norm) trained by
/// minibatches without gradient clipping (the clip coefficient needs each member's norm
/// before the shared update), by an optimizer that updates each element on its own: not
/// Shampoo, whose preconditioners of a stacked weight would mix the members; and without
/// dropout (stacked models have none) or data augmentation (the lockstep driver does not
/// augment).
pub fn can_lockstep(spec: &ModelSpec, cfg: &TrainConfig) -> bool {
    Stacked::supports(spec)
        && cfg.dropout == 0.0
        && cfg.augment.is_none()
        && matches!(cfg.batching, Batching::Mini(_))
        && cfg.optim.clip_grad_norm.is_none()
        && !matches!(cfg.optim.kind, emc_optim::OptimKind::Shampoo { .. })
}

/// The key under which probes can share a lockstep group: models of `spec` with `classes`
/// outputs trained with `cfg` on `n` samples of `input` go together exactly when their keys
/// are equal; `None` when they cannot go in lockstep at all ([`can_lockstep`]).
pub fn lockstep_key(
    spec: &ModelSpec,
    input: InputShape,
    classes: usize,
    cfg: &TrainConfig,
    n: usize,
) -> Option<String> {
    if !can_lockstep(spec, cfg) {
        return None;
    }
    // A budget-relative schedule depends on n: resolve it, so that members share the
    // optimizer exactly when their updates are the same function of the step.
    let mut resolved = cfg.clone();
    resolved.optim = cfg.optim.for_budget(cfg.step_budget(n));
    let cfg_text = serde_json::to_string(&resolved).ok()?;
    Some(format!(
        "{spec}|{}x{}x{}|{classes} classes|{cfg_text}",
        input.channels, input.height, input.width
    ))
}

/// Trains `members` (models of `spec` with `classes` outputs on inputs of `input`) in
/// lockstep with `cfg`; calls
/// `on_done(k, built, report)` as soon as member `k`'s run is over, with its model holding
/// the trained weights. The members must share one [`lockstep_key`]; each report equals
/// what [`crate::fit`] returns for that member alone, timings aside.
pub fn fit_lockstep<'a>(
    spec: &ModelSpec,
    input: InputShape,
    classes: usize,
    cfg: &TrainConfig,
    members: Vec<Member<'a>>,
    on_done: &mut dyn FnMut(usize, Built, FitReport),
) -> Result<()> {
    cfg.validate()?;
    let start = Instant::now();
    let mut ns = Vec::with_capacity(members.len());
    for m in &members {
        let n = TrainData {
            images: &m.images,
            labels: &m.labels,
        }
        .check()?;
        if !matches!(m.images.device(), Device::Cpu) || m.images.dtype() != DType::F32 {
            return Err(TrainError::Data(
                "lockstep training runs f32 models on the CPU".into(),
            ));
        }
        ns.push(n);
    }
    let keys: Vec<Option<String>> = ns
        .iter()
        .map(|&n| lockstep_key(spec, input, classes, cfg, n))
        .collect();
    if keys.iter().any(|k| k.is_none() || *k != keys[0]) {
        return Err(TrainError::Data(format!(
            "these {} probes of `{spec}` cannot train in lockstep (different budgets, or a \
             family, batching or clipping that lockstep does not support)",
            members.len()
        )));
    }
    let optim = cfg.optim.for_budget(cfg.step_budget(ns[0]));
    let builts: Vec<&Built> = members.iter().map(|m| &m.built).collect();
    let stacked = Stacked::new(spec, input, &builts)?.ok_or_else(|| {
        TrainError::Data(format!("`{spec}` cannot be stacked for lockstep training"))
    })?;
    let mut opt = emc_optim::build(&optim, stacked.vars().to_vec())?;
    let k_all = members.len();
    let mut runs: Vec<Run> = ns
        .iter()
        .zip(&members)
        .map(|(&n, m)| Run::new(cfg, n, m.seed))
        .collect();
    let packed = Packed::new(&members)?;
    let mut slots: Vec<Option<Member>> = members.into_iter().map(Some).collect();
    // Whether a member's slice was already written back (a divergence is reported with the
    // weights before the step that the others still take).
    let mut written = vec![false; k_all];

    loop {
        // Advance every member to its next step, evaluating in batches on the way.
        let mut steps: Vec<Option<Range<usize>>> = vec![None; k_all];
        loop {
            let mut evals = vec![];
            for k in 0..k_all {
                if slots[k].is_none() {
                    continue;
                }
                match runs[k].next() {
                    Want::Evaluate => evals.push(k),
                    Want::Step(range) => steps[k] = Some(range),
                    Want::FullStep { .. } => {
                        return Err(TrainError::Data(
                            "full-batch training does not run in lockstep".into(),
                        ))
                    }
                    Want::Done(outcome) => {
                        let Some(m) = slots[k].take() else { continue };
                        if !written[k] {
                            stacked.write_member(k, &m.built)?;
                        }
                        let data = TrainData {
                            images: &m.images,
                            labels: &m.labels,
                        };
                        let report = conclude(
                            m.built.model.as_ref(),
                            &m.built.trainable,
                            data,
                            cfg,
                            m.seed,
                            &runs[k],
                            outcome,
                            start,
                        )?;
                        on_done(k, m.built, report);
                    }
                }
            }
            if evals.is_empty() {
                break;
            }
            let results = evaluate_members(&stacked, &packed, &evals, cfg.eval_batch)?;
            for (k, eval) in evals.into_iter().zip(results) {
                let cb = slots[k]
                    .as_mut()
                    .and_then(|m| m.on_progress.as_deref_mut())
                    .map(|f| f as &mut dyn FnMut(&Progress));
                runs[k].evaluated(eval, cb);
            }
        }
        if steps.iter().all(Option::is_none) {
            return Ok(());
        }

        // One optimizer step for every member still training.
        let mut segments = Vec::with_capacity(k_all);
        let mut rows = vec![];
        for (k, step) in steps.iter().enumerate() {
            let range = step.clone().unwrap_or_default();
            segments.push((k, range.len()));
            rows.extend(
                runs[k].order()[range]
                    .iter()
                    .map(|&i| packed.offsets[k] + i),
            );
        }
        let segments = Segments::new(segments);
        let (xs, ys) = packed.rows(&rows)?;
        let logits = stacked.forward(&xs, &segments)?;
        let losses =
            segmented_smoothed_cross_entropy(&logits, &ys, &segments, cfg.label_smoothing)?;
        let loss_values = losses.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        let mut stepping = vec![];
        for (k, step) in steps.iter().enumerate() {
            let Some(range) = step else { continue };
            if loss_values[k].is_finite() {
                stepping.push((k, range.len()));
            } else {
                // Diverged: reported with the weights before this step, as alone.
                if let Some(m) = &slots[k] {
                    stacked.write_member(k, &m.built)?;
                    written[k] = true;
                }
                runs[k].stepped(None, range.len());
            }
        }
        if stepping.is_empty() {
            continue;
        }
        let grads = losses.sum_all()?.backward()?;
        // Each member's gradient norm, summed over the variables in the order
        // `emc_optim::grad_norm` sums them.
        let mut square_sums: Vec<Vec<f64>> = vec![vec![]; k_all];
        for var in stacked.vars() {
            let Some(g) = grads.get(var) else { continue };
            let sums = member_square_sums(g)?
                .to_dtype(DType::F64)?
                .to_vec1::<f64>()?;
            for (acc, s) in square_sums.iter_mut().zip(sums) {
                acc.push(s);
            }
        }
        // Each member's norm is measured above; the update needs none (no clipping).
        opt.step_unmeasured(&grads)?;
        for (k, rows) in stepping {
            let norm = square_sums[k].iter().sum::<f64>().sqrt();
            runs[k].stepped(norm.is_finite().then_some((loss_values[k], norm)), rows);
        }
    }
}

/// Exact evaluations of the members `which`, all in one stacked pass: each member's
/// training set in chunks of `batch`, as [`crate::evaluate`] makes them, so the counts and
/// losses are the same bits.
fn evaluate_members(
    stacked: &Stacked,
    packed: &Packed,
    which: &[usize],
    batch: usize,
) -> Result<Vec<Evaluation>> {
    let mut segments = vec![];
    let mut spans = Vec::with_capacity(which.len());
    let mut rows = vec![];
    for &k in which {
        let first = segments.len();
        for (s, e) in chunks(packed.lens[k], batch) {
            segments.push((k, e - s));
        }
        spans.push(first..segments.len());
        let start = packed.offsets[k];
        rows.extend(start..start + packed.lens[k] as u32);
    }
    let segments = Segments::new(segments);
    let (xs, ys) = packed.rows(&rows)?;
    let logits = stacked.forward(&xs, &segments)?.detach();
    let means = segmented_cross_entropy(&logits, &ys, &segments)?.to_vec1::<f32>()?;
    let hits: Vec<u8> = logits.argmax(1)?.eq(&ys)?.to_vec1::<u8>()?;
    let ranges: Vec<Range<usize>> = segments.ranges().map(|(_, r)| r).collect();
    Ok(spans
        .into_iter()
        .map(|span| {
            let (mut correct, mut total, mut loss) = (0usize, 0usize, 0f64);
            for i in span {
                let rows = ranges[i].len();
                correct += hits[ranges[i].clone()].iter().filter(|&&h| h != 0).count();
                total += rows;
                // `evaluate` scales each chunk's mean back to a sum in the logits' dtype.
                loss += f64::from(means[i] * rows as f32 + 0.0);
            }
            Evaluation {
                correct,
                total,
                loss: loss / total.max(1) as f64,
            }
        })
        .collect())
}

/// Every member's training set in one pair of tensors, member after member, so that a
/// tick's rows (or an evaluation's) are gathered by one `index_select` each.
struct Packed {
    images: Tensor,
    labels: Tensor,
    /// Member `k`'s first row.
    offsets: Vec<u32>,
    /// Member `k`'s rows.
    lens: Vec<usize>,
}

impl Packed {
    fn new(members: &[Member]) -> Result<Self> {
        let images: Vec<&Tensor> = members.iter().map(|m| &m.images).collect();
        let labels: Vec<&Tensor> = members.iter().map(|m| &m.labels).collect();
        let lens: Vec<usize> = members
            .iter()
            .map(|m| m.labels.dim(0))
            .collect::<candle_core::Result<_>>()?;
        let total: usize = lens.iter().sum();
        if u32::try_from(total).is_err() {
            return Err(TrainError::Data(format!(
                "{total} samples in one lockstep group; expected fewer than 2^32"
            )));
        }
        let offsets = lens
            .iter()
            .scan(0u32, |start, &n| {
                let s = *start;
                *start += n as u32;
                Some(s)
            })
            .collect();
        Ok(Packed {
            images: Tensor::cat(&images, 0)?,
            labels: Tensor::cat(&labels, 0)?,
            offsets,
            lens,
        })
    }

    /// The packed rows `rows` (indices into the packed tensors), inputs and labels.
    fn rows(&self, rows: &[u32]) -> Result<(Tensor, Tensor)> {
        let idx = Tensor::from_slice(rows, rows.len(), self.images.device())?;
        Ok((
            self.images.index_select(&idx, 0)?,
            self.labels.index_select(&idx, 0)?,
        ))
    }
}
