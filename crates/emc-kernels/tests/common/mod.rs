//! Test helpers shared by `emc-kernels`' and `emc-models`' tests (the latter include this
//! file by path): seeded random tensors and labels, tensor bits, and a finite-difference
//! gradient checker.
#![allow(dead_code)]

use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Central-difference step.
pub const EPS: f64 = 1e-6;
/// Relative tolerance on each gradient entry.
pub const RTOL: f64 = 1e-5;
/// Absolute slack for entries that are (nearly) zero.
pub const ATOL: f64 = 1e-8;

/// A f64 tensor of `U(lo, hi)` values drawn from `seed`.
pub fn uniform(shape: &[usize], lo: f64, hi: f64, seed: u64) -> Result<Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let values: Vec<f64> = (0..n)
        .map(|_| lo + (hi - lo) * rng.random::<f64>())
        .collect();
    Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
}

/// `n` seeded labels below `classes`.
pub fn labels(n: usize, classes: usize, seed: u64) -> Result<Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let ys: Vec<u32> = (0..n)
        .map(|_| rng.random_range(0..classes as u32))
        .collect();
    Ok(Tensor::from_vec(ys, n, &Device::Cpu)?)
}

/// The bits of a tensor, as `f64` (exact for `f32`, signs of zeros included).
pub fn bits(t: &Tensor) -> Result<Vec<u64>> {
    Ok(t.to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1::<f64>()?
        .iter()
        .map(|v| v.to_bits())
        .collect())
}

/// A trainable f64 variable of `U(lo, hi)` values.
pub fn uniform_var(shape: &[usize], lo: f64, hi: f64, seed: u64) -> Result<Var> {
    Ok(Var::from_tensor(&uniform(shape, lo, hi, seed)?)?)
}

/// `sum(ys ⊙ r)` for a fixed random `r`: a scalar whose gradient w.r.t. `ys` is `r`.
pub fn probe_loss(ys: &Tensor, seed: u64) -> Result<Tensor> {
    let r = uniform(ys.dims(), -1.0, 1.0, seed)?.to_dtype(ys.dtype())?;
    Ok((ys * r)?.sum_all()?)
}

/// The outcome of a gradient check.
#[derive(Debug, Clone, Copy)]
pub struct FdReport {
    /// Entries compared.
    pub checked: usize,
    /// Largest `|autograd - numeric| / max(|autograd|, |numeric|)` over entries with a
    /// gradient above `ATOL`.
    pub max_rel: f64,
    /// Largest `|autograd - numeric|`.
    pub max_abs: f64,
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// Compares the autograd gradient of `loss()` w.r.t. each named variable with central
/// differences, on every entry or on `per_var` evenly spaced entries of each variable.
/// Fails with the worst entry when `|a - n| > RTOL·max(|a|, |n|) + ATOL`.
pub fn check_gradients(
    vars: &[(String, Var)],
    per_var: Option<usize>,
    loss: impl Fn() -> Result<Tensor>,
) -> Result<FdReport> {
    let grads = loss()?.backward()?;
    let mut report = FdReport {
        checked: 0,
        max_rel: 0.0,
        max_abs: 0.0,
    };
    for (name, var) in vars {
        let shape = var.shape().clone();
        let original: Vec<f64> = var.as_tensor().flatten_all()?.to_vec1()?;
        let analytic: Vec<f64> = match grads.get(var.as_tensor()) {
            Some(g) => g.flatten_all()?.to_vec1()?,
            None => vec![0.0; original.len()],
        };
        let n = original.len();
        let indices: Vec<usize> = match per_var {
            Some(k) if k < n => (0..k).map(|i| i * n / k + (n / k) / 2).collect(),
            _ => (0..n).collect(),
        };
        for i in indices {
            let at = |delta: f64| -> Result<f64> {
                let mut values = original.clone();
                values[i] += delta;
                var.set(&Tensor::from_vec(values, shape.clone(), &Device::Cpu)?)?;
                scalar(&loss()?)
            };
            let numeric = (at(EPS)? - at(-EPS)?) / (2.0 * EPS);
            var.set(&Tensor::from_vec(
                original.clone(),
                shape.clone(),
                &Device::Cpu,
            )?)?;
            let a = analytic[i];
            let diff = (a - numeric).abs();
            let scale = a.abs().max(numeric.abs());
            if diff > RTOL * scale + ATOL {
                bail!(
                    "{name}[{i}]: autograd {a:e}, finite differences {numeric:e} (|diff| {diff:e})"
                );
            }
            report.checked += 1;
            report.max_abs = report.max_abs.max(diff);
            if scale > ATOL {
                report.max_rel = report.max_rel.max(diff / scale);
            }
        }
    }
    Ok(report)
}

/// Names variables for [`check_gradients`].
pub fn named(vars: &[(&str, &Var)]) -> Vec<(String, Var)> {
    vars.iter()
        .map(|(n, v)| (n.to_string(), (*v).clone()))
        .collect()
}
