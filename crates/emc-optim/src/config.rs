//! Optimizer configuration: what to build and its validation (the compact text form for the
//! CLI is in `text.rs`; grammar on [`OptimConfig`]).

use serde::{Deserialize, Serialize};

use crate::error::{OptimError, Result};

/// The update rule, with its rule-specific hyper-parameters (PyTorch's names and semantics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum OptimKind {
    /// `torch.optim.SGD`. With `momentum == 0` this is plain (full-batch or mini-batch) gradient
    /// descent: full-batch GD is this rule driven by a trainer that feeds the full-batch gradient.
    Sgd {
        momentum: f64,
        dampening: f64,
        nesterov: bool,
    },
    /// `torch.optim.Adam` (weight decay is L2, added to the gradient).
    Adam { beta1: f64, beta2: f64, eps: f64 },
    /// `torch.optim.AdamW` (weight decay is decoupled: `p *= 1 - lr * wd` before the Adam step).
    AdamW { beta1: f64, beta2: f64, eps: f64 },
    /// Shampoo as `torch_optimizer.Shampoo` (PyPI `torch-optimizer`) implements it: `eps` is
    /// its `epsilon` (the statistics start at `eps·I`), the roots are recomputed every
    /// `update_freq` steps, weight decay is L2; `graft` optionally takes each var's step
    /// size from another rule ([`Graft`]; torch-optimizer has none). The exact update, and
    /// how it differs from the paper, are in the `shampoo` module's docs (in the source).
    Shampoo {
        momentum: f64,
        eps: f64,
        update_freq: usize,
        /// Absent from a recorded config when [`Graft::None`], so configs recorded before
        /// grafting existed keep their hashes.
        #[serde(default, skip_serializing_if = "Graft::is_none")]
        graft: Graft,
    },
}

/// Where Shampoo's step size comes from (grafting, Agarwal et al. 2020, "Disentangling
/// Adaptive Gradient Methods from Learning Rates", as the practical Shampoo of Anil et al.
/// 2020 uses it): the preconditioned direction, rescaled per var to the norm of another
/// rule's step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Graft {
    /// No grafting: the step is `lr` times the preconditioned gradient (torch-optimizer).
    #[default]
    None,
    /// SGD grafting: per var, the preconditioned direction rescaled to the L2 norm of the
    /// gradient it was computed from (after momentum and weight decay), so the step has
    /// SGD's size `lr·‖g‖` and Shampoo's direction.
    Sgd,
}

impl Graft {
    /// Whether this is [`Graft::None`] (for serde's `skip_serializing_if`).
    pub fn is_none(&self) -> bool {
        *self == Graft::None
    }
}

/// The learning-rate schedule after warm-up (see [`crate::lr_at`] for the exact formulas).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Schedule {
    /// The base lr throughout.
    Constant,
    /// `StepLR`: multiply by `gamma` every `step_size` steps.
    Step { step_size: usize, gamma: f64 },
    /// `CosineAnnealingLR` from the base lr down to `min_lr`. `total_steps` counts every step
    /// of the run, warm-up included; the cosine spans `total_steps - warmup_steps` steps.
    Cosine { total_steps: usize, min_lr: f64 },
    /// A cosine from the base lr down to `min_lr` over the whole step budget of each run,
    /// whatever it is (an EMC probe's budget grows with n, and doubles in a budget check):
    /// the trainer turns it into [`Schedule::Cosine`] with the run's budget as
    /// `total_steps` ([`OptimConfig::for_budget`]) before building the optimizer.
    CosineBudget { min_lr: f64 },
}

/// Everything needed to build an optimizer with [`crate::build`].
///
/// # Text form
///
/// ```text
/// spec   := kind [ ":" option { "," option } ]
/// kind   := "sgd" | "adam" | "adamw" | "shampoo"
/// option := "nesterov" | key "=" value
/// ```
///
/// | key           | kinds        | value                                                | default when absent                 |
/// |---------------|--------------|------------------------------------------------------|-------------------------------------|
/// | `lr`          | all          | number                                               | sgd 0.01, adam/adamw 0.001, shampoo 0.1 |
/// | `wd`          | all          | number (weight decay)                                | sgd/adam/shampoo 0, adamw 0.01      |
/// | `momentum`    | sgd, shampoo | number                                               | 0                                   |
/// | `dampening`   | sgd          | number                                               | 0                                   |
/// | `nesterov`    | sgd          | bare flag, or `true`/`false`                         | false                               |
/// | `beta1`       | adam, adamw  | number                                               | 0.9                                 |
/// | `beta2`       | adam, adamw  | number                                               | 0.999                               |
/// | `eps`         | adam, adamw, shampoo | number                                       | adam/adamw 1e-8, shampoo 1e-4       |
/// | `update_freq` | shampoo      | integer (steps between recomputed roots)             | 1                                   |
/// | `graft`       | shampoo      | `none` or `sgd` ([`Graft`])                          | none                                |
/// | `sched`     | all          | `constant`, `step(STEP_SIZE,GAMMA)`, `cosine(TOTAL_STEPS[,MIN_LR])`, `cosine-budget[(MIN_LR)]` | `constant` |
/// | `warmup`    | all          | integer (warm-up steps)                                | 0                                   |
/// | `clip`      | all          | number (max global grad L2 norm), or `none`            | none                                |
///
/// The defaults are PyTorch's (`torch.optim.SGD`/`Adam`/`AdamW`, and `torch_optimizer.Shampoo`'s
/// code), except SGD's lr: 0.01 here (as [`OptimConfig::default`]), 0.001 in PyTorch. Keys and the kind are case-insensitive; spaces around
/// tokens are ignored; a key may appear once. [`Display`](std::fmt::Display) writes the kind
/// and every value that differs from these defaults, so text round-trips:
/// `sgd`, `sgd:momentum=0.9,nesterov`, `adam`, `adamw:lr=0.0003,sched=cosine(10000,0),warmup=500,clip=1`,
/// `shampoo:lr=0.05,momentum=0.9,eps=0.001,update_freq=10,graft=sgd`.
/// [`OptimKind`] parses and prints the same grammar restricted to its own keys.
///
/// ```
/// use emc_optim::{OptimConfig, OptimKind, Schedule};
/// let cfg: OptimConfig = "sgd:lr=0.1,momentum=0.9,nesterov,sched=step(30,0.1)".parse()?;
/// assert_eq!(cfg.kind, OptimKind::Sgd { momentum: 0.9, dampening: 0.0, nesterov: true });
/// assert_eq!(cfg.schedule, Schedule::Step { step_size: 30, gamma: 0.1 });
/// assert_eq!(cfg.to_string(), "sgd:lr=0.1,momentum=0.9,nesterov,sched=step(30,0.1)");
/// # Ok::<(), emc_optim::OptimError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimConfig {
    /// The update rule.
    pub kind: OptimKind,
    /// Base learning rate (the peak, after warm-up).
    pub lr: f64,
    /// L2 penalty added to the gradient (SGD, Adam) or decoupled decay (AdamW).
    pub weight_decay: f64,
    /// Schedule applied after warm-up.
    pub schedule: Schedule,
    /// Linear warm-up steps: step `t < warmup_steps` uses `lr * (t + 1) / warmup_steps`.
    pub warmup_steps: usize,
    /// Clip gradients to this global L2 norm (`torch.nn.utils.clip_grad_norm_`) before updating.
    pub clip_grad_norm: Option<f64>,
}

const SGD_LR: f64 = 0.01;
const ADAM_LR: f64 = 1e-3;
const ADAMW_WD: f64 = 1e-2;
pub(crate) const BETA1: f64 = 0.9;
pub(crate) const BETA2: f64 = 0.999;
pub(crate) const EPS: f64 = 1e-8;
const SHAMPOO_LR: f64 = 0.1;
pub(crate) const SHAMPOO_EPS: f64 = 1e-4;

impl OptimKind {
    /// Plain SGD (no momentum).
    pub const SGD: OptimKind = OptimKind::Sgd {
        momentum: 0.0,
        dampening: 0.0,
        nesterov: false,
    };
    /// Adam with PyTorch's default betas (0.9, 0.999) and eps 1e-8.
    pub const ADAM: OptimKind = OptimKind::Adam {
        beta1: BETA1,
        beta2: BETA2,
        eps: EPS,
    };
    /// AdamW with PyTorch's default betas (0.9, 0.999) and eps 1e-8.
    pub const ADAMW: OptimKind = OptimKind::AdamW {
        beta1: BETA1,
        beta2: BETA2,
        eps: EPS,
    };
    /// Shampoo with torch-optimizer's defaults: no momentum, eps 1e-4, roots every step.
    pub const SHAMPOO: OptimKind = OptimKind::Shampoo {
        momentum: 0.0,
        eps: SHAMPOO_EPS,
        update_freq: 1,
        graft: Graft::None,
    };

    /// The kind's name in the text form: `sgd`, `adam`, `adamw` or `shampoo`.
    pub fn name(&self) -> &'static str {
        match self {
            OptimKind::Sgd { .. } => "sgd",
            OptimKind::Adam { .. } => "adam",
            OptimKind::AdamW { .. } => "adamw",
            OptimKind::Shampoo { .. } => "shampoo",
        }
    }

    pub(crate) fn default_lr(&self) -> f64 {
        match self {
            OptimKind::Sgd { .. } => SGD_LR,
            OptimKind::Shampoo { .. } => SHAMPOO_LR,
            OptimKind::Adam { .. } | OptimKind::AdamW { .. } => ADAM_LR,
        }
    }

    pub(crate) fn default_weight_decay(&self) -> f64 {
        match self {
            OptimKind::AdamW { .. } => ADAMW_WD,
            _ => 0.0,
        }
    }

    /// Checks the rule's hyper-parameters against PyTorch's rules (Shampoo: torch-optimizer's,
    /// narrowed to momentum in [0, 1) and eps > 0, so that every config trains).
    pub fn validate(&self) -> Result<()> {
        match *self {
            OptimKind::Sgd {
                momentum,
                dampening,
                nesterov,
            } => {
                check(
                    "momentum",
                    momentum,
                    (0.0..1.0).contains(&momentum),
                    "in [0, 1)",
                )?;
                check(
                    "dampening",
                    dampening,
                    (0.0..=1.0).contains(&dampening),
                    "in [0, 1]",
                )?;
                if nesterov && (momentum <= 0.0 || dampening != 0.0) {
                    return Err(OptimError::InvalidConfig {
                        field: "nesterov",
                        value: format!("true with momentum {momentum} and dampening {dampening}"),
                        expected: "momentum > 0 and dampening 0 (Nesterov needs both)",
                    });
                }
            }
            OptimKind::Adam { beta1, beta2, eps } | OptimKind::AdamW { beta1, beta2, eps } => {
                check("beta1", beta1, (0.0..1.0).contains(&beta1), "in [0, 1)")?;
                check("beta2", beta2, (0.0..1.0).contains(&beta2), "in [0, 1)")?;
                check("eps", eps, eps > 0.0 && eps.is_finite(), "finite and > 0")?;
            }
            OptimKind::Shampoo {
                momentum,
                eps,
                update_freq,
                ..
            } => {
                check(
                    "momentum",
                    momentum,
                    (0.0..1.0).contains(&momentum),
                    "in [0, 1)",
                )?;
                check("eps", eps, eps > 0.0 && eps.is_finite(), "finite and > 0")?;
                if update_freq == 0 {
                    return Err(OptimError::InvalidConfig {
                        field: "update_freq",
                        value: "0".into(),
                        expected: ">= 1",
                    });
                }
            }
        }
        Ok(())
    }
}

impl Default for OptimConfig {
    /// Plain SGD, lr 0.01, no momentum, no weight decay, constant schedule, no clipping.
    fn default() -> Self {
        Self::sgd(SGD_LR, 0.0)
    }
}

impl OptimConfig {
    /// SGD with the given lr and momentum (no dampening, no Nesterov, no weight decay).
    pub fn sgd(lr: f64, momentum: f64) -> Self {
        Self {
            kind: OptimKind::Sgd {
                momentum,
                dampening: 0.0,
                nesterov: false,
            },
            lr,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            warmup_steps: 0,
            clip_grad_norm: None,
        }
    }

    /// Adam with PyTorch's defaults and the given lr, no weight decay.
    pub fn adam(lr: f64) -> Self {
        Self {
            kind: OptimKind::ADAM,
            ..Self::sgd(lr, 0.0)
        }
    }

    /// AdamW with PyTorch's defaults, the given lr and decoupled weight decay.
    pub fn adamw(lr: f64, weight_decay: f64) -> Self {
        Self {
            kind: OptimKind::ADAMW,
            weight_decay,
            ..Self::sgd(lr, 0.0)
        }
    }

    /// Shampoo with torch-optimizer's defaults (no momentum, eps 1e-4, roots every step) and
    /// the given lr, no weight decay.
    pub fn shampoo(lr: f64) -> Self {
        Self {
            kind: OptimKind::SHAMPOO,
            ..Self::sgd(lr, 0.0)
        }
    }

    /// This configuration for a run of `total_steps` steps: a [`Schedule::CosineBudget`]
    /// becomes the [`Schedule::Cosine`] over those steps; other schedules are unchanged.
    pub fn for_budget(&self, total_steps: usize) -> OptimConfig {
        let mut cfg = self.clone();
        if let Schedule::CosineBudget { min_lr } = cfg.schedule {
            cfg.schedule = Schedule::Cosine {
                total_steps: total_steps.max(cfg.warmup_steps + 1),
                min_lr,
            };
        }
        cfg
    }

    /// Whether the learning rate at a step depends on the run's step budget
    /// ([`Schedule::CosineBudget`]): then a longer budget is a different run, not a
    /// continuation of the shorter one.
    pub fn depends_on_budget(&self) -> bool {
        matches!(self.schedule, Schedule::CosineBudget { .. })
    }

    /// Checks every field; the error names the field and the allowed range.
    pub fn validate(&self) -> Result<()> {
        self.kind.validate()?;
        check(
            "lr",
            self.lr,
            self.lr > 0.0 && self.lr.is_finite(),
            "finite and > 0",
        )?;
        let wd = self.weight_decay;
        check(
            "weight_decay",
            wd,
            wd >= 0.0 && wd.is_finite(),
            "finite and >= 0",
        )?;
        match self.schedule {
            Schedule::Constant => {}
            Schedule::Step { step_size, gamma } => {
                if step_size == 0 {
                    return Err(OptimError::InvalidConfig {
                        field: "schedule.step_size",
                        value: "0".into(),
                        expected: ">= 1",
                    });
                }
                let ok = gamma > 0.0 && gamma.is_finite();
                check("schedule.gamma", gamma, ok, "finite and > 0")?;
            }
            Schedule::Cosine {
                total_steps,
                min_lr,
            } => {
                if total_steps <= self.warmup_steps {
                    return Err(OptimError::InvalidConfig {
                        field: "schedule.total_steps",
                        value: total_steps.to_string(),
                        expected: "> warmup_steps (total_steps counts the warm-up too)",
                    });
                }
                let ok = min_lr >= 0.0 && min_lr <= self.lr;
                check("schedule.min_lr", min_lr, ok, "in [0, lr]")?;
            }
            Schedule::CosineBudget { min_lr } => {
                let ok = min_lr >= 0.0 && min_lr <= self.lr;
                check("schedule.min_lr", min_lr, ok, "in [0, lr]")?;
            }
        }
        if let Some(c) = self.clip_grad_norm {
            check(
                "clip_grad_norm",
                c,
                c > 0.0 && c.is_finite(),
                "finite and > 0",
            )?;
        }
        Ok(())
    }
}

fn check(field: &'static str, value: f64, ok: bool, expected: &'static str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(OptimError::InvalidConfig {
            field,
            value: value.to_string(),
            expected,
        })
    }
}
