//! The element types the kernels run on ([`Float`]: `f32` and `f64`) and the macros that
//! implement candle's custom-op traits for an op type by dispatching on its first operand's
//! float type to the op's generic `run`/`fwd_t` (the macros expect `CpuStorage` in scope
//! where they are used).

use candle_core::cpu::kernels::VecOps;
use candle_core::{bail, CpuStorage, Result, WithDType};

/// The element types the kernels run on: `f32` (training) and `f64` (gradient checks),
/// with the element operations written as candle writes them (std's `exp`, `ln`, `sqrt`
/// and `max`), so the kernels that replace candle ops round as candle does.
pub(crate) trait Float: WithDType + VecOps + Default + PartialOrd + 'static {
    const ZERO: Self;
    const ONE: Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    /// candle's `relu`: `max(x, 0)`.
    fn relu(self) -> Self;
    /// The elements of storage of this type, mutably (for in-place ops).
    fn slice_mut(s: &mut CpuStorage) -> Result<&mut [Self]>;
}

macro_rules! float {
    ($t:ty, $variant:ident) => {
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
            fn slice_mut(s: &mut CpuStorage) -> Result<&mut [Self]> {
                match s {
                    CpuStorage::$variant(v) => Ok(v),
                    _ => bail!("emc kernel: expected {} storage", stringify!($t)),
                }
            }
        }
    };
}
float!(f32, F32);
float!(f64, F64);

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
pub(crate) use for_float;

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
pub(crate) use backward_op3;

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
pub(crate) use backward_op2;

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
pub(crate) use weight_op_with_optional_bias;
