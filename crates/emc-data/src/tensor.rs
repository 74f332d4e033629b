//! Conversion of a [`Dataset`] to normalised `f32` candle tensors on a device.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};

/// How pixels are normalised. Pixels are first divided by 255, then each channel `c`
/// becomes `(x - mean[c]) / std[c]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Normalization {
    /// Only the division by 255 (values in [0, 1] for real images).
    UnitRange,
    /// Given per-channel mean and standard deviation, on the [0, 1] scale.
    PerChannel {
        /// Mean per channel.
        mean: Vec<f32>,
        /// Standard deviation per channel.
        std: Vec<f32>,
    },
}

impl Normalization {
    /// Per-channel statistics of `ds` (compute them on the full training split, then
    /// reuse them for every subset and for the test split).
    pub fn from_dataset(ds: &Dataset) -> Self {
        let stats = ds.channel_stats();
        Normalization::PerChannel {
            mean: stats.iter().map(|s| (s.0 / 255.0) as f32).collect(),
            std: stats
                .iter()
                .map(|s| ((s.1 / 255.0) as f32).max(1e-6))
                .collect(),
        }
    }

    fn affine(&self, channels: usize) -> Result<Vec<(f32, f32)>> {
        match self {
            Normalization::UnitRange => Ok(vec![(1.0 / 255.0, 0.0); channels]),
            Normalization::PerChannel { mean, std } => {
                if mean.len() != channels || std.len() != channels {
                    return Err(DataError::variant(
                        "normalization",
                        format!(
                            "{} means and {} stds for {channels} channels; expected one each per channel",
                            mean.len(),
                            std.len()
                        ),
                    ));
                }
                if let Some(s) = std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
                    return Err(DataError::variant(
                        "normalization",
                        format!("standard deviation {s}; expected a positive finite number"),
                    ));
                }
                Ok(mean
                    .iter()
                    .zip(std)
                    .map(|(&m, &s)| (1.0 / (255.0 * s), -m / s))
                    .collect())
            }
        }
    }
}

/// A dataset as tensors.
#[derive(Debug, Clone)]
pub struct TensorData {
    /// `[N, C, H, W]`, or `[N, C*H*W]` when flattened; `f32`.
    pub images: Tensor,
    /// `[N]`, `u32` class indices.
    pub labels: Tensor,
    /// Number of classes.
    pub num_classes: usize,
}

impl Dataset {
    /// Normalised `f32` images and `u32` labels on `device`.
    ///
    /// # Errors
    /// A normalisation that does not match the channel count, or a device error.
    pub fn to_tensors(
        &self,
        device: &Device,
        norm: &Normalization,
        flatten: bool,
    ) -> Result<TensorData> {
        let shape = self.shape();
        let affine = self.to_affine(norm)?;
        let plane = shape.plane();
        let mut values = Vec::with_capacity(self.len() * shape.len());
        for i in 0..self.len() {
            for (c, &(a, b)) in affine.iter().enumerate() {
                let start = (i * shape.channels + c) * plane;
                values.extend((start..start + plane).map(|j| self.pixels().get(j) * a + b));
            }
        }
        let n = self.len();
        let images = if flatten {
            Tensor::from_vec(values, (n, shape.len()), device)?
        } else {
            Tensor::from_vec(
                values,
                (n, shape.channels, shape.height, shape.width),
                device,
            )?
        };
        let labels = Tensor::from_vec(self.labels().to_vec(), n, device)?;
        Ok(TensorData {
            images,
            labels,
            num_classes: self.num_classes(),
        })
    }

    fn to_affine(&self, norm: &Normalization) -> Result<Vec<(f32, f32)>> {
        norm.affine(self.shape().channels)
    }
}
