//! Certifying a failure as a minimum rather than a saddle: the most negative eigenvalue of
//! the training-loss Hessian, estimated by Lanczos iteration on finite-difference
//! Hessian-vector products `Hv ≈ (∇L(w + εv) − ∇L(w − εv)) / 2ε`. Costs two full-data
//! gradients per iteration: meant for small models. For a reparameterised model the
//! Hessian is that of the loss in the optimizer's variables (z of a subspace model; for a
//! quantised model the difference of straight-through gradients, which is not a curvature:
//! its estimate says little there).

use candle_core::{Tensor, Var};
use emc_models::Model;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::Result;
use crate::eval::full_gradient_smoothed;

const LANCZOS_STREAM: u64 = 0x4c41_4e43;

fn flatten_grads(trainable: &[Var], grads: &candle_core::backprop::GradStore) -> Result<Vec<f64>> {
    let mut out = vec![];
    for v in trainable {
        match grads.get(v.as_tensor()) {
            Some(g) => out.extend(
                g.flatten_all()?
                    .to_dtype(candle_core::DType::F64)?
                    .to_vec1::<f64>()?,
            ),
            None => out.extend(std::iter::repeat_n(0.0, v.elem_count())),
        }
    }
    Ok(out)
}

fn params(trainable: &[Var]) -> Result<Vec<Tensor>> {
    Ok(trainable
        .iter()
        .map(|v| v.as_tensor().copy())
        .collect::<candle_core::Result<_>>()?)
}

/// Sets every variable to `base + scale * direction` (direction flattened in order).
fn set_shifted(trainable: &[Var], base: &[Tensor], direction: &[f64], scale: f64) -> Result<()> {
    let mut off = 0;
    for (v, b) in trainable.iter().zip(base) {
        let k = v.elem_count();
        let d = Tensor::from_slice(&direction[off..off + k], b.shape(), b.device())?
            .to_dtype(b.dtype())?;
        v.set(&(b + d.affine(scale, 0.0)?)?)?;
        off += k;
    }
    Ok(())
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Eigenvalues of a symmetric matrix by cyclic Jacobi rotations (small matrices only).
pub(crate) fn symmetric_eigenvalues(mut a: Vec<Vec<f64>>) -> Vec<f64> {
    let k = a.len();
    for _sweep in 0..100 {
        let off: f64 = (0..k)
            .flat_map(|i| (0..k).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off < 1e-24 {
            break;
        }
        for p in 0..k {
            for q in p + 1..k {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for row in a.iter_mut() {
                    let (arp, arq) = (row[p], row[q]);
                    row[p] = c * arp - s * arq;
                    row[q] = s * arp + c * arq;
                }
                let (rp, rq) = (a[p].clone(), a[q].clone());
                for r in 0..k {
                    a[p][r] = c * rp[r] - s * rq[r];
                    a[q][r] = s * rp[r] + c * rq[r];
                }
            }
        }
    }
    (0..k).map(|i| a[i][i]).collect()
}

/// Estimates the smallest eigenvalue of the Hessian of the mean training loss on
/// `(images, labels)` (label-smoothed by `label_smoothing`; gradients accumulated in
/// chunks of `chunk`) at the current weights with `iters` Lanczos steps (full
/// reorthogonalisation) from a seeded random start. The weights are restored afterwards.
pub fn min_hessian_eigenvalue(
    model: &dyn Model,
    trainable: &[Var],
    (images, labels): (&Tensor, &Tensor),
    (chunk, label_smoothing): (usize, f64),
    iters: usize,
    seed: u64,
) -> Result<f64> {
    let base = params(trainable)?;
    let dim: usize = trainable.iter().map(|v| v.elem_count()).sum();
    let w_norm: f64 = base
        .iter()
        .map(|t| -> Result<f64> {
            Ok(t.sqr()?
                .sum_all()?
                .to_dtype(candle_core::DType::F64)?
                .to_scalar::<f64>()?)
        })
        .sum::<Result<f64>>()?
        .sqrt();
    // Central differences: ε balances truncation (ε²) against rounding (precision / ε).
    let eps = match trainable.first().map(|v| v.dtype()) {
        Some(candle_core::DType::F64) => 1e-5,
        _ => 1e-2,
    } * (1.0 + w_norm / (dim as f64).sqrt());
    let hvp = |v: &[f64]| -> Result<Vec<f64>> {
        set_shifted(trainable, &base, v, eps)?;
        emc_models::sync(model)?;
        let gp = flatten_grads(
            trainable,
            &full_gradient_smoothed(model, trainable, images, labels, chunk, label_smoothing)?.0,
        )?;
        set_shifted(trainable, &base, v, -eps)?;
        emc_models::sync(model)?;
        let gm = flatten_grads(
            trainable,
            &full_gradient_smoothed(model, trainable, images, labels, chunk, label_smoothing)?.0,
        )?;
        Ok(gp
            .iter()
            .zip(&gm)
            .map(|(a, b)| (a - b) / (2.0 * eps))
            .collect())
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(LANCZOS_STREAM);
    let mut q: Vec<f64> = (0..dim).map(|_| rng.random::<f64>() - 0.5).collect();
    let norm = dot(&q, &q).sqrt();
    q.iter_mut().for_each(|x| *x /= norm);
    let mut basis: Vec<Vec<f64>> = vec![];
    let (mut alpha, mut beta) = (vec![], vec![]);
    let result = (|| -> Result<()> {
        for _ in 0..iters.min(dim) {
            let mut w = hvp(&q)?;
            let a = dot(&w, &q);
            alpha.push(a);
            basis.push(q.clone());
            // Full reorthogonalisation against every previous Lanczos vector.
            for _ in 0..2 {
                for b in &basis {
                    let c = dot(&w, b);
                    w.iter_mut().zip(b).for_each(|(x, y)| *x -= c * y);
                }
            }
            let bnorm = dot(&w, &w).sqrt();
            if bnorm < 1e-10 {
                break;
            }
            beta.push(bnorm);
            q = w.into_iter().map(|x| x / bnorm).collect();
        }
        Ok(())
    })();
    // Restore the weights whatever happened.
    for (v, b) in trainable.iter().zip(&base) {
        v.set(b)?;
    }
    emc_models::sync(model)?;
    result?;
    let k = alpha.len();
    let mut t = vec![vec![0.0; k]; k];
    for i in 0..k {
        t[i][i] = alpha[i];
        if i + 1 < k {
            t[i][i + 1] = beta[i];
            t[i + 1][i] = beta[i];
        }
    }
    Ok(symmetric_eigenvalues(t)
        .into_iter()
        .fold(f64::INFINITY, f64::min))
}

#[cfg(test)]
mod tests {
    use super::symmetric_eigenvalues;

    #[test]
    fn jacobi_finds_known_eigenvalues() {
        // [[2,1,0],[1,2,1],[0,1,2]] has eigenvalues 2-√2, 2, 2+√2.
        let mut e = symmetric_eigenvalues(vec![
            vec![2.0, 1.0, 0.0],
            vec![1.0, 2.0, 1.0],
            vec![0.0, 1.0, 2.0],
        ]);
        e.sort_by(f64::total_cmp);
        let want = [2.0 - 2f64.sqrt(), 2.0, 2.0 + 2f64.sqrt()];
        for (a, b) in e.iter().zip(want) {
            assert!((a - b).abs() < 1e-10, "{e:?}");
        }
    }
}
