//! `xs · Wᵀ + b` as one op, with the bias fused, bit-identical to candle's
//! `matmul(xs, W.t()) + broadcast b` in value and in every gradient.
//!
//! candle's composed version builds four graph nodes (transpose, matmul, broadcast, add)
//! and its backward sums the bias gradient over the batch with a divide-and-modulo per
//! element: in small MLPs that reduction alone was about 15% of a training step. Here the
//! backward makes the same two matrix products as candle's (the same `gemm` calls, operand
//! for operand, so the same rounding) and sums the bias gradient down the columns in the
//! same order, in one pass.

use candle_core::Tensor;
use candle_core::{bail, CpuStorage, DType, Layout, Result, Shape};

use crate::cpu::{bias_data, data, weight_grads};
use crate::dispatch::{backward_op3, for_float, weight_op_with_optional_bias, Float};
use crate::matmul::{matmul, product, Mat};

/// `xs · weightᵀ (+ bias)` over the last dimension, for `xs: [.., in]` (rank 2 or more),
/// `weight: [out, in]`, `bias: [out]` → `[.., out]`: our op for `f32`/`f64` on the CPU
/// (the leading dimensions are rows: no reshape nodes in the graph), candle's ops on the
/// input flattened to `[rows, in]` otherwise.
pub fn linear(xs: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let dtype = xs.dtype();
    let ours = crate::kernels_apply(xs.device())
        && matches!(dtype, DType::F32 | DType::F64)
        && weight.dtype() == dtype
        && bias.is_none_or(|b| b.dtype() == dtype && b.rank() == 1)
        && xs.rank() >= 2
        && weight.rank() == 2;
    if !ours {
        let in_dim = xs.dims().last().copied().unwrap_or(0);
        let rows = xs.elem_count() / in_dim.max(1);
        let ys = xs.reshape((rows, in_dim))?.matmul(&weight.t()?)?;
        let ys = match bias {
            Some(b) => ys.broadcast_add(b)?,
            None => ys,
        };
        let mut out_dims = xs.dims().to_vec();
        if let Some(last) = out_dims.last_mut() {
            *last = weight.dim(0)?;
        }
        return ys.reshape(out_dims);
    }
    let (xs, weight) = (xs.contiguous()?, weight.contiguous()?);
    match bias {
        Some(b) => xs.apply_op3(&weight, &b.contiguous()?, LinearOp),
        None => xs.apply_op2(&weight, LinearOp),
    }
}

/// `(rows, in, out)` of `xs: [.., in]` (rows: the product of the leading dimensions) and
/// `weight: [out, in]`.
fn dims(lx: &Layout, lw: &Layout) -> Result<(usize, usize, usize)> {
    match (lx.dims(), lw.dims()) {
        ([lead @ .., i], &[out, wi]) if !lead.is_empty() && *i == wi => {
            Ok((lead.iter().product(), *i, out))
        }
        (x, w) => bail!("linear: input {x:?} and weight {w:?}; expected [.., in] and [out, in]"),
    }
}

/// The output shape for `xs: [.., in]`: `[.., out]`.
fn out_shape(lx: &Layout, out: usize) -> Shape {
    let mut d = lx.dims().to_vec();
    if let Some(last) = d.last_mut() {
        *last = out;
    }
    Shape::from(d)
}

/// `y = x · wᵀ (+ b)` on slices: `x: [rows, in]`, `w: [out, in]`, `b: [out]`, all
/// row-major; `y: [rows, out]` is overwritten. The one forward computation of [`linear`]
/// and of [`crate::segmented_linear`] (per segment).
pub(crate) fn forward_rows<T: Float>(
    (x, w, b): (&[T], &[T], Option<&[T]>),
    (rows, i, out): (usize, usize, usize),
    y: &mut [T],
) {
    // candle's matmul(x, wᵀ): x row-major, wᵀ as strides over w.
    let lhs = Mat {
        data: x,
        rs: i,
        cs: 1,
    };
    let rhs = Mat {
        data: w,
        rs: 1,
        cs: i,
    };
    matmul((rows, out, i), y, out, false, lhs, rhs);
    if let Some(b) = b {
        for row in y.chunks_exact_mut(out.max(1)) {
            for (v, b) in row.iter_mut().zip(b) {
                *v += *b;
            }
        }
    }
}

/// The gradients of [`forward_rows`] for the output gradient `dy: [rows, out]`: `dx`
/// (`[rows, in]`, when given), `dw` (`[out, in]`) and `db` (`[out]`, when given), each
/// overwritten. The one backward computation of [`linear`] and of
/// [`crate::segmented_linear`] (per segment).
pub(crate) fn backward_rows<T: Float>(
    (x, w, dy): (&[T], &[T], &[T]),
    (rows, i, out): (usize, usize, usize),
    dx: Option<&mut [T]>,
    dw: &mut [T],
    db: Option<&mut [T]>,
) {
    let dy_mat = Mat {
        data: dy,
        rs: out,
        cs: 1,
    };
    if let Some(dx) = dx {
        // candle: dy.matmul(w) (the transpose of wᵀ is w itself, contiguous).
        let w_mat = Mat {
            data: w,
            rs: i,
            cs: 1,
        };
        matmul((rows, i, out), dx, i, false, dy_mat, w_mat);
    }
    // candle: xᵀ.matmul(dy) = dwᵀ as [in, out], then transposed: the same product, written
    // straight into dw's places (row stride 1, column stride `in`; copying a separate dwᵀ
    // into place was ~13% of an MLP step).
    let x_t = Mat {
        data: x,
        rs: 1,
        cs: i,
    };
    product(true, (i, out, rows), dw, (1, i), false, x_t, dy_mat);
    if let Some(db) = db {
        // candle's sum over the batch: each column from zero, rows in order.
        db.fill(T::default());
        for row in dy.chunks_exact(out.max(1)) {
            for (acc, v) in db.iter_mut().zip(row) {
                *acc += *v;
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct LinearOp;

impl LinearOp {
    fn fwd_t<T: Float>(
        &self,
        (sx, lx): (&CpuStorage, &Layout),
        (sw, lw): (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, i, out) = dims(lx, lw)?;
        let (x, w) = (data::<T>(sx, lx, "input")?, data::<T>(sw, lw, "weight")?);
        let b = bias_data::<T>(bias, &[out], "linear")?;
        let mut y = vec![T::default(); rows * out];
        forward_rows((x, w, b), (rows, i, out), &mut y);
        Ok((T::to_cpu_storage_owned(y), out_shape(lx, out)))
    }

    /// `(dx, dw, db)` for the output gradient `grad`; `dx` only when `x` needs one.
    fn grads(
        &self,
        x: &Tensor,
        weight: &Tensor,
        with_bias: bool,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Tensor, Option<Tensor>)> {
        let want_dx = x.track_op();
        let op = LinearBackwardOp {
            dx: want_dx,
            db: with_bias,
        };
        weight_grads((x, weight, grad), &op, with_bias.then_some(1))
    }
}

weight_op_with_optional_bias!(LinearOp, "emc-linear", "emc-linear-bias");

/// The backward op on `(x, weight, dy)`: one flat tensor holding `dx` (if wanted), `dw`,
/// then `db` (if wanted), each contiguous in its own shape.
#[derive(Debug, Clone, Copy)]
struct LinearBackwardOp {
    dx: bool,
    db: bool,
}

impl LinearBackwardOp {
    fn run<T: Float>(
        &self,
        (sx, lx): (&CpuStorage, &Layout),
        (sw, lw): (&CpuStorage, &Layout),
        (sg, lg): (&CpuStorage, &Layout),
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, i, out) = dims(lx, lw)?;
        if *lg.shape() != out_shape(lx, out) {
            bail!(
                "linear backward: gradient {:?} for {:?}",
                lg.dims(),
                out_shape(lx, out).dims()
            )
        }
        debug_assert_eq!(lg.shape().elem_count(), rows * out);
        let (x, w, dy) = (
            data::<T>(sx, lx, "input")?,
            data::<T>(sw, lw, "weight")?,
            data::<T>(sg, lg, "gradient")?,
        );
        let dx_len = if self.dx { rows * i } else { 0 };
        let db_len = if self.db { out } else { 0 };
        let mut flat = vec![T::default(); dx_len + out * i + db_len];
        let (dx, rest) = flat.split_at_mut(dx_len);
        let (dw, db) = rest.split_at_mut(out * i);
        backward_rows(
            (x, w, dy),
            (rows, i, out),
            self.dx.then_some(dx),
            dw,
            self.db.then_some(db),
        );
        let len = flat.len();
        Ok((T::to_cpu_storage_owned(flat), Shape::from(len)))
    }
}

backward_op3!(LinearBackwardOp, "emc-linear-backward");
