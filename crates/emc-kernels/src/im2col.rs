//! The geometry of one convolution ([`Geom`]: shapes, chunks of images) and its column
//! matrices: [`im2col`] lays each kernel window out as a column, [`col2im`] adds columns
//! back onto the pixels they were read from.

use candle_core::{bail, Result};

use crate::dispatch::Float;

/// Column buffers of about this many elements (1 MiB of `f32`) decide how many images a
/// chunk holds.
const CHUNK_FLOATS: usize = 1 << 18;

/// The shapes of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geom {
    pub(crate) n: usize,
    pub(crate) c: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) o: usize,
    pub(crate) kh: usize,
    pub(crate) kw: usize,
    pub(crate) stride: usize,
    pub(crate) padding: usize,
    pub(crate) ho: usize,
    pub(crate) wo: usize,
}

impl Geom {
    pub(crate) fn new(
        x: &[usize],
        weight: &[usize],
        stride: usize,
        padding: usize,
    ) -> Result<Geom> {
        let (&[n, c, h, w], &[o, c2, kh, kw]) = (x, weight) else {
            bail!("conv2d: expected [N, C, H, W] and [O, C, kh, kw], got {x:?} and {weight:?}")
        };
        if c != c2 {
            bail!("conv2d: input has {c} channels, the weight expects {c2}")
        }
        if h + 2 * padding < kh || w + 2 * padding < kw || stride == 0 {
            bail!("conv2d: kernel {kh}x{kw} does not fit {h}x{w} with padding {padding}")
        }
        Ok(Geom {
            n,
            c,
            h,
            w,
            o,
            kh,
            kw,
            stride,
            padding,
            ho: (h + 2 * padding - kh) / stride + 1,
            wo: (w + 2 * padding - kw) / stride + 1,
        })
    }

    /// Output positions per image and channel.
    pub(crate) fn p(&self) -> usize {
        self.ho * self.wo
    }

    /// Rows of the column matrix: `C·kh·kw`.
    pub(crate) fn kd(&self) -> usize {
        self.c * self.kh * self.kw
    }

    pub(crate) fn image(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Images per chunk.
    pub(crate) fn chunk(&self) -> usize {
        (CHUNK_FLOATS / (self.kd() * self.p()).max(1)).clamp(1, self.n.max(1))
    }

    /// The range `ox0..ox1` of output columns whose input column `ox·s + kj − pad` lies in
    /// the image (outside it the column reads the zero padding).
    fn valid_cols(&self, kj: usize) -> (usize, usize) {
        let (s, pad) = (self.stride, self.padding);
        let ox0 = if pad > kj { (pad - kj).div_ceil(s) } else { 0 }.min(self.wo);
        let ox1 = if self.w + pad > kj {
            ((self.w + pad - kj - 1) / s + 1).min(self.wo)
        } else {
            0
        };
        (ox0, ox1.max(ox0))
    }

    /// The input row of output row `oy` at kernel row `ki`, if it is not padding.
    fn input_row(&self, oy: usize, ki: usize) -> Option<usize> {
        (oy * self.stride + ki)
            .checked_sub(self.padding)
            .filter(|&iy| iy < self.h)
    }
}

/// `cols[(c, ki, kj), (b, oy, ox)] = x[b, c, oy·s + ki − pad, ox·s + kj − pad]` (0 in the
/// padding) for the `nb` images of `x`; `cols` is `[kd, nb·P]`, row-major.
pub(crate) fn im2col<T: Float>(x: &[T], nb: usize, g: &Geom, cols: &mut [T]) {
    let (p, np, s, pad) = (g.p(), nb * g.p(), g.stride, g.padding);
    for ci in 0..g.c {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (ci * g.kh + ki) * g.kw + kj;
                let (ox0, ox1) = g.valid_cols(kj);
                let dst_row = &mut cols[row * np..(row + 1) * np];
                for b in 0..nb {
                    let plane = &x[(b * g.c + ci) * g.h * g.w..][..g.h * g.w];
                    for oy in 0..g.ho {
                        let dst = &mut dst_row[b * p + oy * g.wo..][..g.wo];
                        let Some(iy) = g.input_row(oy, ki) else {
                            dst.fill(T::default());
                            continue;
                        };
                        let src = &plane[iy * g.w..][..g.w];
                        dst[..ox0].fill(T::default());
                        dst[ox1..].fill(T::default());
                        if s == 1 {
                            dst[ox0..ox1].copy_from_slice(&src[ox0 + kj - pad..ox1 + kj - pad]);
                        } else {
                            for (ox, d) in dst.iter_mut().enumerate().take(ox1).skip(ox0) {
                                *d = src[ox * s + kj - pad];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds every column entry back onto the input pixel it was read
/// from (`dx` holds `nb` images and is accumulated into).
pub(crate) fn col2im<T: Float>(cols: &[T], nb: usize, g: &Geom, dx: &mut [T]) {
    let (p, np, s, pad) = (g.p(), nb * g.p(), g.stride, g.padding);
    for ci in 0..g.c {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (ci * g.kh + ki) * g.kw + kj;
                let (ox0, ox1) = g.valid_cols(kj);
                let src_row = &cols[row * np..(row + 1) * np];
                for b in 0..nb {
                    let plane = &mut dx[(b * g.c + ci) * g.h * g.w..][..g.h * g.w];
                    for oy in 0..g.ho {
                        let Some(iy) = g.input_row(oy, ki) else {
                            continue;
                        };
                        let src = &src_row[b * p + oy * g.wo..][..g.wo];
                        let dst = &mut plane[iy * g.w..][..g.w];
                        if s == 1 {
                            let dst = &mut dst[ox0 + kj - pad..ox1 + kj - pad];
                            for (d, v) in dst.iter_mut().zip(&src[ox0..ox1]) {
                                *d += *v;
                            }
                        } else {
                            for (ox, v) in src.iter().enumerate().take(ox1).skip(ox0) {
                                dst[ox * s + kj - pad] += *v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The images `start..start + nb` of chunk `index`.
pub(crate) fn chunk_images(g: &Geom, index: usize) -> (usize, usize) {
    let chunk = g.chunk();
    let start = index * chunk;
    (start, chunk.min(g.n - start))
}
