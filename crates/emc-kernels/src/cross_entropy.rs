//! Mean cross-entropy of logits against class indices as one op, bit-identical to
//! `candle_nn::loss::cross_entropy` in value and gradient.
//!
//! candle composes it from about a dozen ops forward (`log_softmax` as max, subtract, exp,
//! sum, log, subtract; then gather, sum, scale) and twice as many backward, each
//! allocating: for the small MLPs of EMC studies that was about a fifth of a training
//! step. Here each pass is one loop over the rows that performs candle's operations in
//! candle's order, with candle's own vector sum (`VecOps::vec_reduce_sum`) where candle
//! reduces, so the loss and the gradient are the same bits; the backward replays candle's
//! autograd graph, including the rounding residue its `max` node sends to each row's
//! largest logit. The forward keeps each row's maximum, exponentials `exp(x − max)` and
//! their sum in the op ([`SoftmaxCache`]), and the backward reads them instead of computing
//! them again.
//!
//! [`smoothed_cross_entropy`] adds label smoothing: with ε > 0 each row's target is
//! `1 − ε` on its label plus `ε / classes` on every class (PyTorch's
//! `F.cross_entropy(..., label_smoothing=ε)`), so the loss of a row is
//! `(1 − ε)·(−log p_y) + ε·mean_c(−log p_c)` and its logit gradient `(p − q) / b` for the
//! target `q`. At ε = 0 it is this op exactly (the same code, the same bits). The smoothed
//! pass has no candle composition to replay: it is checked against finite differences and
//! against PyTorch (`tests/label_smoothing.rs`).
//!
//! The slice-level passes ([`softmax_rows`], [`mean_loss`], [`loss_grad`]) are shared with
//! [`crate::segmented_cross_entropy`], which applies them to each segment of a packed
//! batch.

use std::sync::OnceLock;

use candle_core::{bail, CpuStorage, CustomOp2, DType, Layout, Result};
use candle_core::{Shape, Tensor};

use crate::cpu::data;
use crate::dispatch::{backward_op3, for_float, Float};

/// Mean cross-entropy of `logits: [b, classes]` against `labels: [b]` (`u32`), a scalar:
/// our op for `f32`/`f64` on the CPU, `candle_nn::loss::cross_entropy` otherwise.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    smoothed_cross_entropy(logits, labels, 0.0)
}

/// Mean label-smoothed cross-entropy of `logits: [b, classes]` against `labels: [b]`
/// (`u32`), a scalar: each row's target puts `1 − smoothing` on its label and
/// `smoothing / classes` on every class, as PyTorch's
/// `F.cross_entropy(logits, labels, label_smoothing=smoothing)`. At `smoothing` 0 it is
/// [`cross_entropy`] bit for bit. Our op for `f32`/`f64` on the CPU; elsewhere
/// `candle_nn::loss::cross_entropy` (at 0) or
/// [`crate::composed::smoothed_cross_entropy_composed`]. `smoothing` outside `[0, 1]` is an
/// error.
pub fn smoothed_cross_entropy(logits: &Tensor, labels: &Tensor, smoothing: f64) -> Result<Tensor> {
    check_smoothing(smoothing, OP)?;
    let ours = crate::kernels_apply(logits.device())
        && matches!(logits.dtype(), DType::F32 | DType::F64)
        && labels.dtype() == DType::U32
        && logits.rank() == 2
        && labels.rank() == 1;
    if !ours {
        return crate::composed::smoothed_cross_entropy_composed(logits, labels, smoothing);
    }
    let op = CrossEntropy {
        cache: SoftmaxCache::default(),
        smoothing,
    };
    logits.contiguous()?.apply_op2(&labels.contiguous()?, op)
}

/// Fails unless `smoothing` is a number in `[0, 1]`.
pub(crate) fn check_smoothing(smoothing: f64, op: &str) -> Result<()> {
    if !(0.0..=1.0).contains(&smoothing) {
        bail!("{op}: label smoothing {smoothing}; expected a number in [0, 1]")
    }
    Ok(())
}

/// candle's vector sum of a slice (its order of additions).
pub(crate) fn vec_sum<T: Float>(xs: &[T]) -> T {
    let mut s = T::ZERO;
    // SAFETY: `xs` holds `xs.len()` elements and `s` is a valid destination.
    unsafe { T::vec_reduce_sum(xs.as_ptr(), &mut s, xs.len()) };
    s
}

/// candle's `max` over a row: the first element, replaced by each larger one.
fn row_max<T: Float>(row: &[T]) -> T {
    let mut m = row[0];
    for &v in row {
        if m < v {
            m = v;
        }
    }
    m
}

pub(crate) fn labels_of<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [u32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::U32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => bail!("{op}: labels must be a contiguous u32 tensor"),
    }
}

/// `(b, classes)` after checking the shapes and the labels' range.
pub(crate) fn geometry(
    lx: &Layout,
    ly: &Layout,
    labels: &[u32],
    op: &str,
) -> Result<(usize, usize)> {
    let (b, c) = match lx.dims() {
        &[b, c] if c > 0 => (b, c),
        d => bail!("{op}: logits {d:?}; expected [batch, classes]"),
    };
    if ly.dims() != [b] {
        bail!("{op}: labels {:?} for {b} rows of logits", ly.dims())
    }
    if let Some(&bad) = labels.iter().find(|&&y| y as usize >= c) {
        bail!("{op}: label {bad} with {c} classes; expected labels below {c}")
    }
    Ok((b, c))
}

/// Per row of logits: candle's `max`, `exp(x − max)` (every entry) and `s = Σ exp`.
pub(crate) struct Softmax<T> {
    pub(crate) max: Vec<T>,
    pub(crate) exp: Vec<T>,
    pub(crate) sum: Vec<T>,
}

/// The [`Softmax`] statistics of every row of `x` (`c` classes per row). Rows are
/// independent: a range of rows gets the same values as the same rows alone.
pub(crate) fn softmax_rows<T: Float>(x: &[T], c: usize) -> Softmax<T> {
    let rows = x.len() / c.max(1);
    let mut r = Softmax {
        max: Vec::with_capacity(rows),
        exp: Vec::with_capacity(x.len()),
        sum: Vec::with_capacity(rows),
    };
    r.exp.resize(x.len(), T::ZERO);
    for (row, exp) in x
        .chunks_exact(c.max(1))
        .zip(r.exp.chunks_exact_mut(c.max(1)))
    {
        let (m, s) = softmax_row(row, exp);
        r.max.push(m);
        r.sum.push(s);
    }
    r
}

/// One row's [`Softmax`] statistics: writes `exp(x − max)` into `exp` and returns
/// `(max, Σ exp)`.
pub(crate) fn softmax_row<T: Float>(row: &[T], exp: &mut [T]) -> (T, T) {
    let m = row_max(row);
    for (e, &v) in exp.iter_mut().zip(row) {
        *e = (v - m).exp();
    }
    (m, vec_sum(exp))
}

/// candle's mean cross-entropy of the rows `x` (`y.len()` rows of `c` classes) with their
/// maxima and exponential sums: `log_softmax` at each row's label, summed over the batch
/// and scaled by `−1/b`.
pub(crate) fn mean_loss<T: Float>(x: &[T], y: &[u32], c: usize, max: &[T], sum: &[T]) -> T {
    let b = y.len();
    let picked: Vec<T> = (0..b)
        .map(|i| (x[i * c + y[i] as usize] - max[i]) - sum[i].ln())
        .collect();
    vec_sum(&picked) * T::from_f64(-1.0 / b as f64) + T::ZERO
}

/// [`mean_loss`] at `smoothing` 0 (the same bits); otherwise the mean label-smoothed loss:
/// per row `(1 − ε)·(−log p_y) + (ε / c)·Σ_k −log p_k`, with `log p_k = (x_k − max) − ln s`
/// as [`mean_loss`] forms it, summed over the rows in candle's order and scaled by `1/b`.
pub(crate) fn smoothed_mean_loss<T: Float>(
    (x, y, c): (&[T], &[u32], usize),
    (max, sum): (&[T], &[T]),
    smoothing: f64,
) -> T {
    if smoothing == 0.0 {
        return mean_loss(x, y, c, max, sum);
    }
    let b = y.len();
    let keep = T::from_f64(1.0 - smoothing);
    let spread = T::from_f64(smoothing / c as f64);
    let mut logp = vec![T::ZERO; c];
    let rows: Vec<T> = (0..b)
        .map(|i| {
            let row = &x[i * c..(i + 1) * c];
            let ln_s = sum[i].ln();
            for (l, &v) in logp.iter_mut().zip(row) {
                *l = (v - max[i]) - ln_s;
            }
            T::ZERO - (keep * logp[y[i] as usize] + spread * vec_sum(&logp))
        })
        .collect();
    vec_sum(&rows) * T::from_f64(1.0 / b as f64)
}

/// [`loss_grad`] at `smoothing` 0 (the same bits); otherwise the gradient of
/// [`smoothed_mean_loss`] for its gradient `g0`: `g0 · (p_k − q_k) / b` with
/// `p_k = exp(x_k − max) / s` and the target `q_k = (1 − ε)·[k = y] + ε / c`.
pub(crate) fn smoothed_loss_grad<T: Float>(
    (x, y, c): (&[T], &[u32], usize),
    g0: T,
    (max, exp, sum): (&[T], &[T], &[T]),
    smoothing: f64,
    dx: &mut [T],
) {
    if smoothing == 0.0 {
        return loss_grad((x, y, c), g0, (max, exp, sum), dx);
    }
    let b = y.len();
    let scale = g0 * T::from_f64(1.0 / b as f64);
    let keep = T::from_f64(1.0 - smoothing);
    let spread = T::from_f64(smoothing / c as f64);
    for i in 0..b {
        let at = i * c;
        for k in 0..c {
            let target = if k == y[i] as usize {
                keep + spread
            } else {
                spread
            };
            dx[at + k] = scale * (exp[at + k] / sum[i] - target);
        }
    }
}

/// Writes into `dx` (`y.len()` rows of `c`) the gradient of the logits `x` for the mean
/// loss's gradient `g0`, as candle's autograd computes it through the composed graph (the
/// `0 +` are its accumulations into fresh zeros), from the forward's [`Softmax`] rows.
pub(crate) fn loss_grad<T: Float>(
    (x, y, c): (&[T], &[u32], usize),
    g0: T,
    (max, exp, sum): (&[T], &[T], &[T]),
    dx: &mut [T],
) {
    let b = y.len();
    let zero = T::ZERO;
    // affine(-1/b) backward, then the sum over the batch broadcasts it to every row.
    let g_row = zero + (g0 * T::from_f64(-1.0 / b as f64) + zero);
    let (mut g_logp, mut g_lsb, mut g_maxb) = (vec![zero; c], vec![zero; c], vec![zero; c]);
    for i in 0..b {
        let at = i * c;
        // gather backward: scatter into zeros at the label.
        g_logp.fill(zero);
        g_logp[y[i] as usize] = zero + (zero + g_row);
        // logp = diff − ln s (broadcast): the subtrahend's gradient, summed over the row.
        for (d, &g) in g_lsb.iter_mut().zip(&g_logp) {
            *d = zero - g;
        }
        let g_ls = zero + vec_sum(&g_lsb);
        // ln backward, then the row sum broadcasts it to every exp.
        let g_s = zero + g_ls / sum[i];
        let g_e = zero + g_s;
        // diff's gradient: from the subtraction first, then from exp (its output times the
        // incoming gradient); diff = x − max (broadcast): max's gradient summed over the row.
        for k in 0..c {
            let g_diff = (zero + g_logp[k]) + g_e * exp[at + k];
            dx[at + k] = zero + g_diff;
            g_maxb[k] = zero - g_diff;
        }
        let g_max = zero + vec_sum(&g_maxb);
        // max backward: the gradient goes to every logit equal to the row's maximum.
        for k in 0..c {
            let mask = if max[i] == x[at + k] { T::ONE } else { zero };
            dx[at + k] += mask * g_max;
        }
    }
}

/// The forward's [`Softmax`] rows, kept in the op for its backward (as storages, so one
/// type serves `f32` and `f64`).
#[derive(Debug, Default)]
pub(crate) struct SoftmaxCache(OnceLock<[CpuStorage; 3]>);

impl SoftmaxCache {
    /// Keeps `r` (the first call wins; an op runs its forward once).
    pub(crate) fn keep<T: Float>(&self, r: Softmax<T>) {
        let _ = self.0.set([
            T::to_cpu_storage_owned(r.max),
            T::to_cpu_storage_owned(r.exp),
            T::to_cpu_storage_owned(r.sum),
        ]);
    }

    /// `f(max, exp, sum)` on the kept rows, or on `x`'s computed again when none of `T`
    /// for `b` rows of `c` classes were kept.
    pub(crate) fn with_rows<T: Float, R>(
        &self,
        x: &[T],
        (b, c): (usize, usize),
        f: impl FnOnce(&[T], &[T], &[T]) -> R,
    ) -> R {
        if let Some([max, exp, sum]) = self.0.get() {
            if let (Ok(max), Ok(exp), Ok(sum)) = (
                T::cpu_storage_as_slice(max),
                T::cpu_storage_as_slice(exp),
                T::cpu_storage_as_slice(sum),
            ) {
                if max.len() == b && sum.len() == b && exp.len() == b * c {
                    return f(max, exp, sum);
                }
            }
        }
        let r = softmax_rows(x, c);
        f(&r.max, &r.exp, &r.sum)
    }
}

const OP: &str = "cross_entropy";

fn forward<T: Float>(
    (sx, lx): (&CpuStorage, &Layout),
    (sy, ly): (&CpuStorage, &Layout),
    cache: &SoftmaxCache,
    smoothing: f64,
) -> Result<(CpuStorage, Shape)> {
    let (x, y) = (data::<T>(sx, lx, "logits")?, labels_of(sy, ly, OP)?);
    let (_, c) = geometry(lx, ly, y, OP)?;
    let r = softmax_rows(x, c);
    let loss = smoothed_mean_loss((x, y, c), (&r.max, &r.sum), smoothing);
    cache.keep(r);
    Ok((T::to_cpu_storage_owned(vec![loss]), Shape::from(())))
}

/// The gradient of the logits for the loss gradient `g0`.
fn backward<T: Float>(
    (sx, lx): (&CpuStorage, &Layout),
    (sy, ly): (&CpuStorage, &Layout),
    (sg, lg): (&CpuStorage, &Layout),
    cache: &SoftmaxCache,
    smoothing: f64,
) -> Result<(CpuStorage, Shape)> {
    let (x, y) = (data::<T>(sx, lx, "logits")?, labels_of(sy, ly, OP)?);
    let (b, c) = geometry(lx, ly, y, OP)?;
    let g0 = match data::<T>(sg, lg, "gradient")? {
        [g] => *g,
        g => bail!(
            "cross_entropy backward: {} gradient values for a scalar",
            g.len()
        ),
    };
    let mut dx = vec![T::ZERO; b * c];
    cache.with_rows(x, (b, c), |max, exp, sum| {
        smoothed_loss_grad((x, y, c), g0, (max, exp, sum), smoothing, &mut dx)
    });
    Ok((T::to_cpu_storage_owned(dx), lx.shape().clone()))
}

/// The forward op on `(logits, labels)`; it keeps its softmax rows for the backward.
#[derive(Debug)]
struct CrossEntropy {
    cache: SoftmaxCache,
    /// Label smoothing ε in `[0, 1]`.
    smoothing: f64,
}

impl CustomOp2 for CrossEntropy {
    fn name(&self) -> &'static str {
        "emc-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sy: &CpuStorage,
        ly: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        for_float!(sx, T => forward::<T>((sx, lx), (sy, ly), &self.cache, self.smoothing))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        labels: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let op = CrossEntropyGrad {
            cache: &self.cache,
            smoothing: self.smoothing,
        };
        let dx = logits.apply_op3_no_bwd(labels, &grad.contiguous()?, &op)?;
        Ok((Some(dx), None))
    }
}

/// The backward op on `(logits, labels, loss gradient)`, reading the forward's rows.
#[derive(Debug, Clone, Copy)]
struct CrossEntropyGrad<'a> {
    cache: &'a SoftmaxCache,
    smoothing: f64,
}

impl CrossEntropyGrad<'_> {
    fn run<T: Float>(
        &self,
        x: (&CpuStorage, &Layout),
        y: (&CpuStorage, &Layout),
        g: (&CpuStorage, &Layout),
    ) -> Result<(CpuStorage, Shape)> {
        backward::<T>(x, y, g, self.cache, self.smoothing)
    }
}

backward_op3!(CrossEntropyGrad<'_>, "emc-cross-entropy-backward");
