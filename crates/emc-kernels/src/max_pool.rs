//! 2×2 max-pooling with stride 2 ([`max_pool2x2`]) as one pass forward and one backward
//! (each window's maximum gets the gradient, ties in full), where the composition
//! [`crate::composed::max_pool2x2_composed`] (candle's `max_pool2d` backward is wrong) costs
//! two reductions forward and, backward, comparisons, casts and broadcast products over the
//! whole input; it was the largest remaining cost of the small CNNs once the convolution
//! was fixed.

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp3, DType, Layout, Result};
use candle_core::{Shape, Tensor};

use crate::cpu::{data, rows_into};
use crate::dispatch::Float;

/// 2×2 max-pooling with stride 2, `[N, C, H, W] → [N, C, ⌊H/2⌋, ⌊W/2⌋]` (a trailing odd
/// row or column is dropped), for contiguous-or-not `f32`/`f64` tensors on the CPU; `None`
/// where the kernel does not apply (the caller then composes it from candle operations).
///
/// The gradient reaches every input of a window that equals the window's maximum, with
/// weight 1 (ties share it in full), exactly like the composed reshape-and-`max` version
/// [`crate::composed::max_pool2x2_composed`]; candle's own `max_pool2d` scales it by 1/4.
pub fn max_pool2x2(xs: &Tensor) -> Result<Option<Tensor>> {
    let ours = crate::kernels_apply(xs.device())
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
