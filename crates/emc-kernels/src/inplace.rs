//! The SGD and Adam/AdamW updates as in-place candle ops on the CPU, bit-identical to the
//! composed updates the optimizers run on other devices (`emc-optim`'s `sgd` and `adam`
//! modules, whose tests compare the two).
//!
//! Composed, an update allocates and writes a new tensor for every term (SGD: `lr·g`,
//! `μ·buf`, the sum, the new parameters, then copies them into the variable; Adam about a
//! dozen): four to a dozen passes over every parameter per step, a noticeable share of a
//! small model's step. Here each state tensor (momentum buffer; Adam's two moments) is
//! updated in place in one pass, and the parameters in one more, with candle's arithmetic
//! in candle's order (`affine` is `v·mul + add` with both constants converted to the
//! element type; sums are plain adds).
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use emc_kernels::inplace::{self, ApplyUpdate, SgdStep};
//! # fn main() -> candle_core::Result<()> {
//! let p = Var::new(&[1.0f32, -2.0], &Device::Cpu)?;
//! let g = Tensor::new(&[0.5f32, 0.5], &Device::Cpu)?;
//! assert!(inplace::applies(&p));
//! let step = SgdStep {
//!     lr: 0.1,
//!     clip: 1.0,
//!     wd: 0.0,
//!     momentum: 0.0,
//!     dampening: 0.0,
//!     nesterov: false,
//! };
//! // Plain SGD, `p ← p − lr·g` (without momentum the third operand is unused).
//! p.inplace_op3(&g, &g, &ApplyUpdate(step))?;
//! assert_eq!(p.to_vec1::<f32>()?, [0.95, -2.05]);
//! # Ok(()) }
//! ```

use candle_core::{bail, CpuStorage, DType, InplaceOp3, Layout, Result, Tensor, WithDType};

use crate::dispatch::{for_float, Float};

/// The `InplaceOp3` impl of a kernel type with `run::<T: Float>(&self, dst, a, b)` over the
/// destination's and the operands' contiguous elements, dispatched on the destination's
/// element type (`f64`, else `f32`).
macro_rules! inplace_op3 {
    ($op:ty, $name:expr) => {
        impl InplaceOp3 for $op {
            fn name(&self) -> &'static str {
                $name
            }

            fn cpu_fwd(
                &self,
                s1: &mut CpuStorage,
                l1: &Layout,
                s2: &CpuStorage,
                l2: &Layout,
                s3: &CpuStorage,
                l3: &Layout,
            ) -> Result<()> {
                for_float!(s1, T => {
                    let (dst, a, b) = slices::<T>(s1, l1, (s2, l2), (s3, l3))?;
                    self.run::<T>(dst, a, b)
                });
                Ok(())
            }
        }
    };
}

/// The constants of one SGD update (`torch.optim.SGD`'s).
#[derive(Debug, Clone, Copy)]
pub struct SgdStep {
    /// Learning rate.
    pub lr: f64,
    /// Clip coefficient the gradient is scaled by (1: none).
    pub clip: f64,
    /// L2 weight decay.
    pub wd: f64,
    /// Momentum `μ` (0: none, and no buffer).
    pub momentum: f64,
    /// Dampening `τ` of the momentum buffer.
    pub dampening: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
}

/// Whether the in-place kernels apply to a parameter tensor: `f32`/`f64` on the CPU,
/// contiguous.
pub fn applies(p: &Tensor) -> bool {
    crate::kernels_apply(p.device())
        && matches!(p.dtype(), DType::F32 | DType::F64)
        && p.is_contiguous()
}

/// Element arithmetic of the composed update, in `T`.
#[derive(Clone, Copy)]
struct Consts<T> {
    c: T,
    wd: T,
    mu: T,
    one_minus_damp: T,
    lr: T,
    /// `lr·c` (plain SGD scales the gradient once).
    lr_c: T,
    /// `1 − lr·wd` (plain SGD's decay of the parameters).
    keep: T,
}

impl SgdStep {
    fn consts<T: WithDType>(&self) -> Consts<T> {
        Consts {
            c: T::from_f64(self.clip),
            wd: T::from_f64(self.wd),
            mu: T::from_f64(self.momentum),
            one_minus_damp: T::from_f64(1.0 - self.dampening),
            lr: T::from_f64(self.lr),
            lr_c: T::from_f64(self.lr * self.clip),
            keep: T::from_f64(1.0 - self.lr * self.wd),
        }
    }

    /// `d = c·g (+ wd·p)`, as the composed update forms it.
    fn direction<T: WithDType>(&self, k: Consts<T>, g: T, p: T) -> T {
        let zero = T::zero();
        let d = if self.clip == 1.0 { g } else { g * k.c + zero };
        if self.wd != 0.0 {
            d + (p * k.wd + zero)
        } else {
            d
        }
    }
}

/// The destination and the two operands as slices of equal length, after checking that
/// they are contiguous.
fn slices<'a, T: Float>(
    dst: &'a mut CpuStorage,
    ld: &Layout,
    a: (&'a CpuStorage, &Layout),
    b: (&'a CpuStorage, &Layout),
) -> Result<(&'a mut [T], &'a [T], &'a [T])> {
    let range = |l: &Layout| match l.contiguous_offsets() {
        Some((s, e)) => Ok(s..e),
        None => bail!("optimizer update: operands must be contiguous"),
    };
    let (rd, ra, rb) = (range(ld)?, range(a.1)?, range(b.1)?);
    if ra.len() != rd.len() || rb.len() != rd.len() {
        bail!(
            "optimizer update: operands of {}, {} and {} elements",
            rd.len(),
            ra.len(),
            rb.len()
        )
    }
    let d = &mut T::slice_mut(dst)?[rd];
    Ok((
        d,
        &T::cpu_storage_as_slice(a.0)?[ra],
        &T::cpu_storage_as_slice(b.0)?[rb],
    ))
}

/// `buf ← μ·buf + (1 − τ)·d` in place, on `(buf; g, p)`.
#[derive(Debug, Clone, Copy)]
pub struct MomentumBuffer(pub SgdStep);

impl MomentumBuffer {
    fn run<T: Float>(&self, buf: &mut [T], g: &[T], p: &[T]) {
        let s = self.0;
        let k = s.consts::<T>();
        let zero = T::zero();
        for ((b, &g), &p) in buf.iter_mut().zip(g).zip(p) {
            let d = s.direction(k, g, p);
            *b = if s.dampening == 0.0 {
                (*b * k.mu + zero) + d
            } else {
                (*b * k.mu + zero) + (d * k.one_minus_damp + zero)
            };
        }
    }
}

inplace_op3!(MomentumBuffer, "emc-sgd-momentum-buffer");

/// `p ← p − lr·direction` in place, on `(p; g, buf)`: the direction is `buf`, `d + μ·buf`
/// (Nesterov), or without momentum `p·(1 − lr·wd) − (lr·c)·g` (`buf` unused).
#[derive(Debug, Clone, Copy)]
pub struct ApplyUpdate(pub SgdStep);

impl ApplyUpdate {
    fn run<T: Float>(&self, p: &mut [T], g: &[T], buf: &[T]) {
        let s = self.0;
        let k = s.consts::<T>();
        let zero = T::zero();
        for ((p, &g), &b) in p.iter_mut().zip(g).zip(buf) {
            *p = if s.momentum == 0.0 {
                let kept = if s.wd == 0.0 { *p } else { *p * k.keep + zero };
                kept - (g * k.lr_c + zero)
            } else {
                let dir = if s.nesterov {
                    s.direction(k, g, *p) + (b * k.mu + zero)
                } else {
                    b
                };
                *p - (dir * k.lr + zero)
            };
        }
    }
}

inplace_op3!(ApplyUpdate, "emc-sgd-apply");

/// The constants of one Adam/AdamW update of one parameter.
#[derive(Debug, Clone, Copy)]
pub struct AdamStep {
    /// Clip coefficient the gradient is scaled by (1: none).
    pub clip: f64,
    /// Weight decay: L2 (Adam) or decoupled (AdamW).
    pub wd: f64,
    /// Whether the weight decay is decoupled (AdamW).
    pub decoupled: bool,
    /// The first moment's decay `β1`.
    pub beta1: f64,
    /// The second moment's decay `β2`.
    pub beta2: f64,
    /// The parameter's first update: the moments start from it.
    pub first: bool,
    /// Learning rate, for the decoupled decay `p·(1 − lr·wd)` (the step size is in `denom`).
    pub lr: f64,
    /// The denominator's `affine`: `sqrt(v)·mul + add`.
    pub denom: (f64, f64),
}

impl AdamStep {
    /// `d = c·g (+ wd·p for L2 decay)`, as the composed update forms it.
    fn direction<T: WithDType>(&self, g: T, p: T) -> T {
        let zero = T::zero();
        let d = if self.clip == 1.0 {
            g
        } else {
            g * T::from_f64(self.clip) + zero
        };
        if self.wd != 0.0 && !self.decoupled {
            d + (p * T::from_f64(self.wd) + zero)
        } else {
            d
        }
    }
}

/// `m ← β1·m + (1 − β1)·d` in place (`(1 − β1)·d` on the first update), on `(m; g, p)`.
#[derive(Debug, Clone, Copy)]
pub struct AdamFirstMoment(pub AdamStep);

impl AdamFirstMoment {
    fn run<T: Float>(&self, m: &mut [T], g: &[T], p: &[T]) {
        let s = self.0;
        let (b1, one_minus_b1) = (T::from_f64(s.beta1), T::from_f64(1.0 - s.beta1));
        let zero = T::zero();
        for ((m, &g), &p) in m.iter_mut().zip(g).zip(p) {
            let new = s.direction(g, p) * one_minus_b1 + zero;
            *m = if s.first { new } else { (*m * b1 + zero) + new };
        }
    }
}

inplace_op3!(AdamFirstMoment, "emc-adam-first-moment");

/// `v ← β2·v + (1 − β2)·d²` in place (`(1 − β2)·d²` on the first update), on `(v; g, p)`.
#[derive(Debug, Clone, Copy)]
pub struct AdamSecondMoment(pub AdamStep);

impl AdamSecondMoment {
    fn run<T: Float>(&self, v: &mut [T], g: &[T], p: &[T]) {
        let s = self.0;
        let (b2, one_minus_b2) = (T::from_f64(s.beta2), T::from_f64(1.0 - s.beta2));
        let zero = T::zero();
        for ((v, &g), &p) in v.iter_mut().zip(g).zip(p) {
            let d = s.direction(g, p);
            let sq = (d * d) * one_minus_b2 + zero;
            *v = if s.first { sq } else { (*v * b2 + zero) + sq };
        }
    }
}

inplace_op3!(AdamSecondMoment, "emc-adam-second-moment");

/// `p ← [p·(1 − lr·wd)] − m / (sqrt(v)·mul + add)` in place, on `(p; m, v)`.
#[derive(Debug, Clone, Copy)]
pub struct AdamApply(pub AdamStep);

impl AdamApply {
    fn run<T: Float>(&self, p: &mut [T], m: &[T], v: &[T]) {
        let s = self.0;
        let (mul, add) = (T::from_f64(s.denom.0), T::from_f64(s.denom.1));
        let keep = T::from_f64(1.0 - s.lr * s.wd);
        let zero = T::zero();
        let decay = s.decoupled && s.wd != 0.0;
        for ((p, &m), &v) in p.iter_mut().zip(m).zip(v) {
            let update = m / (v.sqrt() * mul + add);
            let kept = if decay { *p * keep + zero } else { *p };
            *p = kept - update;
        }
    }
}

inplace_op3!(AdamApply, "emc-adam-apply");
