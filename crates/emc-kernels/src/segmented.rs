//! Kernels on *packed batches*: the rows of several models of one architecture (the
//! *members* of a stack) concatenated into one tensor, so that one op serves them all.
//!
//! [`Segments`] says which rows belong to which member. [`segmented_linear`] computes each
//! segment with its member's slice of stacked weights `[K, out, in]` and biases `[K, out]`,
//! and [`segmented_cross_entropy`] gives one mean loss per segment. Both run, segment by
//! segment, the very slice-level functions of [`crate::linear()`] and
//! [`crate::cross_entropy()`] (the same matrix products with the same shapes and strides, the
//! same sums in the same order), so every member's outputs, losses and gradients are the
//! bits its own model computes on its rows alone. [`member_square_sums`] gives each
//! member's sum of squared gradient entries as candle's `sqr` and `sum_all` compute it.
//!
//! The kernels run on `f32` and `f64` tensors on the CPU and return an error elsewhere.

use std::ops::Range;
use std::sync::Arc;

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, DType, Device, Layout};
use candle_core::{Result, Shape, Tensor};

use crate::cpu::{bias_data, data, weight_grads};
use crate::cross_entropy::{
    check_smoothing, geometry, labels_of, smoothed_loss_grad, smoothed_mean_loss, softmax_rows,
    vec_sum, SoftmaxCache,
};
use crate::dispatch::{backward_op3, for_float, weight_op_with_optional_bias, Float};
use crate::linear::{backward_rows, forward_rows};

/// The layout of a packed batch: an ordered list of `(member, rows)` segments whose rows
/// follow one another. A segment may have no rows, and a member may own several segments
/// (evaluation in chunks). Cheap to clone.
///
/// ```
/// use emc_kernels::Segments;
/// let segments = Segments::new([(0, 3), (2, 0), (1, 2)]);
/// assert_eq!(segments.total_rows(), 5);
/// let ranges: Vec<_> = segments.ranges().collect();
/// assert_eq!(ranges, [(0, 0..3), (2, 3..3), (1, 3..5)]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Segments {
    parts: Arc<[(usize, usize)]>,
    total: usize,
}

impl Segments {
    /// The segments `(member, rows)`, in row order.
    pub fn new(parts: impl IntoIterator<Item = (usize, usize)>) -> Self {
        let parts: Arc<[(usize, usize)]> = parts.into_iter().collect();
        let total = parts.iter().fold(0usize, |t, &(_, r)| t.saturating_add(r));
        Self { parts, total }
    }

    /// One segment per member, member `k` with `rows[k]` rows.
    pub fn per_member(rows: &[usize]) -> Self {
        Self::new(rows.iter().copied().enumerate())
    }

    /// The `(member, rows)` pairs.
    pub fn as_slice(&self) -> &[(usize, usize)] {
        &self.parts
    }

    /// Iterates over the `(member, rows)` pairs.
    pub fn iter(&self) -> std::slice::Iter<'_, (usize, usize)> {
        self.parts.iter()
    }

    /// The number of segments.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// Whether there is no segment.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The rows of all segments together.
    pub fn total_rows(&self) -> usize {
        self.total
    }

    /// Each segment's member and range of rows in the packed batch.
    pub fn ranges(&self) -> impl Iterator<Item = (usize, Range<usize>)> + '_ {
        let mut start = 0usize;
        self.parts.iter().map(move |&(member, rows)| {
            let end = start.saturating_add(rows);
            let range = start..end;
            start = end;
            (member, range)
        })
    }

    /// Checks that the segments cover `rows` rows exactly and (with `members`) name only
    /// members below it.
    pub(crate) fn check(&self, op: &str, rows: usize, members: Option<usize>) -> Result<()> {
        if self.total != rows {
            bail!(
                "{op}: the segments hold {} rows, the batch {rows}",
                self.total
            )
        }
        if let Some(k) = members {
            if let Some(&(m, _)) = self.parts.iter().find(|(m, _)| *m >= k) {
                bail!("{op}: a segment of member {m}, but there are {k} members")
            }
        }
        Ok(())
    }
}

/// Fails unless every tensor is an `f32`/`f64` tensor on the CPU of the first one's dtype.
pub(crate) fn check_cpu_float(op: &str, tensors: &[(&str, &Tensor)]) -> Result<()> {
    let Some((_, first)) = tensors.first() else {
        return Ok(());
    };
    let dtype = first.dtype();
    for (what, t) in tensors {
        if !matches!(t.device(), Device::Cpu) || !matches!(t.dtype(), DType::F32 | DType::F64) {
            bail!(
                "{op}: runs on f32 and f64 tensors on the CPU; the {what} is {:?} on {:?}",
                t.dtype(),
                t.device().location()
            )
        }
        if t.dtype() != dtype {
            bail!(
                "{op}: the {what} is {:?}, the first operand {dtype:?}",
                t.dtype()
            )
        }
    }
    Ok(())
}

const LINEAR: &str = "segmented_linear";

/// `xs · Wₘᵀ + bₘ` row by row, for `xs: [R, in]`, stacked weights `weight: [K, out, in]`
/// and biases `bias: [K, out]` → `[R, out]`, where `m` is the member of the row's segment.
///
/// Each segment, forward and backward, is the computation of [`crate::linear()`] on its rows
/// alone with its member's weight and bias, so outputs and gradients (input, weight, bias)
/// are the same bits. A member with no rows gets zero weight and bias gradients; a member
/// with several segments gets the sum of their gradients, in segment order.
pub fn segmented_linear(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    segments: &Segments,
) -> Result<Tensor> {
    let mut operands = vec![("input", xs), ("weight", weight)];
    if let Some(b) = bias {
        operands.push(("bias", b));
    }
    check_cpu_float(LINEAR, &operands)?;
    let (rows, i) = match xs.dims() {
        &[rows, i] => (rows, i),
        d => bail!("{LINEAR}: input {d:?}; expected [rows, in]"),
    };
    let (k, out) = match weight.dims() {
        &[k, out, wi] if wi == i => (k, out),
        d => bail!("{LINEAR}: weight {d:?} for input [{rows}, {i}]; expected [members, out, {i}]"),
    };
    if let Some(b) = bias {
        if b.dims() != [k, out] {
            bail!(
                "{LINEAR}: bias {:?} for weight {:?}; expected [{k}, {out}]",
                b.dims(),
                weight.dims()
            )
        }
    }
    segments.check(LINEAR, rows, Some(k))?;
    let op = SegmentedLinearOp {
        segments: segments.clone(),
    };
    let (xs, weight) = (xs.contiguous()?, weight.contiguous()?);
    match bias {
        Some(b) => xs.apply_op3(&weight, &b.contiguous()?, op),
        None => xs.apply_op2(&weight, op),
    }
}

/// `(rows, in, members, out)` of `xs: [rows, in]` and `weight: [members, out, in]`, after
/// checking them against the segments.
fn linear_dims(
    lx: &Layout,
    lw: &Layout,
    segments: &Segments,
) -> Result<(usize, usize, usize, usize)> {
    match (lx.dims(), lw.dims()) {
        (&[rows, i], &[k, out, wi]) if i == wi => {
            segments.check(LINEAR, rows, Some(k))?;
            Ok((rows, i, k, out))
        }
        (x, w) => bail!(
            "{LINEAR}: input {x:?} and weight {w:?}; expected [rows, in] and [members, out, in]"
        ),
    }
}

/// The forward op: `(xs, weight)` or `(xs, weight, bias)`.
#[derive(Debug, Clone)]
struct SegmentedLinearOp {
    segments: Segments,
}

impl SegmentedLinearOp {
    fn fwd_t<T: Float>(
        &self,
        (sx, lx): (&CpuStorage, &Layout),
        (sw, lw): (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, i, k, out) = linear_dims(lx, lw, &self.segments)?;
        let (x, w) = (data::<T>(sx, lx, "input")?, data::<T>(sw, lw, "weight")?);
        let b = bias_data::<T>(bias, &[k, out], LINEAR)?;
        let mut y = vec![T::default(); rows * out];
        for (m, r) in self.segments.ranges() {
            forward_rows(
                (
                    &x[r.start * i..r.end * i],
                    &w[m * out * i..(m + 1) * out * i],
                    b.map(|b| &b[m * out..(m + 1) * out]),
                ),
                (r.len(), i, out),
                &mut y[r.start * out..r.end * out],
            );
        }
        Ok((T::to_cpu_storage_owned(y), Shape::from((rows, out))))
    }

    /// `(dx, dw, db)` for the output gradient `grad`; `dx` only when `x` needs one.
    fn grads(
        &self,
        x: &Tensor,
        weight: &Tensor,
        with_bias: bool,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Tensor, Option<Tensor>)> {
        let want_dx = x.track_op();
        let op = SegmentedLinearBackwardOp {
            segments: self.segments.clone(),
            dx: want_dx,
            db: with_bias,
        };
        weight_grads((x, weight, grad), &op, with_bias.then_some(2))
    }
}

weight_op_with_optional_bias!(
    SegmentedLinearOp,
    "emc-segmented-linear",
    "emc-segmented-linear-bias"
);

/// The backward op on `(xs, weight, dy)`: one flat tensor holding `dx` (if wanted), `dw`,
/// then `db` (if wanted), each contiguous in its own shape.
#[derive(Debug, Clone)]
struct SegmentedLinearBackwardOp {
    segments: Segments,
    dx: bool,
    db: bool,
}

impl SegmentedLinearBackwardOp {
    fn run<T: Float>(
        &self,
        (sx, lx): (&CpuStorage, &Layout),
        (sw, lw): (&CpuStorage, &Layout),
        (sg, lg): (&CpuStorage, &Layout),
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, i, k, out) = linear_dims(lx, lw, &self.segments)?;
        if lg.dims() != [rows, out] {
            bail!(
                "{LINEAR} backward: gradient {:?} for [{rows}, {out}]",
                lg.dims()
            )
        }
        let (x, w, dy) = (
            data::<T>(sx, lx, "input")?,
            data::<T>(sw, lw, "weight")?,
            data::<T>(sg, lg, "gradient")?,
        );
        let wlen = out * i;
        let flat = segment_grads(
            &self.segments,
            (rows, self.dx.then_some(i)),
            (k, wlen, self.db.then_some(out)),
            |m, r, dx_rows, dw_m, db_m| {
                let operands = (
                    &x[r.start * i..r.end * i],
                    &w[m * wlen..(m + 1) * wlen],
                    &dy[r.start * out..r.end * out],
                );
                backward_rows(operands, (r.len(), i, out), dx_rows, dw_m, db_m)
            },
        );
        let len = flat.len();
        Ok((T::to_cpu_storage_owned(flat), Shape::from(len)))
    }
}

backward_op3!(SegmentedLinearBackwardOp, "emc-segmented-linear-backward");

/// The flat output of a segmented weight op's backward (the layout [`weight_grads`] reads):
/// the input gradient when wanted (`dx_row` elements per row), then every member's weight
/// gradient (`wlen` each), then every member's bias gradient when wanted (`blen` each).
/// `grads(member, rows, dx, dw, db)` fills one segment's rows of `dx` and computes the
/// segment's weight and bias gradients, segment by segment in order, skipping segments
/// without rows: a member's first segment writes them in place (exactly the single op's
/// values), later ones compute theirs aside and add them; an idle member's stay zero.
pub(crate) fn segment_grads<T: Float>(
    segments: &Segments,
    (rows, dx_row): (usize, Option<usize>),
    (k, wlen, blen): (usize, usize, Option<usize>),
    mut grads: impl FnMut(usize, Range<usize>, Option<&mut [T]>, &mut [T], Option<&mut [T]>),
) -> Vec<T> {
    let dx_len = dx_row.map_or(0, |d| rows * d);
    let mut flat = vec![T::default(); dx_len + k * (wlen + blen.unwrap_or(0))];
    let (dx, rest) = flat.split_at_mut(dx_len);
    let (dw, db) = rest.split_at_mut(k * wlen);
    let mut seen = vec![false; k];
    let (mut more_w, mut more_b) = (Vec::new(), Vec::new());
    for (m, r) in segments.ranges() {
        if r.is_empty() {
            continue;
        }
        let dx_rows = dx_row.map(|d| &mut dx[r.start * d..r.end * d]);
        let dw_m = &mut dw[m * wlen..(m + 1) * wlen];
        let db_m = blen.map(|b| &mut db[m * b..(m + 1) * b]);
        if !seen[m] {
            seen[m] = true;
            grads(m, r, dx_rows, dw_m, db_m);
            continue;
        }
        more_w.resize(wlen, T::default());
        more_b.resize(blen.unwrap_or(0), T::default());
        let more_db = db_m.is_some().then_some(&mut more_b[..]);
        grads(m, r, dx_rows, &mut more_w, more_db);
        for (acc, v) in dw_m.iter_mut().zip(&more_w) {
            *acc += *v;
        }
        if let Some(db_m) = db_m {
            for (acc, v) in db_m.iter_mut().zip(&more_b) {
                *acc += *v;
            }
        }
    }
    flat
}

const CROSS_ENTROPY: &str = "segmented_cross_entropy";

/// The mean cross-entropy of each segment of `logits: [R, classes]` against
/// `labels: [R]` (`u32`) → `[S]`, one loss per segment.
///
/// Each loss is the bits of [`crate::cross_entropy()`] on the segment's rows alone, and the
/// backward treats the upstream gradient `g[s]` as that op treats its scalar one, so each
/// segment's logit gradient is the same bits too. A segment with no rows has loss 0 and
/// sends no gradient.
pub fn segmented_cross_entropy(
    logits: &Tensor,
    labels: &Tensor,
    segments: &Segments,
) -> Result<Tensor> {
    segmented_smoothed_cross_entropy(logits, labels, segments, 0.0)
}

/// [`segmented_cross_entropy`] with label smoothing `smoothing` (in `[0, 1]`): each
/// segment's loss and logit gradient are the bits of [`crate::smoothed_cross_entropy`] on
/// its rows alone; at 0 it is [`segmented_cross_entropy`].
pub fn segmented_smoothed_cross_entropy(
    logits: &Tensor,
    labels: &Tensor,
    segments: &Segments,
    smoothing: f64,
) -> Result<Tensor> {
    check_smoothing(smoothing, CROSS_ENTROPY)?;
    check_cpu_float(CROSS_ENTROPY, &[("logits", logits)])?;
    if labels.dtype() != DType::U32 {
        bail!(
            "{CROSS_ENTROPY}: labels must be u32, got {:?}",
            labels.dtype()
        )
    }
    let rows = match logits.dims() {
        &[rows, c] if c > 0 => rows,
        d => bail!("{CROSS_ENTROPY}: logits {d:?}; expected [rows, classes]"),
    };
    if labels.dims() != [rows] {
        bail!(
            "{CROSS_ENTROPY}: labels {:?} for {rows} rows of logits",
            labels.dims()
        )
    }
    segments.check(CROSS_ENTROPY, rows, None)?;
    let op = SegmentedCrossEntropy {
        segments: segments.clone(),
        cache: SoftmaxCache::default(),
        smoothing,
    };
    logits.contiguous()?.apply_op2(&labels.contiguous()?, op)
}

/// The forward op on `(logits, labels)`; it keeps its softmax rows for the backward.
#[derive(Debug)]
struct SegmentedCrossEntropy {
    segments: Segments,
    cache: SoftmaxCache,
    /// Label smoothing ε in `[0, 1]`.
    smoothing: f64,
}

impl SegmentedCrossEntropy {
    fn forward<T: Float>(
        &self,
        (sx, lx): (&CpuStorage, &Layout),
        (sy, ly): (&CpuStorage, &Layout),
    ) -> Result<(CpuStorage, Shape)> {
        let (x, y) = (
            data::<T>(sx, lx, "logits")?,
            labels_of(sy, ly, CROSS_ENTROPY)?,
        );
        let (b, c) = geometry(lx, ly, y, CROSS_ENTROPY)?;
        self.segments.check(CROSS_ENTROPY, b, None)?;
        let r = softmax_rows(x, c);
        let losses: Vec<T> = self
            .segments
            .ranges()
            .map(|(_, rows)| {
                if rows.is_empty() {
                    return T::ZERO;
                }
                smoothed_mean_loss(
                    (&x[rows.start * c..rows.end * c], &y[rows.clone()], c),
                    (&r.max[rows.clone()], &r.sum[rows]),
                    self.smoothing,
                )
            })
            .collect();
        self.cache.keep(r);
        let n = losses.len();
        Ok((T::to_cpu_storage_owned(losses), Shape::from(n)))
    }
}

impl CustomOp2 for SegmentedCrossEntropy {
    fn name(&self) -> &'static str {
        "emc-segmented-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sy: &CpuStorage,
        ly: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        for_float!(sx, T => self.forward::<T>((sx, lx), (sy, ly)))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        labels: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let op = SegmentedCrossEntropyGrad { fwd: self };
        let dx = logits.apply_op3_no_bwd(labels, &grad.contiguous()?, &op)?;
        Ok((Some(dx), None))
    }
}

/// The backward op on `(logits, labels, per-segment loss gradients)`.
#[derive(Debug, Clone, Copy)]
struct SegmentedCrossEntropyGrad<'a> {
    fwd: &'a SegmentedCrossEntropy,
}

impl SegmentedCrossEntropyGrad<'_> {
    fn run<T: Float>(
        &self,
        (sx, lx): (&CpuStorage, &Layout),
        (sy, ly): (&CpuStorage, &Layout),
        (sg, lg): (&CpuStorage, &Layout),
    ) -> Result<(CpuStorage, Shape)> {
        let segments = &self.fwd.segments;
        let (x, y) = (
            data::<T>(sx, lx, "logits")?,
            labels_of(sy, ly, CROSS_ENTROPY)?,
        );
        let (b, c) = geometry(lx, ly, y, CROSS_ENTROPY)?;
        segments.check(CROSS_ENTROPY, b, None)?;
        let g = data::<T>(sg, lg, "gradient")?;
        if g.len() != segments.len() {
            bail!(
                "{CROSS_ENTROPY} backward: {} gradient values for {} segments",
                g.len(),
                segments.len()
            )
        }
        let mut dx = vec![T::ZERO; b * c];
        self.fwd.cache.with_rows(x, (b, c), |max, exp, sum| {
            for ((_, rows), &g0) in segments.ranges().zip(g) {
                if rows.is_empty() {
                    continue;
                }
                let (at, to) = (rows.start * c, rows.end * c);
                smoothed_loss_grad(
                    (&x[at..to], &y[rows.clone()], c),
                    g0,
                    (&max[rows.clone()], &exp[at..to], &sum[rows]),
                    self.fwd.smoothing,
                    &mut dx[at..to],
                );
            }
        });
        Ok((T::to_cpu_storage_owned(dx), lx.shape().clone()))
    }
}

backward_op3!(
    SegmentedCrossEntropyGrad<'_>,
    "emc-segmented-cross-entropy-backward"
);

/// For `grad: [K, ...]`, the sum of the squares of each member's entries → `[K]` of the
/// same dtype: entry `k` is the bits of candle's `grad.get(k)?.sqr()?.sum_all()?` (candle
/// squares as `v·v` and, on contiguous data, sums with `VecOps::vec_reduce_sum`). No
/// gradient flows through it.
pub fn member_square_sums(grad: &Tensor) -> Result<Tensor> {
    const OP: &str = "member_square_sums";
    check_cpu_float(OP, &[("gradient", grad)])?;
    if grad.rank() == 0 {
        bail!("{OP}: expected a tensor [members, ...], got a scalar")
    }
    grad.contiguous()?.apply_op1_no_bwd(&MemberSquareSums)
}

#[derive(Debug, Clone, Copy)]
struct MemberSquareSums;

fn square_sums<T: Float>(s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
    let g = data::<T>(s, l, "gradient")?;
    let k = l.dims().first().copied().unwrap_or(1);
    let per = g.len().checked_div(k).unwrap_or(0);
    let mut squares = vec![T::ZERO; per];
    let sums: Vec<T> = (0..k)
        .map(|m| {
            for (sq, &v) in squares.iter_mut().zip(&g[m * per..(m + 1) * per]) {
                *sq = v * v;
            }
            vec_sum(&squares)
        })
        .collect();
    Ok((T::to_cpu_storage_owned(sums), Shape::from(k)))
}

impl CustomOp1 for MemberSquareSums {
    fn name(&self) -> &'static str {
        "emc-member-square-sums"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        for_float!(s, T => square_sums::<T>(s, l))
    }
}
