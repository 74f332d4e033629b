//! Optimizers over candle [`Var`]s with PyTorch's exact semantics: SGD (momentum, dampening,
//! Nesterov, L2 weight decay), Adam (L2 weight decay) and AdamW (decoupled weight decay);
//! Shampoo as the PyPI package `torch-optimizer` implements it ([`OptimKind::Shampoo`]: its
//! variant, roots every `update_freq` steps, `eps·I` regularisation; optional SGD grafting);
//! learning-rate schedules with linear warm-up; and global gradient-norm clipping.
//!
//! This crate knows nothing of models, data or training loops: it turns a [`GradStore`] into
//! an update of the vars it was built with. Full-batch gradient descent is [`OptimKind::Sgd`]
//! with `momentum: 0` driven by a trainer that computes the loss over the whole training set
//! once per step; nothing else is needed for it.
//!
//! Each [`Optimizer::step`] does, in order: compute the global L2 norm of the gradients;
//! scale them by `min(1, max_norm / (norm + 1e-6))` if clipping is on
//! (`torch.nn.utils.clip_grad_norm_`); update every var that has a gradient with the lr of
//! the schedule at this step ([`lr_at`]); advance the step counter. That is PyTorch's
//! `clip_grad_norm_(...); opt.step(); sched.step()`.
//!
//! State (momentum buffer, `exp_avg`, `exp_avg_sq`) is kept as tensors on each var's device
//! and in its dtype. On the CPU (f32/f64) each var's state and parameters are updated in place,
//! one pass each ([`emc_kernels::inplace`]); elsewhere by the same arithmetic composed of
//! candle ops, which the CPU path equals bit for bit. Shampoo is the exception: its state
//! (per dimension a `d×d` statistic and its root, through `nalgebra`'s symmetric
//! eigendecomposition, `O(d³)` every `update_freq` steps) lives on the host in `f64`, and each
//! update goes through the host.
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use emc_optim::{build, OptimConfig};
//!
//! let w = Var::new(&[1.0f32, -2.0], &Device::Cpu)?;
//! let mut opt = build(&"sgd:lr=0.1,momentum=0.9".parse::<OptimConfig>()?, vec![w.clone()])?;
//! for _ in 0..3 {
//!     let loss = w.as_tensor().sqr()?.sum_all()?; // gradient 2w
//!     let grad_norm = opt.step(&loss.backward()?)?;
//!     assert!(grad_norm > 0.0);
//! }
//! assert_eq!(opt.steps(), 3);
//! assert!(w.as_tensor().sqr()?.sum_all()?.to_scalar::<f32>()? < 5.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod adam;
mod clip;
mod config;
mod error;
mod schedule;
mod sgd;
mod shampoo;
#[cfg(test)]
mod test_support;
mod text;

use candle_core::backprop::GradStore;
use candle_core::Var;

pub use clip::grad_norm;
pub use config::{Graft, OptimConfig, OptimKind, Schedule};
pub use error::{OptimError, Result};
pub use schedule::lr_at;

/// A stateful optimizer over the vars it was built with; see the [crate docs](crate).
pub trait Optimizer: Send {
    /// One update from the gradients in `grads` (vars without a gradient are skipped).
    /// Applies clipping, then the schedule's lr for this step, then advances the step
    /// counter. Returns the global L2 norm of the gradients before clipping.
    fn step(&mut self, grads: &GradStore) -> Result<f64>;
    /// The same update as [`Optimizer::step`] without computing the gradient norm, which
    /// only clipping needs: for callers that measure norms themselves (lockstep training
    /// measures each stacked model's). Fails when the optimizer clips.
    fn step_unmeasured(&mut self, grads: &GradStore) -> Result<()>;
    /// The lr that the next step will use.
    fn lr(&self) -> f64;
    /// How many steps have been taken.
    fn steps(&self) -> usize;
}

/// What each update rule provides; [`Optimizer`] is implemented once over it (clipping,
/// the unmeasured step, the lr and the step count are the same for every rule).
pub(crate) trait Rule: Send {
    /// One update with the gradients scaled by the clip coefficient `c`; advances the step
    /// counter.
    fn update(&mut self, grads: &GradStore, c: f64) -> Result<()>;
    /// The configuration it was built with.
    fn cfg(&self) -> &OptimConfig;
    /// The vars it updates.
    fn vars(&self) -> &[Var];
    /// Steps taken so far.
    fn t(&self) -> usize;
}

impl<R: Rule> Optimizer for R {
    fn step(&mut self, grads: &GradStore) -> Result<f64> {
        let norm = grad_norm(self.vars(), grads)?;
        self.update(grads, clip::clip_coef(norm, self.cfg().clip_grad_norm))?;
        Ok(norm)
    }

    fn step_unmeasured(&mut self, grads: &GradStore) -> Result<()> {
        clip::require_no_clipping(self.cfg())?;
        self.update(grads, 1.0)
    }

    fn lr(&self) -> f64 {
        lr_at(self.cfg(), self.t())
    }

    fn steps(&self) -> usize {
        self.t()
    }
}

/// Validates `cfg` (see [`OptimConfig::validate`]) and builds its optimizer over `vars`,
/// which must all have a floating-point dtype.
pub fn build(cfg: &OptimConfig, vars: Vec<Var>) -> Result<Box<dyn Optimizer>> {
    cfg.validate()?;
    if let Schedule::CosineBudget { .. } = cfg.schedule {
        return Err(OptimError::InvalidConfig {
            field: "schedule",
            value: cfg.schedule.to_string(),
            expected: "a schedule with a known length: `cosine-budget` is resolved by the \
                       trainer against the run's step budget (OptimConfig::for_budget)",
        });
    }
    if let Some((index, var)) = vars.iter().enumerate().find(|(_, v)| !v.dtype().is_float()) {
        return Err(OptimError::NonFloatVar {
            index,
            dtype: var.dtype(),
        });
    }
    let cfg = cfg.clone();
    Ok(match cfg.kind {
        OptimKind::Sgd {
            momentum,
            dampening,
            nesterov,
        } => Box::new(sgd::Sgd::new(cfg, vars, momentum, dampening, nesterov)),
        OptimKind::Adam { beta1, beta2, eps } => {
            Box::new(adam::Adam::new(cfg, vars, (beta1, beta2, eps), false))
        }
        OptimKind::AdamW { beta1, beta2, eps } => {
            Box::new(adam::Adam::new(cfg, vars, (beta1, beta2, eps), true))
        }
        OptimKind::Shampoo {
            momentum,
            eps,
            update_freq,
            graft,
        } => Box::new(shampoo::Shampoo::new(
            cfg,
            vars,
            momentum,
            eps,
            update_freq,
            graft,
        )),
    })
}
