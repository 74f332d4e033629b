//! The matrix product the kernels share: the `gemm` crate called directly (candle's CPU
//! matmul is a wrapper around the same call that insists on contiguous operands; calling it
//! ourselves lets the transposes be strides), its rows split over candle's thread pool in
//! whole register tiles so that every element is computed as in one single-threaded call.

use crate::cpu::SendPtr;
use crate::dispatch::Float;

/// A row-major matrix operand: data and (row stride, column stride).
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a, T> {
    pub(crate) data: &'a [T],
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

impl<T> Mat<'_, T> {
    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// `dst[m×n] (row stride dst_rs) = [dst +] lhs[m×k] · rhs[k×n]`, splitting whole row tiles
/// over candle's thread pool when it pays (see [`product`]).
pub(crate) fn matmul<T: Float>(
    dims: (usize, usize, usize),
    dst: &mut [T],
    dst_rs: usize,
    accumulate: bool,
    lhs: Mat<T>,
    rhs: Mat<T>,
) {
    product(true, dims, dst, (dst_rs, 1), accumulate, lhs, rhs)
}

/// `dst[m×n] (row stride dst_rs, column stride dst_cs) = [dst +] lhs[m×k] · rhs[k×n]`. With
/// `split_rows` and several threads, blocks of whole row tiles go to candle's own thread
/// pool (the one its element-wise ops use, the calling thread included): tiles keep their
/// place, so every element is computed as in one single-threaded call, bit for bit.
/// Without, the product stays on the calling thread (required inside a pool task: the pool
/// is not re-entrant).
pub(crate) fn product<T: Float>(
    split_rows: bool,
    (m, n, k): (usize, usize, usize),
    dst: &mut [T],
    (dst_rs, dst_cs): (usize, usize),
    accumulate: bool,
    lhs: Mat<T>,
    rhs: Mat<T>,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        (m - 1) * dst_rs + (n - 1) * dst_cs < dst.len() && lhs.fits(m, k) && rhs.fits(k, n),
        "emc kernel: matrix operand out of bounds"
    );
    if k == 0 {
        if !accumulate {
            for row in 0..m {
                for col in 0..n {
                    dst[row * dst_rs + col * dst_cs] = T::default();
                }
            }
        }
        return;
    }
    let pool = candle_core::utils::barrier_pool();
    let parts = (pool.n_workers() + 1).min(m / ROW_TILE);
    if !split_rows || parts < 2 || m * n * k < PARALLEL_MIN_WORK {
        // SAFETY: the assertion above keeps every element gemm touches inside the slices,
        // and `dst` is borrowed mutably, so it aliases neither operand.
        unsafe {
            gemm_rows(
                0..m,
                (n, k),
                dst.as_mut_ptr(),
                (dst_rs, dst_cs),
                accumulate,
                lhs,
                rhs,
            )
        };
        return;
    }
    let block = (m / ROW_TILE).div_ceil(parts) * ROW_TILE;
    let dst_ptr = SendPtr(dst.as_mut_ptr());
    pool.execute_chunked(parts, |range| {
        for part in range {
            // The last part also takes the rows after the last whole tile block.
            let end = if part + 1 == parts {
                m
            } else {
                ((part + 1) * block).min(m)
            };
            let rows = (part * block).min(end)..end;
            if !rows.is_empty() {
                // SAFETY: as above; the parts write disjoint row blocks of `dst`.
                unsafe {
                    gemm_rows(
                        rows,
                        (n, k),
                        dst_ptr.get(),
                        (dst_rs, dst_cs),
                        accumulate,
                        lhs,
                        rhs,
                    )
                };
            }
        }
    });
}

/// Rows per register tile of gemm's f32/f64 AVX-512 kernels are at most this; splitting at
/// its multiples keeps every tile where a single call puts it.
const ROW_TILE: usize = 64;

/// Below this many multiply-adds a product stays on the calling thread.
const PARALLEL_MIN_WORK: usize = 1 << 20;

/// `dst[rows] = [dst +] lhs[rows] · rhs`, single-threaded.
///
/// # Safety
/// `dst` must be valid for writes of rows `rows` (row stride `dst_rs`, column stride
/// `dst_cs`, `n` columns) and no other thread may access those elements meanwhile; the
/// operands must hold every element of rows `rows` (lhs, depth `k`) and of `rhs` (`k × n`).
unsafe fn gemm_rows<T: Float>(
    rows: std::ops::Range<usize>,
    (n, k): (usize, usize),
    dst: *mut T,
    (dst_rs, dst_cs): (usize, usize),
    accumulate: bool,
    lhs: Mat<T>,
    rhs: Mat<T>,
) {
    gemm::gemm(
        rows.len(),
        n,
        k,
        dst.add(rows.start * dst_rs),
        dst_cs as isize,
        dst_rs as isize,
        accumulate,
        lhs.data.as_ptr().add(rows.start * lhs.rs),
        lhs.cs as isize,
        lhs.rs as isize,
        rhs.data.as_ptr(),
        rhs.cs as isize,
        rhs.rs as isize,
        T::from_f64(1.0),
        T::from_f64(1.0),
        false,
        false,
        false,
        gemm::Parallelism::None,
    );
}

/// The widest vector instruction set `gemm` uses for the products on this CPU, chosen at
/// run time: `"avx512f"`, `"avx2"` or `"sse"` on x86-64 (AVX-512 kernels are built in, see
/// the workspace manifest), the architecture's name elsewhere.
///
/// Results are bit-identical run to run and at any thread count on one CPU, but the
/// products' kernels sum in a different order on each of these, so the same training can
/// give other bits (and, near a fit's boundary, another EMC) on a CPU with another
/// instruction set. Benchmarks and the smoke references record it.
pub fn vector_isa() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            "avx512f"
        } else if std::arch::is_x86_feature_detected!("avx2") {
            "avx2"
        } else {
            "sse"
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH
    }
}
