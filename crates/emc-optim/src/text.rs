//! The compact text form of optimizer configurations for the CLI and result files
//! (`sgd:lr=0.1,momentum=0.9`, `cosine(1000,0)`; grammar on [`OptimConfig`]): `Display`
//! writes the options that differ from the defaults, `FromStr` reads them back.

use std::fmt;
use std::str::FromStr;

use crate::config::{Graft, OptimConfig, OptimKind, Schedule, BETA1, BETA2, EPS, SHAMPOO_EPS};
use crate::error::{OptimError, Result};

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
