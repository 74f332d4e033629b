//! Dropout on hidden activations, with masks drawn from a seeded stream.
//!
//! candle's CPU random generator cannot be seeded, so each mask is drawn here from a
//! ChaCha8 stream keyed by the model's seed (a stream of its own, apart from the
//! initialisation's): a training run that makes the same forward calls draws the same masks,
//! so a probe stays a pure function of its configuration, seed and size. Inverted dropout as
//! PyTorch's `nn.Dropout`: in a training forward each element is zeroed with probability `p`
//! and the survivors scaled by `1/(1-p)`; an evaluation forward is the identity.

use std::sync::{Arc, Mutex};

use candle_core::Tensor;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The ChaCha8 stream of dropout masks (the initialisation uses the name-keyed ones).
const MASK_STREAM: u64 = 0xd20b_0a70;

/// A dropout rate and its seeded mask stream. Clones share the stream (a caller that keeps
/// a clone of a model's dropout can [`Dropout::rewind`] it, e.g. to replay a mask in a
/// finite-difference check).
#[derive(Clone)]
pub struct Dropout {
    p: f64,
    rng: Arc<Mutex<ChaCha8Rng>>,
}

impl Dropout {
    /// Dropout at rate `p` in `(0, 1)`, masks drawn from `seed`.
    pub fn new(p: f64, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(MASK_STREAM);
        Self {
            p,
            rng: Arc::new(Mutex::new(rng)),
        }
    }

    /// Where the mask stream stands (to [`Dropout::rewind`] to later).
    pub fn position(&self) -> u128 {
        self.lock().get_word_pos()
    }

    /// Puts the mask stream back at `position`, so the next masks repeat those drawn from
    /// there.
    pub fn rewind(&self, position: u128) {
        self.lock().set_word_pos(position)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ChaCha8Rng> {
        self.rng.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The rate.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// `xs` with each element zeroed with probability `p` and the rest scaled by
    /// `1/(1-p)` when `train`; `xs` itself otherwise. Masks are drawn in row-major order.
    pub fn apply(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        if !train {
            return Ok(xs.clone());
        }
        let keep = 1.0 - self.p;
        let scale = (1.0 / keep) as f32;
        let mut rng = self.lock();
        let mask: Vec<f32> = (0..xs.elem_count())
            .map(|_| {
                if rng.random::<f64>() < keep {
                    scale
                } else {
                    0.0
                }
            })
            .collect();
        let mask = Tensor::from_vec(mask, xs.shape(), xs.device())?.to_dtype(xs.dtype())?;
        xs.mul(&mask)
    }
}

/// `dropout` applied to `xs` when there is one (see [`Dropout::apply`]).
pub(crate) fn maybe(
    dropout: &Option<Dropout>,
    xs: Tensor,
    train: bool,
) -> candle_core::Result<Tensor> {
    match dropout {
        Some(d) => d.apply(&xs, train),
        None => Ok(xs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn masks_are_seeded_scaled_and_off_in_evaluation() -> candle_core::Result<()> {
        let xs = Tensor::ones((200, 50), DType::F32, &Device::Cpu)?;
        let a = Dropout::new(0.3, 7);
        let first = a.apply(&xs, true)?.to_vec2::<f32>()?;
        let second = a.apply(&xs, true)?.to_vec2::<f32>()?;
        assert_ne!(first, second, "each forward draws a new mask");
        let shared = a.clone();
        shared.rewind(0);
        assert_eq!(a.apply(&xs, true)?.to_vec2::<f32>()?, first, "rewound");
        assert_eq!(shared.apply(&xs, true)?.to_vec2::<f32>()?, second, "shared");
        let b = Dropout::new(0.3, 7);
        assert_eq!(
            b.apply(&xs, true)?.to_vec2::<f32>()?,
            first,
            "same seed, same masks"
        );
        let c = Dropout::new(0.3, 8);
        assert_ne!(c.apply(&xs, true)?.to_vec2::<f32>()?, first);
        let values: Vec<f32> = first.into_iter().flatten().collect();
        let zeros = values.iter().filter(|&&v| v == 0.0).count() as f64 / values.len() as f64;
        assert!((zeros - 0.3).abs() < 0.02, "{zeros}");
        assert!(values
            .iter()
            .all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6));
        // The mean is kept: E[mask] = 1.
        let mean = xs
            .mul(&a.apply(&xs, true)?)?
            .mean_all()?
            .to_scalar::<f32>()?;
        assert!((mean - 1.0).abs() < 0.05, "{mean}");
        assert_eq!(a.apply(&xs, false)?.to_vec2::<f32>()?, xs.to_vec2::<f32>()?);
        Ok(())
    }
}
