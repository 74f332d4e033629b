//! Data augmentation of image minibatches: random crop with padding and horizontal flip,
//! drawn per (seed, epoch, sample) so that a probe stays a pure function of its
//! configuration, seed and size.
//!
//! As torchvision's `RandomCrop(size, padding=P)` followed by `RandomHorizontalFlip()`:
//! each image is padded by `P` on every side and a window of its own size is cut at an
//! offset drawn uniformly from `0..=2P` in each direction, then mirrored left to right with
//! probability 1/2. One difference: the padding is 0 *in the normalised input*, i.e. the
//! channel mean of the training split, where torchvision pads before normalising (black).
//!
//! The draws come from a ChaCha8 stream keyed by the probe's seed, read at a position
//! fixed by (epoch, sample index in the training set): a sample's augmentation in an epoch
//! does not depend on which minibatch it lands in or on the batch size.

use candle_core::{DType, Tensor};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// The ChaCha8 stream of augmentation draws (the shuffle and the dropout masks use others).
const AUGMENT_STREAM: u64 = 0x0a06_3e47;

/// Which augmentations a training run applies to its minibatches (the fit is always
/// decided on the un-augmented samples).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Augment {
    /// Random crop with this much zero padding on each side, in pixels (0: no crop).
    pub crop_padding: usize,
    /// Mirror each image left to right with probability 1/2.
    pub hflip: bool,
}

impl Augment {
    /// Whether it changes nothing (then training sees the samples as they are).
    pub fn is_none(&self) -> bool {
        self.crop_padding == 0 && !self.hflip
    }

    /// `images` `[b, c, h, w]`, the samples `indices` (positions in the training set, one
    /// per row) of `epoch` (1-based) in a run seeded with `seed`, each cropped and flipped
    /// by its own draw. Returns `images` itself when [`Augment::is_none`].
    pub fn apply(
        &self,
        images: &Tensor,
        indices: &[u32],
        seed: u64,
        epoch: usize,
    ) -> Result<Tensor> {
        if self.is_none() {
            return Ok(images.clone());
        }
        let dims = images.dims();
        let &[b, c, h, w] = dims else {
            return Err(TrainError::Data(format!(
                "augmentation needs image batches [n, channels, height, width]; got {dims:?}"
            )));
        };
        if b != indices.len() {
            return Err(TrainError::Data(format!(
                "{b} images but {} sample indices; expected one index per image",
                indices.len()
            )));
        }
        let p = self.crop_padding;
        if p >= h || p >= w {
            return Err(TrainError::Config {
                field: "augment.crop_padding".into(),
                message: format!("{p} for {h}x{w} images; expected less than the image side"),
            });
        }
        let dtype = images.dtype();
        let src = images
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let mut out = vec![0f32; src.len()];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(AUGMENT_STREAM);
        let plane = h * w;
        for (row, &sample) in indices.iter().enumerate() {
            let draw = Draw::new(&mut rng, epoch, sample, p);
            let base = row * c * plane;
            for ch in 0..c {
                let from = &src[base + ch * plane..base + (ch + 1) * plane];
                let to = &mut out[base + ch * plane..base + (ch + 1) * plane];
                draw.crop_flip(from, to, h, w, p, self.hflip);
            }
        }
        Ok(Tensor::from_vec(out, images.shape(), images.device())?.to_dtype(dtype)?)
    }
}

/// One sample's draw in one epoch: crop offsets and whether to flip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Draw {
    dy: usize,
    dx: usize,
    flip: bool,
}

impl Draw {
    /// The draw of `sample` in `epoch`, read from `rng`'s stream at the position that pair
    /// owns (two 32-bit words per pair; 2^32 samples per epoch).
    fn new(rng: &mut ChaCha8Rng, epoch: usize, sample: u32, p: usize) -> Self {
        let pos = ((epoch as u128) << 32 | sample as u128) * 2;
        rng.set_word_pos(pos);
        let r = rng.next_u64();
        let side = 2 * p as u64 + 1;
        Draw {
            dy: (r % side) as usize,
            dx: ((r / side) % side) as usize,
            flip: r >> 63 == 1,
        }
    }

    /// Writes into `to` the `h`×`w` window at offset (`dy`, `dx`) of `from` padded by `p`
    /// zeros, mirrored when `hflip` and the draw says so.
    fn crop_flip(&self, from: &[f32], to: &mut [f32], h: usize, w: usize, p: usize, hflip: bool) {
        let flip = hflip && self.flip;
        for y in 0..h {
            // Row y of the window is row y + dy - p of the image (outside: padding).
            let sy = (y + self.dy).wrapping_sub(p);
            for x in 0..w {
                let ox = if flip { w - 1 - x } else { x };
                let sx = (ox + self.dx).wrapping_sub(p);
                to[y * w + x] = if sy < h && sx < w {
                    from[sy * w + sx]
                } else {
                    0.0
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn batch(b: usize, c: usize, h: usize, w: usize) -> Tensor {
        let v: Vec<f32> = (0..b * c * h * w).map(|i| i as f32 + 1.0).collect();
        Tensor::from_vec(v, (b, c, h, w), &Device::Cpu).unwrap()
    }

    fn rows(t: &Tensor) -> Vec<Vec<f32>> {
        let b = t.dim(0).unwrap();
        (0..b)
            .map(|i| t.get(i).unwrap().flatten_all().unwrap().to_vec1().unwrap())
            .collect()
    }

    #[test]
    fn none_returns_the_batch_unchanged() {
        let x = batch(3, 2, 4, 5);
        let y = Augment::default().apply(&x, &[0, 1, 2], 7, 1).unwrap();
        assert_eq!(rows(&x), rows(&y));
    }

    /// Flip only: every image is either itself or its mirror, and both happen.
    #[test]
    fn a_flip_mirrors_rows_left_to_right() {
        let x = batch(64, 1, 2, 3);
        let aug = Augment {
            crop_padding: 0,
            hflip: true,
        };
        let idx: Vec<u32> = (0..64).collect();
        let y = aug.apply(&x, &idx, 3, 1).unwrap();
        let (mut same, mut mirrored) = (0, 0);
        for (a, b) in rows(&x).iter().zip(rows(&y)) {
            let mirror = vec![a[2], a[1], a[0], a[5], a[4], a[3]];
            if *a == b {
                same += 1;
            } else {
                assert_eq!(mirror, b);
                mirrored += 1;
            }
        }
        assert!(
            same > 16 && mirrored > 16,
            "{same} kept, {mirrored} mirrored"
        );
    }

    /// A crop is a shifted window of the zero-padded image: every output pixel is either
    /// padding or the input pixel at one common offset, and all offsets in -p..=p occur.
    #[test]
    fn a_crop_shifts_the_image_within_the_padding() {
        let (h, w, p) = (5, 6, 2);
        let x = batch(200, 1, h, w);
        let aug = Augment {
            crop_padding: p,
            hflip: false,
        };
        let idx: Vec<u32> = (0..200).collect();
        let y = aug.apply(&x, &idx, 11, 4).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for (a, b) in rows(&x).iter().zip(rows(&y)) {
            let fits = |dy: isize, dx: isize| {
                (0..h).all(|yy| {
                    (0..w).all(|xx| {
                        let (sy, sx) = (yy as isize + dy, xx as isize + dx);
                        let want = if (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx)
                        {
                            a[sy as usize * w + sx as usize]
                        } else {
                            0.0
                        };
                        b[yy * w + xx] == want
                    })
                })
            };
            let offset = (-2..=2isize)
                .flat_map(|dy| (-2..=2isize).map(move |dx| (dy, dx)))
                .find(|&(dy, dx)| fits(dy, dx))
                .expect("the output is a shifted window of the padded input");
            seen.insert(offset);
        }
        assert_eq!(seen.len(), 25, "offsets seen: {seen:?}");
    }

    /// A sample's draw depends on (seed, epoch, sample index) only: not on its row in the
    /// batch, the batch's other samples or its size; another epoch or seed draws anew.
    #[test]
    fn draws_are_keyed_by_seed_epoch_and_sample() {
        let aug = Augment {
            crop_padding: 2,
            hflip: true,
        };
        let x = batch(4, 3, 6, 6);
        let whole = rows(&aug.apply(&x, &[10, 11, 12, 13], 5, 2).unwrap());
        // Sample 12 alone, in row 0, gets what it got in row 2.
        let alone = rows(&aug.apply(&x.narrow(0, 2, 1).unwrap(), &[12], 5, 2).unwrap());
        assert_eq!(alone[0], whole[2]);
        let again = rows(&aug.apply(&x, &[10, 11, 12, 13], 5, 2).unwrap());
        assert_eq!(again, whole);
        let next_epoch = rows(&aug.apply(&x, &[10, 11, 12, 13], 5, 3).unwrap());
        let other_seed = rows(&aug.apply(&x, &[10, 11, 12, 13], 6, 2).unwrap());
        assert_ne!(next_epoch, whole);
        assert_ne!(other_seed, whole);
    }

    #[test]
    fn bad_shapes_and_paddings_are_named() {
        let aug = Augment {
            crop_padding: 3,
            hflip: false,
        };
        let flat = Tensor::zeros((2, 9), candle_core::DType::F32, &Device::Cpu).unwrap();
        let e = aug.apply(&flat, &[0, 1], 0, 1).unwrap_err().to_string();
        assert!(e.contains("[n, channels, height, width]"), "{e}");
        let e = aug
            .apply(&batch(2, 1, 3, 8), &[0, 1], 0, 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("crop_padding") && e.contains("3x8"), "{e}");
        let e = aug
            .apply(&batch(2, 1, 8, 8), &[0], 0, 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("one index per image"), "{e}");
    }
}
