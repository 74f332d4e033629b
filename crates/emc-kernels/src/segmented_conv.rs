//! The convolution on packed batches: [`segmented_conv2d`] runs each segment's images with
//! its member's slice of stacked weights `[K, O, C, kh, kw]` and biases `[K, O]`, through
//! the very functions [`crate::conv2d()`] runs (the same chunks of images, products and sums
//! in the same order, for a geometry whose batch is the segment), so every member's
//! outputs and gradients are the bits its own convolution computes on its images alone.

use candle_core::{bail, CpuStorage, Layout, Result, Shape, Tensor};

use crate::conv2d::{backward, forward};
use crate::cpu::{bias_data, chunks_in_parallel, data, weight_grads};
use crate::dispatch::{backward_op3, for_float, weight_op_with_optional_bias, Float};
use crate::im2col::Geom;
use crate::segmented::{check_cpu_float, segment_grads, Segments};

const CONV: &str = "segmented_conv2d";

/// `conv2d(x, Wₘ) + bₘ` image by image, for `xs: [R, C, H, W]`, stacked weights
/// `weight: [K, O, C, kh, kw]` and biases `bias: [K, O]` → `[R, O, H', W']`, where `m` is
/// the member of the image's segment; the same stride and padding on both axes, for
/// every member.
///
/// Each segment, forward and backward, is the computation of [`crate::conv2d()`] on its
/// images alone with its member's weight and bias, so outputs and gradients (input, weight,
/// bias) are the same bits. A member with no images gets zero weight and bias gradients; a
/// member with several segments gets the sum of their gradients, in segment order.
pub fn segmented_conv2d(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
    segments: &Segments,
) -> Result<Tensor> {
    let mut operands = vec![("input", xs), ("weight", weight)];
    if let Some(b) = bias {
        operands.push(("bias", b));
    }
    check_cpu_float(CONV, &operands)?;
    let op = SegmentedConv2dOp {
        segments: segments.clone(),
        stride,
        padding,
    };
    let (_, k) = op.geometry(xs.dims(), weight.dims())?;
    if let Some(b) = bias {
        let o = weight.dim(1)?;
        if b.dims() != [k, o] {
            bail!(
                "{CONV}: bias {:?} for weight {:?}; expected [{k}, {o}]",
                b.dims(),
                weight.dims()
            )
        }
    }
    let (xs, weight) = (xs.contiguous()?, weight.contiguous()?);
    match bias {
        Some(b) => xs.apply_op3(&weight, &b.contiguous()?, op),
        None => xs.apply_op2(&weight, op),
    }
}

/// The forward op: `(xs, weight)` or `(xs, weight, bias)`.
#[derive(Debug, Clone)]
struct SegmentedConv2dOp {
    segments: Segments,
    stride: usize,
    padding: usize,
}

impl SegmentedConv2dOp {
    /// The geometry of the whole packed batch and the member count `K`, after checking the
    /// shapes against each other and the segments.
    fn geometry(&self, x: &[usize], w: &[usize]) -> Result<(Geom, usize)> {
        let (&[rows, ..], &[k, ref one @ ..]) = (x, w) else {
            bail!("{CONV}: input {x:?} and weight {w:?}; expected [rows, C, H, W] and [members, O, C, kh, kw]")
        };
        if x.len() != 4 || one.len() != 4 || self.stride == 0 {
            bail!("{CONV}: input {x:?}, weight {w:?}, stride {}; expected [rows, C, H, W], [members, O, C, kh, kw] and a positive stride", self.stride)
        }
        self.segments.check(CONV, rows, Some(k))?;
        let g = Geom::new(x, one, self.stride, self.padding)
            .map_err(|e| candle_core::Error::Msg(format!("{CONV}: {e}")))?;
        Ok((g, k))
    }

    fn fwd_t<T: Float>(
        &self,
        (sx, lx): (&CpuStorage, &Layout),
        (sw, lw): (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let (g, k) = self.geometry(lx.dims(), lw.dims())?;
        let (x, w) = (data::<T>(sx, lx, "input")?, data::<T>(sw, lw, "weight")?);
        let b = bias_data::<T>(bias, &[k, g.o], CONV)?;
        let (image, out, wlen) = (g.image(), g.o * g.p(), g.o * g.kd());
        let mut y = vec![T::default(); g.n * out];
        let parallel = chunks_in_parallel();
        for (m, r) in self.segments.ranges() {
            let alone = Geom { n: r.len(), ..g };
            forward(
                &x[r.start * image..r.end * image],
                &w[m * wlen..(m + 1) * wlen],
                b.map(|b| &b[m * g.o..(m + 1) * g.o]),
                &alone,
                parallel,
                &mut y[r.start * out..r.end * out],
            );
        }
        Ok((
            T::to_cpu_storage_owned(y),
            Shape::from((g.n, g.o, g.ho, g.wo)),
        ))
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
        let op = SegmentedConv2dBackwardOp {
            fwd: self.clone(),
            dx: want_dx,
            db: with_bias,
        };
        weight_grads((x, weight, grad), &op, with_bias.then_some(2))
    }
}

weight_op_with_optional_bias!(
    SegmentedConv2dOp,
    "emc-segmented-conv2d",
    "emc-segmented-conv2d-bias"
);

/// The backward op on `(xs, weight, dy)`: one flat tensor holding `dx` (if wanted), `dw`,
/// then `db` (if wanted), each contiguous in its own shape.
#[derive(Debug, Clone)]
struct SegmentedConv2dBackwardOp {
    fwd: SegmentedConv2dOp,
    dx: bool,
    db: bool,
}

impl SegmentedConv2dBackwardOp {
    fn run<T: Float>(
        &self,
        (sx, lx): (&CpuStorage, &Layout),
        (sw, lw): (&CpuStorage, &Layout),
        (sg, lg): (&CpuStorage, &Layout),
    ) -> Result<(CpuStorage, Shape)> {
        let (g, k) = self.fwd.geometry(lx.dims(), lw.dims())?;
        if lg.dims() != [g.n, g.o, g.ho, g.wo] {
            bail!(
                "{CONV} backward: gradient {:?}; expected [{}, {}, {}, {}]",
                lg.dims(),
                g.n,
                g.o,
                g.ho,
                g.wo
            )
        }
        let (x, w, dy) = (
            data::<T>(sx, lx, "input")?,
            data::<T>(sw, lw, "weight")?,
            data::<T>(sg, lg, "gradient")?,
        );
        let (image, out, wlen) = (g.image(), g.o * g.p(), g.o * g.kd());
        let parallel = chunks_in_parallel();
        let flat = segment_grads(
            &self.fwd.segments,
            (g.n, self.dx.then_some(image)),
            (k, wlen, self.db.then_some(g.o)),
            |m, r, dx_images, dw_m, db_m| {
                let alone = Geom { n: r.len(), ..g };
                let operands = (
                    &x[r.start * image..r.end * image],
                    &w[m * wlen..(m + 1) * wlen],
                    &dy[r.start * out..r.end * out],
                );
                backward(operands, &alone, dx_images, dw_m, db_m, parallel)
            },
        );
        let len = flat.len();
        Ok((T::to_cpu_storage_owned(flat), Shape::from(len)))
    }
}

backward_op3!(SegmentedConv2dBackwardOp, "emc-segmented-conv2d-backward");
