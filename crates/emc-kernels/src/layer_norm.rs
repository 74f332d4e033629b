//! Layer normalisation over the last dimension as two ops each way, bit-identical to the
//! composition in [`crate::composed::layer_norm_composed`] in value and gradients.
//!
//! The composition (mean, subtract, square, mean, add ε, square root, divide, scale, shift)
//! is about a dozen passes and allocations forward and twice as many backward, and the
//! weight's and bias's gradients are candle reductions over all leading dimensions, which
//! candle computes with a division and a modulo per element: together the largest cost of a
//! small ViT's step after its matrix products. Here:
//!
//! - `Normalize` on `(x, x)` gives `(x − mean) / √(var + ε)`, one loop over the rows;
//! - `ScaleShift` on `(normed, weight, bias)` gives `normed · weight + bias`.
//!
//! Both forwards perform candle's operations in candle's order (its vector sum where it
//! reduces a row, `v · mul + add` where it scales). Both backwards replay candle's autograd
//! graph of the composition, node by node, including the zero each gradient accumulator
//! starts from. `Normalize` takes `x` twice because the composition's gradient reaches `x`
//! along two paths (the subtraction and the mean), which candle adds to `x`'s accumulator
//! one after the other, subtraction first; an op with `x` twice hands back the two parts
//! separately, so they are added in the same order after whatever else reached `x` (the
//! residual connection) and the sums round the same.

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result};
use candle_core::{Shape, Tensor};

use crate::cpu::{data, for_row_blocks, input_and_grad, last_dim, rows_into, slice_mut, SendPtr};
use crate::cross_entropy::vec_sum;
use crate::dispatch::{backward_op2, backward_op3, for_float, Float};

/// `(x − mean) / √(var + eps) · weight + bias` over the last dimension (biased variance) of
/// a contiguous `f32`/`f64` CPU tensor, `weight` and `bias` of its last dimension's size;
/// `None` where the kernel does not apply (the caller then composes it from candle
/// operations, which is the same function).
pub fn layer_norm(xs: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Option<Tensor>> {
    let d = xs.dims().last().copied().unwrap_or(0);
    let ours = crate::kernels_apply(xs.device())
        && matches!(xs.dtype(), DType::F32 | DType::F64)
        && d > 0
        && xs.is_contiguous()
        && [weight, bias].iter().all(|t| {
            t.dims() == [d] && t.dtype() == xs.dtype() && t.device().same_device(xs.device())
        });
    if !ours {
        return Ok(None);
    }
    let normed = xs.apply_op2(xs, Normalize { eps })?;
    normed
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, ScaleShift)
        .map(Some)
}

/// `(x − mean) / √(var + eps)` per row, on `(x, x)`.
#[derive(Debug, Clone, Copy)]
struct Normalize {
    eps: f64,
}

/// One row's statistics as candle's composition computes them.
struct RowStats<T> {
    mean: T,
    /// `√(var + eps)`.
    std: T,
}

/// Constants of the composition, in `T`: `1/d` (candle's `mean` scale), `eps`.
#[derive(Clone, Copy)]
struct Consts<T> {
    inv_d: T,
    eps: T,
}

impl<T: Float> Consts<T> {
    fn new(d: usize, eps: f64) -> Self {
        Self {
            inv_d: T::from_f64(1.0 / d as f64),
            eps: T::from_f64(eps),
        }
    }
}

/// `row`'s mean and `√(var + eps)`: `sum · (1/d) + 0` (candle's `mean_keepdim`, an affine
/// map of the row sum), `c = x − mean`, `var = Σc² · (1/d) + 0`, `var · 1 + eps` (candle's
/// `+ f64`), `sqrt`. `sq` is scratch of the row's length.
fn row_stats<T: Float>(row: &[T], k: Consts<T>, sq: &mut [T]) -> RowStats<T> {
    let mean = vec_sum(row) * k.inv_d + T::ZERO;
    for (s, &x) in sq.iter_mut().zip(row) {
        let c = x - mean;
        *s = c * c;
    }
    let var = vec_sum(sq) * k.inv_d + T::ZERO;
    RowStats {
        mean,
        std: (var * T::ONE + k.eps).sqrt(),
    }
}

impl Normalize {
    fn fwd<T: Float>(&self, (s, l): (&CpuStorage, &Layout)) -> Result<(CpuStorage, Shape)> {
        let x = data::<T>(s, l, "input")?;
        let d = last_dim(l, "layer_norm")?;
        let k = Consts::new(d, self.eps);
        let mut y = vec![T::ZERO; x.len()];
        rows_into(&mut y, d, |rows, out| {
            let mut sq = vec![T::ZERO; d];
            for (row, out) in x[rows.start * d..rows.end * d]
                .chunks_exact(d)
                .zip(out.chunks_exact_mut(d))
            {
                let r = row_stats(row, k, &mut sq);
                for (o, &x) in out.iter_mut().zip(row) {
                    *o = (x - r.mean) / r.std;
                }
            }
        });
        Ok((T::to_cpu_storage_owned(y), l.shape().clone()))
    }
}

impl CustomOp2 for Normalize {
    fn name(&self) -> &'static str {
        "emc-layer-norm-normalize"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        _s2: &CpuStorage,
        _l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        for_float!(s1, T => self.fwd::<T>((s1, l1)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        _same: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let parts = x.apply_op2_no_bwd(&grad.contiguous()?, &NormalizeGrad(*self))?;
        // [2, ..x]: the subtraction's part, then the mean's.
        Ok((Some(parts.get(0)?), Some(parts.get(1)?)))
    }
}

/// The backward op on `(x, gradient of the normalised rows)`: `[2, ..x]`, the gradient
/// candle's subtraction node sends to `x`, then the one its mean node sends.
#[derive(Debug, Clone, Copy)]
struct NormalizeGrad(Normalize);

impl NormalizeGrad {
    fn run<T: Float>(
        &self,
        (sx, lx): (&CpuStorage, &Layout),
        (sg, lg): (&CpuStorage, &Layout),
    ) -> Result<(CpuStorage, Shape)> {
        let (x, g) = input_and_grad::<T>((sx, lx), (sg, lg), "layer_norm")?;
        let d = last_dim(lx, "layer_norm backward")?;
        let k = Consts::<T>::new(d, self.0.eps);
        let (zero, half, two) = (T::ZERO, T::from_f64(0.5), T::from_f64(2.0));
        let mut out = vec![zero; 2 * x.len()];
        // [2, ..x]: the subtraction's part, then the mean's.
        let (sub_ptr, mean_ptr) = (
            SendPtr(out.as_mut_ptr()),
            SendPtr(out[x.len()..].as_mut_ptr()),
        );
        for_row_blocks(x.len() / d, d, |rows| {
            let span = rows.start * d..rows.end * d;
            // SAFETY: `out` outlives the call; row blocks are disjoint in each half.
            let (via_sub, via_mean) = unsafe {
                (
                    slice_mut(sub_ptr, span.clone()),
                    slice_mut(mean_ptr, span.clone()),
                )
            };
            let mut scratch = vec![zero; d];
            for (((row, g), dsub), dmean) in x[span.clone()]
                .chunks_exact(d)
                .zip(g[span].chunks_exact(d))
                .zip(via_sub.chunks_exact_mut(d))
                .zip(via_mean.chunks_exact_mut(d))
            {
                let RowStats { mean, std } = row_stats(row, k, &mut scratch);
                // Div (c / std): std (broadcast) gets 0 − g·c / std², summed over the row.
                for (s, (&x, &g)) in scratch.iter_mut().zip(row.iter().zip(g)) {
                    *s = zero - (g * (x - mean)) / (std * std);
                }
                let g_std = zero + vec_sum(&scratch);
                // sqrt: g / node · 0.5; affine (· 1 + eps): · 1; affine (· 1/d): · 1/d; each into
                // a zero accumulator; the row sum's backward broadcasts it to every c².
                let g_ve = zero + ((g_std / std) * half + zero);
                let g_var = zero + (g_ve * T::ONE + zero);
                let g_sq = zero + (zero + (g_var * k.inv_d + zero));
                // c's accumulator: the divide's share (g / std), then the square's (c·g · 2).
                for (s, (&x, &g)) in dsub.iter_mut().zip(row.iter().zip(g)) {
                    let c = x - mean;
                    *s = (zero + g / std) + ((c * g_sq) * two + zero);
                }
                // Sub (x − mean): x gets c's gradient; the mean (broadcast) gets 0 − it, summed
                // over the row, then scaled by 1/d (the mean's affine map) and broadcast back.
                for (s, &v) in scratch.iter_mut().zip(dsub.iter()) {
                    *s = zero - v;
                }
                let g_mean = zero + vec_sum(&scratch);
                let g_sum = zero + (g_mean * k.inv_d + zero);
                dmean.fill(g_sum);
            }
        });
        let mut dims = vec![2];
        dims.extend_from_slice(lx.dims());
        Ok((T::to_cpu_storage_owned(out), Shape::from(dims)))
    }
}

backward_op2!(NormalizeGrad, "emc-layer-norm-normalize-backward");

/// `normed · weight + bias` per row, on `(normed, weight, bias)`.
#[derive(Debug, Clone, Copy)]
struct ScaleShift;

fn scale_shift_dims(ln: &Layout, lw: &Layout, lb: &Layout) -> Result<usize> {
    let d = last_dim(ln, "layer_norm")?;
    if lw.dims() != [d] || lb.dims() != [d] {
        bail!(
            "layer_norm: weight {:?} and bias {:?} for a last dimension of {d}",
            lw.dims(),
            lb.dims()
        )
    }
    Ok(d)
}

impl ScaleShift {
    fn fwd<T: Float>(
        (sn, ln): (&CpuStorage, &Layout),
        (sw, lw): (&CpuStorage, &Layout),
        (sb, lb): (&CpuStorage, &Layout),
    ) -> Result<(CpuStorage, Shape)> {
        let d = scale_shift_dims(ln, lw, lb)?;
        let n = data::<T>(sn, ln, "normalised input")?;
        let (w, b) = (data::<T>(sw, lw, "weight")?, data::<T>(sb, lb, "bias")?);
        let mut y = vec![T::ZERO; n.len()];
        rows_into(&mut y, d, |rows, out| {
            let n = &n[rows.start * d..rows.end * d];
            for (out, row) in out.chunks_exact_mut(d).zip(n.chunks_exact(d)) {
                for (((o, &n), &w), &b) in out.iter_mut().zip(row).zip(w).zip(b) {
                    *o = n * w + b;
                }
            }
        });
        Ok((T::to_cpu_storage_owned(y), ln.shape().clone()))
    }
}

impl CustomOp3 for ScaleShift {
    fn name(&self) -> &'static str {
        "emc-layer-norm-scale-shift"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        for_float!(s1, T => Self::fwd::<T>((s1, l1), (s2, l2), (s3, l3)))
    }

    fn bwd(
        &self,
        normed: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let flat = normed.apply_op3_no_bwd(weight, &grad.contiguous()?, &ScaleShiftGrad)?;
        let (len, d) = (normed.elem_count(), weight.elem_count());
        let dn = flat.narrow(0, 0, len)?.reshape(normed.shape())?;
        let dw = flat.narrow(0, len, d)?;
        let db = flat.narrow(0, len + d, d)?;
        Ok((Some(dn), Some(dw), Some(db)))
    }
}

/// The backward op on `(normed, weight, gradient)`: one flat tensor holding the gradients
/// of `normed`, `weight` and `bias`, in that order.
#[derive(Debug, Clone, Copy)]
struct ScaleShiftGrad;

impl ScaleShiftGrad {
    fn run<T: Float>(
        &self,
        (sn, ln): (&CpuStorage, &Layout),
        (sw, lw): (&CpuStorage, &Layout),
        (sg, lg): (&CpuStorage, &Layout),
    ) -> Result<(CpuStorage, Shape)> {
        let d = last_dim(ln, "layer_norm backward")?;
        if lw.dims() != [d] {
            bail!(
                "layer_norm backward: weight {:?} for a last dimension of {d}",
                lw.dims()
            )
        }
        if ln.shape() != lg.shape() {
            bail!(
                "layer_norm backward: gradient {:?} for input {:?}",
                lg.dims(),
                ln.dims()
            )
        }
        let n = data::<T>(sn, ln, "normalised input")?;
        let (w, g) = (data::<T>(sw, lw, "weight")?, data::<T>(sg, lg, "gradient")?);
        let zero = T::ZERO;
        let mut flat = vec![zero; n.len() + 2 * d];
        let (dn, rest) = flat.split_at_mut(n.len());
        let (dw, db) = rest.split_at_mut(d);
        // Add (· + bias): both sides get the gradient into zero accumulators. The bias and
        // weight gradients are candle's sums over the leading dimensions: row after row,
        // each column from zero.
        for ((dn, g), n) in dn
            .chunks_exact_mut(d)
            .zip(g.chunks_exact(d))
            .zip(n.chunks_exact(d))
        {
            for j in 0..d {
                let g_y = zero + g[j];
                // Mul (normed · weight): normed gets g·w, weight gets g·normed.
                dn[j] = g_y * w[j];
                dw[j] += zero + g_y * n[j];
                db[j] += zero + g[j];
            }
        }
        let len = flat.len();
        Ok((T::to_cpu_storage_owned(flat), Shape::from(len)))
    }
}

backward_op3!(ScaleShiftGrad, "emc-layer-norm-scale-shift-backward");
