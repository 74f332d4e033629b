//! Optimizer configuration: what to build, its validation, and a compact text form for the CLI
//! (grammar on [`OptimConfig`]).

use std::fmt;
use std::str::FromStr;

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
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;
const SHAMPOO_LR: f64 = 0.1;
const SHAMPOO_EPS: f64 = 1e-4;

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

    fn default_lr(&self) -> f64 {
        match self {
            OptimKind::Sgd { .. } => SGD_LR,
            OptimKind::Shampoo { .. } => SHAMPOO_LR,
            OptimKind::Adam { .. } | OptimKind::AdamW { .. } => ADAM_LR,
        }
    }

    fn default_weight_decay(&self) -> f64 {
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

// ---------------------------------------------------------------------------------------------
// Text form.

/// Shortest text that parses back to the same `f64`, with an exponent for tiny/huge values.
fn num(x: f64) -> String {
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e15).contains(&a) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Constant => f.write_str("constant"),
            Schedule::Step { step_size, gamma } => write!(f, "step({step_size},{})", num(*gamma)),
            Schedule::Cosine {
                total_steps,
                min_lr,
            } => write!(f, "cosine({total_steps},{})", num(*min_lr)),
            Schedule::CosineBudget { min_lr } if *min_lr == 0.0 => f.write_str("cosine-budget"),
            Schedule::CosineBudget { min_lr } => write!(f, "cosine-budget({})", num(*min_lr)),
        }
    }
}

/// The schedule forms [`Schedule::from_str`] accepts, for its errors.
const EXPECTED: &str =
    "expected `constant`, `step(STEP_SIZE,GAMMA)`, `cosine(TOTAL_STEPS[,MIN_LR])` \
                        or `cosine-budget[(MIN_LR)]`";

impl FromStr for Schedule {
    type Err = OptimError;

    /// Parses `constant`, `step(STEP_SIZE,GAMMA)`, `cosine(TOTAL_STEPS[,MIN_LR])` or
    /// `cosine-budget[(MIN_LR)]`.
    fn from_str(s: &str) -> Result<Self> {
        let err = |reason: String| OptimError::Parse {
            spec: s.to_string(),
            reason,
        };
        let t = s.trim().to_ascii_lowercase();
        if t == "constant" {
            return Ok(Schedule::Constant);
        }
        if t == "cosine-budget" {
            return Ok(Schedule::CosineBudget { min_lr: 0.0 });
        }
        let (name, args) = t
            .strip_suffix(')')
            .and_then(|t| t.split_once('('))
            .ok_or_else(|| err(EXPECTED.into()))?;
        let args: Vec<&str> = args.split(',').map(str::trim).collect();
        let int = |a: &str| {
            a.parse::<usize>()
                .map_err(|_| err(format!("`{a}` is not a step count")))
        };
        let float = |a: &str| {
            a.parse::<f64>()
                .map_err(|_| err(format!("`{a}` is not a number")))
        };
        match (name.trim(), args.as_slice()) {
            ("step", [n, g]) => Ok(Schedule::Step {
                step_size: int(n)?,
                gamma: float(g)?,
            }),
            ("cosine", [n]) => Ok(Schedule::Cosine {
                total_steps: int(n)?,
                min_lr: 0.0,
            }),
            ("cosine", [n, m]) => Ok(Schedule::Cosine {
                total_steps: int(n)?,
                min_lr: float(m)?,
            }),
            ("cosine-budget", [m]) => Ok(Schedule::CosineBudget { min_lr: float(m)? }),
            _ => Err(err(EXPECTED.into())),
        }
    }
}

impl OptimKind {
    /// Appends the kind's own options that differ from the defaults.
    fn fmt_options(&self, out: &mut Vec<String>) {
        match *self {
            OptimKind::Sgd {
                momentum,
                dampening,
                nesterov,
            } => {
                if momentum != 0.0 {
                    out.push(format!("momentum={}", num(momentum)));
                }
                if dampening != 0.0 {
                    out.push(format!("dampening={}", num(dampening)));
                }
                if nesterov {
                    out.push("nesterov".into());
                }
            }
            OptimKind::Adam { beta1, beta2, eps } | OptimKind::AdamW { beta1, beta2, eps } => {
                if beta1 != BETA1 {
                    out.push(format!("beta1={}", num(beta1)));
                }
                if beta2 != BETA2 {
                    out.push(format!("beta2={}", num(beta2)));
                }
                if eps != EPS {
                    out.push(format!("eps={}", num(eps)));
                }
            }
            OptimKind::Shampoo {
                momentum,
                eps,
                update_freq,
                graft,
            } => {
                if momentum != 0.0 {
                    out.push(format!("momentum={}", num(momentum)));
                }
                if eps != SHAMPOO_EPS {
                    out.push(format!("eps={}", num(eps)));
                }
                if update_freq != 1 {
                    out.push(format!("update_freq={update_freq}"));
                }
                if graft == Graft::Sgd {
                    out.push("graft=sgd".into());
                }
            }
        }
    }
}

fn write_spec(f: &mut fmt::Formatter<'_>, name: &str, options: &[String]) -> fmt::Result {
    f.write_str(name)?;
    if !options.is_empty() {
        write!(f, ":{}", options.join(","))?;
    }
    Ok(())
}

impl fmt::Display for OptimKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut options = Vec::new();
        self.fmt_options(&mut options);
        write_spec(f, self.name(), &options)
    }
}

impl fmt::Display for OptimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut options = Vec::new();
        if self.lr != self.kind.default_lr() {
            options.push(format!("lr={}", num(self.lr)));
        }
        if self.weight_decay != self.kind.default_weight_decay() {
            options.push(format!("wd={}", num(self.weight_decay)));
        }
        self.kind.fmt_options(&mut options);
        if self.schedule != Schedule::Constant {
            options.push(format!("sched={}", self.schedule));
        }
        if self.warmup_steps != 0 {
            options.push(format!("warmup={}", self.warmup_steps));
        }
        if let Some(c) = self.clip_grad_norm {
            options.push(format!("clip={}", num(c)));
        }
        write_spec(f, self.kind.name(), &options)
    }
}

/// Splits on commas outside parentheses, so `sched=step(30,0.1)` stays one option.
fn split_options(s: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Parses a full spec; `kind_only` rejects the config-level keys.
fn parse_spec(spec: &str, kind_only: bool) -> Result<OptimConfig> {
    let err = |reason: String| OptimError::Parse {
        spec: spec.to_string(),
        reason,
    };
    let (name, rest) = match spec.split_once(':') {
        Some((n, r)) => (n, Some(r)),
        None => (spec, None),
    };
    let mut kind = match name.trim().to_ascii_lowercase().as_str() {
        "sgd" => OptimKind::SGD,
        "adam" => OptimKind::ADAM,
        "adamw" => OptimKind::ADAMW,
        "shampoo" => OptimKind::SHAMPOO,
        other => {
            return Err(err(format!(
                "unknown optimizer `{other}` (expected sgd, adam, adamw or shampoo)"
            )))
        }
    };
    let mut cfg = OptimConfig {
        lr: kind.default_lr(),
        weight_decay: kind.default_weight_decay(),
        ..OptimConfig::default()
    };
    let mut seen: Vec<String> = Vec::new();
    for option in rest.map(split_options).unwrap_or_default() {
        let option = option.trim();
        if option.is_empty() {
            return Err(err("empty option".into()));
        }
        let (key, value) = match option.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (option.to_ascii_lowercase(), None),
        };
        if seen.contains(&key) {
            return Err(err(format!("`{key}` given twice")));
        }
        seen.push(key.clone());
        let value_of = || value.ok_or_else(|| err(format!("`{key}` needs a value (`{key}=...`)")));
        let float = || -> Result<f64> {
            let v = value_of()?;
            v.parse()
                .map_err(|_| err(format!("`{key}={v}`: `{v}` is not a number")))
        };
        let config_key = matches!(key.as_str(), "lr" | "wd" | "sched" | "warmup" | "clip");
        if kind_only && config_key {
            return Err(err(format!(
                "`{key}` belongs to the full optimizer config, not to the optimizer kind"
            )));
        }
        match (key.as_str(), &mut kind) {
            ("lr", _) => cfg.lr = float()?,
            ("wd", _) => cfg.weight_decay = float()?,
            ("sched", _) => cfg.schedule = value_of()?.parse()?,
            ("warmup", _) => {
                let v = value_of()?;
                cfg.warmup_steps = v
                    .parse()
                    .map_err(|_| err(format!("`warmup={v}`: `{v}` is not a step count")))?;
            }
            ("clip", _) => {
                let v = value_of()?;
                cfg.clip_grad_norm = if v.eq_ignore_ascii_case("none") {
                    None
                } else {
                    Some(float()?)
                };
            }
            ("momentum", OptimKind::Sgd { momentum, .. } | OptimKind::Shampoo { momentum, .. }) => {
                *momentum = float()?
            }
            ("dampening", OptimKind::Sgd { dampening, .. }) => *dampening = float()?,
            ("nesterov", OptimKind::Sgd { nesterov, .. }) => {
                *nesterov = match value.map(str::to_ascii_lowercase).as_deref() {
                    None | Some("true") => true,
                    Some("false") => false,
                    Some(v) => return Err(err(format!("`nesterov={v}`: expected true or false"))),
                }
            }
            ("beta1", OptimKind::Adam { beta1, .. } | OptimKind::AdamW { beta1, .. }) => {
                *beta1 = float()?
            }
            ("beta2", OptimKind::Adam { beta2, .. } | OptimKind::AdamW { beta2, .. }) => {
                *beta2 = float()?
            }
            (
                "eps",
                OptimKind::Adam { eps, .. }
                | OptimKind::AdamW { eps, .. }
                | OptimKind::Shampoo { eps, .. },
            ) => *eps = float()?,
            ("update_freq", OptimKind::Shampoo { update_freq, .. }) => {
                let v = value_of()?;
                *update_freq = v
                    .parse()
                    .map_err(|_| err(format!("`update_freq={v}`: `{v}` is not a step count")))?;
            }
            ("graft", OptimKind::Shampoo { graft, .. }) => {
                *graft = match value_of()?.to_ascii_lowercase().as_str() {
                    "none" => Graft::None,
                    "sgd" => Graft::Sgd,
                    v => return Err(err(format!("`graft={v}`: expected none or sgd"))),
                }
            }
            (
                "momentum" | "dampening" | "nesterov" | "beta1" | "beta2" | "eps" | "update_freq"
                | "graft",
                kind,
            ) => return Err(err(format!("`{key}` does not apply to {}", kind.name()))),
            _ => {
                return Err(err(format!(
                    "unknown option `{key}` (expected lr, wd, momentum, dampening, nesterov, \
                     beta1, beta2, eps, update_freq, graft, sched, warmup or clip)"
                )))
            }
        }
    }
    cfg.kind = kind;
    Ok(cfg)
}

impl FromStr for OptimConfig {
    type Err = OptimError;

    /// Parses the text form described in the [type docs](OptimConfig). Does not validate ranges;
    /// [`OptimConfig::validate`] (or [`crate::build`]) does.
    fn from_str(s: &str) -> Result<Self> {
        parse_spec(s, false)
    }
}

impl FromStr for OptimKind {
    type Err = OptimError;

    /// Parses `sgd`, `adam`, `adamw` or `shampoo` with the kind's own options (`momentum`,
    /// `dampening`, `nesterov`; `beta1`, `beta2`, `eps`; `momentum`, `eps`, `update_freq`, `graft`).
    fn from_str(s: &str) -> Result<Self> {
        parse_spec(s, true).map(|cfg| cfg.kind)
    }
}
