//! Convolution ([`conv2d`]) as one op each way, for `f32` and `f64` tensors on the CPU
//! (any stride and padding, dilation 1, one group).
//!
//! candle 0.11.1 computes `conv2d`'s forward by im2col and a matrix product, but its
//! backward computes the input gradient as a transposed convolution written as plain loops,
//! which made it about 80% of a CNN training step on CPU (and it fails on stride-2 inputs
//! whose height and width leave different remainders: the transposed convolution's output
//! padding is taken from the height alone). This op replaces both passes:
//!
//! - forward: for a chunk of images, `cols = im2col(x)` (`[C·kh·kw, chunk·H'·W']`), then one
//!   matrix product `W · cols` (`W: [O, C·kh·kw]`), scattered to `[N, O, H', W']` with the
//!   bias added on the way (fused: no separate broadcast add and no reduction node in the
//!   graph);
//! - backward, chunk by chunk from the gradient `dy` gathered as `[O, chunk·H'·W']`:
//!   `dW += dy · colsᵀ` (im2col recomputed rather than kept: it is cheap next to the
//!   products and would cost `k²` times the input's memory), `db += Σ dy` over images and
//!   positions (accumulated in f64), and `dx = col2im(Wᵀ · dy)`. The input gradient is
//!   skipped when the input needs none (the first layer's input is data).
//!
//! Chunks hold as many images as fit a cache-sized column buffer (see [`Geom`]), so the
//! tiny CNNs of EMC studies (a few channels on 14×14 images) make one product per chunk
//! instead of one per image, and large layers make one per image. The products are
//! [`crate::matmul`]'s, with candle's thread count. Sums run in a fixed order, chunks in
//! sequence and the products split only the output among threads, so the same inputs give
//! bit-identical results run to run. Other devices and dtypes fall back to candle's
//! `conv2d` (plus a broadcast bias add), which computes the same function.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use candle_core::{bail, CpuStorage, DType, Layout, Result, Shape, Tensor};

use crate::cpu::{
    bias_data, chunks_in_parallel, data, for_each_chunk, slice_mut, weight_grads, SendPtr,
};
use crate::dispatch::{backward_op3, for_float, weight_op_with_optional_bias, Float};
use crate::im2col::{chunk_images, col2im, im2col, Geom};
use crate::matmul::{product, Mat};

/// `conv2d(x, weight) + bias` with square or rectangular kernels, `x: [N, C, H, W]`,
/// `weight: [O, C, kh, kw]`, `bias: [O]`, the same stride and padding on both axes →
/// `[N, O, H', W']`. Our kernels for `f32`/`f64` on the CPU, candle's `conv2d` otherwise.
pub fn conv2d(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let dtype = xs.dtype();
    let ours = crate::kernels_apply(xs.device())
        && matches!(dtype, DType::F32 | DType::F64)
        && weight.dtype() == dtype
        && bias.is_none_or(|b| b.dtype() == dtype && b.rank() == 1)
        && xs.rank() == 4
        && weight.rank() == 4
        && stride > 0;
    if !ours {
        let ys = xs.conv2d(weight, padding, stride, 1, 1)?; // [N, O, H', W']
        return match bias {
            Some(b) => ys.broadcast_add(&b.reshape((1, (), 1, 1))?),
            None => Ok(ys),
        };
    }
    let op = Conv2dOp { stride, padding };
    let (xs, weight) = (xs.contiguous()?, weight.contiguous()?);
    match bias {
        Some(b) => xs.apply_op3(&weight, &b.contiguous()?, op),
        None => xs.apply_op2(&weight, op),
    }
}

/// The forward pass into `y` (`[N, O, H', W']`, every element written); chunks of images
/// run on candle's pool when `parallel` (each writes its own images of the output).
pub(crate) fn forward<T: Float>(
    x: &[T],
    weight: &[T],
    bias: Option<&[T]>,
    g: &Geom,
    parallel: bool,
    y: &mut [T],
) {
    let (p, kd, o) = (g.p(), g.kd(), g.o);
    assert_eq!(y.len(), g.n * o * p, "emc kernel: conv2d output size");
    let chunk = g.chunk();
    let w = Mat {
        data: weight,
        rs: kd,
        cs: 1,
    };
    let y_ptr = SendPtr(y.as_mut_ptr());
    let chunks = g.n.div_ceil(chunk);
    let alone = parallel && chunks > 1;
    for_each_chunk(chunks, parallel, |range| {
        let mut cols = vec![T::default(); kd * chunk * p];
        let mut tmp = if chunk > 1 {
            vec![T::default(); o * chunk * p]
        } else {
            Vec::new()
        };
        for index in range {
            let (start, nb) = chunk_images(g, index);
            let np = nb * p;
            let cols = &mut cols[..kd * np];
            im2col(&x[start * g.image()..(start + nb) * g.image()], nb, g, cols);
            let cols = Mat {
                data: cols,
                rs: np,
                cs: 1,
            };
            // SAFETY: `y` outlives the loop and chunks write disjoint image ranges of it.
            let out = unsafe { slice_mut(y_ptr, start * o * p..(start + nb) * o * p) };
            if nb == 1 {
                product(!alone, (o, p, kd), out, (p, 1), false, w, cols); // [O, P]
                if let Some(bias) = bias {
                    for (row, b) in out.chunks_exact_mut(p).zip(bias) {
                        row.iter_mut().for_each(|v| *v += *b);
                    }
                }
            } else {
                let tmp = &mut tmp[..o * np];
                product(!alone, (o, np, kd), tmp, (np, 1), false, w, cols); // [O, nb·P]
                for (oc, row) in tmp.chunks_exact(np).enumerate() {
                    let b = bias.map_or(T::default(), |bias| bias[oc]);
                    for (bi, src) in row.chunks_exact(p).enumerate() {
                        let dst = &mut out[(bi * o + oc) * p..][..p];
                        for (d, v) in dst.iter_mut().zip(src) {
                            *d = *v + b;
                        }
                    }
                }
            }
        }
    });
}

/// `dy`'s images `start..start + nb` as `[O, nb·P]`: the slice itself for one image, else
/// gathered into `buf`.
fn gather_dy<'a, T: Float>(
    dy: &'a [T],
    (start, nb): (usize, usize),
    g: &Geom,
    buf: &'a mut [T],
) -> &'a [T] {
    let (p, o) = (g.p(), g.o);
    let np = nb * p;
    let dy_chunk = &dy[start * o * p..(start + nb) * o * p];
    if nb == 1 {
        return dy_chunk;
    }
    let gathered = &mut buf[..o * np];
    for (bi, image) in dy_chunk.chunks_exact(o * p).enumerate() {
        for (oc, src) in image.chunks_exact(p).enumerate() {
            gathered[oc * np + bi * p..][..p].copy_from_slice(src);
        }
    }
    gathered
}

/// Writes the gradients of one convolution for the output gradient `dy`: `dw` always,
/// `dx` and `db` when given (all zero-initialised by the caller).
///
/// `dw` and `db` add the chunks up in order, on one thread; `dx`'s chunks are independent.
/// When `parallel`, one pool thread runs the `dw`/`db` chain while the others take `dx`
/// chunks from a shared cursor, and it joins them when its chain is done. Every product is
/// computed as on one thread, so the bits do not depend on it.
pub(crate) fn backward<T: Float>(
    (x, weight, dy): (&[T], &[T], &[T]),
    g: &Geom,
    dx: Option<&mut [T]>,
    dw: &mut [T],
    db: Option<&mut [T]>,
    parallel: bool,
) {
    let chunks = g.n.div_ceil(g.chunk());
    // Inside a pool task the products must stay on their thread.
    let alone = parallel && chunks > 1;
    let weight_grads = || weight_and_bias_grads((x, dy), g, dw, db, alone);
    let Some(dx) = dx else {
        return weight_grads();
    };
    let dx_ptr = SendPtr(dx.as_mut_ptr());
    let cursor = AtomicUsize::new(0);
    // Takes chunks from the cursor until none is left.
    let input_grads = || {
        let mut bufs = None;
        loop {
            let index = cursor.fetch_add(1, Ordering::Relaxed);
            if index >= chunks {
                break;
            }
            let (start, nb) = chunk_images(g, index);
            // SAFETY: `dx` outlives the pool call and each chunk index is taken once, so
            // chunks write disjoint image ranges of it.
            let dx_chunk =
                unsafe { slice_mut(dx_ptr, start * g.image()..(start + nb) * g.image()) };
            let (dcols, gathered) = bufs.get_or_insert_with(|| chunk_buffers::<T>(g));
            input_grad_chunk(
                (weight, dy),
                g,
                (start, nb),
                (dcols, gathered),
                dx_chunk,
                alone,
            );
        }
    };
    if !alone {
        weight_grads();
        return input_grads();
    }
    let weight_job = Mutex::new(Some(weight_grads));
    candle_core::utils::barrier_pool().execute(|_| {
        let job = weight_job.lock().map(|mut j| j.take()).unwrap_or(None);
        if let Some(job) = job {
            job();
        }
        input_grads();
    });
}

/// A column buffer and a gather buffer for one chunk.
fn chunk_buffers<T: Float>(g: &Geom) -> (Vec<T>, Vec<T>) {
    let (p, chunk) = (g.p(), g.chunk());
    let gathered = if chunk > 1 {
        vec![T::default(); g.o * chunk * p]
    } else {
        Vec::new()
    };
    (vec![T::default(); g.kd() * chunk * p], gathered)
}

/// `dw` (and `db`): the chunks' products added up in order, on the calling thread.
fn weight_and_bias_grads<T: Float>(
    (x, dy): (&[T], &[T]),
    g: &Geom,
    dw: &mut [T],
    db: Option<&mut [T]>,
    alone: bool,
) {
    let (p, kd, o) = (g.p(), g.kd(), g.o);
    let (mut cols, mut gathered) = chunk_buffers::<T>(g);
    let mut db_acc = vec![0f64; if db.is_some() { o } else { 0 }];
    for index in 0..g.n.div_ceil(g.chunk()) {
        let (start, nb) = chunk_images(g, index);
        let np = nb * p;
        let dy_t = gather_dy(dy, (start, nb), g, &mut gathered);
        for (acc, row) in db_acc.iter_mut().zip(dy_t.chunks_exact(np)) {
            *acc += row.iter().map(|&v| v.to_f64()).sum::<f64>();
        }
        let dy_mat = Mat {
            data: dy_t,
            rs: np,
            cs: 1,
        };
        let x_chunk = &x[start * g.image()..(start + nb) * g.image()];
        let cols = &mut cols[..kd * np];
        im2col(x_chunk, nb, g, cols);
        // dW[O, kd] += dy[O, nb·P] · colsᵀ[nb·P, kd]
        let cols_t = Mat {
            data: cols,
            rs: 1,
            cs: np,
        };
        product(!alone, (o, kd, np), dw, (kd, 1), start > 0, dy_mat, cols_t);
    }
    if let Some(db) = db {
        for (d, acc) in db.iter_mut().zip(db_acc) {
            *d = T::from_f64(acc);
        }
    }
}

/// `dx` for the images `start..start + nb`: `col2im(Wᵀ · dy)`.
fn input_grad_chunk<T: Float>(
    (weight, dy): (&[T], &[T]),
    g: &Geom,
    (start, nb): (usize, usize),
    (dcols, gathered): (&mut [T], &mut [T]),
    dx_chunk: &mut [T],
    alone: bool,
) {
    let (kd, np) = (g.kd(), nb * g.p());
    let dy_mat = Mat {
        data: gather_dy(dy, (start, nb), g, gathered),
        rs: np,
        cs: 1,
    };
    let w_t = Mat {
        data: weight,
        rs: 1,
        cs: kd,
    };
    // dcols[kd, nb·P] = Wᵀ[kd, O] · dy[O, nb·P]
    let dcols = &mut dcols[..kd * np];
    product(!alone, (kd, np, g.o), dcols, (np, 1), false, w_t, dy_mat);
    col2im(dcols, nb, g, dx_chunk);
}

/// The forward op: `(x, weight)` or `(x, weight, bias)`.
#[derive(Debug, Clone, Copy)]
struct Conv2dOp {
    stride: usize,
    padding: usize,
}

impl Conv2dOp {
    fn fwd_t<T: Float>(
        &self,
        (sx, lx): (&CpuStorage, &Layout),
        (sw, lw): (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let g = Geom::new(lx.dims(), lw.dims(), self.stride, self.padding)?;
        let bias = bias_data::<T>(bias, &[g.o], "conv2d")?;
        let mut y = vec![T::default(); g.n * g.o * g.p()];
        forward(
            data::<T>(sx, lx, "input")?,
            data::<T>(sw, lw, "weight")?,
            bias,
            &g,
            chunks_in_parallel(),
            &mut y,
        );
        Ok((
            T::to_cpu_storage_owned(y),
            Shape::from((g.n, g.o, g.ho, g.wo)),
        ))
    }

    /// `(dx, dw, db)` for the gradient `grad` of the output.
    fn grads(
        &self,
        x: &Tensor,
        weight: &Tensor,
        with_bias: bool,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Tensor, Option<Tensor>)> {
        let want = Want {
            dx: x.track_op(),
            db: with_bias,
        };
        let op = Conv2dBackwardOp { fwd: *self, want };
        weight_grads((x, weight, grad), &op, with_bias.then_some(1))
    }
}

weight_op_with_optional_bias!(Conv2dOp, "emc-conv2d", "emc-conv2d-bias");

/// Which gradients the backward op computes (the weight's always).
#[derive(Debug, Clone, Copy)]
struct Want {
    dx: bool,
    db: bool,
}

/// The backward op on `(x, weight, dy)`: one flat `f32` tensor holding `dx` (if wanted),
/// `dw`, then `db` (if wanted), each contiguous in its own shape.
#[derive(Debug, Clone, Copy)]
struct Conv2dBackwardOp {
    fwd: Conv2dOp,
    want: Want,
}

impl Conv2dBackwardOp {
    fn run<T: Float>(
        &self,
        (sx, lx): (&CpuStorage, &Layout),
        (sw, lw): (&CpuStorage, &Layout),
        (sg, lg): (&CpuStorage, &Layout),
    ) -> Result<(CpuStorage, Shape)> {
        let g = Geom::new(lx.dims(), lw.dims(), self.fwd.stride, self.fwd.padding)?;
        if lg.dims() != [g.n, g.o, g.ho, g.wo] {
            bail!("conv2d backward: gradient {:?} for {g:?}", lg.dims())
        }
        let dx_len = if self.want.dx { g.n * g.image() } else { 0 };
        let db_len = if self.want.db { g.o } else { 0 };
        let mut flat = vec![T::default(); dx_len + g.o * g.kd() + db_len];
        let (dx, rest) = flat.split_at_mut(dx_len);
        let (dw, db) = rest.split_at_mut(g.o * g.kd());
        backward(
            (
                data::<T>(sx, lx, "input")?,
                data::<T>(sw, lw, "weight")?,
                data::<T>(sg, lg, "gradient")?,
            ),
            &g,
            self.want.dx.then_some(dx),
            dw,
            self.want.db.then_some(db),
            chunks_in_parallel(),
        );
        let len = flat.len();
        Ok((T::to_cpu_storage_owned(flat), Shape::from(len)))
    }
}

backward_op3!(Conv2dBackwardOp, "emc-conv2d-backward");

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random(len: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<f32> {
        (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    /// Spreading a convolution's chunks over candle's pool (2 threads in CI) gives the same
    /// bits as running them in order on one thread, forward and backward, for one image
    /// per chunk, several images per chunk with a remainder, and a single chunk.
    #[test]
    fn chunks_on_the_pool_give_the_bits_of_one_thread() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(77);
        // (n, c, h, w), o, k, stride, padding
        let cases = [
            ((5, 32, 32, 32), 16, 3, 1, 1),
            ((11, 3, 32, 32), 8, 3, 1, 1),
            ((3, 4, 14, 14), 8, 3, 2, 1),
        ];
        for ((n, c, h, w), o, k, stride, padding) in cases {
            let g = Geom::new(&[n, c, h, w], &[o, c, k, k], stride, padding).unwrap();
            let x = random(n * c * h * w, &mut rng);
            let wt = random(o * c * k * k, &mut rng);
            let b = random(o, &mut rng);
            let run = |parallel: bool| {
                let mut y = vec![0f32; n * o * g.p()];
                forward(&x, &wt, Some(&b), &g, parallel, &mut y);
                y
            };
            let serial = run(false);
            assert_eq!(serial, run(true), "forward {g:?}");
            let dy = random(serial.len(), &mut rng);
            let grads = |parallel: bool| {
                let (mut dx, mut dw, mut db) =
                    (vec![0f32; x.len()], vec![0f32; wt.len()], vec![0f32; o]);
                backward(
                    (&x, &wt, &dy),
                    &g,
                    Some(&mut dx),
                    &mut dw,
                    Some(&mut db),
                    parallel,
                );
                (dx, dw, db)
            };
            assert_eq!(grads(false), grads(true), "backward {g:?}");
        }
    }
}
