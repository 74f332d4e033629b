//! The training procedure as data: optimizer, batching, budget, stop rules and the
//! regularisation of training (label smoothing, dropout, data augmentation).

use emc_optim::OptimConfig;
use serde::{Deserialize, Serialize};

use crate::augment::Augment;
use crate::error::{Result, TrainError};

/// How many samples each optimizer step sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Batching {
    /// Minibatches of this size from a seeded shuffle each epoch (the last one may be
    /// smaller, as PyTorch's `drop_last=False`).
    Mini(usize),
    /// Full-batch gradient descent: one step per epoch on the exact gradient of the mean
    /// loss over all samples, accumulated in chunks of `chunk` samples (bounded memory).
    Full {
        /// Samples per accumulation chunk.
        chunk: usize,
    },
}

/// When training stops without a fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StopRules {
    /// Epoch budget (an epoch is one pass over the samples: `ceil(n / batch)` steps for
    /// minibatches, one step for full batch).
    pub max_epochs: usize,
    /// Optional step budget; whichever budget is reached first stops training.
    pub max_steps: Option<usize>,
    /// Plateau: stop when the best epoch loss has not improved by more than
    /// `plateau_rel_improvement` (relative) for `plateau_patience` epochs. 0 disables it.
    pub plateau_patience: usize,
    /// Relative improvement that counts as progress for the plateau rule.
    pub plateau_rel_improvement: f64,
    /// Stop when the full-data gradient norm falls below this (checked each step for full
    /// batch; for minibatches, when the epoch's mean minibatch gradient norm falls below it,
    /// confirmed on the full data). 0 disables it.
    pub grad_tol: f64,
    /// Estimate the most negative Hessian eigenvalue at a failure (Lanczos on
    /// finite-difference Hessian-vector products; for small models only).
    pub hessian_check: bool,
    /// Lanczos iterations of the Hessian check.
    pub hessian_iters: usize,
}

impl Default for StopRules {
    fn default() -> Self {
        StopRules {
            max_epochs: 200,
            max_steps: None,
            plateau_patience: 25,
            plateau_rel_improvement: 1e-3,
            grad_tol: 1e-5,
            hessian_check: false,
            hessian_iters: 20,
        }
    }
}

/// Everything that defines how a probe is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Optimizer, learning rate, schedule and clipping.
    pub optim: OptimConfig,
    /// Minibatch or full batch.
    pub batching: Batching,
    /// Budget and stop rules.
    pub stop: StopRules,
    /// Evaluate the exact training accuracy every this many epochs (1 = every epoch).
    pub eval_every: usize,
    /// Batch size of evaluation passes (no optimizer involved).
    pub eval_batch: usize,
    /// Label smoothing ε of the training loss, in `[0, 1)`: each sample's target puts
    /// `1 − ε` on its label and `ε / classes` on every class (PyTorch's `label_smoothing`).
    /// The optimizer steps, the plateau and small-gradient rules and a failure's gradient
    /// certificate (and Hessian check) all see this smoothed loss, the objective being
    /// minimised; evaluation (the fit: eval-mode 100% training accuracy, and the reported
    /// `train_loss`) uses the plain labels. Left out of the serde form at 0, so that
    /// configurations without it keep their hashes.
    #[serde(skip_serializing_if = "is_zero")]
    pub label_smoothing: f64,
    /// Dropout rate `p` in `[0, 1)` on every hidden activation in training forwards
    /// (`emc_models::ModelSpec::build_with_dropout`: every family but softmax regression), masks drawn from the
    /// probe's seed, so a probe stays a pure function of (config, seed, n). Evaluation (the
    /// fit: eval-mode 100% training accuracy, and `train_loss`) runs without dropout; the
    /// optimizer steps, the plateau and small-gradient rules and a failure's gradient
    /// certificate see the loss under fresh masks. Models trained with it never go in
    /// lockstep, and the Hessian check (a difference of two gradients) is refused with it.
    /// Left out of the serde form at 0, so that configurations without it keep their hashes.
    #[serde(skip_serializing_if = "is_zero")]
    pub dropout: f64,
    /// Data augmentation of the minibatches (random crop with padding, horizontal flip; see
    /// [`Augment`]), drawn per (seed, epoch, sample). Image data only. The optimizer steps
    /// and the plateau and small-gradient rules see the augmented batches (a full-batch run
    /// augments every sample each epoch); the fit (eval-mode 100% accuracy), `train_loss`
    /// and a failure's gradient certificate and Hessian check use the *un-augmented*
    /// samples, the set whose fit the EMC counts. Never in lockstep. Left out of the serde
    /// form when off, so that configurations without it keep their hashes.
    #[serde(skip_serializing_if = "Augment::is_none")]
    pub augment: Augment,
}

/// Whether a setting is at its neutral value 0 (then left out of the serde form).
fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            optim: OptimConfig::default(),
            batching: Batching::Mini(128),
            stop: StopRules::default(),
            eval_every: 1,
            eval_batch: 1024,
            label_smoothing: 0.0,
            dropout: 0.0,
            augment: Augment::default(),
        }
    }
}

impl TrainConfig {
    /// Checks every field, naming the first bad one and what it must be.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, expected: &str, got: String| {
            Err(TrainError::Config {
                field: field.to_string(),
                message: format!("{got}; expected {expected}"),
            })
        };
        match self.batching {
            Batching::Mini(0) => return bad("batching.mini", "a batch size >= 1", "0".into()),
            Batching::Full { chunk: 0 } => {
                return bad("batching.full.chunk", "a chunk size >= 1", "0".into())
            }
            _ => {}
        }
        if self.stop.max_epochs == 0 {
            return bad("stop.max_epochs", ">= 1", "0".into());
        }
        if self.stop.max_steps == Some(0) {
            return bad("stop.max_steps", ">= 1 (or unset)", "0".into());
        }
        if self.stop.plateau_rel_improvement.is_nan() || self.stop.plateau_rel_improvement < 0.0 {
            let v = self.stop.plateau_rel_improvement;
            return bad(
                "stop.plateau_rel_improvement",
                "a number >= 0",
                v.to_string(),
            );
        }
        if self.stop.grad_tol.is_nan() || self.stop.grad_tol < 0.0 {
            return bad(
                "stop.grad_tol",
                "a number >= 0",
                self.stop.grad_tol.to_string(),
            );
        }
        if self.eval_every == 0 {
            return bad("eval_every", ">= 1", "0".into());
        }
        if self.eval_batch == 0 {
            return bad("eval_batch", ">= 1", "0".into());
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad(
                "label_smoothing",
                "a number in [0, 1)",
                self.label_smoothing.to_string(),
            );
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("dropout", "a rate in [0, 1)", self.dropout.to_string());
        }
        if self.stop.hessian_check && self.dropout > 0.0 {
            return bad(
                "stop.hessian_check",
                "false with dropout (the check differences two gradients, which fresh \
                 dropout masks would turn into noise)",
                "true".into(),
            );
        }
        if self.stop.hessian_check && self.stop.hessian_iters < 2 {
            return bad(
                "stop.hessian_iters",
                ">= 2",
                self.stop.hessian_iters.to_string(),
            );
        }
        // Building over no variable validates the optimizer settings.
        // A budget-relative schedule is checked as it will run: over this budget's steps.
        emc_optim::build(&self.optim.for_budget(self.stop.max_epochs.max(1)), vec![])
            .map(|_| ())
            .map_err(TrainError::from)
    }

    /// Optimizer steps in one epoch over `n` samples.
    pub fn steps_per_epoch(&self, n: usize) -> usize {
        match self.batching {
            Batching::Mini(b) => n.div_ceil(b).max(1),
            Batching::Full { .. } => 1,
        }
    }

    /// The step budget of a run on `n` samples: `max_epochs` epochs, or `max_steps` when
    /// that is fewer (what a `cosine-budget` schedule spans).
    pub fn step_budget(&self, n: usize) -> usize {
        let epochs = self.stop.max_epochs.saturating_mul(self.steps_per_epoch(n));
        self.stop.max_steps.map_or(epochs, |m| m.min(epochs))
    }
}
