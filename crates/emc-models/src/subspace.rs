//! Subspace training (Li, Farkhoor, Liu, Yosinski 2018, "Measuring the Intrinsic Dimension
//! of Objective Landscapes"): the network's D weights are θ = θ₀ + P z with θ₀ its seeded
//! initialisation, P a fixed seeded D × d projection and z ∈ ℝᵈ (zero at the start) the
//! only trainable variable. Any family can be wrapped: `subspace:d=256(mlp:64:relu)`.
//!
//! Two projections, both drawn from the model's seed (a stream of their own):
//! - **dense**: Gaussian columns orthonormalised by Gram–Schmidt (two passes, in `f64`), a
//!   uniformly random d-frame. Orthonormal rather than merely normalised columns (Li et al.
//!   normalise them and note that random high-dimensional columns are nearly orthogonal) make
//!   a step on z the projection of the full step onto the subspace, so that d = D trains as
//!   the full network up to rounding. It costs D·d scalars and ~4·D·d² flops to draw, so it
//!   is used while D·d ≤ [`DENSE_MAX_ENTRIES`];
//! - **sparse**: each column has ⌈√D⌉ nonzeros ±1/√⌈√D⌉ at distinct random rows (the very
//!   sparse random projection of Li, Hastie and Church 2006, the sparse variant of Li et
//!   al.): unit columns, nearly but not exactly orthogonal; D·⌈√D⌉ scalars. Used above that
//!   size (`proj=auto`, the default), or when asked for (`proj=sparse`).
//!
//! The parameter count the search and the reports use is d.

use std::{
    fmt,
    sync::{Arc, Mutex},
};

use candle_core::{backprop::GradStore, DType, Tensor, Var};
use rand::{seq::index::sample, Rng};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::{
    init::variable_rng,
    reparam::{empty_grads, Reparam, Reparameterized},
    Built, ModelError, ModelSpec, Result,
};

/// The largest D·d for which `proj=auto` draws a dense projection (2²⁴ entries: 64 MiB in
/// `f32`, about 0.1–1 s to draw at the sizes where it matters).
pub const DENSE_MAX_ENTRIES: usize = 1 << 24;

/// The name of the trainable variable z in the variable map (and in checkpoints).
pub const Z_NAME: &str = "subspace.z";

/// The random stream of the projection.
const PROJECTION_STREAM: &str = "subspace.projection";

/// Which random projection P a subspace model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Projection {
    /// Dense while D·d ≤ [`DENSE_MAX_ENTRIES`], sparse above.
    #[default]
    Auto,
    /// Gaussian with orthonormalised columns.
    Dense,
    /// ⌈√D⌉ nonzeros ±1/√⌈√D⌉ per column.
    Sparse,
}

impl Projection {
    /// The projection actually used for D = `full` weights and d = `dim`: never `Auto`.
    pub fn resolve(self, full: usize, dim: usize) -> Projection {
        match self {
            Projection::Auto if full.saturating_mul(dim) <= DENSE_MAX_ENTRIES => Projection::Dense,
            Projection::Auto => Projection::Sparse,
            other => other,
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "auto" => Some(Projection::Auto),
            "dense" => Some(Projection::Dense),
            "sparse" => Some(Projection::Sparse),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Projection::Auto => "auto",
            Projection::Dense => "dense",
            Projection::Sparse => "sparse",
        }
    }
}

/// A model trained in a random d-dimensional subspace of its weights (`subspace:...`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubspaceConfig {
    /// The trainable dimension d (1 ≤ d ≤ D).
    pub dim: usize,
    /// The projection P.
    #[serde(default)]
    pub projection: Projection,
    /// The wrapped model, whose weights θ live in the subspace.
    pub model: Box<ModelSpec>,
}

impl fmt::Display for SubspaceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "subspace:d={}", self.dim)?;
        if self.projection != Projection::Auto {
            write!(f, ":proj={}", self.projection.name())?;
        }
        write!(f, "({})", self.model)
    }
}

impl SubspaceConfig {
    /// Checks d against the wrapped model's D.
    pub(crate) fn check_dim(&self, full: usize) -> Result<()> {
        if self.dim == 0 || self.dim > full {
            return Err(ModelError::Config {
                family: "subspace",
                field: "d",
                value: self.dim.to_string(),
                reason: format!(
                    "expected 1 <= d <= D = {full}, the trainable parameters of {}",
                    self.model
                ),
            });
        }
        Ok(())
    }

    /// Wraps `network` (the wrapped model built from `seed`): θ₀ is its initialisation and
    /// z, zero, its only trainable variable.
    pub(crate) fn wrap(&self, network: Built, seed: u64) -> Result<Built> {
        let full = network.num_params;
        self.check_dim(full)?;
        let theta = network.trainable;
        let first = theta.first().ok_or_else(|| ModelError::Config {
            family: "subspace",
            field: "model",
            value: self.model.to_string(),
            reason: "the wrapped model has no trainable variable".into(),
        })?;
        let (dtype, device) = (first.dtype(), first.device().clone());
        let flat: Vec<Tensor> = theta
            .iter()
            .map(|v| v.as_tensor().flatten_all())
            .collect::<candle_core::Result<_>>()?;
        let theta0 = Tensor::cat(&flat, 0)?.copy()?;
        let basis = match self.projection.resolve(full, self.dim) {
            Projection::Sparse => Basis::Sparse(sparse_columns(seed, full, self.dim)),
            _ => {
                let columns = cached_dense_columns(seed, full, self.dim);
                let pt = Tensor::from_slice(columns.as_slice(), (self.dim, full), &device)?;
                Basis::Dense(pt.to_dtype(dtype)?)
            }
        };
        let z = Var::zeros(self.dim, dtype, &device)?;
        network
            .varmap
            .data()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(Z_NAME.to_string(), z.clone());
        let reparam = SubspaceReparam {
            z: z.clone(),
            theta,
            theta0,
            basis,
        };
        Ok(Built {
            model: Box::new(Reparameterized {
                network: network.model,
                reparam: Box::new(reparam),
            }),
            varmap: network.varmap,
            trainable: vec![z],
            num_params: self.dim,
        })
    }
}

/// The columns of P.
enum Basis {
    /// Pᵀ, `[d, D]`, in the model's dtype.
    Dense(Tensor),
    /// Column j: its nonzero rows (the value is ±`scale`, the sign in `negative`).
    Sparse(Arc<SparseColumns>),
}

/// A sparse projection's columns.
pub struct SparseColumns {
    /// D.
    pub rows: usize,
    /// Each column's nonzero rows.
    pub index: Vec<Vec<u32>>,
    /// Each column's signs (`true`: −scale).
    pub negative: Vec<Vec<bool>>,
    /// The magnitude of every nonzero, 1/√(nonzeros per column).
    pub scale: f64,
}

struct SubspaceReparam {
    z: Var,
    theta: Vec<Var>,
    theta0: Tensor,
    basis: Basis,
}

impl Reparam for SubspaceReparam {
    fn params(&self) -> Vec<Var> {
        vec![self.z.clone()]
    }

    fn pullback(&self, grads: &GradStore) -> candle_core::Result<GradStore> {
        let parts: Vec<Tensor> = self
            .theta
            .iter()
            .map(|v| match grads.get(v.as_tensor()) {
                Some(g) => g.flatten_all(),
                None => Tensor::zeros(v.elem_count(), v.dtype(), v.device()),
            })
            .collect::<candle_core::Result<_>>()?;
        let g = Tensor::cat(&parts, 0)?;
        let gz = match &self.basis {
            Basis::Dense(pt) => g.unsqueeze(0)?.matmul(&pt.t()?)?.squeeze(0)?,
            Basis::Sparse(cols) => {
                let g = g.to_dtype(DType::F64)?.to_vec1::<f64>()?;
                let gz: Vec<f64> = (0..cols.index.len())
                    .map(|j| {
                        let sum: f64 = cols.index[j]
                            .iter()
                            .zip(&cols.negative[j])
                            .map(|(&r, &neg)| if neg { -g[r as usize] } else { g[r as usize] })
                            .sum();
                        sum * cols.scale
                    })
                    .collect();
                Tensor::from_vec(gz, cols.index.len(), self.z.device())?.to_dtype(self.z.dtype())?
            }
        };
        let mut out = empty_grads(self.z.device())?;
        out.insert(self.z.as_tensor(), gz);
        Ok(out)
    }

    fn materialize(&self) -> candle_core::Result<()> {
        let z = self.z.as_tensor().detach();
        let delta = match &self.basis {
            Basis::Dense(pt) => z.unsqueeze(0)?.matmul(pt)?.squeeze(0)?,
            Basis::Sparse(cols) => {
                let z = z.to_dtype(DType::F64)?.to_vec1::<f64>()?;
                let mut delta = vec![0f64; cols.rows];
                for (j, zj) in z.iter().enumerate() {
                    let v = zj * cols.scale;
                    for (&r, &neg) in cols.index[j].iter().zip(&cols.negative[j]) {
                        delta[r as usize] += if neg { -v } else { v };
                    }
                }
                Tensor::from_vec(delta, cols.rows, self.z.device())?.to_dtype(self.z.dtype())?
            }
        };
        let flat = (&self.theta0 + delta)?;
        let mut off = 0;
        for v in &self.theta {
            let k = v.elem_count();
            v.set(&flat.narrow(0, off, k)?.reshape(v.shape())?)?;
            off += k;
        }
        Ok(())
    }
}

/// Recently drawn dense projections, keyed by (seed, D, d): the probes of one EMC search
/// share a seed and a model, and drawing costs O(D·d²).
static DENSE_CACHE: Mutex<Vec<(DenseKey, Arc<Vec<f64>>)>> = Mutex::new(Vec::new());
/// (seed, D, d) of a dense projection.
type DenseKey = (u64, usize, usize);
const DENSE_CACHE_ENTRIES: usize = 2;

/// [`dense_columns`], kept for the next build of the same (seed, D, d).
fn cached_dense_columns(seed: u64, full: usize, dim: usize) -> Arc<Vec<f64>> {
    let key = (seed, full, dim);
    let cache = DENSE_CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = cache.iter().find(|(k, _)| *k == key) {
        return p.clone();
    }
    drop(cache);
    let p = Arc::new(dense_columns(seed, full, dim));
    let mut cache = DENSE_CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= DENSE_CACHE_ENTRIES {
        cache.remove(0);
    }
    cache.push((key, p.clone()));
    p
}

/// The dense projection of `seed` for D = `full`, d = `dim`, as Pᵀ row-major (`[d, D]`:
/// column j of P is `[j·D, (j+1)·D)`): Gaussian columns from the seed's projection stream,
/// orthonormalised by modified Gram–Schmidt applied twice, in `f64`. A pure function of its
/// arguments, computed on the calling thread only (the same bits for any thread count).
pub fn dense_columns(seed: u64, full: usize, dim: usize) -> Vec<f64> {
    let mut rng = variable_rng(seed, PROJECTION_STREAM);
    let mut p: Vec<f64> = (0..full * dim)
        .map(|_| rng.sample::<f64, _>(StandardNormal))
        .collect();
    for j in 0..dim {
        let (done, rest) = p.split_at_mut(j * full);
        let v = &mut rest[..full];
        for _pass in 0..2 {
            for q in done.chunks_exact(full) {
                let c = dot(q, v);
                v.iter_mut().zip(q).for_each(|(x, y)| *x -= c * y);
            }
        }
        let norm = dot(v, v).sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
    }
    p
}

/// The sparse projection of `seed` for D = `full`, d = `dim`.
pub fn sparse_columns(seed: u64, full: usize, dim: usize) -> Arc<SparseColumns> {
    let mut rng = variable_rng(seed, PROJECTION_STREAM);
    let k = (full as f64).sqrt().ceil().max(1.0) as usize;
    let k = k.min(full);
    let mut index = Vec::with_capacity(dim);
    let mut negative = Vec::with_capacity(dim);
    for _ in 0..dim {
        let mut rows: Vec<u32> = sample(&mut rng, full, k)
            .into_iter()
            .map(|r| r as u32)
            .collect();
        rows.sort_unstable();
        negative.push((0..k).map(|_| rng.random::<bool>()).collect());
        index.push(rows);
    }
    Arc::new(SparseColumns {
        rows: full,
        index,
        negative,
        scale: 1.0 / (k as f64).sqrt(),
    })
}

/// A dot product with eight independent accumulators (vectorised by the compiler).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f64>() + tail
}
