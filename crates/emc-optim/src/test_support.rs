//! Shared pieces of the unit tests that compare an optimizer's in-place CPU update with its
//! composed one.

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};

/// `n` deterministic values from a small LCG: signs and magnitudes mixed, every 11th an
/// exact zero.
pub(crate) fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|i| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if i % 11 == 0 {
                0.0
            } else {
                ((x >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 2.0
            }
        })
        .collect()
}

/// A `[7, 5]` and a `[5, 1]` variable of `dtype`, seeded by `seed`.
pub(crate) fn vars(dtype: DType, seed: u64) -> Vec<Var> {
    [(7usize, 5usize), (5, 1)]
        .iter()
        .enumerate()
        .map(|(j, &shape)| {
            let t = Tensor::from_vec(
                values(shape.0 * shape.1, seed + j as u64),
                shape,
                &Device::Cpu,
            )
            .and_then(|t| t.to_dtype(dtype))
            .unwrap();
            Var::from_tensor(&t).unwrap()
        })
        .collect()
}

/// The gradients of `sum(p · r) + sum(p²)/2` over `vars`, with `r` depending on `step`, so
/// the gradients differ from step to step.
pub(crate) fn grads(vars: &[Var], step: u64) -> GradStore {
    let mut loss: Option<Tensor> = None;
    for (j, v) in vars.iter().enumerate() {
        let r = Tensor::from_vec(
            values(v.elem_count(), 100 + step * 7 + j as u64),
            v.shape(),
            &Device::Cpu,
        )
        .and_then(|t| t.to_dtype(v.dtype()))
        .unwrap();
        let term = ((v.as_tensor() * r).unwrap().sum_all().unwrap()
            + (v.as_tensor().sqr().unwrap().sum_all().unwrap() * 0.5).unwrap())
        .unwrap();
        loss = Some(match loss {
            Some(l) => (l + term).unwrap(),
            None => term,
        });
    }
    loss.unwrap().backward().unwrap()
}

/// The bits of a tensor, as `f64` (exact for `f32`).
pub(crate) fn bits(t: &Tensor) -> Vec<u64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}
