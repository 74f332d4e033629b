//! Softmax over the last dimension as one op each way, bit-identical to the composition in
//! [`crate::composed::softmax_last_dim_composed`] in value and gradient.
//!
//! The composition (detached row maximum, subtract, `exp`, row sum, divide) costs five
//! passes and allocations forward and about ten backward, over the attention weights of
//! every ViT block (`[N, heads, T, T]`, the largest activations of a small ViT). Here the
//! forward is one loop over the rows with candle's `max`, `exp` and vector sum, keeping each
//! row's exponentials and sum in the op ([`SoftmaxCache`], shared with the cross-entropy),
//! and the backward replays candle's autograd graph of the composition row by row: the
//! divide's two gradients, the row sum of the denominator's, the `exp` node's product, in
//! candle's order and with the zero each of candle's gradient accumulators starts from.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result};
use candle_core::{Shape, Tensor};

use crate::cpu::{data, for_row_blocks, input_and_grad, last_dim, rows_into, slice_mut, SendPtr};
use crate::cross_entropy::{softmax_row, vec_sum, Softmax, SoftmaxCache};
use crate::dispatch::{backward_op2, for_float, Float};

/// Softmax over the last dimension of a contiguous `f32`/`f64` CPU tensor; `None` where
/// the kernel does not apply (the caller then composes it from candle operations, which is
/// the same function).
pub fn softmax_last_dim(xs: &Tensor) -> Result<Option<Tensor>> {
    let ours = crate::kernels_apply(xs.device())
        && matches!(xs.dtype(), DType::F32 | DType::F64)
        && xs.rank() >= 1
        && xs.dims().last().is_some_and(|&c| c > 0)
        && xs.is_contiguous();
    if !ours {
        return Ok(None);
    }
    xs.apply_op1(SoftmaxLastDim::default()).map(Some)
}

/// The forward op; it keeps its rows' exponentials and sums for the backward.
#[derive(Debug, Default)]
struct SoftmaxLastDim {
    cache: SoftmaxCache,
}

fn forward<T: Float>(
    s: &CpuStorage,
    l: &Layout,
    cache: &SoftmaxCache,
) -> Result<(CpuStorage, Shape)> {
    let x = data::<T>(s, l, "input")?;
    let c = last_dim(l, "softmax")?;
    let rows = x.len() / c;
    let zero = T::ZERO;
    let mut r = Softmax {
        max: vec![zero; rows],
        exp: vec![zero; x.len()],
        sum: vec![zero; rows],
    };
    let mut y = vec![zero; x.len()];
    let ptrs = (
        SendPtr(r.max.as_mut_ptr()),
        SendPtr(r.exp.as_mut_ptr()),
        SendPtr(r.sum.as_mut_ptr()),
        SendPtr(y.as_mut_ptr()),
    );
    for_row_blocks(rows, c, |block| {
        let span = block.start * c..block.end * c;
        let (max_p, exp_p, sum_p, y_p) = ptrs;
        // SAFETY: the buffers outlive the call and row blocks are disjoint.
        let (max, exp, sum, y) = unsafe {
            (
                slice_mut(max_p, block.clone()),
                slice_mut(exp_p, span.clone()),
                slice_mut(sum_p, block),
                slice_mut(y_p, span.clone()),
            )
        };
        let rows = x[span].chunks_exact(c).zip(exp.chunks_exact_mut(c));
        for (((row, exp), (m, s)), y) in
            rows.zip(max.iter_mut().zip(sum)).zip(y.chunks_exact_mut(c))
        {
            (*m, *s) = softmax_row(row, exp);
            // candle: num.broadcast_div(den).
            for (y, &e) in y.iter_mut().zip(exp.iter()) {
                *y = e / *s;
            }
        }
    });
    cache.keep(r);
    Ok((T::to_cpu_storage_owned(y), l.shape().clone()))
}

/// The input's gradient for the output's gradient `g`, from each row's exponentials `exp`
/// and sum `sum`, as candle's autograd computes it for the composition.
fn backward<T: Float>(g: &[T], exp: &[T], sum: &[T], c: usize) -> Vec<T> {
    let mut dx = vec![T::ZERO; g.len()];
    rows_into(&mut dx, c, |rows, dx| {
        let span = rows.start * c..rows.end * c;
        backward_rows(&g[span.clone()], &exp[span], &sum[rows], c, dx)
    });
    dx
}

/// [`backward`] of whole rows on the calling thread, into `dx`.
pub(crate) fn backward_rows<T: Float>(g: &[T], exp: &[T], sum: &[T], c: usize, dx: &mut [T]) {
    let zero = T::ZERO;
    let mut d_den = vec![zero; c];
    for (((g, e), &s), dx) in g
        .chunks_exact(c)
        .zip(exp.chunks_exact(c))
        .zip(sum)
        .zip(dx.chunks_exact_mut(c))
    {
        // Div (num / den): num gets g / den; den (broadcast) gets 0 − g·num / den².
        for ((d, &g), &e) in d_den.iter_mut().zip(g).zip(e) {
            *d = zero - (g * e) / (s * s);
        }
        // Broadcast back to the row's sum: a row sum, into a zero accumulator.
        let g_den = zero + vec_sum(&d_den);
        for ((dx, &g), &e) in dx.iter_mut().zip(g).zip(e) {
            // num's accumulator: the divide's share, then the sum node's.
            let g_num = (zero + g / s) + g_den;
            // exp: grad · node; then the subtract passes it to x.
            *dx = zero + g_num * e;
        }
    }
}

impl CustomOp1 for SoftmaxLastDim {
    fn name(&self) -> &'static str {
        "emc-softmax-last-dim"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        for_float!(s, T => forward::<T>(s, l, &self.cache))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let op = SoftmaxGrad { cache: &self.cache };
        Ok(Some(arg.apply_op2_no_bwd(&grad.contiguous()?, &op)?))
    }
}

/// The backward op on `(x, output gradient)`, reading the forward's rows.
#[derive(Debug, Clone, Copy)]
struct SoftmaxGrad<'a> {
    cache: &'a SoftmaxCache,
}

impl SoftmaxGrad<'_> {
    fn run<T: Float>(
        &self,
        (sx, lx): (&CpuStorage, &Layout),
        (sg, lg): (&CpuStorage, &Layout),
    ) -> Result<(CpuStorage, Shape)> {
        let (x, g) = input_and_grad::<T>((sx, lx), (sg, lg), "softmax")?;
        let c = last_dim(lx, "softmax backward")?;
        let dx = self
            .cache
            .with_rows(x, (x.len() / c, c), |_, exp, sum| backward(g, exp, sum, c));
        Ok((T::to_cpu_storage_owned(dx), lx.shape().clone()))
    }
}

backward_op2!(SoftmaxGrad<'_>, "emc-softmax-last-dim-backward");
