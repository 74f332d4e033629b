//! `torch.optim.SGD`: momentum, dampening, Nesterov and L2 weight decay.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::clip::{clip_coef, grad_norm, require_no_clipping};
use crate::config::OptimConfig;
use crate::error::Result;
use crate::{lr_at, Optimizer};

/// SGD over a fixed list of vars; the momentum buffer of a var is created on its first gradient.
///
/// Per var with gradient `g` (already scaled by the clip coefficient):
/// `d = g + wd·p`; with momentum `buf = d` on the first step, else `buf = μ·buf + (1 - τ)·d`;
/// the direction is `d + μ·buf` (Nesterov) or `buf`; `p -= lr·direction`.
pub(crate) struct Sgd {
    cfg: OptimConfig,
    momentum: f64,
    dampening: f64,
    nesterov: bool,
    vars: Vec<Var>,
    bufs: Vec<Option<Tensor>>,
    t: usize,
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
        }
    }
}

impl Sgd {
    /// One update with the gradients scaled by the clip coefficient `c`.
    fn update(&mut self, grads: &GradStore, c: f64) -> Result<()> {
        let lr = lr_at(&self.cfg, self.t);
        let wd = self.cfg.weight_decay;
        let (mu, damp) = (self.momentum, self.dampening);
        for (var, buf) in self.vars.iter().zip(self.bufs.iter_mut()) {
            let Some(g) = grads.get(var) else { continue };
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
            let mut d = if c == 1.0 {
                g.clone()
            } else {
                g.affine(c, 0.0)?
            };
            if wd != 0.0 {
                d = (d + p.affine(wd, 0.0)?)?;
            }
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

impl Optimizer for Sgd {
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
