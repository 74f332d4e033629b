//! The candle compositions our kernels replace, kept as the reference each kernel is tested
//! against bit for bit and as the fallback where a kernel does not apply (other devices,
//! dtypes or layouts). Each is built from candle operations only, so it runs anywhere and
//! back-propagates through candle's autograd.

use std::f64::consts::FRAC_1_SQRT_2;

use candle_core::{Result, Tensor, D};

/// Layer normalisation over the last dimension composed from candle operations (any device,
/// dtype and layout): `(x − mean) / √(var + eps) · weight + bias`, biased variance.
/// [`crate::layer_norm()`] gives the same bits, value and gradients, where it applies.
pub fn layer_norm_composed(
    xs: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    let mean = xs.mean_keepdim(D::Minus1)?; // [.., 1]
    let centred = xs.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?; // [.., 1]
    let normed = centred.broadcast_div(&(var + eps)?.sqrt()?)?;
    normed.broadcast_mul(weight)?.broadcast_add(bias)
}

/// 2×2 max-pooling with stride 2 composed from candle operations (any device and dtype):
/// a reshape and two `max` reductions, `[N, C, H, W] → [N, C, ⌊H/2⌋, ⌊W/2⌋]` (a trailing
/// odd row/column is dropped, like PyTorch). The gradient reaches the window's maximum with
/// weight 1 (ties share it in full), as in [`crate::max_pool2x2`].
pub fn max_pool2x2_composed(xs: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = xs.dims4()?;
    let (h2, w2) = (h / 2, w / 2);
    let xs = if h % 2 == 1 || w % 2 == 1 {
        xs.narrow(2, 0, 2 * h2)?.narrow(3, 0, 2 * w2)?
    } else {
        xs.clone()
    };
    xs.reshape((n, c, h2, 2, w2, 2))? // [N, C, H/2, 2, W/2, 2]
        .max(5)? // [N, C, H/2, 2, W/2]
        .max(3) // [N, C, H/2, W/2]
}

/// Softmax over the last dimension composed from candle operations (exp / sum) so it
/// back-propagates; the subtracted maximum is detached, which leaves the value and the
/// gradient unchanged. [`crate::softmax_last_dim`] gives the same bits, value and gradient.
pub fn softmax_last_dim_composed(xs: &Tensor) -> Result<Tensor> {
    let max = xs.max_keepdim(D::Minus1)?.detach();
    let num = xs.broadcast_sub(&max)?.exp()?;
    let den = num.sum_keepdim(D::Minus1)?;
    num.broadcast_div(&den)
}

/// The attention core from the fused projection `qkv: [N, T, 3·D]` to the heads' merged
/// outputs `[N, T, D]` (split into `heads` heads, scores scaled by `1/√(D/heads)`, softmax,
/// weighted values), composed of candle ops (the softmax is [`crate::softmax_last_dim`]
/// where it applies, else [`softmax_last_dim_composed`]); [`crate::attention_core`]
/// computes the same bits in one op each way.
pub fn attention_core_composed(qkv: &Tensor, heads: usize) -> Result<Tensor> {
    let (n, t, d3) = qkv.dims3()?;
    let d = d3 / 3;
    let hd = d / heads;
    let qkv = qkv
        .reshape((n, t, 3, heads, hd))?
        .permute((2, 0, 3, 1, 4))?; // [3, N, heads, T, hd]
    let q = (qkv.get(0)?.contiguous()? * (1.0 / (hd as f64).sqrt()))?;
    let k = qkv.get(1)?.contiguous()?;
    let v = qkv.get(2)?.contiguous()?;
    let scores = q.matmul(&k.t()?)?; // [N, heads, T, T]
    let weights = match crate::softmax_last_dim(&scores)? {
        Some(weights) => weights,
        None => softmax_last_dim_composed(&scores)?,
    };
    weights
        .matmul(&v)? // [N, heads, T, hd]
        .transpose(1, 2)? // [N, T, heads, hd]
        .reshape((n, t, d))
}

/// GELU (the exact, erf form) composed of candle ops: `(x · 0.5) · (erf(x · 1/√2) + 1)`,
/// which [`crate::gelu()`] reproduces bit for bit.
pub fn gelu_composed(xs: &Tensor) -> Result<Tensor> {
    let cdf = ((xs * FRAC_1_SQRT_2)?.erf()? + 1.0)?; // 2·Φ(x)
    (xs * 0.5)? * cdf
}

/// Mean label-smoothed cross-entropy composed of candle ops (any device and dtype):
/// `(1 − ε)·nll + ε·mean_rows(Σ_c −log p_c) / classes` over `log_softmax` (PyTorch's
/// `label_smoothing`); at ε = 0 `candle_nn::loss::cross_entropy` itself. It is
/// [`crate::smoothed_cross_entropy`]'s fallback and agrees with it up to rounding.
pub fn smoothed_cross_entropy_composed(
    logits: &Tensor,
    labels: &Tensor,
    smoothing: f64,
) -> Result<Tensor> {
    if smoothing == 0.0 {
        return candle_nn::loss::cross_entropy(logits, labels);
    }
    let classes = logits.dim(D::Minus1)?;
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?; // [b, classes]
    let nll = candle_nn::loss::nll(&logp, labels)?; // mean −log p_y
    let uniform = (logp.sum(D::Minus1)?.mean_all()? * (-1.0 / classes as f64))?;
    (nll * (1.0 - smoothing))? + (uniform * smoothing)?
}
