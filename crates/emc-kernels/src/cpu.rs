//! The CPU toolkit every kernel shares: operands as contiguous slices (checked), a weight
//! op's gradients split out of its backward's flat output, and the ways work is spread over
//! candle's thread pool (chunks, row blocks, disjoint writes through a shared pointer)
//! without changing a bit of the result.

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use crate::dispatch::Float;

/// The elements of a contiguous operand as a slice (`what` names it in the error).
pub(crate) fn data<'a, T: Float>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [T]> {
    let data = T::cpu_storage_as_slice(s)?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => bail!("emc kernel: {what} must be contiguous"),
    }
}

/// An element-wise op's input and its output gradient, as slices, after checking that
/// they have the same shape (`op` names the op in the error).
pub(crate) fn input_and_grad<'a, T: Float>(
    (sx, lx): (&'a CpuStorage, &Layout),
    (sg, lg): (&'a CpuStorage, &Layout),
    op: &str,
) -> Result<(&'a [T], &'a [T])> {
    if lx.shape() != lg.shape() {
        bail!(
            "{op} backward: gradient {:?} for input {:?}",
            lg.dims(),
            lx.dims()
        )
    }
    Ok((data::<T>(sx, lx, "input")?, data::<T>(sg, lg, "gradient")?))
}

/// A weight op's optional bias operand as a slice, after checking that its shape is
/// `expected` (`op` names the op in the error).
pub(crate) fn bias_data<'a, T: Float>(
    bias: Option<(&'a CpuStorage, &Layout)>,
    expected: &[usize],
    op: &str,
) -> Result<Option<&'a [T]>> {
    let Some((s, l)) = bias else { return Ok(None) };
    if l.dims() != expected {
        bail!("{op}: bias {:?}; expected {expected:?}", l.dims())
    }
    data::<T>(s, l, "bias").map(Some)
}

/// The last dimension of `l`, which must be non-empty (`op` names the op in the error).
pub(crate) fn last_dim(l: &Layout, op: &str) -> Result<usize> {
    match l.dims().last() {
        Some(&d) if d > 0 => Ok(d),
        _ => bail!(
            "{op}: input {:?}; expected a non-empty last dimension",
            l.dims()
        ),
    }
}

/// A weight op's gradients for the output gradient `grad`: runs its `backward` op on
/// `(x, weight, grad)`, whose flat output holds `dx` (when `x` tracks gradients, as the op
/// was told), `dw`, then `db` (when `bias_dims` is given: the bias has the shape of the
/// weight's first `bias_dims` dimensions), and splits it into those tensors.
pub(crate) fn weight_grads(
    (x, weight, grad): (&Tensor, &Tensor, &Tensor),
    backward: &impl CustomOp3,
    bias_dims: Option<usize>,
) -> Result<(Option<Tensor>, Tensor, Option<Tensor>)> {
    let flat = x.apply_op3_no_bwd(weight, &grad.contiguous()?, backward)?;
    let mut offset = 0;
    let mut take = |shape: &Shape| -> Result<Tensor> {
        let part = flat.narrow(0, offset, shape.elem_count())?.reshape(shape)?;
        offset += shape.elem_count();
        Ok(part)
    };
    let dx = x.track_op().then(|| take(x.shape())).transpose()?;
    let dw = take(weight.shape())?;
    let db = bias_dims
        .map(|n| take(&Shape::from(&weight.dims()[..n])))
        .transpose()?;
    Ok((dx, dw, db))
}

/// A destination pointer shared by the threads that write disjoint ranges through it.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr<T>(pub(crate) *mut T);

// SAFETY: the pointer is only dereferenced by code that writes disjoint ranges through it
// (`gemm_rows` rows, chunks of images, row blocks), each range by one thread.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    pub(crate) fn get(self) -> *mut T {
        self.0
    }
}

/// The mutable sub-slice `range` of the buffer behind `ptr`.
///
/// # Safety
/// `ptr` must point to a live buffer holding `range`, and no other reference to those
/// elements may exist while the returned slice does.
pub(crate) unsafe fn slice_mut<'a, T>(
    ptr: SendPtr<T>,
    range: std::ops::Range<usize>,
) -> &'a mut [T] {
    std::slice::from_raw_parts_mut(ptr.get().add(range.start), range.len())
}

/// Runs `f` on every chunk index `0..chunks`: spread over candle's thread pool when
/// `parallel` and there is more than one chunk, else in order on this thread. On the pool,
/// `f` must not use the pool itself (the calling thread's share is not marked as inside it,
/// and candle's pool lock is not re-entrant): its products stay on their thread
/// ([`crate::matmul::product`] without row splitting).
pub(crate) fn for_each_chunk(
    chunks: usize,
    parallel: bool,
    f: impl Fn(std::ops::Range<usize>) + Sync,
) {
    if parallel && chunks > 1 {
        candle_core::utils::barrier_pool().execute_chunked(chunks, f);
    } else {
        f(0..chunks);
    }
}

/// Whether the convolution spreads its chunks over candle's thread pool: when the pool has
/// workers. Each chunk's products are computed exactly as on one thread, so the result does
/// not depend on it.
pub(crate) fn chunks_in_parallel() -> bool {
    candle_core::utils::barrier_pool().n_workers() > 0
}

/// Below this many elements a row-wise kernel stays on the calling thread.
const ROWS_PARALLEL_MIN: usize = 1 << 15;

/// Runs `f` on blocks of the rows `0..rows` (`width` elements each): spread over candle's
/// thread pool when it has workers and there are at least [`ROWS_PARALLEL_MIN`] elements,
/// else in one call on this thread. For kernels whose rows are independent (each row's
/// result is computed by the same code whichever thread runs it, so the bits do not
/// depend on it). On the pool, `f` must not use the pool itself (see [`for_each_chunk`]).
pub(crate) fn for_row_blocks(rows: usize, width: usize, f: impl Fn(std::ops::Range<usize>) + Sync) {
    let pool = candle_core::utils::barrier_pool();
    if pool.n_workers() == 0 || rows < 2 || rows * width < ROWS_PARALLEL_MIN {
        f(0..rows);
    } else {
        pool.execute_chunked(rows, f);
    }
}

/// `out` filled row block by row block (`width` elements per row) by `f(rows, block)`, the
/// blocks spread as [`for_row_blocks`] spreads them.
pub(crate) fn rows_into<T: Float>(
    out: &mut [T],
    width: usize,
    f: impl Fn(std::ops::Range<usize>, &mut [T]) + Sync,
) {
    let ptr = SendPtr(out.as_mut_ptr());
    for_row_blocks(out.len() / width.max(1), width, |rows| {
        // SAFETY: `out` outlives the call and row blocks are disjoint.
        let block = unsafe { slice_mut(ptr, rows.start * width..rows.end * width) };
        f(rows, block)
    });
}
