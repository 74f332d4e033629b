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
//! largest logit.

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, DType, Device, Layout, Result};
use candle_core::{Shape, Tensor};

use super::{data, for_float, Float};

/// Mean cross-entropy of `logits: [b, classes]` against `labels: [b]` (`u32`), a scalar:
/// our op for `f32`/`f64` on the CPU, `candle_nn::loss::cross_entropy` otherwise.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let ours = matches!(logits.device(), Device::Cpu)
        && matches!(logits.dtype(), DType::F32 | DType::F64)
        && labels.dtype() == DType::U32
        && logits.rank() == 2
        && labels.rank() == 1;
    if !ours {
        return candle_nn::loss::cross_entropy(logits, labels);
    }
    logits
        .contiguous()?
        .apply_op2(&labels.contiguous()?, CrossEntropy)
}

/// candle's vector sum of a slice (its order of additions).
fn vec_sum<T: Float>(xs: &[T]) -> T {
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

fn labels_of<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [u32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::U32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => bail!("cross_entropy: labels must be a contiguous u32 tensor"),
    }
}

/// `(b, classes)` after checking the shapes and the labels' range.
fn geometry(lx: &Layout, ly: &Layout, labels: &[u32]) -> Result<(usize, usize)> {
    let (b, c) = match lx.dims() {
        &[b, c] if c > 0 => (b, c),
        d => bail!("cross_entropy: logits {d:?}; expected [batch, classes]"),
    };
    if ly.dims() != [b] {
        bail!(
            "cross_entropy: labels {:?} for {b} rows of logits",
            ly.dims()
        )
    }
    if let Some(&bad) = labels.iter().find(|&&y| y as usize >= c) {
        bail!("cross_entropy: label {bad} with {c} classes; expected labels below {c}")
    }
    Ok((b, c))
}

/// Per row: candle's `diff = x − max`, `s = Σ exp(diff)` and `ln s`.
struct Rows<T> {
    max: Vec<T>,
    diff: Vec<T>,
    exp: Vec<T>,
    sum: Vec<T>,
}

fn rows<T: Float>(x: &[T], c: usize) -> Rows<T> {
    let mut r = Rows {
        max: Vec::with_capacity(x.len() / c),
        diff: Vec::with_capacity(x.len()),
        exp: Vec::with_capacity(x.len()),
        sum: Vec::with_capacity(x.len() / c),
    };
    for row in x.chunks_exact(c) {
        let m = row_max(row);
        let start = r.diff.len();
        r.diff.extend(row.iter().map(|&v| v - m));
        r.exp.extend(r.diff[start..].iter().map(|&d| d.exp()));
        r.sum.push(vec_sum(&r.exp[start..]));
        r.max.push(m);
    }
    r
}

fn forward<T: Float>(
    (sx, lx): (&CpuStorage, &Layout),
    (sy, ly): (&CpuStorage, &Layout),
) -> Result<(CpuStorage, Shape)> {
    let (x, y) = (data::<T>(sx, lx, "logits")?, labels_of(sy, ly)?);
    let (b, c) = geometry(lx, ly, y)?;
    let r = rows(x, c);
    // log_softmax at each row's label, then candle's sum over the batch and scale.
    let picked: Vec<T> = (0..b)
        .map(|i| r.diff[i * c + y[i] as usize] - r.sum[i].ln())
        .collect();
    let loss = vec_sum(&picked) * T::from_f64(-1.0 / b as f64) + T::ZERO;
    Ok((T::to_cpu_storage_owned(vec![loss]), Shape::from(())))
}

/// The gradient of the logits for the loss gradient `g0`, as candle's autograd computes
/// it through the composed graph (the `0 +` are its accumulations into fresh zeros).
fn backward<T: Float>(
    (sx, lx): (&CpuStorage, &Layout),
    (sy, ly): (&CpuStorage, &Layout),
    (sg, lg): (&CpuStorage, &Layout),
) -> Result<(CpuStorage, Shape)> {
    let (x, y) = (data::<T>(sx, lx, "logits")?, labels_of(sy, ly)?);
    let (b, c) = geometry(lx, ly, y)?;
    let g0 = match data::<T>(sg, lg, "gradient")? {
        [g] => *g,
        g => bail!(
            "cross_entropy backward: {} gradient values for a scalar",
            g.len()
        ),
    };
    let zero = T::ZERO;
    let r = rows(x, c);
    // affine(-1/b) backward, then the sum over the batch broadcasts it to every row.
    let g_row = zero + (g0 * T::from_f64(-1.0 / b as f64) + zero);
    let mut dx = vec![zero; b * c];
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
        let g_s = zero + g_ls / r.sum[i];
        let g_e = zero + g_s;
        // diff's gradient: from the subtraction first, then from exp (its output times the
        // incoming gradient); diff = x − max (broadcast): max's gradient summed over the row.
        for k in 0..c {
            let g_diff = (zero + g_logp[k]) + g_e * r.exp[at + k];
            dx[at + k] = zero + g_diff;
            g_maxb[k] = zero - g_diff;
        }
        let g_max = zero + vec_sum(&g_maxb);
        // max backward: the gradient goes to every logit equal to the row's maximum.
        for k in 0..c {
            let mask = if r.max[i] == x[at + k] { T::ONE } else { zero };
            dx[at + k] += mask * g_max;
        }
    }
    Ok((T::to_cpu_storage_owned(dx), lx.shape().clone()))
}

#[derive(Debug, Clone, Copy)]
struct CrossEntropy;

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
        for_float!(sx, T => forward::<T>((sx, lx), (sy, ly)))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        labels: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dx = logits.apply_op3_no_bwd(labels, &grad.contiguous()?, &CrossEntropyGrad)?;
        Ok((Some(dx), None))
    }
}

/// The backward op on `(logits, labels, loss gradient)`.
#[derive(Debug, Clone, Copy)]
struct CrossEntropyGrad;

impl CustomOp3 for CrossEntropyGrad {
    fn name(&self) -> &'static str {
        "emc-cross-entropy-backward"
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
        for_float!(sx, T => backward::<T>((sx, lx), (sy, ly), (sg, lg)))
    }
}
