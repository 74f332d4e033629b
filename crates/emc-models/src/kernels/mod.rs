//! Our own CPU kernels, as candle custom ops with forward and backward.
//!
//! **Convolution.** candle 0.11.1 computes `conv2d`'s forward by im2col and a matrix
//! product, but its backward computes the input gradient as a transposed convolution written
//! as plain loops, which made it about 80% of a CNN training step on CPU (and it fails on
//! stride-2 inputs whose height and width leave different remainders: the transposed
//! convolution's output padding is taken from the height alone). [`conv2d`] replaces both
//! passes for `f32` and `f64` tensors on the CPU (any stride and padding, dilation 1, one
//! group):
//!
//! - forward: for a chunk of images, `cols = im2col(x)` (`[C·kh·kw, chunk·H'·W']`), then one
//!   matrix product `W · cols` (`W: [O, C·kh·kw]`), scattered to `[N, O, H', W']` with the
//!   bias added on the way (fused: no separate broadcast add and no reduction node in the
//!   graph);
//! - backward, chunk by chunk from the gradient `dy` gathered as `[O, chunk·H'·W']`:
//!   `dW += dy · colsᵀ` (im2col recomputed rather than kept: it is cheap next to the
//!   products and would cost `k²` times the input's memory), `db += Σ dy` over images and
//!   positions (accumulated in f64), and `dx = col2im(Wᵀ · dy)`. The input gradient is
//!   skipped when the input needs none (the first layer's input is data).
//!
//! Chunks hold as many images as fit a cache-sized column buffer, so the tiny CNNs of EMC
//! studies (a few channels on 14×14 images) make one product per chunk instead of one per
//! image, and large layers make one per image. The products use the `gemm` crate directly
//! (candle's CPU matmul is a wrapper around the same call that insists on contiguous operands;
//! calling it ourselves lets the transposes be strides) with candle's thread count. Sums run
//! in a fixed order, chunks in sequence and `gemm` splits only the output among threads, so
//! the same inputs give bit-identical results run to run.
//!
//! **Max-pooling.** [`max_pool2x2`] is one pass forward and one backward (each window's
//! maximum gets the gradient, ties in full), where the composed version in
//! [`crate::layers::max_pool2x2_composed`] (candle's `max_pool2d` backward is wrong) costs two
//! reductions forward and, backward, comparisons, casts and broadcast products over the
//! whole input; it was the largest remaining cost of the small CNNs once the convolution
//! was fixed.
//!
//! **Linear layers.** [`linear`] is `xs · Wᵀ + b` with the bias fused, bit-identical to
//! candle's composed `matmul` + broadcast add in value and gradients, without the four
//! graph nodes and the bias gradient's reduction (a divide and modulo per element in
//! candle), which cost small MLPs more than their matrix products. [`relu`] is one pass
//! each way, bit-identical to candle's `relu` and its four-op backward. [`cross_entropy`] is
//! the mean cross-entropy as one op each way, bit-identical to candle's composed loss.
//!
//! **Transformer layers.** [`layer_norm`] (two ops: normalise, then scale and shift),
//! [`softmax_last_dim`], [`gelu`] and [`attention_core`] (head split, scaled scores,
//! softmax, weighted values, head merge) are one pass each way instead of five to fifteen
//! candle ops and their backward graphs, bit-identical to the compositions in
//! [`crate::layers`] and [`gelu_composed`] (they replay candle's autograd order, including
//! how `x`'s gradient parts are added and the zero each accumulator starts from).
//!
//! **Packed batches.** [`segmented_linear`], [`segmented_conv2d`] and
//! [`segmented_cross_entropy`] run the linear, convolution and cross-entropy computations
//! on the rows of several stacked models at once (one [`Segments`] entry per model and
//! chunk of rows), each segment bit-identical to the single-model op on those rows; [`member_square_sums`] gives each stacked model's squared
//! gradient norm as candle sums it. See [`crate::stacked`].
//!
//! `f64` runs the same code, so the gradients are checked against finite differences at
//! full precision (`tests/kernels.rs`, `tests/gradients.rs`). Other devices and dtypes fall
//! back to candle's `conv2d` (plus a broadcast bias add), which computes the same function.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use emc_models::kernels;
//! # fn main() -> candle_core::Result<()> {
//! let dev = Device::Cpu;
//! let x = Tensor::arange(0f32, 2.0 * 3.0 * 5.0 * 4.0, &dev)?.reshape((2, 3, 5, 4))?;
//! let w = Tensor::ones((8, 3, 3, 3), candle_core::DType::F32, &dev)?;
//! let b = Tensor::zeros(8, candle_core::DType::F32, &dev)?;
//! let ours = kernels::conv2d(&x, &w, Some(&b), 1, 1)?; // [2, 8, 5, 4]
//! let candle = x.conv2d(&w, 1, 1, 1, 1)?;
//! let diff = (ours - candle)?.abs()?.max_all()?.to_scalar::<f32>()?;
//! assert!(diff < 1e-3);
//! # Ok(()) }
//! ```

mod attention;
mod cross_entropy;
mod gelu;
mod layer_norm;
mod linear;
mod relu;
mod segmented;
mod segmented_conv;
mod softmax;

pub use attention::attention_core;
pub use cross_entropy::cross_entropy;
pub use gelu::{gelu, gelu_composed};
pub use layer_norm::layer_norm;
pub use linear::linear;
pub use relu::relu;
pub use segmented::{member_square_sums, segmented_cross_entropy, segmented_linear, Segments};
pub use segmented_conv::segmented_conv2d;
pub use softmax::softmax_last_dim;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use candle_core::cpu::kernels::VecOps;
use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp3, DType, Device, Layout, Result, Shape, Tensor, WithDType,
};

/// Column buffers of about this many elements (1 MiB of `f32`) decide how many images a
/// chunk holds.
const CHUNK_FLOATS: usize = 1 << 18;

/// The element types the kernels run on: `f32` (training) and `f64` (gradient checks),
/// with the element operations written as candle writes them (std's `exp`, `ln`, `sqrt`
/// and `max`), so the kernels that replace candle ops round as candle does.
trait Float: WithDType + VecOps + Default + PartialOrd + 'static {
    const ZERO: Self;
    const ONE: Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    /// candle's `relu`: `max(x, 0)`.
    fn relu(self) -> Self;
}

macro_rules! float {
    ($t:ty) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn relu(self) -> Self {
                <$t>::max(self, 0.0)
            }
        }
    };
}
float!(f32);
float!(f64);

/// `$body` with the type `$t` bound to the float type of `$storage`: `f64` for f64
/// storage, `f32` otherwise (callers admit only f32 and f64).
macro_rules! for_float {
    ($storage:expr, $t:ident => $body:expr) => {
        match $storage {
            CpuStorage::F64(_) => {
                type $t = f64;
                $body
            }
            _ => {
                type $t = f32;
                $body
            }
        }
    };
}
use for_float;

/// The `CustomOp3` impl of a backward op whose type has `run::<T: Float>(&self, a, b, c)`
/// over three `(storage, layout)` pairs, dispatched on the first operand's float type.
macro_rules! backward_op3 {
    ($op:ty, $name:expr) => {
        impl candle_core::CustomOp3 for $op {
            fn name(&self) -> &'static str {
                $name
            }

            fn cpu_fwd(
                &self,
                s1: &CpuStorage,
                l1: &candle_core::Layout,
                s2: &CpuStorage,
                l2: &candle_core::Layout,
                s3: &CpuStorage,
                l3: &candle_core::Layout,
            ) -> candle_core::Result<(CpuStorage, candle_core::Shape)> {
                for_float!(s1, T => self.run::<T>((s1, l1), (s2, l2), (s3, l3)))
            }
        }
    };
}
use backward_op3;

/// The `CustomOp2` impl of a backward op whose type has `run::<T: Float>(&self, a, b)` over
/// two `(storage, layout)` pairs, dispatched on the first operand's float type.
macro_rules! backward_op2 {
    ($op:ty, $name:expr) => {
        impl candle_core::CustomOp2 for $op {
            fn name(&self) -> &'static str {
                $name
            }

            fn cpu_fwd(
                &self,
                s1: &CpuStorage,
                l1: &candle_core::Layout,
                s2: &CpuStorage,
                l2: &candle_core::Layout,
            ) -> candle_core::Result<(CpuStorage, candle_core::Shape)> {
                for_float!(s1, T => self.run::<T>((s1, l1), (s2, l2)))
            }
        }
    };
}
use backward_op2;

/// The `CustomOp2` (input, weight) and `CustomOp3` (input, weight, bias) impls of an op
/// whose type has `fwd_t::<T: Float>(&self, x, w, Option<bias>) -> Result<(CpuStorage,
/// Shape)>` (dispatched on the input's float type) and
/// `grads(&self, x, w, with_bias, grad) -> Result<(Option<dx>, dw, Option<db>)>`.
macro_rules! weight_op_with_optional_bias {
    ($op:ty, $name2:expr, $name3:expr) => {
        impl candle_core::CustomOp2 for $op {
            fn name(&self) -> &'static str {
                $name2
            }

            fn cpu_fwd(
                &self,
                s1: &candle_core::CpuStorage,
                l1: &candle_core::Layout,
                s2: &candle_core::CpuStorage,
                l2: &candle_core::Layout,
            ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
                for_float!(s1, T => self.fwd_t::<T>((s1, l1), (s2, l2), None))
            }

            fn bwd(
                &self,
                x: &candle_core::Tensor,
                weight: &candle_core::Tensor,
                _res: &candle_core::Tensor,
                grad: &candle_core::Tensor,
            ) -> candle_core::Result<(Option<candle_core::Tensor>, Option<candle_core::Tensor>)>
            {
                let (dx, dw, _) = self.grads(x, weight, false, grad)?;
                Ok((dx, Some(dw)))
            }
        }

        impl candle_core::CustomOp3 for $op {
            fn name(&self) -> &'static str {
                $name3
            }

            fn cpu_fwd(
                &self,
                s1: &candle_core::CpuStorage,
                l1: &candle_core::Layout,
                s2: &candle_core::CpuStorage,
                l2: &candle_core::Layout,
                s3: &candle_core::CpuStorage,
                l3: &candle_core::Layout,
            ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
                for_float!(s1, T => self.fwd_t::<T>((s1, l1), (s2, l2), Some((s3, l3))))
            }

            fn bwd(
                &self,
                x: &candle_core::Tensor,
                weight: &candle_core::Tensor,
                _bias: &candle_core::Tensor,
                _res: &candle_core::Tensor,
                grad: &candle_core::Tensor,
            ) -> candle_core::Result<(
                Option<candle_core::Tensor>,
                Option<candle_core::Tensor>,
                Option<candle_core::Tensor>,
            )> {
                let (dx, dw, db) = self.grads(x, weight, true, grad)?;
                Ok((dx, Some(dw), db))
            }
        }
    };
}
use weight_op_with_optional_bias;

/// `conv2d(x, weight) + bias` with square or rectangular kernels, `x: [N, C, H, W]`,
/// `weight: [O, C, kh, kw]`, `bias: [O]`, the same stride and padding on both axes →
/// `[N, O, H', W']`. Our kernels for `f32`/`f64` on the CPU, candle's `conv2d` otherwise.
pub fn conv2d(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let dtype = xs.dtype();
    let ours = matches!(xs.device(), Device::Cpu)
        && matches!(dtype, DType::F32 | DType::F64)
        && weight.dtype() == dtype
        && bias.is_none_or(|b| b.dtype() == dtype && b.rank() == 1)
        && xs.rank() == 4
        && weight.rank() == 4
        && stride > 0;
    if !ours {
        let ys = xs.conv2d(weight, padding, stride, 1, 1)?; // [N, O, H', W']
        return match bias {
            Some(b) => ys.broadcast_add(&b.reshape((1, (), 1, 1))?),
            None => Ok(ys),
        };
    }
    let op = Conv2dOp { stride, padding };
    let (xs, weight) = (xs.contiguous()?, weight.contiguous()?);
    match bias {
        Some(b) => xs.apply_op3(&weight, &b.contiguous()?, op),
        None => xs.apply_op2(&weight, op),
    }
}

/// The shapes of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geom {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    padding: usize,
    ho: usize,
    wo: usize,
}

impl Geom {
    fn new(x: &[usize], weight: &[usize], stride: usize, padding: usize) -> Result<Geom> {
        let (&[n, c, h, w], &[o, c2, kh, kw]) = (x, weight) else {
            bail!("conv2d: expected [N, C, H, W] and [O, C, kh, kw], got {x:?} and {weight:?}")
        };
        if c != c2 {
            bail!("conv2d: input has {c} channels, the weight expects {c2}")
        }
        if h + 2 * padding < kh || w + 2 * padding < kw || stride == 0 {
            bail!("conv2d: kernel {kh}x{kw} does not fit {h}x{w} with padding {padding}")
        }
        Ok(Geom {
            n,
            c,
            h,
            w,
            o,
            kh,
            kw,
            stride,
            padding,
            ho: (h + 2 * padding - kh) / stride + 1,
            wo: (w + 2 * padding - kw) / stride + 1,
        })
    }

    /// Output positions per image and channel.
    fn p(&self) -> usize {
        self.ho * self.wo
    }

    /// Rows of the column matrix: `C·kh·kw`.
    fn kd(&self) -> usize {
        self.c * self.kh * self.kw
    }

    fn image(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Images per chunk.
    fn chunk(&self) -> usize {
        (CHUNK_FLOATS / (self.kd() * self.p()).max(1)).clamp(1, self.n.max(1))
    }

    /// The range `ox0..ox1` of output columns whose input column `ox·s + kj − pad` lies in
    /// the image (outside it the column reads the zero padding).
    fn valid_cols(&self, kj: usize) -> (usize, usize) {
        let (s, pad) = (self.stride, self.padding);
        let ox0 = if pad > kj { (pad - kj).div_ceil(s) } else { 0 }.min(self.wo);
        let ox1 = if self.w + pad > kj {
            ((self.w + pad - kj - 1) / s + 1).min(self.wo)
        } else {
            0
        };
        (ox0, ox1.max(ox0))
    }

    /// The input row of output row `oy` at kernel row `ki`, if it is not padding.
    fn input_row(&self, oy: usize, ki: usize) -> Option<usize> {
        (oy * self.stride + ki)
            .checked_sub(self.padding)
            .filter(|&iy| iy < self.h)
    }
}

/// `cols[(c, ki, kj), (b, oy, ox)] = x[b, c, oy·s + ki − pad, ox·s + kj − pad]` (0 in the
/// padding) for the `nb` images of `x`; `cols` is `[kd, nb·P]`, row-major.
fn im2col<T: Float>(x: &[T], nb: usize, g: &Geom, cols: &mut [T]) {
    let (p, np, s, pad) = (g.p(), nb * g.p(), g.stride, g.padding);
    for ci in 0..g.c {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (ci * g.kh + ki) * g.kw + kj;
                let (ox0, ox1) = g.valid_cols(kj);
                let dst_row = &mut cols[row * np..(row + 1) * np];
                for b in 0..nb {
                    let plane = &x[(b * g.c + ci) * g.h * g.w..][..g.h * g.w];
                    for oy in 0..g.ho {
                        let dst = &mut dst_row[b * p + oy * g.wo..][..g.wo];
                        let Some(iy) = g.input_row(oy, ki) else {
                            dst.fill(T::default());
                            continue;
                        };
                        let src = &plane[iy * g.w..][..g.w];
                        dst[..ox0].fill(T::default());
                        dst[ox1..].fill(T::default());
                        if s == 1 {
                            dst[ox0..ox1].copy_from_slice(&src[ox0 + kj - pad..ox1 + kj - pad]);
                        } else {
                            for (ox, d) in dst.iter_mut().enumerate().take(ox1).skip(ox0) {
                                *d = src[ox * s + kj - pad];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds every column entry back onto the input pixel it was read
/// from (`dx` holds `nb` images and is accumulated into).
fn col2im<T: Float>(cols: &[T], nb: usize, g: &Geom, dx: &mut [T]) {
    let (p, np, s, pad) = (g.p(), nb * g.p(), g.stride, g.padding);
    for ci in 0..g.c {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (ci * g.kh + ki) * g.kw + kj;
                let (ox0, ox1) = g.valid_cols(kj);
                let src_row = &cols[row * np..(row + 1) * np];
                for b in 0..nb {
                    let plane = &mut dx[(b * g.c + ci) * g.h * g.w..][..g.h * g.w];
                    for oy in 0..g.ho {
                        let Some(iy) = g.input_row(oy, ki) else {
                            continue;
                        };
                        let src = &src_row[b * p + oy * g.wo..][..g.wo];
                        let dst = &mut plane[iy * g.w..][..g.w];
                        if s == 1 {
                            let dst = &mut dst[ox0 + kj - pad..ox1 + kj - pad];
                            for (d, v) in dst.iter_mut().zip(&src[ox0..ox1]) {
                                *d += *v;
                            }
                        } else {
                            for (ox, v) in src.iter().enumerate().take(ox1).skip(ox0) {
                                dst[ox * s + kj - pad] += *v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A weight op's gradients for the output gradient `grad`: runs its `backward` op on
/// `(x, weight, grad)`, whose flat output holds `dx` (when `x` tracks gradients, as the op
/// was told), `dw`, then `db` (when `bias_dims` is given: the bias has the shape of the
/// weight's first `bias_dims` dimensions), and splits it into those tensors.
fn weight_grads(
    (x, weight, grad): (&Tensor, &Tensor, &Tensor),
    backward: &impl CustomOp3,
    bias_dims: Option<usize>,
) -> Result<(Option<Tensor>, Tensor, Option<Tensor>)> {
    let flat = x.apply_op3_no_bwd(weight, &grad.contiguous()?, backward)?;
    let mut offset = 0;
    let mut take = |shape: &Shape| -> Result<Tensor> {
        let part = flat.narrow(0, offset, shape.elem_count())?.reshape(shape)?;
        offset += shape.elem_count();
        Ok(part)
    };
    let dx = x.track_op().then(|| take(x.shape())).transpose()?;
    let dw = take(weight.shape())?;
    let db = bias_dims
        .map(|n| take(&Shape::from(&weight.dims()[..n])))
        .transpose()?;
    Ok((dx, dw, db))
}

/// A weight op's optional bias operand as a slice, after checking that its shape is
/// `expected` (`op` names the op in the error).
fn bias_data<'a, T: Float>(
    bias: Option<(&'a CpuStorage, &Layout)>,
    expected: &[usize],
    op: &str,
) -> Result<Option<&'a [T]>> {
    let Some((s, l)) = bias else { return Ok(None) };
    if l.dims() != expected {
        bail!("{op}: bias {:?}; expected {expected:?}", l.dims())
    }
    data::<T>(s, l, "bias").map(Some)
}

/// A row-major matrix operand: data and (row stride, column stride).
#[derive(Clone, Copy)]
struct Mat<'a, T> {
    data: &'a [T],
    rs: usize,
    cs: usize,
}

impl<T> Mat<'_, T> {
    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// `dst[m×n] (row stride dst_rs) = [dst +] lhs[m×k] · rhs[k×n]`, splitting whole row tiles
/// over candle's thread pool when it pays (see [`product`]).
fn matmul<T: Float>(
    dims: (usize, usize, usize),
    dst: &mut [T],
    dst_rs: usize,
    accumulate: bool,
    lhs: Mat<T>,
    rhs: Mat<T>,
) {
    product(true, dims, dst, (dst_rs, 1), accumulate, lhs, rhs)
}

/// `dst[m×n] (row stride dst_rs, column stride dst_cs) = [dst +] lhs[m×k] · rhs[k×n]`. With
/// `split_rows` and several threads, blocks of whole row tiles go to candle's own thread
/// pool (the one its element-wise ops use, the calling thread included): tiles keep their
/// place, so every element is computed as in one single-threaded call, bit for bit.
/// Without, the product stays on the calling thread (required inside a pool task: the pool
/// is not re-entrant).
fn product<T: Float>(
    split_rows: bool,
    (m, n, k): (usize, usize, usize),
    dst: &mut [T],
    (dst_rs, dst_cs): (usize, usize),
    accumulate: bool,
    lhs: Mat<T>,
    rhs: Mat<T>,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        (m - 1) * dst_rs + (n - 1) * dst_cs < dst.len() && lhs.fits(m, k) && rhs.fits(k, n),
        "emc kernel: matrix operand out of bounds"
    );
    if k == 0 {
        if !accumulate {
            for row in 0..m {
                for col in 0..n {
                    dst[row * dst_rs + col * dst_cs] = T::default();
                }
            }
        }
        return;
    }
    let pool = candle_core::utils::barrier_pool();
    let parts = (pool.n_workers() + 1).min(m / ROW_TILE);
    if !split_rows || parts < 2 || m * n * k < PARALLEL_MIN_WORK {
        // SAFETY: the assertion above keeps every element gemm touches inside the slices,
        // and `dst` is borrowed mutably, so it aliases neither operand.
        unsafe {
            gemm_rows(
                0..m,
                (n, k),
                dst.as_mut_ptr(),
                (dst_rs, dst_cs),
                accumulate,
                lhs,
                rhs,
            )
        };
        return;
    }
    let block = (m / ROW_TILE).div_ceil(parts) * ROW_TILE;
    let dst_ptr = SendPtr(dst.as_mut_ptr());
    pool.execute_chunked(parts, |range| {
        for part in range {
            // The last part also takes the rows after the last whole tile block.
            let end = if part + 1 == parts {
                m
            } else {
                ((part + 1) * block).min(m)
            };
            let rows = (part * block).min(end)..end;
            if !rows.is_empty() {
                // SAFETY: as above; the parts write disjoint row blocks of `dst`.
                unsafe {
                    gemm_rows(
                        rows,
                        (n, k),
                        dst_ptr.get(),
                        (dst_rs, dst_cs),
                        accumulate,
                        lhs,
                        rhs,
                    )
                };
            }
        }
    });
}

/// Rows per register tile of gemm's f32/f64 AVX-512 kernels are at most this; splitting at
/// its multiples keeps every tile where a single call puts it.
const ROW_TILE: usize = 64;

/// Below this many multiply-adds a product stays on the calling thread.
const PARALLEL_MIN_WORK: usize = 1 << 20;

/// A destination pointer shared by the threads that write disjoint ranges through it.
#[derive(Clone, Copy)]
pub(super) struct SendPtr<T>(pub(super) *mut T);

// SAFETY: the pointer is only dereferenced by code that writes disjoint ranges through it
// (`gemm_rows` rows, chunks of images, row blocks), each range by one thread.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    fn get(self) -> *mut T {
        self.0
    }
}

/// `dst[rows] = [dst +] lhs[rows] · rhs`, single-threaded.
///
/// # Safety
/// `dst` must be valid for writes of rows `rows` (row stride `dst_rs`, column stride
/// `dst_cs`, `n` columns) and no other thread may access those elements meanwhile; the
/// operands must hold every element of rows `rows` (lhs, depth `k`) and of `rhs` (`k × n`).
unsafe fn gemm_rows<T: Float>(
    rows: std::ops::Range<usize>,
    (n, k): (usize, usize),
    dst: *mut T,
    (dst_rs, dst_cs): (usize, usize),
    accumulate: bool,
    lhs: Mat<T>,
    rhs: Mat<T>,
) {
    gemm::gemm(
        rows.len(),
        n,
        k,
        dst.add(rows.start * dst_rs),
        dst_cs as isize,
        dst_rs as isize,
        accumulate,
        lhs.data.as_ptr().add(rows.start * lhs.rs),
        lhs.cs as isize,
        lhs.rs as isize,
        rhs.data.as_ptr(),
        rhs.cs as isize,
        rhs.rs as isize,
        T::from_f64(1.0),
        T::from_f64(1.0),
        false,
        false,
        false,
        gemm::Parallelism::None,
    );
}

/// Runs `f` on every chunk index `0..chunks`: spread over candle's thread pool when
/// `parallel` and there is more than one chunk, else in order on this thread. On the pool,
/// `f` must not use the pool itself (the calling thread's share is not marked as inside it,
/// and candle's pool lock is not re-entrant): its products stay on their thread ([`product`] without row splitting).
fn for_each_chunk(chunks: usize, parallel: bool, f: impl Fn(std::ops::Range<usize>) + Sync) {
    if parallel && chunks > 1 {
        candle_core::utils::barrier_pool().execute_chunked(chunks, f);
    } else {
        f(0..chunks);
    }
}

/// Whether the convolution spreads its chunks over candle's thread pool: when the pool has
/// workers. Each chunk's products are computed exactly as on one thread, so the result does
/// not depend on it.
fn chunks_in_parallel() -> bool {
    candle_core::utils::barrier_pool().n_workers() > 0
}

/// Below this many elements a row-wise kernel stays on the calling thread.
const ROWS_PARALLEL_MIN: usize = 1 << 15;

/// Runs `f` on blocks of the rows `0..rows` (`width` elements each): spread over candle's
/// thread pool when it has workers and there are at least [`ROWS_PARALLEL_MIN`] elements,
/// else in one call on this thread. For kernels whose rows are independent (each row's
/// result is computed by the same code whichever thread runs it, so the bits do not
/// depend on it). On the pool, `f` must not use the pool itself (see [`for_each_chunk`]).
fn for_row_blocks(rows: usize, width: usize, f: impl Fn(std::ops::Range<usize>) + Sync) {
    let pool = candle_core::utils::barrier_pool();
    if pool.n_workers() == 0 || rows < 2 || rows * width < ROWS_PARALLEL_MIN {
        f(0..rows);
    } else {
        pool.execute_chunked(rows, f);
    }
}

/// The images `start..start + nb` of chunk `index`.
fn chunk_images(g: &Geom, index: usize) -> (usize, usize) {
    let chunk = g.chunk();
    let start = index * chunk;
    (start, chunk.min(g.n - start))
}

/// The mutable sub-slice `range` of the buffer behind `ptr`.
///
/// # Safety
/// `ptr` must point to a live buffer holding `range`, and no other reference to those
/// elements may exist while the returned slice does.
pub(super) unsafe fn slice_mut<'a, T>(
    ptr: SendPtr<T>,
    range: std::ops::Range<usize>,
) -> &'a mut [T] {
    std::slice::from_raw_parts_mut(ptr.get().add(range.start), range.len())
}

/// The forward pass into `y` (`[N, O, H', W']`, every element written); chunks of images
/// run on candle's pool when `parallel` (each writes its own images of the output).
fn forward<T: Float>(
    x: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    g: &Geom,
    parallel: bool,
    y: &mut [T],
) {
    let (p, kd, o) = (g.p(), g.kd(), g.o);
    assert_eq!(y.len(), g.n * o * p, "emc kernel: conv2d output size");
    let chunk = g.chunk();
    let w = Mat {
        data: weight,
        rs: kd,
        cs: 1,
    };
    let y_ptr = SendPtr(y.as_mut_ptr());
    let chunks = g.n.div_ceil(chunk);
    let alone = parallel && chunks > 1;
    for_each_chunk(chunks, parallel, |range| {
        let mut cols = vec![T::default(); kd * chunk * p];
        let mut tmp = if chunk > 1 {
            vec![T::default(); o * chunk * p]
        } else {
            Vec::new()
        };
        for index in range {
            let (start, nb) = chunk_images(g, index);
            let np = nb * p;
            let cols = &mut cols[..kd * np];
            im2col(&x[start * g.image()..(start + nb) * g.image()], nb, g, cols);
            let cols = Mat {
                data: cols,
                rs: np,
                cs: 1,
            };
            // SAFETY: `y` outlives the loop and chunks write disjoint image ranges of it.
            let out = unsafe { slice_mut(y_ptr, start * o * p..(start + nb) * o * p) };
            if nb == 1 {
                product(!alone, (o, p, kd), out, (p, 1), false, w, cols); // [O, P]
                if let Some(bias) = bias {
                    for (row, b) in out.chunks_exact_mut(p).zip(bias) {
                        row.iter_mut().for_each(|v| *v += *b);
                    }
                }
            } else {
                let tmp = &mut tmp[..o * np];
                product(!alone, (o, np, kd), tmp, (np, 1), false, w, cols); // [O, nb·P]
                for (oc, row) in tmp.chunks_exact(np).enumerate() {
                    let b = bias.map_or(T::default(), |bias| bias[oc]);
                    for (bi, src) in row.chunks_exact(p).enumerate() {
                        let dst = &mut out[(bi * o + oc) * p..][..p];
                        for (d, v) in dst.iter_mut().zip(src) {
                            *d = *v + b;
                        }
                    }
                }
            }
        }
    });
}

/// `dy`'s images `start..start + nb` as `[O, nb·P]`: the slice itself for one image, else
/// gathered into `buf`.
fn gather_dy<'a, T: Float>(
    dy: &'a [T],
    (start, nb): (usize, usize),
    g: &Geom,
    buf: &'a mut [T],
) -> &'a [T] {
    let (p, o) = (g.p(), g.o);
    let np = nb * p;
    let dy_chunk = &dy[start * o * p..(start + nb) * o * p];
    if nb == 1 {
        return dy_chunk;
    }
    let gathered = &mut buf[..o * np];
    for (bi, image) in dy_chunk.chunks_exact(o * p).enumerate() {
        for (oc, src) in image.chunks_exact(p).enumerate() {
            gathered[oc * np + bi * p..][..p].copy_from_slice(src);
        }
    }
    gathered
}

/// Writes the gradients of one convolution for the output gradient `dy`: `dw` always,
/// `dx` and `db` when given (all zero-initialised by the caller).
///
/// `dw` and `db` add the chunks up in order, on one thread; `dx`'s chunks are independent.
/// When `parallel`, one pool thread runs the `dw`/`db` chain while the others take `dx`
/// chunks from a shared cursor, and it joins them when its chain is done. Every product is
/// computed as on one thread, so the bits do not depend on it.
fn backward<T: Float>(
    (x, weight, dy): (&[T], &[T], &[T]),
    g: &Geom,
    dx: Option<&mut [T]>,
    dw: &mut [T],
    db: Option<&mut [T]>,
    parallel: bool,
) {
    let chunks = g.n.div_ceil(g.chunk());
    // Inside a pool task the products must stay on their thread.
    let alone = parallel && chunks > 1;
    let weight_grads = || weight_and_bias_grads((x, dy), g, dw, db, alone);
    let Some(dx) = dx else {
        return weight_grads();
    };
    let dx_ptr = SendPtr(dx.as_mut_ptr());
    let cursor = AtomicUsize::new(0);
    // Takes chunks from the cursor until none is left.
    let input_grads = || {
        let mut bufs = None;
        loop {
            let index = cursor.fetch_add(1, Ordering::Relaxed);
            if index >= chunks {
                break;
            }
            let (start, nb) = chunk_images(g, index);
            // SAFETY: `dx` outlives the pool call and each chunk index is taken once, so
            // chunks write disjoint image ranges of it.
            let dx_chunk =
                unsafe { slice_mut(dx_ptr, start * g.image()..(start + nb) * g.image()) };
            let (dcols, gathered) = bufs.get_or_insert_with(|| chunk_buffers::<T>(g));
            input_grad_chunk(
                (weight, dy),
                g,
                (start, nb),
                (dcols, gathered),
                dx_chunk,
                alone,
            );
        }
    };
    if !alone {
        weight_grads();
        return input_grads();
    }
    let weight_job = Mutex::new(Some(weight_grads));
    candle_core::utils::barrier_pool().execute(|_| {
        let job = weight_job.lock().map(|mut j| j.take()).unwrap_or(None);
        if let Some(job) = job {
            job();
        }
        input_grads();
    });
}

/// A column buffer and a gather buffer for one chunk.
fn chunk_buffers<T: Float>(g: &Geom) -> (Vec<T>, Vec<T>) {
    let (p, chunk) = (g.p(), g.chunk());
    let gathered = if chunk > 1 {
        vec![T::default(); g.o * chunk * p]
    } else {
        Vec::new()
    };
    (vec![T::default(); g.kd() * chunk * p], gathered)
}

/// `dw` (and `db`): the chunks' products added up in order, on the calling thread.
fn weight_and_bias_grads<T: Float>(
    (x, dy): (&[T], &[T]),
    g: &Geom,
    dw: &mut [T],
    db: Option<&mut [T]>,
    alone: bool,
) {
    let (p, kd, o) = (g.p(), g.kd(), g.o);
    let (mut cols, mut gathered) = chunk_buffers::<T>(g);
    let mut db_acc = vec![0f64; if db.is_some() { o } else { 0 }];
    for index in 0..g.n.div_ceil(g.chunk()) {
        let (start, nb) = chunk_images(g, index);
        let np = nb * p;
        let dy_t = gather_dy(dy, (start, nb), g, &mut gathered);
        for (acc, row) in db_acc.iter_mut().zip(dy_t.chunks_exact(np)) {
            *acc += row.iter().map(|&v| v.to_f64()).sum::<f64>();
        }
        let dy_mat = Mat {
            data: dy_t,
            rs: np,
            cs: 1,
        };
        let x_chunk = &x[start * g.image()..(start + nb) * g.image()];
        let cols = &mut cols[..kd * np];
        im2col(x_chunk, nb, g, cols);
        // dW[O, kd] += dy[O, nb·P] · colsᵀ[nb·P, kd]
        let cols_t = Mat {
            data: cols,
            rs: 1,
            cs: np,
        };
        product(!alone, (o, kd, np), dw, (kd, 1), start > 0, dy_mat, cols_t);
    }
    if let Some(db) = db {
        for (d, acc) in db.iter_mut().zip(db_acc) {
            *d = T::from_f64(acc);
        }
    }
}

/// `dx` for the images `start..start + nb`: `col2im(Wᵀ · dy)`.
fn input_grad_chunk<T: Float>(
    (weight, dy): (&[T], &[T]),
    g: &Geom,
    (start, nb): (usize, usize),
    (dcols, gathered): (&mut [T], &mut [T]),
    dx_chunk: &mut [T],
    alone: bool,
) {
    let (kd, np) = (g.kd(), nb * g.p());
    let dy_mat = Mat {
        data: gather_dy(dy, (start, nb), g, gathered),
        rs: np,
        cs: 1,
    };
    let w_t = Mat {
        data: weight,
        rs: 1,
        cs: kd,
    };
    // dcols[kd, nb·P] = Wᵀ[kd, O] · dy[O, nb·P]
    let dcols = &mut dcols[..kd * np];
    product(!alone, (kd, np, g.o), dcols, (np, 1), false, w_t, dy_mat);
    col2im(dcols, nb, g, dx_chunk);
}

/// The last dimension of `l`, which must be non-empty (`op` names the op in the error).
fn last_dim(l: &Layout, op: &str) -> Result<usize> {
    match l.dims().last() {
        Some(&d) if d > 0 => Ok(d),
        _ => bail!(
            "{op}: input {:?}; expected a non-empty last dimension",
            l.dims()
        ),
    }
}

/// `out` filled row block by row block (`width` elements per row) by `f(rows, block)`, the
/// blocks spread as [`for_row_blocks`] spreads them.
fn rows_into<T: Float>(
    out: &mut [T],
    width: usize,
    f: impl Fn(std::ops::Range<usize>, &mut [T]) + Sync,
) {
    let ptr = SendPtr(out.as_mut_ptr());
    for_row_blocks(out.len() / width.max(1), width, |rows| {
        // SAFETY: `out` outlives the call and row blocks are disjoint.
        let block = unsafe { slice_mut(ptr, rows.start * width..rows.end * width) };
        f(rows, block)
    });
}

/// An element-wise op's input and its output gradient, as slices, after checking that
/// they have the same shape (`op` names the op in the error).
fn input_and_grad<'a, T: Float>(
    (sx, lx): (&'a CpuStorage, &Layout),
    (sg, lg): (&'a CpuStorage, &Layout),
    op: &str,
) -> Result<(&'a [T], &'a [T])> {
    if lx.shape() != lg.shape() {
        bail!(
            "{op} backward: gradient {:?} for input {:?}",
            lg.dims(),
            lx.dims()
        )
    }
    Ok((data::<T>(sx, lx, "input")?, data::<T>(sg, lg, "gradient")?))
}

fn data<'a, T: Float>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [T]> {
    let data = T::cpu_storage_as_slice(s)?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => bail!("emc kernel: {what} must be contiguous"),
    }
}

/// The forward op: `(x, weight)` or `(x, weight, bias)`.
#[derive(Debug, Clone, Copy)]
struct Conv2dOp {
    stride: usize,
    padding: usize,
}

impl Conv2dOp {
    fn fwd_t<T: Float>(
        &self,
        (sx, lx): (&CpuStorage, &Layout),
        (sw, lw): (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let g = Geom::new(lx.dims(), lw.dims(), self.stride, self.padding)?;
        let bias = bias_data::<T>(bias, &[g.o], "conv2d")?;
        let mut y = vec![T::default(); g.n * g.o * g.p()];
        forward(
            data::<T>(sx, lx, "input")?,
            data::<T>(sw, lw, "weight")?,
            bias,
            &g,
            chunks_in_parallel(),
            &mut y,
        );
        Ok((
            T::to_cpu_storage_owned(y),
            Shape::from((g.n, g.o, g.ho, g.wo)),
        ))
    }

    /// `(dx, dw, db)` for the gradient `grad` of the output.
    fn grads(
        &self,
        x: &Tensor,
        weight: &Tensor,
        with_bias: bool,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Tensor, Option<Tensor>)> {
        let want = Want {
            dx: x.track_op(),
            db: with_bias,
        };
        let op = Conv2dBackwardOp { fwd: *self, want };
        weight_grads((x, weight, grad), &op, with_bias.then_some(1))
    }
}

weight_op_with_optional_bias!(Conv2dOp, "emc-conv2d", "emc-conv2d-bias");

/// Which gradients the backward op computes (the weight's always).
#[derive(Debug, Clone, Copy)]
struct Want {
    dx: bool,
    db: bool,
}

/// The backward op on `(x, weight, dy)`: one flat `f32` tensor holding `dx` (if wanted),
/// `dw`, then `db` (if wanted), each contiguous in its own shape.
#[derive(Debug, Clone, Copy)]
struct Conv2dBackwardOp {
    fwd: Conv2dOp,
    want: Want,
}

impl Conv2dBackwardOp {
    fn run<T: Float>(
        &self,
        (sx, lx): (&CpuStorage, &Layout),
        (sw, lw): (&CpuStorage, &Layout),
        (sg, lg): (&CpuStorage, &Layout),
    ) -> Result<(CpuStorage, Shape)> {
        let g = Geom::new(lx.dims(), lw.dims(), self.fwd.stride, self.fwd.padding)?;
        if lg.dims() != [g.n, g.o, g.ho, g.wo] {
            bail!("conv2d backward: gradient {:?} for {g:?}", lg.dims())
        }
        let dx_len = if self.want.dx { g.n * g.image() } else { 0 };
        let db_len = if self.want.db { g.o } else { 0 };
        let mut flat = vec![T::default(); dx_len + g.o * g.kd() + db_len];
        let (dx, rest) = flat.split_at_mut(dx_len);
        let (dw, db) = rest.split_at_mut(g.o * g.kd());
        backward(
            (
                data::<T>(sx, lx, "input")?,
                data::<T>(sw, lw, "weight")?,
                data::<T>(sg, lg, "gradient")?,
            ),
            &g,
            self.want.dx.then_some(dx),
            dw,
            self.want.db.then_some(db),
            chunks_in_parallel(),
        );
        let len = flat.len();
        Ok((T::to_cpu_storage_owned(flat), Shape::from(len)))
    }
}

backward_op3!(Conv2dBackwardOp, "emc-conv2d-backward");

/// 2×2 max-pooling with stride 2, `[N, C, H, W] → [N, C, ⌊H/2⌋, ⌊W/2⌋]` (a trailing odd
/// row or column is dropped), for contiguous-or-not `f32`/`f64` tensors on the CPU; `None`
/// where the kernel does not apply (the caller then composes it from candle operations).
///
/// The gradient reaches every input of a window that equals the window's maximum, with
/// weight 1 (ties share it in full), exactly like the composed reshape-and-`max` version
/// in [`crate::layers::max_pool2x2`]; candle's own `max_pool2d` scales it by 1/4.
pub fn max_pool2x2(xs: &Tensor) -> Result<Option<Tensor>> {
    let ours = matches!(xs.device(), Device::Cpu)
        && matches!(xs.dtype(), DType::F32 | DType::F64)
        && xs.rank() == 4;
    if !ours {
        return Ok(None);
    }
    xs.contiguous()?.apply_op1(MaxPool2x2).map(Some)
}

/// The pooling geometry: planes (`N·C`), input side, output side.
struct PoolGeom {
    planes: usize,
    h: usize,
    w: usize,
    ho: usize,
    wo: usize,
}

fn pool_geom(dims: &[usize]) -> Result<PoolGeom> {
    let &[n, c, h, w] = dims else {
        bail!("max_pool2x2: expected [N, C, H, W], got {dims:?}")
    };
    Ok(PoolGeom {
        planes: n * c,
        h,
        w,
        ho: h / 2,
        wo: w / 2,
    })
}

#[derive(Debug, Clone, Copy)]
struct MaxPool2x2;

fn pool_forward<T: Float + PartialOrd>(x: &[T], dims: &[usize]) -> Result<(Vec<T>, Shape)> {
    let PoolGeom {
        planes,
        h,
        w,
        ho,
        wo,
    } = pool_geom(dims)?;
    let mut y = vec![T::ZERO; planes * ho * wo];
    if y.is_empty() {
        return Ok((y, Shape::from((dims[0], dims[1], ho, wo))));
    }
    // Planes are independent: blocks of them may go to candle's pool.
    rows_into(&mut y, ho * wo, |block, y| {
        let x = &x[block.start * h * w..block.end * h * w];
        for (plane, y) in x.chunks_exact(h * w).zip(y.chunks_exact_mut(ho * wo)) {
            for (pair, y) in plane.chunks_exact(2 * w).zip(y.chunks_exact_mut(wo)) {
                let (r0, r1) = pair.split_at(w);
                for ((y, a), b) in y.iter_mut().zip(r0.chunks_exact(2)).zip(r1.chunks_exact(2)) {
                    *y = max2(max2(a[0], a[1]), max2(b[0], b[1]));
                }
            }
        }
    });
    Ok((y, Shape::from((dims[0], dims[1], ho, wo))))
}

/// The larger of two values; `a` on ties (and when either is NaN, unlike `f32::max`, the
/// comparison is false and `a` is kept, matching a `>` scan).
fn max2<T: PartialOrd>(a: T, b: T) -> T {
    if b > a {
        b
    } else {
        a
    }
}

fn pool_backward<T: Float + PartialOrd>(
    x: &[T],
    y: &[T],
    dy: &[T],
    dims: &[usize],
) -> Result<Vec<T>> {
    let PoolGeom {
        planes,
        h,
        w,
        ho,
        wo,
    } = pool_geom(dims)?;
    let mut dx = vec![T::ZERO; planes * h * w];
    if ho * wo == 0 || dx.is_empty() {
        return Ok(dx); // no window: no gradient
    }
    // Each window's inputs equal to its maximum get its gradient; planes are independent.
    rows_into(&mut dx, h * w, |block, dx| {
        let out = block.start * ho * wo..block.end * ho * wo;
        let x = &x[block.start * h * w..block.end * h * w];
        let planes = x.chunks_exact(h * w).zip(dx.chunks_exact_mut(h * w)).zip(
            y[out.clone()]
                .chunks_exact(ho * wo)
                .zip(dy[out].chunks_exact(ho * wo)),
        );
        for ((plane, dplane), (yp, gp)) in planes {
            let rows = plane
                .chunks_exact(2 * w)
                .zip(dplane.chunks_exact_mut(2 * w))
                .zip(yp.chunks_exact(wo).zip(gp.chunks_exact(wo)));
            for ((pair, dpair), (yr, gr)) in rows {
                let (r0, r1) = pair.split_at(w);
                let (d0, d1) = dpair.split_at_mut(w);
                let windows = r0
                    .chunks_exact(2)
                    .zip(r1.chunks_exact(2))
                    .zip(d0.chunks_exact_mut(2).zip(d1.chunks_exact_mut(2)));
                for (((a, b), (da, db)), (&m, &g)) in windows.zip(yr.iter().zip(gr)) {
                    let take = |v: T, d: &mut T| {
                        if v == m {
                            *d = g;
                        }
                    };
                    take(a[0], &mut da[0]);
                    take(a[1], &mut da[1]);
                    take(b[0], &mut db[0]);
                    take(b[1], &mut db[1]);
                }
            }
        }
    });
    Ok(dx)
}

impl CustomOp1 for MaxPool2x2 {
    fn name(&self) -> &'static str {
        "emc-max-pool2x2"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        match s {
            CpuStorage::F64(_) => {
                let (y, shape) = pool_forward(data::<f64>(s, l, "input")?, l.dims())?;
                Ok((CpuStorage::F64(y), shape))
            }
            _ => {
                let (y, shape) = pool_forward(data::<f32>(s, l, "input")?, l.dims())?;
                Ok((CpuStorage::F32(y), shape))
            }
        }
    }

    fn bwd(&self, x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        if !x.track_op() {
            return Ok(None);
        }
        x.apply_op3_no_bwd(y, &grad.contiguous()?, &MaxPool2x2Backward)
            .map(Some)
    }
}

/// `(x, y, dy) → dx` of [`MaxPool2x2`].
#[derive(Debug, Clone, Copy)]
struct MaxPool2x2Backward;

impl CustomOp3 for MaxPool2x2Backward {
    fn name(&self) -> &'static str {
        "emc-max-pool2x2-backward"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sy: &CpuStorage,
        ly: &Layout,
        sg: &CpuStorage,
        lg: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let PoolGeom { ho, wo, .. } = pool_geom(lx.dims())?;
        let expected = [lx.dims()[0], lx.dims()[1], ho, wo];
        if ly.dims() != expected || lg.dims() != expected {
            bail!(
                "max_pool2x2 backward: {:?} and {:?} for input {:?}",
                ly.dims(),
                lg.dims(),
                lx.dims()
            )
        }
        let dx = match sx {
            CpuStorage::F64(_) => CpuStorage::F64(pool_backward(
                data::<f64>(sx, lx, "input")?,
                data::<f64>(sy, ly, "output")?,
                data::<f64>(sg, lg, "gradient")?,
                lx.dims(),
            )?),
            _ => CpuStorage::F32(pool_backward(
                data::<f32>(sx, lx, "input")?,
                data::<f32>(sy, ly, "output")?,
                data::<f32>(sg, lg, "gradient")?,
                lx.dims(),
            )?),
        };
        Ok((dx, lx.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random(len: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<f32> {
        (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    /// Spreading a convolution's chunks over candle's pool (2 threads in CI) gives the same
    /// bits as running them in order on one thread, forward and backward, for one image
    /// per chunk, several images per chunk with a remainder, and a single chunk.
    #[test]
    fn chunks_on_the_pool_give_the_bits_of_one_thread() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(77);
        // (n, c, h, w), o, k, stride, padding
        let cases = [
            ((5, 32, 32, 32), 16, 3, 1, 1),
            ((11, 3, 32, 32), 8, 3, 1, 1),
            ((3, 4, 14, 14), 8, 3, 2, 1),
        ];
        for ((n, c, h, w), o, k, stride, padding) in cases {
            let g = Geom::new(&[n, c, h, w], &[o, c, k, k], stride, padding).unwrap();
            let x = random(n * c * h * w, &mut rng);
            let wt = random(o * c * k * k, &mut rng);
            let b = random(o, &mut rng);
            let run = |parallel: bool| {
                let mut y = vec![0f32; n * o * g.p()];
                forward(&x, &wt, Some(&b), &g, parallel, &mut y);
                y
            };
            let serial = run(false);
            assert_eq!(serial, run(true), "forward {g:?}");
            let dy = random(serial.len(), &mut rng);
            let grads = |parallel: bool| {
                let (mut dx, mut dw, mut db) =
                    (vec![0f32; x.len()], vec![0f32; wt.len()], vec![0f32; o]);
                backward(
                    (&x, &wt, &dy),
                    &g,
                    Some(&mut dx),
                    &mut dw,
                    Some(&mut db),
                    parallel,
                );
                (dx, dw, db)
            };
            assert_eq!(grads(false), grads(true), "backward {g:?}");
        }
    }
}
