//! `torch.optim.Adam` (L2 weight decay) and `torch.optim.AdamW` (decoupled weight decay).

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use emc_kernels::inplace::{self, AdamApply, AdamFirstMoment, AdamSecondMoment, AdamStep};

use crate::config::OptimConfig;
use crate::error::Result;
use crate::{lr_at, Rule};

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
/// `p -= lr/(1-β1^k) · m / (sqrt(v)/sqrt(1-β2^k) + eps)`. On the CPU the moments and the
/// parameters are updated in place by [`emc_kernels::inplace`]'s kernels (the same bits as the
/// composed update, which other devices run).
pub(crate) struct Adam {
    cfg: OptimConfig,
    beta1: f64,
    beta2: f64,
    eps: f64,
    decoupled: bool,
    vars: Vec<Var>,
    moments: Vec<Option<Moments>>,
    t: usize,
    /// Whether CPU parameters are updated by the in-place kernels (always, outside this
    /// module's tests, which compare the two paths).
    in_place: bool,
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
            in_place: true,
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
            let param = var.as_tensor();
            if self.in_place && inplace::applies(param) && g.dtype() == param.dtype() {
                let g = g.contiguous()?;
                let (mut m, first) = match state.take() {
                    Some(m) => (m, false),
                    // Fresh buffers of their own: the kernels overwrite them on the first
                    // update and update them in place from then on.
                    None => (
                        Moments {
                            exp_avg: param.zeros_like()?,
                            exp_avg_sq: param.zeros_like()?,
                            t: 0,
                        },
                        true,
                    ),
                };
                m.t += 1;
                let step = AdamStep {
                    clip: c,
                    wd,
                    decoupled: self.decoupled,
                    beta1: b1,
                    beta2: b2,
                    first,
                    lr,
                    denom: denominator(lr, (b1, b2, eps), m.t),
                };
                m.exp_avg.inplace_op3(&g, param, &AdamFirstMoment(step))?;
                m.exp_avg_sq
                    .inplace_op3(&g, param, &AdamSecondMoment(step))?;
                param.inplace_op3(&m.exp_avg, &m.exp_avg_sq, &AdamApply(step))?;
                *state = Some(m);
                continue;
            }
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
            let (mul, add) = denominator(lr, (b1, b2, eps), next.t);
            let denom = next.exp_avg_sq.sqrt()?.affine(mul, add)?;
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

/// The `affine(mul, add)` that turns `sqrt(v)` into the update's denominator at a
/// parameter's `t`-th update. PyTorch's capturable form:
/// `m / (sqrt(v)/(bc2_sqrt·step_size) + eps/step_size)` equals
/// `step_size · m / (sqrt(v)/bc2_sqrt + eps)`, one tensor op fewer.
fn denominator(lr: f64, (b1, b2, eps): (f64, f64, f64), t: i32) -> (f64, f64) {
    let k = f64::from(t);
    let step_size = lr / (1.0 - b1.powf(k));
    let bc2_sqrt = (1.0 - b2.powf(k)).sqrt();
    (1.0 / (bc2_sqrt * step_size), eps / step_size)
}

impl Rule for Adam {
    fn update(&mut self, grads: &GradStore, c: f64) -> Result<()> {
        Adam::update(self, grads, c)
    }

    fn cfg(&self) -> &OptimConfig {
        &self.cfg
    }

    fn vars(&self) -> &[Var] {
        &self.vars
    }

    fn t(&self) -> usize {
        self.t
    }
}

#[cfg(test)]
mod tests {
    use candle_core::DType;

    use super::*;
    use crate::test_support::{bits, grads, vars};

    /// The in-place kernels give the composed update's bits: parameters and both moments
    /// over several steps (the first one starts the moments), f32 and f64, for Adam with
    /// and without L2 weight decay, AdamW, and a clip coefficient below 1.
    #[test]
    fn in_place_updates_give_the_composed_bits() {
        // (decoupled, weight decay, clip)
        let kinds = [
            (false, 0.0, 1.0),
            (false, 1e-2, 0.43),
            (true, 1e-2, 1.0),
            (true, 0.0, 0.77),
        ];
        for dtype in [DType::F32, DType::F64] {
            for (i, &(decoupled, weight_decay, clip)) in kinds.iter().enumerate() {
                let mut cfg = if decoupled {
                    OptimConfig::adamw(3e-3, weight_decay)
                } else {
                    OptimConfig::adam(3e-3)
                };
                cfg.weight_decay = weight_decay;
                let make = |in_place: bool| {
                    let vars = vars(dtype, 50 + i as u64 * 10);
                    let betas = (0.9, 0.999, 1e-8);
                    let mut opt = Adam::new(cfg.clone(), vars.clone(), betas, decoupled);
                    opt.in_place = in_place;
                    (vars, opt)
                };
                let (mut a, mut b) = (make(true), make(false));
                for step in 0..5 {
                    for (vars, opt) in [&mut a, &mut b] {
                        opt.update(&grads(vars, step), clip).unwrap();
                    }
                    let what = format!("kind {i} {dtype:?} step {step}");
                    for (va, vb) in a.0.iter().zip(&b.0) {
                        assert_eq!(bits(va.as_tensor()), bits(vb.as_tensor()), "{what}");
                    }
                    for (ma, mb) in a.1.moments.iter().zip(&b.1.moments) {
                        let (ma, mb) = (ma.as_ref().unwrap(), mb.as_ref().unwrap());
                        assert_eq!(bits(&ma.exp_avg), bits(&mb.exp_avg), "m, {what}");
                        assert_eq!(bits(&ma.exp_avg_sq), bits(&mb.exp_avg_sq), "v, {what}");
                        assert_eq!(ma.t, mb.t);
                    }
                }
            }
        }
    }
}
