//! GELU (the exact, erf form) as one op each way, bit-identical to the composition
//! `(x · 0.5) · (erf(x · 1/√2) + 1)` of candle ops ([`crate::composed::gelu_composed`]),
//! and to the gradient candle's autograd derives for it.
//!
//! Composed, the forward is five passes (three affine maps, `erf`, a product), each
//! allocating a full-size tensor, and the backward about fifteen (the product's two
//! factors, the affine maps, `erf`'s derivative as square, negation, `exp`, scaling and
//! product, a zero-initialised accumulator and an add per node, the two parts reaching `x`
//! added in candle's order); candle runs its affine maps on one thread. Here each way is one
//! pass, spread over candle's thread pool, with every element computed by the same
//! operations in the same order. The forward keeps `erf(x/√2) + 1` for the backward
//! instead of evaluating `erf` again.
//!
//! Bit-identity holds where `x` reaches the loss only through this activation (as in every
//! model here: the activation follows a linear or convolution layer); otherwise candle
//! would add the two parts of `x`'s gradient around the other consumers' parts.

use std::f64::consts::{FRAC_1_SQRT_2, PI};
use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result};
use candle_core::{Shape, Tensor};

use crate::composed::gelu_composed;
use crate::cpu::{data, input_and_grad, rows_into, slice_mut, SendPtr};
use crate::dispatch::{backward_op2, for_float, Float};

/// `x · Φ(x)` element-wise, exactly as [`gelu_composed`] composes it: our op for
/// `f32`/`f64` on the CPU, the composition otherwise.
pub fn gelu(xs: &Tensor) -> Result<Tensor> {
    if crate::kernels_apply(xs.device()) && matches!(xs.dtype(), DType::F32 | DType::F64) {
        let op = Gelu {
            keep: xs.track_op(),
            cdf: Mutex::new(None),
        };
        xs.contiguous()?.apply_op1(op)
    } else {
        gelu_composed(xs)
    }
}

/// The element type's `erf`, as candle's `erf` op computes it.
trait Erf: Float + std::ops::Neg<Output = Self> {
    fn erf(self) -> Self;
}

impl Erf for f32 {
    fn erf(self) -> Self {
        candle_core::cpu::erf::erf_f32(self)
    }
}

impl Erf for f64 {
    fn erf(self) -> Self {
        candle_core::cpu::erf::erf_f64(self)
    }
}

/// candle's `affine(mul, add)` on one element: `v · mul + add`, two roundings.
fn affine<T: Float>(v: T, mul: T, add: T) -> T {
    v * mul + add
}

/// `erf(x/√2) + 1` (`2·Φ(x)`) and `x/√2`, as the composition rounds them.
fn cdf_of<T: Erf>(x: T) -> (T, T) {
    let u = affine(x, T::from_f64(FRAC_1_SQRT_2), T::ZERO);
    (affine(u.erf(), T::ONE, T::ONE), u)
}

/// The forward op; with `keep`, it keeps `2·Φ(x)` for the backward.
#[derive(Debug)]
struct Gelu {
    keep: bool,
    cdf: Mutex<Option<CpuStorage>>,
}

impl Gelu {
    fn fwd<T: Erf>(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = data::<T>(s, l, "input")?;
        let mut y = vec![T::ZERO; x.len()];
        let mut cdf = vec![T::ZERO; if self.keep { x.len() } else { 0 }];
        let cdf_ptr = SendPtr(cdf.as_mut_ptr());
        let keep = self.keep;
        rows_into(&mut y, 1, |range, y| {
            let xs = &x[range.clone()];
            let half = T::from_f64(0.5);
            if keep {
                // SAFETY: `cdf` outlives the call and blocks are disjoint.
                let cdf = unsafe { slice_mut(cdf_ptr, range) };
                for ((y, c), &x) in y.iter_mut().zip(cdf).zip(xs) {
                    *c = cdf_of(x).0;
                    *y = affine(x, half, T::ZERO) * *c;
                }
            } else {
                for (y, &x) in y.iter_mut().zip(xs) {
                    *y = affine(x, half, T::ZERO) * cdf_of(x).0;
                }
            }
        });
        if keep {
            let mut kept = self.cdf.lock().unwrap_or_else(|e| e.into_inner());
            *kept = Some(T::to_cpu_storage_owned(cdf));
        }
        Ok((T::to_cpu_storage_owned(y), l.shape().clone()))
    }
}

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "emc-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        for_float!(s, T => self.fwd::<T>(s, l))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // The kept values serve one backward pass; a second one computes them again.
        let cdf = self.cdf.lock().unwrap_or_else(|e| e.into_inner()).take();
        let op = GeluGrad { cdf };
        Ok(Some(arg.apply_op2_no_bwd(&grad.contiguous()?, &op)?))
    }
}

/// The gradient on `(x, g)`, with the forward's `2·Φ(x)` when it kept them.
struct GeluGrad {
    cdf: Option<CpuStorage>,
}

impl GeluGrad {
    fn run<T: Erf>(
        &self,
        (sx, lx): (&CpuStorage, &Layout),
        (sg, lg): (&CpuStorage, &Layout),
    ) -> Result<(CpuStorage, Shape)> {
        let (x, g) = input_and_grad::<T>((sx, lx), (sg, lg), "gelu")?;
        let kept = match &self.cdf {
            Some(s) => Some(T::cpu_storage_as_slice(s)?).filter(|c| c.len() == x.len()),
            None => None,
        };
        let mut dx = vec![T::ZERO; x.len()];
        rows_into(&mut dx, 1, |range, dx| {
            let (xs, gs) = (&x[range.clone()], &g[range.clone()]);
            let cdfs = kept.map(|c| &c[range]);
            for (i, (d, (&x, &g))) in dx.iter_mut().zip(xs.iter().zip(gs)).enumerate() {
                let (cdf, u) = match cdfs {
                    Some(c) => (c[i], affine(x, T::from_f64(FRAC_1_SQRT_2), T::ZERO)),
                    None => cdf_of(x),
                };
                *d = grad_element(x, u, cdf, g);
            }
        });
        Ok((T::to_cpu_storage_owned(dx), lx.shape().clone()))
    }
}

/// One element of the gradient, in candle's autograd order: nodes `out = a · cdf`,
/// `cdf = erf(u) · 1 + 1`, `erf(u)`, `u = x · (1/√2)`, then `a = x · 0.5`; each node's
/// gradient accumulator starts at zero, and `x` gets `u`'s part first.
fn grad_element<T: Float + std::ops::Neg<Output = T>>(x: T, u: T, cdf: T, g: T) -> T {
    let zero = T::ZERO;
    let a = affine(x, T::from_f64(0.5), zero);
    let grad_a = zero + g * cdf;
    let grad_cdf = zero + g * a;
    let grad_erf = zero + affine(grad_cdf, T::ONE, zero);
    // d erf(u)/du = 2/√π · exp(−u²), as candle composes it.
    let slope = affine((-(u * u)).exp(), T::from_f64(2.0 / PI.sqrt()), zero);
    let grad_u = zero + grad_erf * slope;
    let from_u = affine(grad_u, T::from_f64(FRAC_1_SQRT_2), zero);
    let from_a = affine(grad_a, T::from_f64(0.5), zero);
    (zero + from_u) + from_a
}

backward_op2!(GeluGrad, "emc-gelu-backward");
