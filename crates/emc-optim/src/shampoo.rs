//! Shampoo (Gupta, Koren, Singer 2018, arXiv:1802.09568) exactly as the PyPI package
//! `torch-optimizer` (0.3.0) implements it in `torch_optimizer.Shampoo`.
//!
//! That variant, per var of order `k` (its number of dimensions) with gradient `g` (already
//! scaled by the clip coefficient), at the var's `s`-th update (`s` from 0, counting only
//! steps where it had a gradient):
//!
//! 1. momentum `μ > 0`: `g = (1 - μ)·g + μ·buf`, where `buf` is `g` itself on the first
//!    update and afterwards the *preconditioned* direction of the previous update;
//! 2. `g += wd·p` (L2 weight decay, after momentum);
//! 3. for each dimension `i = 0..k` in order: unfold `g` along `i` into a `d_i × (n/d_i)`
//!    matrix `M`; `H_i += M·Mᵀ` (`H_i` starts at `eps·I`); if `s` is a multiple of
//!    `update_freq`, recompute `R_i = H_i^(-1/k)`; `g = fold(R_i·M)`. Each `H_i` after the
//!    first accumulates the gradient already preconditioned along the earlier dimensions;
//! 4. with SGD grafting ([`Graft::Sgd`], not in torch-optimizer): `g *= ‖g₃‖ / ‖g‖`,
//!    where `g₃` is the gradient that entered step 3 (the step keeps Shampoo's direction
//!    and takes SGD's size);
//! 5. `buf = g`; `p -= lr·g`.
//!
//! It differs from the paper's Algorithm 2 in three ways, kept here to match the reference:
//! the root is `-1/k` where the paper has `-1/(2k)` (so a matrix gets `L^(-1/2)·G·R^(-1/2)`,
//! and a bias `H^(-1)`); the statistics of later dimensions see the partially preconditioned
//! gradient; and the momentum is applied to the gradient before preconditioning, with the
//! previous preconditioned direction as its buffer. torch-optimizer has no grafting: the
//! step size is `lr` times the preconditioned gradient, whose size scales as `1/‖g‖` on a
//! rank-one statistic (the `-1/k` root), so it grows as the gradients shrink. SGD grafting
//! (step 4, off by default) is the practical remedy (Agarwal et al. 2020; Anil et al. 2020
//! graft onto Adagrad or SGD): per var, the preconditioned direction at the gradient's norm.
//! A var of order 0 (a scalar) is not preconditioned (momentum, weight decay and `lr` only).
//!
//! Roots go through a symmetric eigendecomposition (`nalgebra`'s [`SymmetricEigen`]):
//! `H^(-1/k) = V·diag(λ^(-1/k))·Vᵀ`, where torch-optimizer takes an SVD (the same for a
//! symmetric positive definite matrix). Eigenvalues are clamped below at `eps` first: `H`
//! is `eps·I` plus a positive semi-definite sum, so this only removes round-off, never a
//! value exact arithmetic would give. Statistics that are not finite (a diverged run) give
//! a NaN root, so the parameters turn NaN as with the other optimizers.
//!
//! State (statistics, roots, momentum buffer) lives on the host in `f64` whatever the var's
//! device and dtype; each update reads the gradient and the parameters to the host, and
//! writes the parameters back with [`Var::set`]. Cost per var and step: `O(d_i²·n)` for the
//! statistics and the preconditioning of every dimension (`n` elements), plus `O(d_i³)` for
//! each root every `update_freq` steps; memory `2·d_i²` values per dimension. That suits the
//! small models here (dimensions up to a few hundred), not large layers.

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use nalgebra::{DMatrix, SymmetricEigen};

use crate::config::{Graft, OptimConfig};
use crate::error::{OptimError, Result};
use crate::{lr_at, Rule};

/// Iterations the eigensolver may take per row of the matrix before it gives up (the
/// implicit symmetric QR needs a few per eigenvalue).
const EIGEN_ITERATIONS_PER_ROW: usize = 1000;

/// One var's Shampoo state.
struct State {
    /// Updates this var has had.
    step: usize,
    /// The previous update's direction (momentum > 0 only).
    buf: Option<Vec<f64>>,
    /// `H_i`, one per dimension.
    stats: Vec<DMatrix<f64>>,
    /// `H_i^(-1/k)` as of the last recomputation.
    roots: Vec<DMatrix<f64>>,
}

/// Shampoo over a fixed list of vars; see the [module docs](self) for the exact update.
pub(crate) struct Shampoo {
    cfg: OptimConfig,
    momentum: f64,
    eps: f64,
    update_freq: usize,
    graft: Graft,
    vars: Vec<Var>,
    states: Vec<Option<State>>,
    t: usize,
}

impl Shampoo {
    pub(crate) fn new(
        cfg: OptimConfig,
        vars: Vec<Var>,
        momentum: f64,
        eps: f64,
        update_freq: usize,
        graft: Graft,
    ) -> Self {
        let states = vars.iter().map(|_| None).collect();
        Self {
            cfg,
            momentum,
            eps,
            update_freq,
            graft,
            vars,
            states,
            t: 0,
        }
    }

    /// One update with the gradients scaled by the clip coefficient `c`.
    fn update(&mut self, grads: &GradStore, c: f64) -> Result<()> {
        let lr = lr_at(&self.cfg, self.t);
        let wd = self.cfg.weight_decay;
        let (mu, eps) = (self.momentum, self.eps);
        for (index, (var, state)) in self.vars.iter().zip(self.states.iter_mut()).enumerate() {
            let Some(g) = grads.get(var) else { continue };
            if var.elem_count() == 0 {
                continue;
            }
            let dims = var.dims().to_vec();
            let mut d = host(g)?;
            if c != 1.0 {
                d.iter_mut().for_each(|x| *x *= c);
            }
            let state = state.get_or_insert_with(|| State {
                step: 0,
                buf: (mu > 0.0).then(|| d.clone()),
                stats: dims
                    .iter()
                    .map(|&n| DMatrix::identity(n, n) * eps)
                    .collect(),
                roots: dims.iter().map(|&n| DMatrix::zeros(n, n)).collect(),
            });
            if let (true, Some(buf)) = (mu > 0.0, &state.buf) {
                for (x, b) in d.iter_mut().zip(buf) {
                    *x = *x * (1.0 - mu) + mu * b;
                }
            }
            let mut p = host(var.as_tensor())?;
            if wd > 0.0 {
                for (x, q) in d.iter_mut().zip(&p) {
                    *x += wd * q;
                }
            }
            let graft_norm = (self.graft == Graft::Sgd).then(|| norm(&d));
            let recompute = state.step % self.update_freq == 0;
            for i in 0..dims.len() {
                let m = unfold(&d, &dims, i);
                state.stats[i] += &m * m.transpose();
                if recompute {
                    state.roots[i] = inverse_root(&state.stats[i], dims.len(), eps).ok_or(
                        OptimError::Eigen {
                            index,
                            dim: i,
                            size: dims[i],
                        },
                    )?;
                }
                fold(&(&state.roots[i] * m), &mut d, &dims, i);
            }
            if let Some(target) = graft_norm {
                let current = norm(&d);
                if current > 0.0 {
                    let scale = target / current;
                    d.iter_mut().for_each(|x| *x *= scale);
                }
            }
            state.step += 1;
            for (q, x) in p.iter_mut().zip(&d) {
                *q -= lr * x;
            }
            if mu > 0.0 {
                state.buf = Some(d);
            }
            let next = Tensor::from_vec(p, dims.as_slice(), &Device::Cpu)?
                .to_dtype(var.dtype())?
                .to_device(var.device())?;
            var.set(&next)?;
        }
        self.t += 1;
        Ok(())
    }
}

/// The L2 norm of `values`.
fn norm(values: &[f64]) -> f64 {
    values.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// A tensor's values on the host, in `f64`, row-major.
fn host(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?)
}

/// The mode-`i` unfolding of the row-major tensor `data` of shape `dims`: a `dims[i] × rest`
/// matrix whose columns run over the other indices in row-major order.
fn unfold(data: &[f64], dims: &[usize], i: usize) -> DMatrix<f64> {
    let d = dims[i];
    let inner: usize = dims[i + 1..].iter().product();
    let cols = data.len().checked_div(d).unwrap_or(0);
    DMatrix::from_fn(d, cols, |a, col| {
        data[((col / inner) * d + a) * inner + col % inner]
    })
}

/// Writes a mode-`i` unfolding back into `data` (the inverse of [`unfold`]).
fn fold(m: &DMatrix<f64>, data: &mut [f64], dims: &[usize], i: usize) {
    let d = dims[i];
    let inner: usize = dims[i + 1..].iter().product();
    for col in 0..m.ncols() {
        for a in 0..d {
            data[((col / inner) * d + a) * inner + col % inner] = m[(a, col)];
        }
    }
}

/// `H^(-1/order)` for a symmetric positive definite `H = eps·I + PSD`, with its eigenvalues
/// clamped below at `eps` (round-off only); a NaN matrix when `H` is not finite; `None` when
/// the eigensolver does not converge.
fn inverse_root(h: &DMatrix<f64>, order: usize, eps: f64) -> Option<DMatrix<f64>> {
    let n = h.nrows();
    if h.iter().any(|x| !x.is_finite()) {
        return Some(DMatrix::from_element(n, n, f64::NAN));
    }
    let max_iterations = EIGEN_ITERATIONS_PER_ROW * n.max(1);
    let eig = SymmetricEigen::try_new(h.clone(), f64::EPSILON, max_iterations)?;
    let power = -1.0 / order as f64;
    let mut scaled = eig.eigenvectors.clone();
    for (mut column, &lambda) in scaled.column_iter_mut().zip(eig.eigenvalues.iter()) {
        column *= lambda.max(eps).powf(power);
    }
    Some(scaled * eig.eigenvectors.transpose())
}

impl Rule for Shampoo {
    fn update(&mut self, grads: &GradStore, c: f64) -> Result<()> {
        Shampoo::update(self, grads, c)
    }

    fn cfg(&self) -> &OptimConfig {
        &self.cfg
    }

    fn vars(&self) -> &[Var] {
        &self.vars
    }

    fn t(&self) -> usize {
        self.t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unfolding along each dimension puts that dimension's index in the row and folding
    /// inverts it, for orders 1 to 4 (with a dimension of size 1).
    #[test]
    fn unfold_and_fold_are_inverse_and_index_by_the_dimension() {
        for dims in [vec![5], vec![3, 4], vec![2, 1, 3], vec![2, 3, 2, 2]] {
            let n: usize = dims.iter().product();
            let data: Vec<f64> = (0..n).map(|x| x as f64).collect();
            for i in 0..dims.len() {
                let m = unfold(&data, &dims, i);
                assert_eq!((m.nrows(), m.ncols()), (dims[i], n / dims[i]));
                let stride: usize = dims[i + 1..].iter().product();
                for (a, row) in m.row_iter().enumerate() {
                    for &x in row.iter() {
                        assert_eq!((x as usize / stride) % dims[i], a, "{dims:?} mode {i}");
                    }
                }
                let mut back = vec![0.0; n];
                fold(&m, &mut back, &dims, i);
                assert_eq!(back, data, "{dims:?} mode {i}");
            }
        }
    }

    /// `H^(-1/k)` raised to the `k` inverts `H` (k = 1, 2, 4), and a non-finite `H` gives NaN.
    #[test]
    fn inverse_root_inverts_when_raised_to_the_order() {
        let h = DMatrix::from_row_slice(3, 3, &[4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0]);
        for k in [1usize, 2, 4] {
            let r = inverse_root(&h, k, 1e-4).unwrap();
            let mut prod = DMatrix::identity(3, 3);
            for _ in 0..k {
                prod = &prod * &r;
            }
            let err = (&prod * &h - DMatrix::<f64>::identity(3, 3)).abs().max();
            assert!(err < 1e-12, "order {k}: {err:e}");
        }
        let mut bad = h.clone();
        bad[(1, 2)] = f64::INFINITY;
        assert!(inverse_root(&bad, 2, 1e-4)
            .unwrap()
            .iter()
            .all(|x| x.is_nan()));
    }
}
