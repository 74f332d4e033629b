//! `torch.optim.Adam` (L2 weight decay) and `torch.optim.AdamW` (decoupled weight decay).

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::clip::{clip_coef, grad_norm, require_no_clipping};
use crate::config::OptimConfig;
use crate::error::Result;
use crate::{lr_at, Optimizer};

/// First and second moment of one var, and how many updates it has had (PyTorch keeps the
/// bias-correction step per parameter, counting only steps where it had a gradient).
struct Moments {
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    t: i32,
}

/// Adam/AdamW over a fixed list of vars.
///
/// Per var with gradient `g` (already scaled by the clip coefficient) at its `k`-th update:
/// Adam uses `g += wd·p`, AdamW does `p *= 1 - lr·wd` first; then
/// `m = β1·m + (1-β1)·g`, `v = β2·v + (1-β2)·g²`,
/// `p -= lr/(1-β1^k) · m / (sqrt(v)/sqrt(1-β2^k) + eps)`.
pub(crate) struct Adam {
    cfg: OptimConfig,
    beta1: f64,
    beta2: f64,
    eps: f64,
    decoupled: bool,
    vars: Vec<Var>,
    moments: Vec<Option<Moments>>,
    t: usize,
}

impl Adam {
    pub(crate) fn new(
        cfg: OptimConfig,
        vars: Vec<Var>,
        (beta1, beta2, eps): (f64, f64, f64),
        decoupled: bool,
    ) -> Self {
        let moments = vars.iter().map(|_| None).collect();
        Self {
            cfg,
            beta1,
            beta2,
            eps,
            decoupled,
            vars,
            moments,
            t: 0,
        }
    }
}

impl Adam {
    /// One update with the gradients scaled by the clip coefficient `c`.
    fn update(&mut self, grads: &GradStore, c: f64) -> Result<()> {
        let lr = lr_at(&self.cfg, self.t);
        let wd = self.cfg.weight_decay;
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        for (var, state) in self.vars.iter().zip(self.moments.iter_mut()) {
            let Some(g) = grads.get(var) else { continue };
            // Detached so the update builds no autograd graph.
            let p = var.as_tensor().detach();
            let mut d = if c == 1.0 {
                g.clone()
            } else {
                g.affine(c, 0.0)?
            };
            if wd != 0.0 && !self.decoupled {
                d = (d + p.affine(wd, 0.0)?)?;
            }
            let sq = d.sqr()?.affine(1.0 - b2, 0.0)?;
            let next = match state.take() {
                None => Moments {
                    exp_avg: d.affine(1.0 - b1, 0.0)?,
                    exp_avg_sq: sq,
                    t: 1,
                },
                Some(m) => Moments {
                    exp_avg: (m.exp_avg.affine(b1, 0.0)? + d.affine(1.0 - b1, 0.0)?)?,
                    exp_avg_sq: (m.exp_avg_sq.affine(b2, 0.0)? + sq)?,
                    t: m.t + 1,
                },
            };
            let k = f64::from(next.t);
            let step_size = lr / (1.0 - b1.powf(k));
            let bc2_sqrt = (1.0 - b2.powf(k)).sqrt();
            // PyTorch's capturable form: m / (sqrt(v)/(bc2_sqrt·step_size) + eps/step_size)
            // equals step_size · m / (sqrt(v)/bc2_sqrt + eps), one tensor op fewer.
            let denom = next
                .exp_avg_sq
                .sqrt()?
                .affine(1.0 / (bc2_sqrt * step_size), eps / step_size)?;
            let update = next.exp_avg.div(&denom)?;
            let kept = if self.decoupled && wd != 0.0 {
                p.affine(1.0 - lr * wd, 0.0)?
            } else {
                p
            };
            var.set(&(kept - update)?)?;
            *state = Some(next);
        }
        self.t += 1;
        Ok(())
    }
}

impl Optimizer for Adam {
    fn step(&mut self, grads: &GradStore) -> Result<f64> {
        let norm = grad_norm(&self.vars, grads)?;
        self.update(grads, clip_coef(norm, self.cfg.clip_grad_norm))?;
        Ok(norm)
    }

    fn step_unmeasured(&mut self, grads: &GradStore) -> Result<()> {
        require_no_clipping(&self.cfg)?;
        self.update(grads, 1.0)
    }

    fn lr(&self) -> f64 {
        lr_at(&self.cfg, self.t)
    }

    fn steps(&self) -> usize {
        self.t
    }
}
