//! `torch.optim.SGD`: momentum, dampening, Nesterov and L2 weight decay.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use emc_kernels::inplace::{self, ApplyUpdate, MomentumBuffer, SgdStep};

use crate::config::OptimConfig;
use crate::error::Result;
use crate::{lr_at, Rule};

/// SGD over a fixed list of vars; the momentum buffer of a var is created on its first gradient.
///
/// Per var with gradient `g` (already scaled by the clip coefficient):
/// `d = g + wd·p`; with momentum `buf = d` on the first step, else `buf = μ·buf + (1 - τ)·d`;
/// the direction is `d + μ·buf` (Nesterov) or `buf`; `p -= lr·direction`. On the CPU the
/// buffer and the parameters are updated in place by [`emc_kernels::inplace`]'s kernels (the
/// same bits as the composed update, which other devices run).
pub(crate) struct Sgd {
    cfg: OptimConfig,
    momentum: f64,
    dampening: f64,
    nesterov: bool,
    vars: Vec<Var>,
    bufs: Vec<Option<Tensor>>,
    t: usize,
    /// Whether CPU parameters are updated by the in-place kernels (always, outside this
    /// module's tests, which compare the two paths).
    in_place: bool,
}

impl Sgd {
    pub(crate) fn new(
        cfg: OptimConfig,
        vars: Vec<Var>,
        momentum: f64,
        dampening: f64,
        nesterov: bool,
    ) -> Self {
        let bufs = vec![None; vars.len()];
        Self {
            cfg,
            momentum,
            dampening,
            nesterov,
            vars,
            bufs,
            t: 0,
            in_place: true,
        }
    }
}

impl Sgd {
    /// One update with the gradients scaled by the clip coefficient `c`.
    fn update(&mut self, grads: &GradStore, c: f64) -> Result<()> {
        let lr = lr_at(&self.cfg, self.t);
        let wd = self.cfg.weight_decay;
        let (mu, damp) = (self.momentum, self.dampening);
        let kernel = SgdStep {
            lr,
            clip: c,
            wd,
            momentum: mu,
            dampening: damp,
            nesterov: self.nesterov,
        };
        for (var, buf) in self.vars.iter().zip(self.bufs.iter_mut()) {
            let Some(g) = grads.get(var) else { continue };
            let param = var.as_tensor();
            if self.in_place && inplace::applies(param) && g.dtype() == param.dtype() {
                let g = g.contiguous()?;
                match buf {
                    // The first buffer is the direction itself, formed as below (a copy of
                    // its own: it is updated in place from now on).
                    None if mu != 0.0 => {
                        *buf = Some(first_direction(&g, &param.detach(), c, wd)?.copy()?)
                    }
                    Some(b) => b.inplace_op3(&g, param, &MomentumBuffer(kernel))?,
                    None => {}
                }
                let b = buf.as_ref().unwrap_or(&g);
                param.inplace_op3(&g, b, &ApplyUpdate(kernel))?;
                continue;
            }
            // Detached so the update builds no autograd graph.
            let p = var.as_tensor().detach();
            if mu == 0.0 {
                // p - lr·(c·g + wd·p) = (1 - lr·wd)·p - (lr·c)·g
                let step = g.affine(lr * c, 0.0)?;
                let kept = if wd == 0.0 {
                    p
                } else {
                    p.affine(1.0 - lr * wd, 0.0)?
                };
                var.set(&(kept - step)?)?;
                continue;
            }
            let d = first_direction(g, &p, c, wd)?;
            let b = match buf.take() {
                None => d.clone(),
                Some(b) if damp == 0.0 => (b.affine(mu, 0.0)? + &d)?,
                Some(b) => (b.affine(mu, 0.0)? + d.affine(1.0 - damp, 0.0)?)?,
            };
            let dir = if self.nesterov {
                (d + b.affine(mu, 0.0)?)?
            } else {
                b.clone()
            };
            var.set(&(p - dir.affine(lr, 0.0)?)?)?;
            *buf = Some(b);
        }
        self.t += 1;
        Ok(())
    }
}

/// `d = c·g + wd·p` (the terms only where they apply).
fn first_direction(g: &Tensor, p: &Tensor, c: f64, wd: f64) -> Result<Tensor> {
    let mut d = if c == 1.0 {
        g.clone()
    } else {
        g.affine(c, 0.0)?
    };
    if wd != 0.0 {
        d = (d + p.affine(wd, 0.0)?)?;
    }
    Ok(d)
}

impl Rule for Sgd {
    fn update(&mut self, grads: &GradStore, c: f64) -> Result<()> {
        Sgd::update(self, grads, c)
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
    use crate::config::{OptimKind, Schedule};
    use crate::test_support::{bits, grads, vars};

    /// The in-place kernels give the composed update's bits: parameters and momentum
    /// buffers over several steps, f32 and f64, for plain SGD with and without weight
    /// decay, momentum with dampening, Nesterov, and a clip coefficient below 1.
    #[test]
    fn in_place_updates_give_the_composed_bits() {
        let kinds = [
            (0.0, 0.0, false, 0.0, 1.0),
            (0.0, 0.0, false, 5e-4, 0.37),
            (0.9, 0.0, false, 0.0, 1.0),
            (0.9, 0.1, false, 1e-3, 1.0),
            (0.8, 0.0, true, 1e-2, 0.61),
        ];
        for dtype in [DType::F32, DType::F64] {
            for (i, &(momentum, dampening, nesterov, weight_decay, clip)) in
                kinds.iter().enumerate()
            {
                let cfg = OptimConfig {
                    kind: OptimKind::Sgd {
                        momentum,
                        dampening,
                        nesterov,
                    },
                    lr: 0.05,
                    weight_decay,
                    schedule: Schedule::Constant,
                    warmup_steps: 0,
                    clip_grad_norm: None,
                };
                let make = |in_place: bool| {
                    let vars = vars(dtype, i as u64 * 10);
                    let mut opt =
                        Sgd::new(cfg.clone(), vars.clone(), momentum, dampening, nesterov);
                    opt.in_place = in_place;
                    (vars, opt)
                };
                let (mut a, mut b) = (make(true), make(false));
                for step in 0..4 {
                    for (vars, opt) in [&mut a, &mut b] {
                        opt.update(&grads(vars, step), clip).unwrap();
                    }
                    for (va, vb) in a.0.iter().zip(&b.0) {
                        assert_eq!(
                            bits(va.as_tensor()),
                            bits(vb.as_tensor()),
                            "kind {i} {dtype:?} step {step}"
                        );
                    }
                    for (ba, bb) in a.1.bufs.iter().zip(&b.1.bufs) {
                        assert_eq!(
                            ba.as_ref().map(bits),
                            bb.as_ref().map(bits),
                            "buffer, kind {i} {dtype:?}"
                        );
                    }
                }
            }
        }
    }
}
