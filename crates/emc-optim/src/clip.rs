//! The global gradient L2 norm and `torch.nn.utils.clip_grad_norm_`'s clip coefficient.

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};

use crate::config::OptimConfig;
use crate::error::{OptimError, Result};

/// Global L2 norm of the gradients of `vars` (vars without a gradient count as zero).
///
/// Each gradient's sum of squares is reduced on its device (in its dtype; f16/bf16 are widened
/// to f32 first) and the per-var sums are added in f64, with one device-to-host transfer when
/// all vars share a device.
pub fn grad_norm(vars: &[Var], grads: &GradStore) -> Result<f64> {
    let mut sums = Vec::new();
    for var in vars {
        if let Some(g) = grads.get(var) {
            let g = match g.dtype() {
                DType::F16 | DType::BF16 => g.to_dtype(DType::F32)?,
                _ => g.clone(),
            };
            sums.push(g.sqr()?.sum_all()?.to_dtype(DType::F64)?);
        }
    }
    let Some(first) = sums.first() else {
        return Ok(0.0);
    };
    let total: f64 = if sums.iter().all(|s| s.device().same_device(first.device())) {
        Tensor::stack(&sums, 0)?.to_vec1::<f64>()?.iter().sum()
    } else {
        let mut total = 0.0;
        for s in &sums {
            total += s.to_scalar::<f64>()?;
        }
        total
    };
    Ok(total.sqrt())
}

/// Fails when `cfg` clips gradients: an update without the gradient norm cannot.
pub(crate) fn require_no_clipping(cfg: &OptimConfig) -> Result<()> {
    match cfg.clip_grad_norm {
        None => Ok(()),
        Some(max) => Err(OptimError::InvalidConfig {
            field: "clip",
            value: max.to_string(),
            expected: "none: an update without the gradient norm cannot clip",
        }),
    }
}

/// The factor the gradients are multiplied by: `min(1, max_norm / (norm + 1e-6))` as in
/// `clip_grad_norm_` (a NaN norm gives NaN, as there), or 1 without clipping.
pub(crate) fn clip_coef(norm: f64, max_norm: Option<f64>) -> f64 {
    match max_norm {
        None => 1.0,
        Some(max_norm) => {
            let coef = max_norm / (norm + 1e-6);
            if coef.is_nan() {
                coef
            } else {
                coef.min(1.0)
            }
        }
    }
}
