//! The rules of one training run as a state machine: which minibatch comes next, when the
//! training set is evaluated, and when and why the run stops. It does no tensor work; a
//! driver ([`crate::fit`] for one model, [`crate::fit_lockstep`] for several stacked ones)
//! asks it what to do next and reports back, so both follow the same rules step for step.

use std::ops::Range;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::{Batching, TrainConfig};
use crate::eval::Evaluation;
use crate::trainer::Progress;
use emc_results::StopReason;

/// Random stream of the minibatch shuffle (the model initialisation uses its own).
const SHUFFLE_STREAM: u64 = 0x5348_5546;

/// What the driver does next.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Want {
    /// Evaluate the whole training set exactly (eval mode), then call [`Run::evaluated`].
    Evaluate,
    /// One optimizer step on the samples `order()[range]`, then [`Run::stepped`].
    Step(Range<usize>),
    /// One full-batch step (gradient accumulated in chunks of `chunk`), then
    /// [`Run::stepped`].
    FullStep { chunk: usize },
    /// The run is over.
    Done(Outcome),
}

/// How a run ended, before a failure is certified.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Outcome {
    /// Every sample classified correctly, by this evaluation.
    Fitted(Evaluation),
    /// Stopped without a fit.
    Failed(StopReason),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// The evaluation before the first epoch.
    Initial,
    /// About to start an epoch (or stop for lack of epochs).
    StartEpoch,
    /// Inside an epoch: the next minibatch starts at `cursor`.
    InEpoch {
        cursor: usize,
    },
    /// A full-batch epoch's step is due.
    FullStep,
    /// The epoch's steps are done.
    EndEpoch,
    /// Waiting for the end-of-epoch evaluation.
    AwaitEval(EpochEnd),
    Done(Outcome),
}

/// What the end of an epoch decided before its evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
struct EpochEnd {
    epoch_loss: f64,
    out_of_steps: bool,
    stop_suspected: bool,
}

/// Tracks the best epoch loss for the plateau rule.
#[derive(Debug)]
struct Plateau {
    best: f64,
    since: usize,
}

impl Plateau {
    /// Records an epoch loss; returns whether the patience is exhausted.
    fn update(&mut self, loss: f64, rel: f64, patience: usize) -> bool {
        if loss < self.best * (1.0 - rel) || !self.best.is_finite() {
            self.best = loss;
            self.since = 0;
        } else {
            self.since += 1;
        }
        patience > 0 && self.since >= patience
    }
}

/// One run's counters and stop rules (see the module doc).
#[derive(Debug)]
pub(crate) struct Run<'c> {
    cfg: &'c TrainConfig,
    /// Training samples.
    pub(crate) n: usize,
    rng: ChaCha8Rng,
    order: Vec<u32>,
    /// Epochs started.
    pub(crate) epochs: usize,
    /// Optimizer steps taken.
    pub(crate) steps: usize,
    /// Samples processed by optimizer steps.
    pub(crate) samples: usize,
    /// Gradient norm of the last step.
    pub(crate) last_norm: f64,
    plateau: Plateau,
    phase: Phase,
    loss_sum: f64,
    norm_sum: f64,
    batches: usize,
    epoch_samples: usize,
}

impl<'c> Run<'c> {
    /// A run of `cfg` on `n` samples whose minibatch order is drawn with `seed`.
    pub(crate) fn new(cfg: &'c TrainConfig, n: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(SHUFFLE_STREAM);
        Run {
            cfg,
            n,
            rng,
            order: (0..n as u32).collect(),
            epochs: 0,
            steps: 0,
            samples: 0,
            last_norm: f64::NAN,
            plateau: Plateau {
                best: f64::INFINITY,
                since: 0,
            },
            phase: Phase::Initial,
            loss_sum: 0.0,
            norm_sum: 0.0,
            batches: 0,
            epoch_samples: 0,
        }
    }

    /// The current epoch's sample order (indices into the training set).
    pub(crate) fn order(&self) -> &[u32] {
        &self.order
    }

    fn out_of_steps(&self) -> bool {
        self.cfg.stop.max_steps.is_some_and(|m| self.steps >= m)
    }

    /// What to do next; repeated calls without a report return the same answer.
    pub(crate) fn next(&mut self) -> Want {
        loop {
            match self.phase {
                Phase::Initial | Phase::AwaitEval(_) => return Want::Evaluate,
                Phase::Done(outcome) => return Want::Done(outcome),
                Phase::StartEpoch => {
                    if self.epochs >= self.cfg.stop.max_epochs {
                        self.phase = Phase::Done(Outcome::Failed(StopReason::MaxEpochs));
                        continue;
                    }
                    self.epochs += 1;
                    (self.loss_sum, self.norm_sum) = (0.0, 0.0);
                    (self.batches, self.epoch_samples) = (0, 0);
                    self.phase = match self.cfg.batching {
                        Batching::Mini(_) => {
                            self.order.shuffle(&mut self.rng);
                            Phase::InEpoch { cursor: 0 }
                        }
                        Batching::Full { .. } => Phase::FullStep,
                    };
                }
                Phase::InEpoch { cursor } => {
                    let Batching::Mini(b) = self.cfg.batching else {
                        unreachable!("minibatch phase of a full-batch run")
                    };
                    if cursor < self.n {
                        return Want::Step(cursor..(cursor + b).min(self.n));
                    }
                    self.phase = Phase::EndEpoch;
                }
                Phase::FullStep => {
                    let Batching::Full { chunk } = self.cfg.batching else {
                        unreachable!("full-batch phase of a minibatch run")
                    };
                    return Want::FullStep { chunk };
                }
                Phase::EndEpoch => self.end_epoch(),
            }
        }
    }

    /// Closes the epoch: the plateau and small-gradient rules, and whether to evaluate.
    fn end_epoch(&mut self) {
        let stop = &self.cfg.stop;
        let small_grad = stop.grad_tol > 0.0
            && match self.cfg.batching {
                Batching::Mini(_) => self.norm_sum / self.batches.max(1) as f64 <= stop.grad_tol,
                Batching::Full { .. } => self.last_norm <= stop.grad_tol,
            };
        self.samples += self.epoch_samples;
        let epoch_loss = self.loss_sum / self.epoch_samples.max(1) as f64;
        let out_of_steps = self.out_of_steps();
        let last_epoch = self.epochs >= stop.max_epochs;
        let plateaued = self.plateau.update(
            epoch_loss,
            stop.plateau_rel_improvement,
            stop.plateau_patience,
        );
        let end = EpochEnd {
            epoch_loss,
            out_of_steps,
            stop_suspected: small_grad || plateaued,
        };
        self.phase = if self.epochs % self.cfg.eval_every == 0
            || out_of_steps
            || last_epoch
            || end.stop_suspected
        {
            Phase::AwaitEval(end)
        } else {
            Self::after_eval(end)
        };
    }

    /// The phase after an epoch that did not fit.
    fn after_eval(end: EpochEnd) -> Phase {
        if end.out_of_steps {
            Phase::Done(Outcome::Failed(StopReason::MaxSteps))
        } else if end.stop_suspected {
            // Minibatch norms only suggest a stationary point: the full data decides.
            Phase::Done(Outcome::Failed(StopReason::Plateau))
        } else {
            Phase::StartEpoch
        }
    }

    /// Reports a step: its loss (before the step) and gradient norm, or `None` when either
    /// was not finite (divergence); `rows` samples went into it.
    pub(crate) fn stepped(&mut self, step: Option<(f64, f64)>, rows: usize) {
        let Some((loss, norm)) = step else {
            self.phase = Phase::Done(Outcome::Failed(StopReason::Diverged));
            return;
        };
        self.last_norm = norm;
        self.loss_sum += loss * rows as f64;
        self.norm_sum += norm;
        self.batches += 1;
        self.steps += 1;
        self.epoch_samples += rows;
        self.phase = match self.phase {
            Phase::InEpoch { cursor } if !self.out_of_steps() => Phase::InEpoch {
                cursor: cursor + rows,
            },
            _ => Phase::EndEpoch,
        };
    }

    /// Reports the evaluation asked for by [`Want::Evaluate`]; end-of-epoch evaluations
    /// are passed on to `on_progress`.
    pub(crate) fn evaluated<'f>(
        &mut self,
        eval: Evaluation,
        on_progress: Option<&mut (dyn FnMut(&Progress) + 'f)>,
    ) {
        self.phase = match self.phase {
            Phase::Initial if eval.all_correct() => Phase::Done(Outcome::Fitted(eval)),
            Phase::Initial => Phase::StartEpoch,
            Phase::AwaitEval(end) => {
                if let Some(cb) = on_progress {
                    cb(&Progress {
                        epoch: self.epochs,
                        step: self.steps,
                        epoch_loss: end.epoch_loss,
                        train_accuracy: eval.accuracy(),
                    });
                }
                if !eval.loss.is_finite() {
                    Phase::Done(Outcome::Failed(StopReason::Diverged))
                } else if eval.all_correct() {
                    Phase::Done(Outcome::Fitted(eval))
                } else {
                    Self::after_eval(end)
                }
            }
            other => other,
        };
    }
}
