//! # emc-kernels
//!
//! Our own CPU kernels: candle custom ops, forward and backward, for the layers, the loss
//! and the optimizer updates of EMC training, each bit-identical to (or, for the
//! convolution and max-pooling, a faster and correct version of) a composition of candle
//! ops, which [`composed`] keeps as the reference and fallback.
//!
//! This crate knows nothing of model families, datasets, training loops or the EMC search:
//! it offers tensor ops (and the packed-batch [`Segments`] layout they take), and callers
//! decide where to use them. Every op runs on `f32` (training) and `f64` (gradient checks,
//! so the gradients are checked against finite differences at full precision, see
//! `tests/kernels.rs`); other devices and dtypes fall back to candle (or the op returns
//! `None` and the caller composes it).
//!
//! - **Convolution** ([`conv2d()`]) by im2col and one matrix product per chunk of images, both
//!   ways, where candle's backward is a slow (and, for some stride-2 shapes, wrong)
//!   transposed convolution. **Max-pooling** ([`max_pool2x2`]) in one pass each way, where
//!   candle's `max_pool2d` backward scales the gradient by 1/4.
//! - **Linear layers** ([`linear()`]: `xs · Wᵀ + b` with the bias fused), [`relu()`] and the
//!   mean [`cross_entropy()`]: one op each way, bit-identical to candle's `matmul` + broadcast
//!   add, `relu` and `candle_nn::loss::cross_entropy`, without their graph nodes and
//!   reductions, which cost small MLPs more than their matrix products.
//!   [`smoothed_cross_entropy`] adds label smoothing (PyTorch's `label_smoothing`), the
//!   same op at ε = 0.
//! - **Transformer layers**: [`layer_norm()`], [`softmax_last_dim`], [`gelu()`] and
//!   [`attention_core`] (head split, scaled scores, softmax, weighted values, head merge),
//!   one pass each way instead of five to fifteen candle ops and their backward graphs,
//!   bit-identical to the [`composed`] versions (they replay candle's autograd order,
//!   including how `x`'s gradient parts are added and the zero each accumulator starts
//!   from).
//! - **Packed batches**: [`segmented_linear`], [`segmented_conv2d`] and
//!   [`segmented_cross_entropy`] run the linear, convolution and cross-entropy computations
//!   on the rows of several stacked models at once (one [`Segments`] entry per model and
//!   chunk of rows), each segment bit-identical to the single-model op on those rows;
//!   [`member_square_sums`] gives each stacked model's squared gradient norm as candle sums
//!   it.
//! - **Optimizer updates** ([`inplace`]): SGD's and Adam's element-wise updates as in-place
//!   ops, bit-identical to the composed updates the optimizers run elsewhere.
//!
//! Sums run in a fixed order and work is split over candle's thread pool only where each
//! element is computed as on one thread, so the same inputs give the same bits run to run,
//! whatever the thread count. Across CPUs the bits can differ: the matrix products sum in
//! the order of the vector kernels `gemm` picks for the CPU ([`vector_isa`]).
//!
//! ```
//! use candle_core::{Device, Tensor};
//! # fn main() -> candle_core::Result<()> {
//! let dev = Device::Cpu;
//! let x = Tensor::arange(0f32, 2.0 * 3.0 * 5.0 * 4.0, &dev)?.reshape((2, 3, 5, 4))?;
//! let w = Tensor::ones((8, 3, 3, 3), candle_core::DType::F32, &dev)?;
//! let b = Tensor::zeros(8, candle_core::DType::F32, &dev)?;
//! let ours = emc_kernels::conv2d(&x, &w, Some(&b), 1, 1)?; // [2, 8, 5, 4]
//! let candle = x.conv2d(&w, 1, 1, 1, 1)?;
//! let diff = (ours - candle)?.abs()?.max_all()?.to_scalar::<f32>()?;
//! assert!(diff < 1e-3);
//! # Ok(()) }
//! ```

mod attention;
pub mod composed;
mod conv2d;
mod cpu;
mod cross_entropy;
mod dispatch;
mod gelu;
mod im2col;
pub mod inplace;
mod layer_norm;
mod linear;
mod matmul;
mod max_pool;
mod relu;
mod segmented;
mod segmented_conv;
mod softmax;

use std::sync::atomic::{AtomicBool, Ordering};

static COMPOSED_ONLY: AtomicBool = AtomicBool::new(false);

/// Makes every op take the path it takes on other devices (candle's own operations: the
/// [`composed`] versions, candle's `conv2d`, `matmul`, `relu`, ...) even on the CPU, for
/// the whole process, until called again with `false`: how the CUDA path is tested on a
/// machine without a GPU. The packed-batch ([`Segments`]) ops have no such path; they run
/// on the CPU only, and the lockstep training that uses them only there.
pub fn set_composed_only(on: bool) {
    COMPOSED_ONLY.store(on, Ordering::SeqCst);
}

/// Whether our kernels run on tensors of this device: on the CPU, unless
/// [`set_composed_only`] turned them off.
pub(crate) fn kernels_apply(device: &candle_core::Device) -> bool {
    matches!(device, candle_core::Device::Cpu) && !COMPOSED_ONLY.load(Ordering::Relaxed)
}

pub use attention::attention_core;
pub use conv2d::conv2d;
pub use cross_entropy::{cross_entropy, smoothed_cross_entropy};
pub use gelu::gelu;
pub use layer_norm::layer_norm;
pub use linear::linear;
pub use matmul::vector_isa;
pub use max_pool::max_pool2x2;
pub use relu::relu;
pub use segmented::{
    member_square_sums, segmented_cross_entropy, segmented_linear,
    segmented_smoothed_cross_entropy, Segments,
};
pub use segmented_conv::segmented_conv2d;
pub use softmax::softmax_last_dim;
