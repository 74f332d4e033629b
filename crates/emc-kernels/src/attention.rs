//! The core of multi-head self-attention as one op each way: from the fused `qkv`
//! projection `[N, T, 3·D]` to the heads' merged outputs `[N, T, D]`, bit-identical in value
//! and gradient to the composition of candle ops in
//! [`crate::composed::attention_core_composed`].
//!
//! Composed, the core is about fifteen graph nodes (the head split's reshape, permute and
//! three `get`s, the query scaling, `kᵀ`, two batched products, the softmax, the merge's
//! transpose and reshape). Backward, candle gives every node a zero-initialised gradient
//! accumulator and an add, and the three `get`s each send back a zero-padded gradient of the
//! whole `qkv` tensor; its batched products run one small matrix product after another.
//! Here the forward and the backward each take the `N·heads` (image, head) pairs as
//! independent units spread over candle's thread pool: a unit gathers its head's queries
//! (scaled as candle scales them), keys and values, makes the same matrix products with the
//! same shapes and strides as candle's `matmul` (the `gemm` crate, single-threaded: a
//! product's bits do not depend on its thread count), runs the softmax's row functions of
//! [`crate::softmax`], and writes its rows of the output (or of the `qkv` gradient). Each
//! gradient value is formed as candle forms it, including the `0 + g` of every accumulator
//! it passes through (which turns a `−0` into `+0`). The forward keeps the scaled queries,
//! keys, values, attention weights and the softmax rows' exponentials and sums for the
//! backward, as candle's graph keeps those tensors.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result};
use candle_core::{Shape, Tensor};

use crate::cpu::{chunks_in_parallel, data, for_each_chunk, slice_mut, SendPtr};
use crate::cross_entropy::softmax_row;
use crate::dispatch::{backward_op2, for_float, Float};
use crate::matmul::{product, Mat};
use crate::softmax::backward_rows as softmax_backward_rows;

/// The merged outputs `[N, T, D]` of `heads`-head self-attention on `qkv: [N, T, 3·D]` (the
/// queries, keys and values side by side, each split into `heads` heads of `D / heads`
/// features; scores scaled by `1/√(D/heads)`): our op for contiguous `f32`/`f64` CPU tensors,
/// `None` otherwise (the caller then composes the same function from candle ops).
pub fn attention_core(qkv: &Tensor, heads: usize) -> Result<Option<Tensor>> {
    let ours = crate::kernels_apply(qkv.device())
        && matches!(qkv.dtype(), DType::F32 | DType::F64)
        && qkv.is_contiguous()
        && heads > 0
        && matches!(qkv.dims(), &[n, t, d3] if n > 0 && t > 0 && d3 > 0 && d3 % (3 * heads) == 0);
    if !ours {
        return Ok(None);
    }
    let op = AttentionCore {
        heads,
        kept: OnceLock::new(),
    };
    qkv.apply_op1(op).map(Some)
}

/// The shapes of one attention core.
#[derive(Debug, Clone, Copy)]
struct Geom {
    n: usize,
    t: usize,
    /// Model width `D`.
    d: usize,
    heads: usize,
    /// Features per head.
    hd: usize,
}

impl Geom {
    fn new(dims: &[usize], heads: usize) -> Result<Geom> {
        match dims {
            &[n, t, d3] if heads > 0 && d3 % (3 * heads) == 0 => Ok(Geom {
                n,
                t,
                d: d3 / 3,
                heads,
                hd: d3 / 3 / heads,
            }),
            _ => candle_core::bail!(
                "attention core: qkv {dims:?} for {heads} heads; expected [N, T, 3·D] with D \
                 divisible by the heads"
            ),
        }
    }

    /// (image, head) units.
    fn units(&self) -> usize {
        self.n * self.heads
    }

    /// candle's query scale `1/√hd`, as `affine` converts it.
    fn scale<T: Float>(&self) -> T {
        T::from_f64(1.0 / (self.hd as f64).sqrt())
    }

    /// The offset in `[N, T, 3·D]` (`part` 0, 1, 2: query, key, value) or, with `part` 0
    /// and width `D`, in `[N, T, D]`, of unit `u`'s row `t`.
    fn row(&self, u: usize, t: usize, part: usize, width: usize) -> usize {
        let (n, h) = (u / self.heads, u % self.heads);
        (n * self.t + t) * width + part * self.d + h * self.hd
    }
}

/// What the forward keeps per unit, unit after unit: scaled queries, keys and values
/// `[T, hd]`, attention weights and the softmax's exponentials `[T, T]`, its row sums `[T]`.
struct Kept<T> {
    q: Vec<T>,
    k: Vec<T>,
    v: Vec<T>,
    w: Vec<T>,
    exp: Vec<T>,
    sum: Vec<T>,
}

/// Mutable pointers into a [`Kept`], for units written in parallel.
#[derive(Clone, Copy)]
struct KeptPtrs<T> {
    q: SendPtr<T>,
    k: SendPtr<T>,
    v: SendPtr<T>,
    w: SendPtr<T>,
    exp: SendPtr<T>,
    sum: SendPtr<T>,
}

/// `0 + x`: a candle gradient accumulator's first add (`−0` becomes `+0`).
fn acc<T: Float>(x: T) -> T {
    T::ZERO + x
}

/// A row-major `rows × cols` operand, or its transpose (`t`).
fn mat<T>(data: &[T], cols: usize, t: bool) -> Mat<'_, T> {
    if t {
        Mat {
            data,
            rs: 1,
            cs: cols,
        }
    } else {
        Mat {
            data,
            rs: cols,
            cs: 1,
        }
    }
}

/// Runs `f(unit, scratch)` for every unit, spread over candle's pool when it has workers;
/// each pool task makes its `scratch` buffers once (every unit overwrites them whole).
fn for_units<S>(g: &Geom, scratch: impl Fn() -> S + Sync, f: impl Fn(usize, &mut S) + Sync) {
    for_each_chunk(g.units(), chunks_in_parallel(), |units| {
        let mut buffers = scratch();
        units.for_each(|u| f(u, &mut buffers));
    });
}

fn forward<T: Float>(qkv: &[T], g: &Geom) -> (Vec<T>, Kept<T>) {
    let (t, hd) = (g.t, g.hd);
    let (units, zero) = (g.units(), T::ZERO);
    let mut out = vec![zero; g.n * t * g.d];
    let mut kept = Kept {
        q: vec![zero; units * t * hd],
        k: vec![zero; units * t * hd],
        v: vec![zero; units * t * hd],
        w: vec![zero; units * t * t],
        exp: vec![zero; units * t * t],
        sum: vec![zero; units * t],
    };
    let ptrs = KeptPtrs {
        q: SendPtr(kept.q.as_mut_ptr()),
        k: SendPtr(kept.k.as_mut_ptr()),
        v: SendPtr(kept.v.as_mut_ptr()),
        w: SendPtr(kept.w.as_mut_ptr()),
        exp: SendPtr(kept.exp.as_mut_ptr()),
        sum: SendPtr(kept.sum.as_mut_ptr()),
    };
    let out_ptr = SendPtr(out.as_mut_ptr());
    let scale = g.scale::<T>();
    let (th, tt) = (t * hd, t * t);
    for_units(
        g,
        || vec![zero; th],
        |u, o| {
            // SAFETY: the buffers outlive the call and each unit writes only its own block of
            // every kept buffer.
            let (q, k, v, w, exp, sum) = unsafe {
                (
                    slice_mut(ptrs.q, u * th..(u + 1) * th),
                    slice_mut(ptrs.k, u * th..(u + 1) * th),
                    slice_mut(ptrs.v, u * th..(u + 1) * th),
                    slice_mut(ptrs.w, u * tt..(u + 1) * tt),
                    slice_mut(ptrs.exp, u * tt..(u + 1) * tt),
                    slice_mut(ptrs.sum, u * t..(u + 1) * t),
                )
            };
            // The head split (`get` copies), the query scaled by `affine(scale, 0)`.
            for row in 0..t {
                let at = |part| &qkv[g.row(u, row, part, 3 * g.d)..][..hd];
                let dst = row * hd..(row + 1) * hd;
                for (d, &x) in q[dst.clone()].iter_mut().zip(at(0)) {
                    *d = x * scale + zero;
                }
                k[dst.clone()].copy_from_slice(at(1));
                v[dst].copy_from_slice(at(2));
            }
            // scores = q · kᵀ [T, T], into `w`; then the softmax rows.
            product(
                false,
                (t, t, hd),
                w,
                (t, 1),
                false,
                mat(q, hd, false),
                mat(k, hd, true),
            );
            for ((row, e), s) in w.chunks_exact_mut(t).zip(exp.chunks_exact_mut(t)).zip(sum) {
                (_, *s) = softmax_row(row, e);
                for (y, &e) in row.iter_mut().zip(e.iter()) {
                    *y = e / *s;
                }
            }
            // out = w · v [T, hd], merged into the unit's columns of `[N, T, D]`.
            product(
                false,
                (t, hd, t),
                o,
                (hd, 1),
                false,
                mat(w, t, false),
                mat(v, hd, false),
            );
            for (row, src) in o.chunks_exact(hd).enumerate() {
                let start = g.row(u, row, 0, g.d);
                // SAFETY: `out` outlives the call; units write disjoint (row, head) spans.
                let dst = unsafe { slice_mut(out_ptr, start..start + hd) };
                dst.copy_from_slice(src);
            }
        },
    );
    (out, kept)
}

/// The gradient of `qkv` for the output gradient `dy` (`[N, T, D]`), from the kept values.
fn backward<T: Float>(dy: &[T], kept: [&[T]; 6], g: &Geom) -> Vec<T> {
    let [q, k, v, w, exp, sum] = kept;
    let (t, hd, zero) = (g.t, g.hd, T::ZERO);
    let mut dqkv = vec![zero; g.n * t * 3 * g.d];
    let dqkv_ptr = SendPtr(dqkv.as_mut_ptr());
    let scale = g.scale::<T>();
    let (th, tt) = (t * hd, t * t);
    let scratch = || [th, tt, th, tt, th, th].map(|len| vec![zero; len]);
    for_units(g, scratch, |u, buffers| {
        let [go, dw, dv, ds, dq, dkt] = buffers;
        let (q, k, v) = (&q[u * th..][..th], &k[u * th..][..th], &v[u * th..][..th]);
        let (w, exp, sum) = (&w[u * tt..][..tt], &exp[u * tt..][..tt], &sum[u * t..][..t]);
        // The merge's reshape and transpose send the output gradient back as `[T, hd]`.
        for (row, dst) in go.chunks_exact_mut(hd).enumerate() {
            for (d, &x) in dst.iter_mut().zip(&dy[g.row(u, row, 0, g.d)..][..hd]) {
                *d = acc(x);
            }
        }
        // out = w · v: dw = go · vᵀ, dv = wᵀ · go.
        product(
            false,
            (t, t, hd),
            dw,
            (t, 1),
            false,
            mat(go, hd, false),
            mat(v, hd, true),
        );
        dw.iter_mut().for_each(|x| *x = acc(*x));
        product(
            false,
            (t, hd, t),
            dv,
            (hd, 1),
            false,
            mat(w, t, true),
            mat(go, hd, false),
        );
        // The softmax's gradient rows.
        softmax_backward_rows(dw, exp, sum, t, ds);
        ds.iter_mut().for_each(|x| *x = acc(*x));
        // scores = q · kᵀ: dq = ds · k, d(kᵀ) = qᵀ · ds [hd, T].
        product(
            false,
            (t, hd, t),
            dq,
            (hd, 1),
            false,
            mat(ds, t, false),
            mat(k, hd, false),
        );
        product(
            false,
            (hd, t, t),
            dkt,
            (t, 1),
            false,
            mat(q, hd, true),
            mat(ds, t, false),
        );
        for row in 0..t {
            let base = g.row(u, row, 0, 3 * g.d);
            // SAFETY: `dqkv` outlives the call; units write disjoint (row, head) spans of
            // each of the three parts.
            let part =
                |p: usize| unsafe { slice_mut(dqkv_ptr, base + p * g.d..base + p * g.d + hd) };
            // The query: its accumulator, the scale's affine, the copy's accumulator.
            for (e, d) in part(0).iter_mut().enumerate() {
                *d = acc(acc(acc(dq[row * hd + e]) * scale + zero));
            }
            // The key: through `kᵀ`'s transpose.
            for (e, d) in part(1).iter_mut().enumerate() {
                *d = acc(acc(dkt[e * t + row]));
            }
            for (e, d) in part(2).iter_mut().enumerate() {
                *d = acc(acc(dv[row * hd + e]));
            }
        }
    });
    dqkv
}

/// The forward op; it keeps what the backward reads.
struct AttentionCore {
    heads: usize,
    kept: OnceLock<[CpuStorage; 6]>,
}

impl AttentionCore {
    fn fwd<T: Float>(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = Geom::new(l.dims(), self.heads)?;
        let (out, kept) = forward(data::<T>(s, l, "qkv")?, &g);
        let _ = self
            .kept
            .set([kept.q, kept.k, kept.v, kept.w, kept.exp, kept.sum].map(T::to_cpu_storage_owned));
        Ok((T::to_cpu_storage_owned(out), Shape::from((g.n, g.t, g.d))))
    }
}

impl CustomOp1 for AttentionCore {
    fn name(&self) -> &'static str {
        "emc-attention-core"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        for_float!(s, T => self.fwd::<T>(s, l))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let op = AttentionCoreGrad { fwd: self };
        Ok(Some(arg.apply_op2_no_bwd(&grad.contiguous()?, &op)?))
    }
}

/// The backward op on `(qkv, output gradient)`.
struct AttentionCoreGrad<'a> {
    fwd: &'a AttentionCore,
}

impl AttentionCoreGrad<'_> {
    fn run<T: Float>(
        &self,
        (sx, lx): (&CpuStorage, &Layout),
        (sg, lg): (&CpuStorage, &Layout),
    ) -> Result<(CpuStorage, Shape)> {
        let g = Geom::new(lx.dims(), self.fwd.heads)?;
        if lg.dims() != [g.n, g.t, g.d] {
            candle_core::bail!(
                "attention core backward: gradient {:?}; expected [{}, {}, {}]",
                lg.dims(),
                g.n,
                g.t,
                g.d
            )
        }
        let dy = data::<T>(sg, lg, "gradient")?;
        let dqkv = match self.fwd.kept.get() {
            Some(kept) => {
                let mut slices = [&[][..]; 6];
                for (slice, s) in slices.iter_mut().zip(kept) {
                    *slice = T::cpu_storage_as_slice(s)?;
                }
                backward(dy, slices, &g)
            }
            // Never after a forward; computed again rather than failing.
            None => {
                let (_, kept) = forward(data::<T>(sx, lx, "qkv")?, &g);
                let slices = [&kept.q, &kept.k, &kept.v, &kept.w, &kept.exp, &kept.sum];
                backward(dy, slices.map(|v| &v[..]), &g)
            }
        };
        Ok((T::to_cpu_storage_owned(dqkv), lx.shape().clone()))
    }
}

backward_op2!(AttentionCoreGrad<'_>, "emc-attention-core-backward");
